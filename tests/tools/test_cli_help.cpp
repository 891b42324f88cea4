// Every command of bin/skinmtl answers --help the same way: its usage on
// stdout, nothing on stderr, exit status 0. A usage error (no command, an
// unknown one) goes to stderr with status 2.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/image.h"
#include "tests/io_test_util.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

struct Result {
  int rc;
  std::string out, err;
};

// bin/skinmtl ARGS, with `env` ("NAME=VALUE ...") set for it.
Result run(const std::string& args, const std::string& env = "") {
  const std::string base = "/tmp/skinmtl_help_" + std::to_string(::getpid());
  const int rc = std::system(
      (env + " " + test::skinmtl_bin() + " " + args + " > " + base + ".out 2> " + base + ".err").c_str());
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
  const char* commands[] = {"check-data", "classify",        "cv",           "cv mtl",        "demo",
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

// skinmtl info says whether batch norms with fixed statistics are folded and (with CUDA) how
// the GPU convolves, as the environment sets them; a bad value is an error
// that names the variable.
TEST(CliInfo, ReportsTheSettingsTheEnvironmentChoosesAndRefusesBadOnes) {
  const Result plain = run("info");
  EXPECT_EQ(plain.rc, 0) << plain.err;
  EXPECT_NE(plain.out.find("batch norms: folded into the convolution (in training where that costs less"),
            std::string::npos)
      << plain.out;
  const Result all = run("info", "SKINMTL_FOLD_BN=all");
  EXPECT_NE(all.out.find("batch norms: folded into the convolution wherever the statistics are fixed"),
            std::string::npos)
      << all.out;
  const Result off = run("info", "SKINMTL_FOLD_BN=0");
  EXPECT_NE(off.out.find("batch norms: run as their own op"), std::string::npos) << off.out;
  const Result bad = run("info", "SKINMTL_FOLD_BN=yes");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("SKINMTL_FOLD_BN must be 0, 1 or all, got 'yes'"), std::string::npos) << bad.err;
#if SKINMTL_CUDA
  EXPECT_NE(plain.out.find("GPU convolutions: cuDNN legacy API"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("cuDNN: 9."), std::string::npos) << plain.out;
  const Result graph = run("info", "SKINMTL_CONV_BACKEND=cudnn-graph");
  EXPECT_NE(graph.out.find("GPU convolutions: cuDNN graph API"), std::string::npos) << graph.out;
  const Result wrong = run("info", "SKINMTL_CONV_BACKEND=cudnn_graph");
  EXPECT_EQ(wrong.rc, 1);
  EXPECT_NE(wrong.err.find("SKINMTL_CONV_BACKEND must be auto, cudnn, cudnn-graph or im2col"), std::string::npos)
      << wrong.err;
#endif
}

TEST(CliHelp, UsageErrorsGoToStderrWithStatusTwo) {
  for (const char* c : {"", "frobnicate", "cv", "cv svm", "train", "eval", "info --verbose"}) {
    const Result r = run(c);
    EXPECT_EQ(r.rc, 2) << "skinmtl " << c;
    EXPECT_EQ(r.out, "") << "skinmtl " << c;
    EXPECT_NE(r.err, "") << "skinmtl " << c;
  }
}

// A mistake in the command line exits 2 and says where the options are; a
// mistake in the user's data or files exits 1. Neither message sends the
// reader into our sources with a C++ file:line.
TEST(CliHelp, OptionMistakesExitTwoDataMistakesOneNeitherWithSourceLines) {
  for (const char* c : {"train mtl --bn foo", "train mtl --iters abc", "train mtl --bogus 1", "train segcls --lr-schedule step",
                        "train detseg --augment x", "train detseg --iters 0", "eval mtl", "synth", "classify",
                        "metrics seg --bogus", "reproduce yang --budget tpu --dry-run"}) {
    const Result r = run(c);
    EXPECT_EQ(r.rc, 2) << "skinmtl " << c << "\n" << r.err;
    EXPECT_NE(r.err.find("--help' lists the options"), std::string::npos) << "skinmtl " << c << "\n" << r.err;
    EXPECT_EQ(r.err.find(".cpp:"), std::string::npos) << "skinmtl " << c << "\n" << r.err;
  }
  test::TempDir dir;
  for (const std::string& c : {"train mtl --data " + dir.path("none.csv"), "eval mtl --model " + dir.path("none.safetensors"),
                              "classify --image " + dir.path("none.jpg")}) {
    const Result r = run(c);
    EXPECT_EQ(r.rc, 1) << "skinmtl " << c << "\n" << r.err;
    EXPECT_NE(r.err.find(": error: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(dir.path("none")), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(".cpp:"), std::string::npos) << "skinmtl " << c << "\n" << r.err;
  }
}

// A model file that is not there is reported before the data is read: run
// from a folder without data/synthetic, the default data set, none of these
// commands generates it first (that took eval segcls half a minute).
TEST(CliHelp, AMissingModelFileIsReportedBeforeTheData) {
  test::TempDir dir;
  const std::string bin = std::filesystem::absolute(test::skinmtl_bin()).string();
  const std::string model = dir.path("no_model.safetensors");
  for (const std::string c : {"eval mtl", "eval segcls", "eval detseg", "predict detseg --data synthetic"}) {
    const std::string err = dir.path("err.txt");
    const int rc = std::system(("cd " + dir.str() + " && " + bin + " " + c + " --model " + model + " > /dev/null 2> " + err).c_str());
    const std::string text = test::read_file(err);
    EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 1) << "skinmtl " << c << "\n" << text;
    EXPECT_NE(text.find(model + ": cannot open the model file: no such file"), std::string::npos)
        << "skinmtl " << c << "\n" << text;
    EXPECT_FALSE(std::filesystem::exists(dir.path("data"))) << "skinmtl " << c << " read or generated the data first";
  }
}

// `skinmtl metrics` reads its command line with Args, as every command does:
// the metrics' name is a word anywhere among the options, and a mistake exits
// 2 with the hint every command gives.
TEST(CliHelp, MetricsReadsItsOptionsLikeEveryCommand) {
  Result r = run("metrics --bogus");
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_EQ(r.err, "skinmtl metrics: unknown option --bogus\n  ('skinmtl metrics --help' lists the options)\n");
  EXPECT_EQ(r.out, "");
  for (const char* c : {"metrics", "metrics frobnicate --scores s.csv --labels l.csv",
                        "metrics multilabel topk --scores s.csv --labels l.csv", "metrics seg --pred",
                        "metrics multilabel --json=1", "metrics topk --scores s.csv --labels l.csv --k 0",
                        "metrics seg --pred p --truth t --threshold 0.5"}) {
    r = run(c);
    EXPECT_EQ(r.rc, 2) << "skinmtl " << c << "\n" << r.err;
    EXPECT_NE(r.err.find("--help' lists the options"), std::string::npos) << "skinmtl " << c << "\n" << r.err;
  }
  // The name after the options, and --name=value, as for every command.
  test::TempDir dir;
  test::write_file(dir.path("s.csv"), "image_id,a,b\ni1,0.9,0.1\ni2,0.2,0.8\n");
  test::write_file(dir.path("l.csv"), "image_id,a,b\ni1,1,0\ni2,0,1\n");
  r = run("metrics --json --scores=" + dir.path("s.csv") + " --labels " + dir.path("l.csv") + " topk --k 1");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\"accuracy\": 1.0"), std::string::npos) << r.out;
}

// check-data lists every problem of a data set with its CSV line and exits 1;
// a clean data set exits 0.
TEST(CliCheckData, ListsEveryProblemWithItsLineAndExitsOne) {
  test::TempDir dir;
  Rng rng(3);
  const Image img = test::random_image(16, 20, 3, rng);
  save_jpeg(dir.path("a.jpg"), img, 90);
  save_jpeg(dir.path("b.jpg"), img, 90);
  save_png(dir.path("a_mask.png"), Image(16, 20, 1));
  const std::string jpg = test::read_file(dir.path("a.jpg"));
  test::write_file(dir.path("cut.jpg"), jpg.substr(0, jpg.size() / 2));
  Image labels(16, 20, 1);
  labels.at(2, 2, 0) = 2;
  save_png(dir.path("labels_mask.png"), labels);
  const std::string h = "image,mask,melanoma,seborrheic_keratosis\n";
  test::write_file(dir.path("good.csv"), h + "a.jpg,a_mask.png,1,0\n");
  Result r = run("check-data --data " + dir.path("good.csv") + " --decode");
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("clean"), std::string::npos) << r.out;
  test::write_file(dir.path("bad.csv"), h + "a.jpg,a_mask.png,1,0\n"
                                            "cut.jpg,a_mask.png,0,0\n"
                                            "gone.jpg,a_mask.png,0,1\n"
                                            "b.jpg,labels_mask.png,0,0\n");
  r = run("check-data --data " + dir.path("bad.csv"));  // quick: headers and endings
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  for (const std::string& part : std::vector<std::string>{"1 missing", "bad.csv:3: " + dir.path("cut.jpg") + ": truncated",
                                 "bad.csv:4: " + dir.path("gone.jpg") + ": missing", "PROBLEMS FOUND"})
    EXPECT_NE(r.out.find(part), std::string::npos) << "no '" << part << "' in:\n" << r.out;
  EXPECT_EQ(r.out.find("labels_mask"), std::string::npos) << "found without --decode:\n" << r.out;
  r = run("check-data --data " + dir.path("bad.csv") + " --decode");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("bad.csv:5: " + dir.path("labels_mask.png") + ": mask"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("largest value is 2"), std::string::npos) << r.out;
}

// --precision: fp32, tf32 or bf16, and tf32 only on the GPU, refused before
// any data is read.
TEST(CliHelp, PrecisionIsFp32Tf32OrBf16AndTf32NeedsTheGpu) {
  for (const char* c : {"train mtl", "train segcls", "train detseg"}) {
    const std::string cmd = std::string(c) + " --data synthetic --data-dir /nonexistent --device cpu";
    Result r = run(cmd + " --precision tf32");
    EXPECT_NE(r.rc, 0) << c;
    EXPECT_NE(r.err.find("--precision tf32 is a GPU mode"), std::string::npos) << c << ": " << r.err;
    r = run(cmd + " --precision fp16");
    EXPECT_NE(r.rc, 0) << c;
    EXPECT_NE(r.err.find("--precision must be fp32, tf32 or bf16, got 'fp16'"), std::string::npos) << c << ": " << r.err;
    EXPECT_NE(run(std::string(c) + " --help").out.find("--precision P"), std::string::npos) << c;
  }
}

}  // namespace
}  // namespace skinmtl
