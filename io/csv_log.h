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
// A resumed run opens the log with Mode::Append: the existing header must be
// exactly the same columns (otherwise the error names the file and both
// headers), and rows are added after the existing ones. A missing or empty
// file is simply started with the header.
//
// read_csv_columns() reads such a file back, column by column, for plotting
// (io/plot.h) or analysis.
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace skinmtl {

class CsvLog {
 public:
  enum class Mode { Truncate, Append };

  // Column names: non-empty, distinct, without ',', '"' or line breaks.
  CsvLog(std::string path, std::vector<std::string> columns, Mode mode = Mode::Truncate);
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

 private:
  void write_row(const std::vector<std::string>& cells);

  std::string path_;
  std::vector<std::string> columns_;
  std::FILE* file_ = nullptr;
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
