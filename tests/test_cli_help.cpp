// Every command of bin/skinmtl answers --help the same way: its usage on
// stdout, nothing on stderr, exit status 0. A usage error (no command, an
// unknown one) goes to stderr with status 2.
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/test_util.h"

namespace skinmtl {
namespace {

struct Result {
  int rc;
  std::string out, err;
};

Result run(const std::string& args) {
  const std::string base = "/tmp/skinmtl_help_" + std::to_string(::getpid());
  const int rc = std::system(("bin/skinmtl " + args + " > " + base + ".out 2> " + base + ".err").c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  Result r{WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(base + ".out"), slurp(base + ".err")};
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

TEST(CliHelp, EveryCommandPrintsItsUsageOnStdoutAndExitsZero) {
  const char* commands[] = {"",           "classify",        "cv",           "cv mtl",        "demo",
                            "eval",       "eval mtl",        "eval segcls",  "eval detseg",   "info",
                            "metrics",    "predict",         "predict detseg", "reproduce",   "synth",
                            "train",      "train mtl",       "train segcls", "train detseg"};
  for (const char* c : commands) {
    const Result r = run(std::string(c) + " --help");
    EXPECT_EQ(r.rc, 0) << "skinmtl " << c << " --help\n" << r.err;
    EXPECT_NE(r.out.find("usage"), std::string::npos) << "skinmtl " << c << " --help printed:\n" << r.out;
    EXPECT_EQ(r.err, "") << "skinmtl " << c << " --help wrote to stderr";
  }
}

TEST(CliHelp, UsageErrorsGoToStderrWithStatusTwo) {
  for (const char* c : {"", "frobnicate", "cv", "cv svm", "train", "eval", "info --verbose"}) {
    const Result r = run(c);
    EXPECT_EQ(r.rc, 2) << "skinmtl " << c;
    EXPECT_EQ(r.out, "") << "skinmtl " << c;
    EXPECT_NE(r.err, "") << "skinmtl " << c;
  }
}

// --precision: fp32 or tf32, and tf32 only on the GPU, refused before any data
// is read.
TEST(CliHelp, PrecisionIsFp32OrTf32AndTf32NeedsTheGpu) {
  for (const char* c : {"train mtl", "train segcls", "train detseg"}) {
    const std::string cmd = std::string(c) + " --data synthetic --data-dir /nonexistent --device cpu";
    Result r = run(cmd + " --precision tf32");
    EXPECT_NE(r.rc, 0) << c;
    EXPECT_NE(r.err.find("--precision tf32 is a GPU mode"), std::string::npos) << c << ": " << r.err;
    r = run(cmd + " --precision fp16");
    EXPECT_NE(r.rc, 0) << c;
    EXPECT_NE(r.err.find("--precision must be fp32 or tf32, got 'fp16'"), std::string::npos) << c << ": " << r.err;
    EXPECT_NE(run(std::string(c) + " --help").out.find("--precision P"), std::string::npos) << c;
  }
}

}  // namespace
}  // namespace skinmtl
