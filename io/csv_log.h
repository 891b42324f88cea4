// io/csv_log.h: training curves as CSV files, written row by row.
//
//   CsvLog log("runs/a/train.csv", {"iter", "lr", "loss", "val_loss"});
//   log.log({{"iter", 3}, {"lr", 1e-3}, {"loss", 0.5}});  // by name; val_loss left empty
//   log.log({4, 1e-3, 0.48, 0.61});                        // every column, in order
//
// writes
//
//   iter,lr,loss,val_loss
//   3,0.001,0.5,
//   4,0.001,0.48,0.61
//
// Each row is flushed as soon as it is written, so the file is complete up to
// the last iteration even if the run is killed, and can be plotted while the
// run goes on. Numbers are written in the shortest form that reads back to
// the very same double; NaN as "nan", infinities as "inf" / "-inf"; a column
// not given in a row is left empty (read back as NaN).
//
// Mode::Append adds rows after the existing ones; the existing header must be
// exactly the same columns (otherwise the error names the file and both
// headers). A missing or empty file is simply started with the header.
//
// Mode::Resume is how a training run resumed from a checkpoint at iteration
// `resume_at` reopens its log. The rows it logged after that checkpoint (it
// was killed before the next one) will be logged again, so they are dropped:
// every row whose first column is greater than resume_at, and a last row
// killed in the middle. A log written before this version added columns at
// the end of the header is extended: the kept rows get empty cells for them.
// Any other header is refused, as for Append. The file is rewritten
// atomically (a temporary file renamed over it), then appended to.
//
// read_csv_columns() reads such a file back, column by column, for plotting
// (figures/plot.h) or analysis.
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace skinmtl {

class CsvLog {
 public:
  enum class Mode { Truncate, Append, Resume };

  // Column names: non-empty, distinct, without ',', '"' or line breaks.
  // resume_at: Mode::Resume's iteration (see above); ignored otherwise.
  CsvLog(std::string path, std::vector<std::string> columns, Mode mode = Mode::Truncate, double resume_at = 0);
  ~CsvLog();
  CsvLog(const CsvLog&) = delete;
  CsvLog& operator=(const CsvLog&) = delete;

  // One row from (column, value) pairs in any order; columns not named stay
  // empty. An unknown or repeated column name is an error.
  void log(const std::vector<std::pair<std::string, double>>& cells);
  // One row with a value for every column, in column order.
  void log(const std::vector<double>& values);

  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }
  // Mode::Resume: the rows dropped from the end of the file.
  int dropped_rows() const { return dropped_rows_; }

 private:
  void write_row(const std::vector<std::string>& cells);
  // Mode::Resume's rewrite of an existing file (see above).
  void cut_for_resume(double resume_at);

  std::string path_;
  std::vector<std::string> columns_;
  std::FILE* file_ = nullptr;
  int dropped_rows_ = 0;
};

// "3", "0.5", "0.10000000000000001" is never needed: "0.1" reads back as the
// same double. NaN -> "nan", +-inf -> "inf" / "-inf".
std::string format_csv_number(double v);

// A CSV file of numbers, column by column.
struct CsvColumns {
  std::string path;                        // where it was read from, for messages
  std::vector<std::string> columns;        // the header
  std::vector<std::vector<double>> data;   // data[c][row]; empty cells are NaN

  size_t rows() const { return data.empty() ? 0 : data[0].size(); }
  bool has(const std::string& column) const;
  // The column's values; an error naming the file and the columns it has
  // when there is no such column.
  const std::vector<double>& column(const std::string& name) const;
};

// Reads a file written by CsvLog (or any comma-separated file with a header
// line and numeric cells; fields split as io/csv.h does). Empty cells read as NaN; a row with fewer cells
// than the header (the last row of a killed run) is padded with NaN. Errors
// (file missing, a non-number, a row with too many cells) name the file, and
// the line where there is one.
CsvColumns read_csv_columns(const std::string& path);

}  // namespace skinmtl
