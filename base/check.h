// base/check.h: the few things every layer of skinmtl shares, from the
// kernels up to the command-line tools. It depends on nothing of skinmtl, so
// any file may include it without reaching into another layer.
//
//  - SKINMTL_HD marks an element function as callable from both the CPU loop
//    and a CUDA kernel, so the two bodies of a pointwise op cannot drift apart
//    (the same idea as llm.c and PyTorch's C10_HOST_DEVICE).
//  - skinmtl::Error and SKINMTL_CHECK: every failure is an exception that says
//    where it happened (file:line) and what was wrong. Command-line mains catch
//    it, print it and exit non-zero. SKINMTL_USER_CHECK is for the user's
//    mistakes: their file and line, not ours.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define SKINMTL_HD __host__ __device__ __forceinline__
#else
#define SKINMTL_HD inline
#endif

namespace skinmtl {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A command called the wrong way: an unknown option, a value of the wrong
// kind or out of range. bin/skinmtl prints it with where to find the options
// and exits 2 (other errors exit 1).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what) {}
};

// Builds "file:line: message" and throws skinmtl::Error.
[[noreturn]] inline void fail_at(const char* file, int line, const std::string& msg) {
  std::ostringstream os;
  os << file << ":" << line << ": " << msg;
  throw Error(os.str());
}

}  // namespace skinmtl

// SKINMTL_CHECK(cond, msg-stream): throw with file:line when cond is false.
//   SKINMTL_CHECK(x.ndim() == 4, "conv2d: input must be (N, C, H, W), got " << x.shape_str());
#define SKINMTL_CHECK(cond, msg)                                        \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::ostringstream skinmtl_os_;                                   \
      skinmtl_os_ << msg;                                               \
      ::skinmtl::fail_at(__FILE__, __LINE__, skinmtl_os_.str());        \
    }                                                                   \
  } while (0)

#define SKINMTL_FAIL(msg) SKINMTL_CHECK(false, msg)

// SKINMTL_USER_CHECK(cond, msg-stream): the same for a mistake in what the
// user gave (an option, a folder, a row of their CSV). The message names the
// user's file and line where there is one, and carries no C++ file:line, which
// would only send the reader into our sources.
//   SKINMTL_USER_CHECK(fs::is_directory(dir), "--masks " << dir << ": not a folder");
// SKINMTL_USAGE_CHECK(cond, msg-stream): a UsageError, for a mistake in the
// command line itself; no C++ file:line either.
//   SKINMTL_USAGE_CHECK(bn == "frozen" || bn == "batch", "--bn must be frozen or batch, got '" << bn << "'");
#define SKINMTL_USAGE_CHECK(cond, msg)                                  \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::ostringstream skinmtl_os_;                                   \
      skinmtl_os_ << msg;                                               \
      throw ::skinmtl::UsageError(skinmtl_os_.str());                   \
    }                                                                   \
  } while (0)

#define SKINMTL_USER_CHECK(cond, msg)                                   \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::ostringstream skinmtl_os_;                                   \
      skinmtl_os_ << msg;                                               \
      throw ::skinmtl::Error(skinmtl_os_.str());                        \
    }                                                                   \
  } while (0)

#define SKINMTL_USER_FAIL(msg) SKINMTL_USER_CHECK(false, msg)
