// io/csv.h: a small CSV reader for label and manifest files.
//
// The dialect is RFC 4180 without line breaks inside fields: fields are
// separated by commas; a field may be quoted ("a, b"), with "" standing for one
// quote inside quotes. The first non-blank line is the header. Blank lines are
// skipped; a trailing '\r' (Windows line ends) is removed. Every row must have
// as many fields as the header, otherwise reading fails with "file:line".
// The text must be UTF-8 (a leading byte-order mark is dropped); a byte that
// is not, or a carriage return inside a line, fails with "file:line:column".
//
// Fields are returned verbatim (no whitespace trimming); callers trim where a
// value is a label.
#pragma once

#include <string>
#include <vector>

namespace skinmtl {

struct CsvTable {
  std::string path;                     // the file, for messages
  std::vector<std::string> header;      // column names
  std::vector<std::vector<std::string>> rows;
  std::vector<int> line;                // line[i]: the 1-based line number of rows[i]

  // The index of column `name`, or -1 when absent.
  int column(const std::string& name) const;
  // The index of column `name`; throws naming the file and the columns it has.
  int require_column(const std::string& name) const;
  // "path:line" of row i, for error messages.
  std::string where(size_t row) const;
};

// Splits one line into fields. Throws (with `where` in the message) on an
// unterminated quote or text after a closing quote.
std::vector<std::string> parse_csv_line(const std::string& line, const std::string& where);

// One field written in this dialect, parse_csv_line's inverse: quoted, with
// "" for a quote, when it holds a comma, a quote or a line break; else as is.
std::string csv_field(const std::string& s);

// Reads a whole file. Throws when it cannot be opened, has no header, or a
// row's field count differs from the header's.
CsvTable read_csv(const std::string& path);

// The offset of the first byte of `s` that does not belong to well-formed
// UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF),
// or std::string::npos when all of `s` is UTF-8.
size_t find_invalid_utf8(const std::string& s);

// Checks one line of a text file before it is parsed: well-formed UTF-8, and
// no carriage return left inside it (a file with CR-only line ends, as old Mac
// programs save, would otherwise read as one long line). Throws naming
// `where` (file:line), the column and the byte.
void check_text_line(const std::string& line, const std::string& where);

// Removes leading and trailing spaces and tabs.
std::string trim(const std::string& s);

}  // namespace skinmtl
