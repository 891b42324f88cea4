// CSV logs: see io/csv_log.h.
#include "io/csv_log.h"

#include "io/csv.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "base/check.h"

namespace skinmtl {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}

// The first line of `path` without its line break; "" when the file is empty.
// Also says whether the file ends with a line break.
std::string first_line(const std::string& path, bool* ends_with_newline) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  in.clear();
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  *ends_with_newline = true;
  if (size > 0) {
    in.seekg(size - 1);
    *ends_with_newline = in.get() == '\n';
  }
  return line;
}

bool file_exists(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f) std::fclose(f);
  return f != nullptr;
}

}  // namespace

std::string format_csv_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // The shortest %.Ng, N = 15..17, that reads back to the same double: 17
  // significant digits always do, but 15 is usually enough and far tidier.
  char buf[40];
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// ---- CsvLog -----------------------------------------------------------------------------

CsvLog::CsvLog(std::string path, std::vector<std::string> columns, Mode mode, double resume_at)
    : path_(std::move(path)), columns_(std::move(columns)) {
  SKINMTL_CHECK(!columns_.empty(), "CsvLog " << path_ << ": no columns");
  for (size_t i = 0; i < columns_.size(); ++i) {
    const std::string& c = columns_[i];
    SKINMTL_CHECK(!c.empty() && c.find_first_of(",\"\r\n") == std::string::npos,
                  "CsvLog " << path_ << ": bad column name '" << c
                            << "' (must be non-empty, without commas, quotes or line breaks)");
    for (size_t j = 0; j < i; ++j)
      SKINMTL_CHECK(columns_[j] != c, "CsvLog " << path_ << ": column '" << c << "' twice");
  }
  const std::string header = join(columns_);
  bool write_header = true, needs_newline = false;
  if (mode == Mode::Resume) {
    if (file_exists(path_)) cut_for_resume(resume_at);
    mode = Mode::Append;  // the file now ends with a whole row and has this header
  }
  if (mode == Mode::Append && file_exists(path_)) {
    bool ends_with_newline = true;
    const std::string existing = first_line(path_, &ends_with_newline);
    if (!existing.empty()) {
      SKINMTL_CHECK(existing == header, "CsvLog " << path_ << ": cannot append, the file's header '"
                                                  << existing << "' differs from '" << header
                                                  << "'");
      write_header = false;
      // A run killed mid-row leaves no final line break: end that row first
      // (it reads back padded with NaN) so the new rows start on a line.
      needs_newline = !ends_with_newline;
    }
  }
  file_ = std::fopen(path_.c_str(), mode == Mode::Append ? "ab" : "wb");
  SKINMTL_CHECK(file_ != nullptr,
                "CsvLog: cannot open " << path_ << " for writing: " << std::strerror(errno));
  if (needs_newline) std::fputc('\n', file_);
  if (write_header) std::fprintf(file_, "%s\n", header.c_str());
  std::fflush(file_);
}

void CsvLog::cut_for_resume(double resume_at) {
  std::ifstream in(path_, std::ios::binary);
  SKINMTL_CHECK(in, "CsvLog: cannot read " << path_ << ": " << std::strerror(errno));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty()) return;
  // Whole lines only: a last line without its line break is a row the killed
  // run was writing, past the checkpoint.
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  dropped_rows_ = start < text.size() ? 1 : 0;
  SKINMTL_CHECK(!lines.empty(), "CsvLog " << path_ << ": cannot resume, its header line is incomplete");
  // The header: these columns, or a first part of them (a log of an older
  // version, which had fewer).
  const std::vector<std::string> old = parse_csv_line(lines[0], path_ + ":1");
  bool prefix = old.size() <= columns_.size();
  for (size_t i = 0; prefix && i < old.size(); ++i) prefix = old[i] == columns_[i];
  SKINMTL_CHECK(prefix, "CsvLog " << path_ << ": cannot resume, the file's header '" << lines[0] << "' differs from '"
                                  << join(columns_) << "'");
  const std::string padding(columns_.size() - old.size(), ',');
  std::string kept = join(columns_) + "\n";
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string first = lines[i].substr(0, lines[i].find(','));
    char* end = nullptr;
    const double it = std::strtod(first.c_str(), &end);
    SKINMTL_CHECK(!first.empty() && end == first.c_str() + first.size(),
                  path_ << ":" << i + 1 << ": cannot resume, the first cell '" << first << "' is not a number");
    if (it > resume_at) {
      ++dropped_rows_;
      continue;
    }
    kept += lines[i] + padding + "\n";
  }
  if (dropped_rows_ == 0 && old.size() == columns_.size()) return;  // nothing to change
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kept;
    out.flush();
    SKINMTL_CHECK(out, "CsvLog: cannot write " << tmp << ": " << std::strerror(errno));
  }
  SKINMTL_CHECK(std::rename(tmp.c_str(), path_.c_str()) == 0,
                "CsvLog: cannot rename " << tmp << " to " << path_ << ": " << std::strerror(errno));
}

CsvLog::~CsvLog() {
  if (file_) std::fclose(file_);
}

void CsvLog::log(const std::vector<std::pair<std::string, double>>& cells) {
  std::vector<std::string> row(columns_.size());
  std::vector<bool> given(columns_.size(), false);
  for (const auto& [name, value] : cells) {
    size_t c = 0;
    while (c < columns_.size() && columns_[c] != name) ++c;
    SKINMTL_CHECK(c < columns_.size(),
                  "CsvLog " << path_ << ": no column '" << name << "' (columns: "
                            << join(columns_) << ")");
    SKINMTL_CHECK(!given[c], "CsvLog " << path_ << ": column '" << name << "' given twice");
    given[c] = true;
    row[c] = format_csv_number(value);
  }
  write_row(row);
}

void CsvLog::log(const std::vector<double>& values) {
  SKINMTL_CHECK(values.size() == columns_.size(),
                "CsvLog " << path_ << ": " << values.size() << " values for "
                          << columns_.size() << " columns (" << join(columns_) << ")");
  std::vector<std::string> row;
  for (double v : values) row.push_back(format_csv_number(v));
  write_row(row);
}

void CsvLog::write_row(const std::vector<std::string>& cells) {
  const std::string line = join(cells) + "\n";
  const bool ok = std::fputs(line.c_str(), file_) >= 0 && std::fflush(file_) == 0;
  SKINMTL_CHECK(ok, "CsvLog: cannot write to " << path_ << ": " << std::strerror(errno));
}

// ---- reading --------------------------------------------------------------------------------

bool CsvColumns::has(const std::string& name) const {
  for (const std::string& c : columns)
    if (c == name) return true;
  return false;
}

const std::vector<double>& CsvColumns::column(const std::string& name) const {
  for (size_t c = 0; c < columns.size(); ++c)
    if (columns[c] == name) return data[c];
  SKINMTL_FAIL(path << ": no column '" << name << "' (columns: " << join(columns) << ")");
}

CsvColumns read_csv_columns(const std::string& path) {
  std::ifstream in(path);
  SKINMTL_CHECK(in.good(), "cannot open " << path << " for reading: " << std::strerror(errno));
  CsvColumns t;
  t.path = path;
  std::string line;
  if (std::getline(in, line) && !line.empty() && line.back() == '\r') line.pop_back();
  SKINMTL_CHECK(!trim(line).empty(), path << ": empty file (expected a header line)");
  for (const std::string& c : parse_csv_line(line, path + ":1")) t.columns.push_back(trim(c));
  t.data.resize(t.columns.size());
  int64_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::vector<std::string> cells =
        parse_csv_line(line, path + ":" + std::to_string(line_no));
    SKINMTL_CHECK(cells.size() <= t.columns.size(),
                  path << ":" << line_no << ": " << cells.size() << " cells for "
                       << t.columns.size() << " columns");
    for (size_t c = 0; c < t.columns.size(); ++c) {
      const std::string cell = c < cells.size() ? trim(cells[c]) : std::string();
      double v = std::nan("");
      if (!cell.empty()) {
        char* end = nullptr;
        v = std::strtod(cell.c_str(), &end);
        SKINMTL_CHECK(end && *end == '\0', path << ":" << line_no << ": column '" << t.columns[c]
                                                << "': '" << cell << "' is not a number");
      }
      t.data[c].push_back(v);
    }
  }
  return t;
}

}  // namespace skinmtl
