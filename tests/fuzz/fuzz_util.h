// tests/fuzz/fuzz_util.h: what the fuzz targets share.
//
// Each target (tests/fuzz/fuzz_*.cpp) hands libFuzzer's bytes to one of the
// project's parsers the way a user's file would reach it. A parser may refuse
// its input only with skinmtl::Error (a message naming the file and what is
// wrong); anything else is a bug that libFuzzer reports: a crash, a sanitizer
// finding (the targets are built with ASan + UBSan), a hang, or any other
// exception escaping (std::bad_alloc from a size read off the input,
// nlohmann::json's own exceptions, std::out_of_range, ...).
//
// Build and run: `make fuzz` (clang's libFuzzer; README, "Testing").
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "base/check.h"

namespace skinmtl::fuzz {

// Writes the bytes to this process's own scratch file (name ending in `ext`)
// and returns its path: the parsers read files, as users give them.
inline std::string write_input(const uint8_t* data, size_t size, const std::string& ext) {
  const std::string path = "/tmp/skinmtl_fuzz_" + std::to_string(::getpid()) + ext;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), (std::streamsize)size);
  f.close();
  if (!f) __builtin_trap();  // the fuzzer's machine, not the parser: stop loudly
  return path;
}

// Runs `parse`; a clean refusal (skinmtl::Error) is a correct answer.
template <typename F>
void expect_parse_or_error(F&& parse) {
  try {
    parse();
  } catch (const Error&) {
  }
}

}  // namespace skinmtl::fuzz
