// End to end through bin/skinmtl under `mpirun -np 2`: two processes train as
// one (the same losses and weights as one process with the same global batch,
// to float rounding), a checkpoint of two resumes in one, segcls and detseg
// run on two, a bad batch size ends every rank, and a killed rank ends the job.
//
// Skipped, by name, where the binary was built without MPI or mpirun is
// missing (make deps installs Open MPI).
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "io/csv.h"
#include "io/safetensors.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

const char* kBin = test::skinmtl_bin();

using test::sh;

// test::mpirun_env(): one OpenMP thread per rank, and as many for the
// one-process runs they are compared with.
const std::string kEnv = test::mpirun_env();
std::string mpirun2() { return kEnv + "timeout 600 mpirun -np 2 --oversubscribe " + kBin; }
std::string one() { return kEnv + "timeout 600 " + std::string(kBin); }

class CliDistributed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    ok_ = sh(std::string(kBin) + " synth --out " + dir_->path("data") + " --n 40 --size 48 --threads 2",
             dir_->path("synth.log")) == 0;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!std::filesystem::exists(kBin)) GTEST_SKIP() << kBin << " is not built (make test builds it)";
    if (sh(std::string(kBin) + " info", dir_->path("info.log")) != 0 ||
        test::read_file(dir_->path("info.log")).find("data-parallel training: MPI") == std::string::npos)
      GTEST_SKIP() << kBin << " was built without MPI (make deps installs Open MPI; then rebuild)";
    if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun is not installed";
    ASSERT_TRUE(ok_) << test::read_file(dir_->path("synth.log"));
  }
  std::string path(const std::string& name) const { return dir_->path(name); }
  // train mtl with frozen batch norms and a small step: a well-conditioned
  // problem, on which float rounding stays float rounding. (With batch
  // statistics on a randomly initialised ResNet-50 at 32 px, even one
  // process with 1 and 2 OpenMP threads parts after two steps.)
  std::string mtl_args(const std::string& out, int iters, const std::string& device = "cpu") const {
    return " train mtl --data synthetic:" + path("data/manifest.csv") +
           " --weights none --bn frozen --min-short 36 --max-short 48 --crop 32 --batch 4 --lr 0.000001"
           " --eval-every 3 --ckpt-every 2 --threads 1 --device " + device + " --iters " + std::to_string(iters) +
           " --out " + out;
  }

  static test::TempDir* dir_;
  static bool ok_;
};
test::TempDir* CliDistributed::dir_ = nullptr;
bool CliDistributed::ok_ = false;

// Every tensor of b within float rounding of a's: max |a - b| <= tol * (max |a| + 1).
void expect_same_weights(const std::string& a_path, const std::string& b_path, double tol) {
  const TensorFile a = load_safetensors(a_path), b = load_safetensors(b_path);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, ta] : a.tensors) {
    ASSERT_TRUE(b.tensors.count(name)) << name;
    const std::vector<double> x = ta.to_vector(), y = b.tensors.at(name).to_vector();
    ASSERT_EQ(x.size(), y.size()) << name;
    double diff = 0, scale = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      diff = std::max(diff, std::abs(x[i] - y[i]));
      scale = std::max(scale, std::abs(x[i]));
    }
    EXPECT_LE(diff, tol * (scale + 1)) << name << ": max |a - b| " << diff << ", max |a| " << scale;
  }
}

// The "loss" column of a log.csv.
std::vector<double> losses(const std::string& log_csv) {
  const CsvTable t = read_csv(log_csv);
  const size_t col = (size_t)t.require_column("loss");
  std::vector<double> v;
  for (const auto& row : t.rows) v.push_back(std::stod(row[col]));
  return v;
}

TEST_F(CliDistributed, TwoProcessesTrainAsOne) {
  const std::string a = path("one"), b = path("two");
  ASSERT_EQ(sh(one() + mtl_args(a, 3), path("one.log")), 0) << test::read_file(path("one.log"));
  ASSERT_EQ(sh(mpirun2() + mtl_args(b, 3), path("two.log")), 0) << test::read_file(path("two.log"));
  const std::string out = test::read_file(path("two.log"));
  EXPECT_NE(out.find("data-parallel: 2 processes of 2 images each"), std::string::npos) << out;
  // Rank 0 alone prints the header and writes the files.
  EXPECT_EQ(out.find("skinmtl train mtl:"), out.rfind("skinmtl train mtl:")) << out;
  const std::vector<double> la = losses(a + "/log.csv"), lb = losses(b + "/log.csv");
  ASSERT_EQ(la.size(), 3u);
  ASSERT_EQ(lb.size(), 3u);
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(lb[i], la[i], 1e-5 * std::abs(la[i])) << "iteration " << i + 1;
  // The weights: a wrong average (a sum, say, as a doubled learning rate) moves
  // them by about 2e-2 on this scale; float rounding by a few 1e-6.
  expect_same_weights(a + "/model.safetensors", b + "/model.safetensors", 1e-4);
}

TEST_F(CliDistributed, TwoProcessesTrainAsOneOnTheGpu) {
  // The same on a GPU: NCCL with a GPU per rank, or through the host when
  // both ranks share one GPU (NCCL refuses that). cuDNN's algorithms are not
  // bit-reproducible across batch sizes, hence the looser tolerance.
  REQUIRE_CUDA();
  const std::string a = path("gpu_one"), b = path("gpu_two");
  ASSERT_EQ(sh(one() + mtl_args(a, 3, "cuda"), path("gpu_one.log")), 0) << test::read_file(path("gpu_one.log"));
  ASSERT_EQ(sh(mpirun2() + mtl_args(b, 3, "cuda"), path("gpu_two.log")), 0)
      << test::read_file(path("gpu_two.log"));
  const std::vector<double> la = losses(a + "/log.csv"), lb = losses(b + "/log.csv");
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(lb[i], la[i], 1e-4 * std::abs(la[i])) << "iteration " << i + 1;
  expect_same_weights(a + "/model.safetensors", b + "/model.safetensors", 1e-3);
}

TEST_F(CliDistributed, ACheckpointOfTwoProcessesResumesInOne) {
  const std::string a = path("straight"), b = path("switched");
  ASSERT_EQ(sh(one() + mtl_args(a, 3), path("straight.log")), 0) << test::read_file(path("straight.log"));
  ASSERT_EQ(sh(mpirun2() + mtl_args(b, 2), path("switched2.log")), 0) << test::read_file(path("switched2.log"));
  ASSERT_EQ(sh(one() + mtl_args(b, 3) + " --resume", path("switched1.log")), 0) << test::read_file(path("switched1.log"));
  EXPECT_NE(test::read_file(path("switched1.log")).find("resumed from"), std::string::npos);
  EXPECT_EQ(losses(b + "/log.csv").size(), 3u);
  expect_same_weights(a + "/model.safetensors", b + "/model.safetensors", 1e-4);
}

TEST_F(CliDistributed, SegclsAndDetsegTrainOnTwoProcesses) {
  const std::string seg = path("seg"), det = path("det");
  ASSERT_EQ(sh(mpirun2() + " train segcls --data synthetic:" + path("data/manifest.csv") +
                   " --weights none --size 32x48 --batch 4 --eval-every 2 --ckpt-every 1000 --threads 1 --device cpu"
                   " --iters 2 --out " + seg,
               path("seg.log")),
            0)
      << test::read_file(path("seg.log"));
  // --weights none: batch statistics everywhere, synchronised by default.
  EXPECT_NE(test::read_file(path("seg.log")).find("batch norms synchronised"), std::string::npos)
      << test::read_file(path("seg.log"));
  EXPECT_EQ(losses(seg + "/log.csv").size(), 2u);
  EXPECT_TRUE(std::filesystem::exists(seg + "/model.safetensors"));
  ASSERT_EQ(sh(mpirun2() + " train detseg --data synthetic:" + path("data/manifest.csv") +
                   " --weights none --size 64 --channels 16 --rois 16 --batch 2 --phase1 1 --phase2 1 --phase3 0"
                   " --eval-every 0 --ckpt-every 1 --threads 1 --device cpu --sync-bn off --out " + det,
               path("det.log")),
            0)
      << test::read_file(path("det.log"));
  EXPECT_EQ(test::read_file(path("det.log")).find("synchronised"), std::string::npos);
  EXPECT_EQ(losses(det + "/log.csv").size(), 2u);
  EXPECT_TRUE(std::filesystem::exists(det + "/model.safetensors"));
}

TEST_F(CliDistributed, ABatchThatDoesNotSplitEndsEveryRank) {
  const int rc = sh(mpirun2() + mtl_args(path("odd"), 2) + " --batch 3", path("odd.log"));
  const std::string out = test::read_file(path("odd.log"));
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("--batch 3 is the batch over all 2 processes and must be a multiple of 2"), std::string::npos)
      << out;
  EXPECT_NE(out.find("rank 1 of 2"), std::string::npos) << out;
}

TEST_F(CliDistributed, AKilledRankEndsTheJob) {
  // A long run in the background; once it has logged a step, one rank is
  // killed. mpirun must end the other and exit non-zero, naming the rank,
  // rather than leave it waiting in an all-reduce.
  const std::string out = path("killed"), log = path("killed.log"), pidfile = path("mpirun.pid");
  const std::string cmd = "(" + kEnv + "mpirun -np 2 --oversubscribe " + kBin + mtl_args(out, 100000) + " > " + log +
                          " 2>&1 & echo $! > " + pidfile + "; wait $!; echo \"mpirun exit status $?\" >> " + log + ") &";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto waited = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  auto steps_logged = [&]() -> size_t {
    try {
      return std::filesystem::exists(out + "/log.csv") ? losses(out + "/log.csv").size() : 0;
    } catch (const Error&) {  // a row being written
      return 0;
    }
  };
  while (waited() < 120 && steps_logged() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(std::filesystem::exists(out + "/log.csv")) << test::read_file(log);
  const std::string mpirun_pid = test::read_file(pidfile);
  ASSERT_EQ(std::system(("kill -9 $(pgrep -P " + mpirun_pid.substr(0, mpirun_pid.find('\n')) + " | tail -1)").c_str()),
            0);
  std::string text;
  while (waited() < 180 && (text = test::read_file(log)).find("mpirun exit status") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_NE(text.find("mpirun exit status"), std::string::npos) << "the job did not end after a rank was killed:\n"
                                                                 << text;
  EXPECT_EQ(text.find("mpirun exit status 0"), std::string::npos) << text;
  EXPECT_NE(text.find("exited on signal 9"), std::string::npos) << text;
}

}  // namespace
}  // namespace skinmtl
