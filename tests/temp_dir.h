// tests/temp_dir.h: a scratch folder for the tests that write files, and two
// small file helpers.
//
//   test::TempDir dir;                    // a fresh, empty folder under /tmp
//   std::string p = dir.path("x.bin");    // a path inside it
//   test::write_file(p, bytes);           // removed with everything else when
//                                         // `dir` goes out of scope
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/check.h"

namespace skinmtl::test {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    root_ = std::filesystem::temp_directory_path() /
            ("skinmtl_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~TempDir() {
    std::error_code ec;  // never throw from a destructor
    std::filesystem::remove_all(root_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string path(const std::string& name) const { return (root_ / name).string(); }
  std::string str() const { return root_.string(); }

 private:
  std::filesystem::path root_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  SKINMTL_CHECK(f, "test: cannot write " << path);
  f.write(bytes.data(), (std::streamsize)bytes.size());
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  SKINMTL_CHECK(f, "test: cannot read " << path);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Runs a shell command line with stdout and stderr going to the file `log`;
// returns its exit status (-1 when it did not exit normally: a signal).
inline int sh(const std::string& cmd, const std::string& log) {
  const int rc = std::system((cmd + " > " + log + " 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The environment of a test's `mpirun` (a shell prefix):
//  - as root (a container, CI) Open MPI wants both ALLOW variables;
//  - one OpenMP thread per rank;
//  - under make sanitize, Open MPI's own allocations kept until exit are
//    suppressed by library name (tools/sanitize/lsan.supp), which needs full
//    stacks through its libraries (fast_unwind_on_malloc=0, for these processes
//    only: it is slow) and its plugins left loaded; both are ignored otherwise.
inline std::string mpirun_env() {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 "
         "OMPI_MCA_mca_base_component_disable_dlclose=1 LSAN_OPTIONS=\"$LSAN_OPTIONS:fast_unwind_on_malloc=0\" ";
}

// The skinmtl binary the end-to-end tests run: $SKINMTL_BIN when set (make
// sanitize points it at its own build), else bin/skinmtl.
inline const char* skinmtl_bin() {
  const char* b = std::getenv("SKINMTL_BIN");
  return b && *b ? b : "bin/skinmtl";
}

}  // namespace skinmtl::test

// EXPECT_ERROR_WITH(statement, "substring", ...): the statement throws
// skinmtl::Error and its message contains every substring given.
#define EXPECT_ERROR_WITH(stmt, ...)                                                  \
  do {                                                                                \
    bool threw_ = false;                                                              \
    try {                                                                             \
      stmt;                                                                           \
    } catch (const ::skinmtl::Error& e_) {                                            \
      threw_ = true;                                                                  \
      const std::string msg_ = e_.what();                                             \
      for (const std::string& want_ : std::initializer_list<std::string>{__VA_ARGS__}) \
        EXPECT_NE(msg_.find(want_), std::string::npos)                                \
            << "message lacks '" << want_ << "': " << msg_;                           \
    }                                                                                 \
    EXPECT_TRUE(threw_) << #stmt " did not throw skinmtl::Error";                     \
  } while (0)
