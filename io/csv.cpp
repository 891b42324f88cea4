#include "io/csv.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "kernels/common.h"

namespace skinmtl {

int CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return (int)i;
  return -1;
}

int CsvTable::require_column(const std::string& name) const {
  const int c = column(name);
  if (c < 0) {
    std::ostringstream cols;
    for (size_t i = 0; i < header.size(); ++i) cols << (i ? ", " : "") << header[i];
    SKINMTL_USER_FAIL(path << ":1: no column '" << name << "' in the header (columns: " << cols.str()
                      << ")");
  }
  return c;
}

std::string CsvTable::where(size_t row) const {
  return path + ":" + std::to_string(line.at(row));
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> parse_csv_line(const std::string& line, const std::string& where) {
  std::vector<std::string> fields;
  std::string field;
  size_t i = 0;
  while (true) {
    field.clear();
    if (i < line.size() && line[i] == '"') {
      // Quoted field: runs to the next lone quote; "" is a literal quote.
      ++i;
      while (true) {
        SKINMTL_USER_CHECK(i < line.size(), where << ": unterminated quoted field");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
          } else {
            ++i;
            break;
          }
        } else {
          field += line[i++];
        }
      }
      SKINMTL_USER_CHECK(i == line.size() || line[i] == ',',
                    where << ": unexpected text after a closing quote");
    } else {
      while (i < line.size() && line[i] != ',') field += line[i++];
    }
    fields.push_back(field);
    if (i == line.size()) break;
    ++i;  // the comma; a line ending in a comma has an empty last field
  }
  return fields;
}

CsvTable read_csv(const std::string& path) {
  std::ifstream in(path);
  SKINMTL_USER_CHECK(in, "cannot open '" << path << "': " << std::strerror(errno));
  CsvTable t;
  t.path = path;
  std::string text;
  int lineno = 0;
  bool have_header = false;
  while (std::getline(in, text)) {
    ++lineno;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (lineno == 1 && text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 BOM
    if (trim(text).empty()) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    std::vector<std::string> fields = parse_csv_line(text, where);
    if (!have_header) {
      for (std::string& f : fields) f = trim(f);
      t.header = std::move(fields);
      have_header = true;
      continue;
    }
    SKINMTL_USER_CHECK(fields.size() == t.header.size(),
                  where << ": " << fields.size() << " fields, but the header has "
                        << t.header.size());
    t.rows.push_back(std::move(fields));
    t.line.push_back(lineno);
  }
  SKINMTL_USER_CHECK(have_header, path << ": empty file (no header line)");
  return t;
}

}  // namespace skinmtl
