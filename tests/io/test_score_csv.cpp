// io/score_csv: parsing the scores/labels CSVs of `skinmtl metrics`, matching
// rows by image_id and columns by class name, and every error case (each
// message must name the file and, where there is one, the line). The files are
// written by the tests into a fresh temporary folder.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/check.h"
#include "io/score_csv.h"

namespace skinmtl {
namespace {

namespace fs = std::filesystem;

class ScoreCsv : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("skinmtl_score_csv_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `text` byte for byte to dir/name and returns the path.
  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  fs::path dir_;
};

// Runs fn, expects skinmtl::Error, and expects its message to contain every
// one of `parts`.
template <typename Fn>
void expect_error(Fn fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected skinmtl::Error, nothing was thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& part : parts)
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  }
}

TEST_F(ScoreCsv, ParsesQuotesWhitespaceCrlfBomAndBlankLines) {
  const std::string s = write("s.csv",
                              "\xEF\xBB\xBF\"image_id\", cyst ,\"scar\"\r\n"
                              "a, 0.25 ,\"1e-3\"\r\n"
                              "\r\n"
                              "\"b\",-2,+0.5\r\n");
  const ScoreTable t = read_score_csv(s);
  EXPECT_EQ(t.class_names, (std::vector<std::string>{"cyst", "scar"}));
  EXPECT_EQ(t.image_ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.lines, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(t.values, (std::vector<std::vector<double>>{{0.25, 0.001}, {-2.0, 0.5}}));
}

TEST_F(ScoreCsv, MatchesRowsByIdAndColumnsByName) {
  const std::string s = write("s.csv",
                              "image_id,cyst,scar,macule\n"
                              "a,0.1,0.2,0.3\n"
                              "b,0.4,0.5,0.6\n"
                              "c,0.7,0.8,0.9\n");
  // Labels: other column order, other row order, 1.0 spelled out.
  const std::string l = write("l.csv",
                              "image_id,macule,cyst,scar\n"
                              "c,0,1,0\n"
                              "a,1.0,0,1\n"
                              "b,0,0,0\n");
  const ScoredLabels d = read_scores_and_labels(s, l);
  EXPECT_EQ(d.image_ids, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"cyst", "scar", "macule"}));
  EXPECT_EQ(d.scores[2], (std::vector<double>{0.7, 0.8, 0.9}));
  // In the scores' order (cyst, scar, macule): a = (0, 1, 1), b = 0s, c = (1, 0, 0).
  EXPECT_EQ(d.labels, (std::vector<std::vector<int>>{{0, 1, 1}, {0, 0, 0}, {1, 0, 0}}));
}

TEST_F(ScoreCsv, MissingFile) {
  const std::string p = (dir_ / "nope.csv").string();
  expect_error([&] { read_score_csv(p); }, {"cannot open", p});
}

TEST_F(ScoreCsv, EmptyFileHasNoHeader) {
  const std::string p = write("empty.csv", "\n  \n");
  expect_error([&] { read_score_csv(p); }, {p, "empty", "missing header"});
}

TEST_F(ScoreCsv, DataWithoutHeader) {
  const std::string p = write("nohead.csv", "a,0.1,0.2\nb,0.3,0.4\n");
  expect_error([&] { read_score_csv(p); }, {p, "line 1", "missing header", "'a'"});
}

TEST_F(ScoreCsv, HeaderProblems) {
  const std::string none = write("none.csv", "image_id\na\n");
  expect_error([&] { read_score_csv(none); }, {none, "line 1", "no class column"});
  const std::string twice = write("twice.csv", "image_id,cyst,scar,cyst\n");
  expect_error([&] { read_score_csv(twice); }, {twice, "line 1", "'cyst' appears twice"});
  const std::string blank = write("blank.csv", "image_id,cyst,,scar\n");
  expect_error([&] { read_score_csv(blank); }, {blank, "line 1", "column 3 has no class name"});
  const std::string rows = write("rows.csv", "image_id,cyst\n\n");
  expect_error([&] { read_score_csv(rows); }, {rows, "no rows"});
}

TEST_F(ScoreCsv, DuplicateImageId) {
  const std::string p = write("dup.csv", "image_id,cyst\na,0.1\nb,0.2\na,0.3\n");
  expect_error([&] { read_score_csv(p); },
               {p, "line 4", "duplicate image_id 'a'", "first on line 2"});
}

TEST_F(ScoreCsv, NonNumericValue) {
  const std::string p = write("nan.csv", "image_id,cyst,scar\na,0.1,0.2\nb,0.3,high\n");
  expect_error([&] { read_score_csv(p); }, {p, "line 3", "column 'scar'", "'high' is not a number"});
  const std::string q = write("trail.csv", "image_id,cyst\na,0.1x\n");
  expect_error([&] { read_score_csv(q); }, {q, "line 2", "'0.1x' is not a number"});
  const std::string e = write("emptyfield.csv", "image_id,cyst\na,\n");
  expect_error([&] { read_score_csv(e); }, {e, "line 2", "is not a number"});
  const std::string n = write("realnan.csv", "image_id,cyst\na,nan\n");
  expect_error([&] { read_score_csv(n); }, {n, "line 2", "not a finite number"});
}

TEST_F(ScoreCsv, LabelNotZeroOrOne) {
  const std::string p = write("lab.csv", "image_id,cyst,scar\na,0,1\nb,2,0\n");
  expect_error([&] { read_label_csv(p); }, {p, "line 3", "column 'cyst'", "must be 0 or 1", "'2'"});
  const std::string q = write("lab2.csv", "image_id,cyst\na,0.5\n");
  expect_error([&] { read_label_csv(q); }, {q, "line 2", "must be 0 or 1"});
  // The same values are fine as scores.
  EXPECT_NO_THROW(read_score_csv(p));
}

TEST_F(ScoreCsv, WrongFieldCount) {
  const std::string p = write("count.csv", "image_id,cyst,scar\na,0.1,0.2\nb,0.3\nc,1,2,3\n");
  expect_error([&] { read_score_csv(p); }, {p, "line 3", "expected 3 fields", "got 2"});
  const std::string q = write("count2.csv", "image_id,cyst,scar\na,0.1,0.2,0.3\n");
  expect_error([&] { read_score_csv(q); }, {q, "line 2", "expected 3 fields", "got 4"});
}

TEST_F(ScoreCsv, UnterminatedQuote) {
  const std::string p = write("quote.csv", "image_id,cyst\n\"a,0.1\n");
  expect_error([&] { read_score_csv(p); }, {p, "line 2", "unterminated quoted field"});
}

TEST_F(ScoreCsv, QuotedFieldsMayHoldCommas) {
  const std::string p = write("q.csv", "image_id,\"cyst, small\"\n\"a,b\",0.1\n");
  ScoreTable t = read_score_csv(p);
  ASSERT_EQ(t.class_names.size(), 1u);
  EXPECT_EQ(t.class_names[0], "cyst, small");
}

TEST_F(ScoreCsv, ImageInOnlyOneFile) {
  const std::string s = write("s.csv", "image_id,cyst\na,0.1\nb,0.2\nc,0.3\n");
  const std::string l = write("l.csv", "image_id,cyst\na,1\nc,0\n");
  expect_error([&] { read_scores_and_labels(s, l); }, {s, l, "'b' (line 3)"});
  const std::string l2 = write("l2.csv", "image_id,cyst\na,1\nb,0\nc,0\nd,1\n");
  expect_error([&] { read_scores_and_labels(s, l2); }, {s, l2, "'d' (line 5)"});
}

TEST_F(ScoreCsv, ClassColumnsDiffer) {
  const std::string s = write("s.csv", "image_id,cyst,scar\na,0.1,0.2\n");
  const std::string l = write("l.csv", "image_id,cyst,macule\na,1,0\n");
  expect_error([&] { read_scores_and_labels(s, l); },
               {s, l, "only in the scores: scar", "only in the labels: macule"});
  const std::string l3 = write("l3.csv", "image_id,cyst\na,1\n");
  expect_error([&] { read_scores_and_labels(s, l3); }, {"only in the scores: scar"});
}

TEST_F(ScoreCsv, OneHotCheck) {
  const std::string ok = write("ok.csv", "image_id,head,hand\na,1,0\nb,0,1\n");
  EXPECT_NO_THROW(check_one_hot(read_label_csv(ok)));
  const std::string two = write("two.csv", "image_id,head,hand\na,1,0\nb,1,1\n");
  expect_error([&] { check_one_hot(read_label_csv(two)); }, {two, "line 3", "'b' has 2"});
  const std::string zero = write("zero.csv", "image_id,head,hand\na,0,0\n");
  expect_error([&] { check_one_hot(read_label_csv(zero)); }, {zero, "line 2", "'a' has 0"});
}

}  // namespace
}  // namespace skinmtl
