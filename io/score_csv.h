// io/score_csv.h: reading per-image class scores and labels from CSV files,
// the input of `skinmtl metrics`.
//
// Format (both files):
//     image_id,alopecia,cyst,scar
//     img001,0.91,0.02,0.40
//     img002,0.10,0.75,0.05
//   - The first non-blank line is the header: the literal field `image_id`,
//     then one column per class (at least one, names unique and non-empty).
//   - One row per image, with exactly as many fields as the header.
//   - A scores file holds finite decimal numbers (NaN/Inf are rejected).
//     A labels file holds 0 or 1 (any spelling of those numbers, e.g. 1.0).
//   - Fields are split as io/csv.h does (a quoted field may hold commas; ""
//     is a quote inside quotes), then trimmed of spaces and tabs.
//     CRLF line endings, a UTF-8 byte-order mark and blank lines are accepted.
//
// Matching a scores file with a labels file (read_scores_and_labels): rows are
// matched by image_id, in any order; the class columns must be the same names,
// in any order (mapped by name). The result follows the scores file's order of
// rows and of columns.
//
// Every problem throws skinmtl::Error naming the file and, where there is one,
// the line: a missing header, a wrong field count, a duplicate image_id or
// class name, a non-numeric value, a label other than 0/1, an image in only
// one of the two files, class columns that differ.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skinmtl {

// One parsed file, in file order.
struct ScoreTable {
  std::string path;                         // as given, for messages
  std::vector<std::string> class_names;     // header order
  std::vector<std::string> image_ids;       // row order
  std::vector<int64_t> lines;               // 1-based line number of each row in the file
  std::vector<std::vector<double>> values;  // [row][class]
};

// Reads a scores file (finite numbers). With `only`, that column alone is
// read (the others may hold anything: text, empty fields); a file without it
// is an error listing its columns.
ScoreTable read_score_csv(const std::string& path, const std::string& only = "");

// Reads a labels file (every value 0 or 1); `only` as for read_score_csv.
ScoreTable read_label_csv(const std::string& path, const std::string& only = "");

// Checks that every row of a labels table has exactly one 1 (single-label
// data such as body location); the error names the file and line.
void check_one_hot(const ScoreTable& labels);

// A scores table and a labels table matched row by row and column by column.
struct ScoredLabels {
  std::vector<std::string> image_ids;       // the scores file's row order
  std::vector<std::string> class_names;     // the scores file's column order
  std::vector<std::vector<double>> scores;  // [image][class]
  std::vector<std::vector<int>> labels;     // [image][class], 0 or 1
};

// Matches two parsed tables (see the header comment for the rules).
ScoredLabels match_scores_labels(const ScoreTable& scores, const ScoreTable& labels);

// read_score_csv + read_label_csv + match_scores_labels.
ScoredLabels read_scores_and_labels(const std::string& scores_path, const std::string& labels_path);

// A second model's scores, matched to the same labels as `first`, in the
// first's row and column order (both were matched to the labels, so they
// hold the same images and class columns): [image][class].
std::vector<std::vector<double>> scores_in_order_of(const ScoredLabels& first, const ScoredLabels& second);

}  // namespace skinmtl
