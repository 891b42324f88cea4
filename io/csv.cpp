#include "io/csv.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/check.h"

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

size_t find_invalid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Lead byte: how many continuation bytes follow, and the range the second
    // byte must be in (which rules out overlong forms, surrogates and > U+10FFFF).
    size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 1;
    else if (c == 0xE0) len = 2, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) len = 2;
    else if (c == 0xED) len = 2, hi = 0x9F;
    else if (c >= 0xEE && c <= 0xEF) len = 2;
    else if (c == 0xF0) len = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) len = 3;
    else if (c == 0xF4) len = 3, hi = 0x8F;
    else return i;  // a continuation byte without a lead, C0/C1, or F5..FF
    if (i + len >= n) return i;  // truncated at the end
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k <= len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    i += len + 1;
  }
  return std::string::npos;
}

void check_text_line(const std::string& line, const std::string& where) {
  const size_t bad = find_invalid_utf8(line);
  if (bad != std::string::npos) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", (unsigned)(unsigned char)line[bad]);
    SKINMTL_USER_FAIL(where << ":" << bad + 1 << ": byte " << hex
                            << " is not UTF-8 (save the file as UTF-8; Latin-1 or Windows-1252 "
                               "text must be converted, e.g. iconv -f latin1 -t utf-8)");
  }
  const size_t cr = line.find('\r');
  SKINMTL_USER_CHECK(cr == std::string::npos,
                     where << ":" << cr + 1
                           << ": a carriage return inside the line: the file has CR-only (old "
                              "Mac) line ends or a stray CR; save it with LF or CRLF line ends");
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

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
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
    const std::string where = path + ":" + std::to_string(lineno);
    check_text_line(text, where);
    if (trim(text).empty()) continue;
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
