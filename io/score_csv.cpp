// io/score_csv.cpp: see io/score_csv.h for the format and the rules.
#include "io/score_csv.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "base/check.h"
#include "io/csv.h"

namespace skinmtl {
namespace {

// The fields of one line (io/csv.h's dialect), each with surrounding spaces
// and tabs removed.
std::vector<std::string> split_fields(const std::string& line, const std::string& where) {
  std::vector<std::string> out = parse_csv_line(line, where);
  for (std::string& f : out) f = trim(f);
  return out;
}

// The whole field must be a number (std::from_chars: locale-independent, no
// leading '+' or spaces, which clean_field has already removed).
bool parse_number(const std::string& s, double* v) {
  if (s.empty()) return false;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (*first == '+' && last - first > 1 && first[1] != '-') ++first;  // an explicit plus sign
  const auto [ptr, ec] = std::from_chars(first, last, *v);
  return ec == std::errc() && ptr == last;
}

ScoreTable read_table(const std::string& path, const char* kind, bool labels, const std::string& only) {
  std::ifstream in(path, std::ios::binary);
  SKINMTL_USER_CHECK(in, "cannot open " << kind << " file '" << path << "'");
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);  // UTF-8 byte-order mark

  ScoreTable t;
  t.path = path;
  bool have_header = false;
  size_t fields = 0;         // per row, image_id included
  std::vector<size_t> use;   // the fields read: every class column, or `only`
  std::unordered_map<std::string, int64_t> first_line_of;  // image_id -> line
  std::istringstream lines(text);
  std::string line;
  for (int64_t lineno = 1; std::getline(lines, line); ++lineno) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank line
    std::ostringstream where_os;
    where_os << kind << " file " << path << ", line " << lineno;
    const std::string where = where_os.str();
    check_text_line(line, path + ":" + std::to_string(lineno));
    std::vector<std::string> f = split_fields(line, where);

    if (!have_header) {
      SKINMTL_USER_CHECK(f[0] == "image_id", where << ": missing header: the first line must be "
                                                  "'image_id,<class1>,<class2>,...', its first field is '"
                                               << f[0] << "'");
      SKINMTL_USER_CHECK(f.size() >= 2, where << ": the header names no class column");
      std::unordered_set<std::string> seen;
      for (size_t c = 1; c < f.size(); ++c) {
        SKINMTL_USER_CHECK(!f[c].empty(), where << ": header column " << c + 1 << " has no class name");
        SKINMTL_USER_CHECK(seen.insert(f[c]).second,
                           where << ": class '" << f[c] << "' appears twice in the header");
        if (only.empty() || f[c] == only) {
          t.class_names.push_back(f[c]);
          use.push_back(c);
        }
      }
      if (!only.empty() && use.empty()) {
        std::string have;
        for (size_t c = 1; c < f.size(); ++c) have += (c > 1 ? ", " : "") + f[c];
        SKINMTL_USER_FAIL(kind << " file " << path << " has no column '" << only << "' (columns: " << have << ")");
      }
      fields = f.size();
      have_header = true;
      continue;
    }

    SKINMTL_USER_CHECK(f.size() == fields, where << ": expected " << fields << " fields (image_id and " << fields - 1
                                                 << " classes), got " << f.size());
    SKINMTL_USER_CHECK(!f[0].empty(), where << ": empty image_id");
    const auto [it, inserted] = first_line_of.emplace(f[0], lineno);
    SKINMTL_USER_CHECK(inserted, where << ": duplicate image_id '" << f[0] << "' (first on line "
                                       << it->second << ")");
    std::vector<double> row(t.class_names.size());
    for (size_t c = 0; c < row.size(); ++c) {
      const std::string& s = f[use[c]];
      SKINMTL_USER_CHECK(parse_number(s, &row[c]), where << ", column '" << t.class_names[c]
                                                         << "': '" << s << "' is not a number");
      SKINMTL_USER_CHECK(std::isfinite(row[c]), where << ", column '" << t.class_names[c] << "': '"
                                                      << s << "' is not a finite number");
      if (labels)
        SKINMTL_USER_CHECK(row[c] == 0.0 || row[c] == 1.0, where << ", column '" << t.class_names[c]
                                                                 << "': a label must be 0 or 1, got '"
                                                                 << s << "'");
    }
    t.image_ids.push_back(f[0]);
    t.lines.push_back(lineno);
    t.values.push_back(std::move(row));
  }
  SKINMTL_USER_CHECK(have_header, kind << " file " << path
                                       << " is empty: missing header 'image_id,<class1>,<class2>,...'");
  SKINMTL_USER_CHECK(!t.image_ids.empty(), kind << " file " << path << " has a header but no rows");
  return t;
}

// Up to a few names of a list, for messages.
std::string first_few(const std::vector<std::string>& names) {
  std::ostringstream os;
  for (size_t i = 0; i < names.size() && i < 5; ++i) os << (i ? ", " : "") << names[i];
  if (names.size() > 5) os << ", ... (" << names.size() << " in all)";
  return os.str();
}

}  // namespace

ScoreTable read_score_csv(const std::string& path, const std::string& only) {
  return read_table(path, "scores", false, only);
}

ScoreTable read_label_csv(const std::string& path, const std::string& only) {
  return read_table(path, "labels", true, only);
}

void check_one_hot(const ScoreTable& labels) {
  for (size_t i = 0; i < labels.values.size(); ++i) {
    int64_t ones = 0;
    for (double v : labels.values[i]) ones += (v == 1.0);
    SKINMTL_USER_CHECK(ones == 1, "labels file " << labels.path << ", line " << labels.lines[i]
                                                 << ": image '" << labels.image_ids[i] << "' has "
                                                 << ones
                                                 << " labels set to 1; single-label data needs exactly one");
  }
}

ScoredLabels match_scores_labels(const ScoreTable& scores, const ScoreTable& labels) {
  // Columns: map each class of the scores file to its column in the labels file.
  std::unordered_map<std::string, size_t> label_col;
  for (size_t c = 0; c < labels.class_names.size(); ++c) label_col[labels.class_names[c]] = c;
  std::vector<std::string> only_in_scores, only_in_labels;
  std::unordered_set<std::string> score_classes(scores.class_names.begin(),
                                                scores.class_names.end());
  for (const std::string& name : scores.class_names)
    if (!label_col.count(name)) only_in_scores.push_back(name);
  for (const std::string& name : labels.class_names)
    if (!score_classes.count(name)) only_in_labels.push_back(name);
  SKINMTL_USER_CHECK(only_in_scores.empty() && only_in_labels.empty(),
                     "the class columns of " << scores.path << " and " << labels.path << " differ"
                         << (only_in_scores.empty() ? "" : "; only in the scores: ")
                         << first_few(only_in_scores)
                         << (only_in_labels.empty() ? "" : "; only in the labels: ")
                         << first_few(only_in_labels));

  // Rows: map each image of the scores file to its row in the labels file.
  std::unordered_map<std::string, size_t> label_row;
  for (size_t i = 0; i < labels.image_ids.size(); ++i) label_row[labels.image_ids[i]] = i;
  std::unordered_set<std::string> score_images(scores.image_ids.begin(), scores.image_ids.end());
  std::vector<std::string> missing_labels, missing_scores;
  for (size_t i = 0; i < scores.image_ids.size(); ++i)
    if (!label_row.count(scores.image_ids[i]))
      missing_labels.push_back("'" + scores.image_ids[i] + "' (line " +
                               std::to_string(scores.lines[i]) + ")");
  for (size_t i = 0; i < labels.image_ids.size(); ++i)
    if (!score_images.count(labels.image_ids[i]))
      missing_scores.push_back("'" + labels.image_ids[i] + "' (line " +
                               std::to_string(labels.lines[i]) + ")");
  SKINMTL_USER_CHECK(missing_labels.empty(), "images of " << scores.path << " with no row in "
                                                          << labels.path << ": "
                                                          << first_few(missing_labels));
  SKINMTL_USER_CHECK(missing_scores.empty(), "images of " << labels.path << " with no row in "
                                                          << scores.path << ": "
                                                          << first_few(missing_scores));

  ScoredLabels out;
  out.image_ids = scores.image_ids;
  out.class_names = scores.class_names;
  out.scores = scores.values;
  out.labels.resize(scores.image_ids.size());
  for (size_t i = 0; i < scores.image_ids.size(); ++i) {
    const std::vector<double>& lrow = labels.values[label_row.at(scores.image_ids[i])];
    out.labels[i].resize(scores.class_names.size());
    for (size_t c = 0; c < scores.class_names.size(); ++c)
      out.labels[i][c] = static_cast<int>(lrow[label_col.at(scores.class_names[c])]);
  }
  return out;
}

ScoredLabels read_scores_and_labels(const std::string& scores_path,
                                    const std::string& labels_path) {
  return match_scores_labels(read_score_csv(scores_path), read_label_csv(labels_path));
}

std::vector<std::vector<double>> scores_in_order_of(const ScoredLabels& first, const ScoredLabels& second) {
  std::unordered_map<std::string, size_t> row, col;
  for (size_t i = 0; i < second.image_ids.size(); ++i) row[second.image_ids[i]] = i;
  for (size_t c = 0; c < second.class_names.size(); ++c) col[second.class_names[c]] = c;
  std::vector<std::vector<double>> out(first.image_ids.size(), std::vector<double>(first.class_names.size()));
  for (size_t i = 0; i < out.size(); ++i)
    for (size_t c = 0; c < out[i].size(); ++c)
      out[i][c] = second.scores.at(row.at(first.image_ids[i])).at(col.at(first.class_names[c]));
  return out;
}

}  // namespace skinmtl
