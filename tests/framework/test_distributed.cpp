// framework/distributed.h and synchronised batch norm.
//
// In the normal run (one process): the collectives of a job of one leave
// values alone; synchronised batch norm computes what plain batch norm does
// (forward, backward, running statistics), passes a float64 gradient check,
// and agrees between CPU and CUDA.
//
// With two ranks: Distributed.TwoRanksUnderMpirun starts this very test binary
// under `mpirun -np 2` and runs the DISABLED_TwoRanks suite there, in which
// each rank checks the collectives, the gradient averaging, and that
// synchronised batch norm on half a batch per rank gives, row for row, what
// one process gives on the whole batch.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "framework/autograd.h"
#include "framework/distributed.h"
#include "framework/module.h"
#include "nets/tiny_net.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::uniform64;

// y = batch_norm2d(x, gamma, beta) in training mode, synchronised over `comm`
// or not; running statistics start at (0.5, 1.5).
struct BnRun {
  Tensor y, dx, dgamma, dbeta, running_mean, running_var;
};
BnRun run_bn(const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in, const Tensor& dy,
             Communicator* comm) {
  Tensor x = x_in.clone().set_requires_grad(true);
  Tensor gamma = gamma_in.clone().set_requires_grad(true);
  Tensor beta = beta_in.clone().set_requires_grad(true);
  const int64_t C = x.size(1);
  BnRun r;
  r.running_mean = Tensor::full({C}, 0.5, x.dtype(), x.device());
  r.running_var = Tensor::full({C}, 1.5, x.dtype(), x.device());
  BatchNormParams p;
  p.eps = 1e-3;
  p.sync = comm;
  r.y = batch_norm2d(x, gamma, beta, r.running_mean, r.running_var, p);
  r.y.backward(dy);
  r.dx = x.grad();
  r.dgamma = gamma.grad();
  r.dbeta = beta.grad();
  return r;
}

TEST(SyncBatchNorm, OneProcessEqualsPlainBatchNorm) {
  // The synchronised pieces (sum, squared deviations, backward sums, dx) in a
  // job of one against the fused kernels.
  Communicator& world = Communicator::world();
  ASSERT_EQ(world.size(), 1) << "run the normal suite without a launcher";
  Rng rng(41);
  for (DType dt : {DType::F64, DType::F32}) {
    Tensor x = uniform64({3, 4, 5, 7}, rng, 1.0, 4.0).to(dt), g = uniform64({4}, rng, 0.5, 1.5).to(dt);
    Tensor b = uniform64({4}, rng).to(dt), dy = uniform64({3, 4, 5, 7}, rng).to(dt);
    const BnRun plain = run_bn(x, g, b, dy, nullptr), sync = run_bn(x, g, b, dy, &world);
    const double tol = dt == DType::F64 ? 1e-12 : 1e-5;
    EXPECT_TENSORS_CLOSE(plain.y, sync.y, tol, tol);
    EXPECT_TENSORS_CLOSE(plain.dx, sync.dx, tol, tol);
    EXPECT_TENSORS_CLOSE(plain.dgamma, sync.dgamma, tol, tol);
    EXPECT_TENSORS_CLOSE(plain.dbeta, sync.dbeta, tol, tol);
    EXPECT_TENSORS_CLOSE(plain.running_mean, sync.running_mean, tol, tol);
    EXPECT_TENSORS_CLOSE(plain.running_var, sync.running_var, tol, tol);
  }
}

TEST(SyncBatchNorm, GradCheck) {
  Rng rng(42);
  BatchNormParams p;
  p.sync = &Communicator::world();
  auto f = [p](const std::vector<Tensor>& in) {
    Tensor rm = in[3].clone(), rv = in[4].clone();
    return batch_norm2d(in[0], in[1], in[2], rm, rv, p);
  };
  EXPECT_GRADCHECK(f,
                   {uniform64({3, 4, 5, 3}, rng, -2.0, 3.0), uniform64({4}, rng, 0.5, 1.5), uniform64({4}, rng),
                    uniform64({4}, rng), uniform64({4}, rng, 0.5, 2.0)},
                   {}, {3, 4});
}

TEST(SyncBatchNormCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(43);
  BatchNormParams p;
  p.sync = &Communicator::world();
  auto f = [p](const std::vector<Tensor>& in) {
    Tensor rm = in[3].clone(), rv = in[4].clone();
    return batch_norm2d(in[0], in[1], in[2], rm, rv, p);
  };
  test::expect_cpu_cuda_parity(f,
                               {rand_uniform({3, 5, 13, 7}, rng, 2.0, 5.0), rand_uniform({5}, rng, 0.5, 1.5),
                                randn({5}, rng), randn({5}, rng), rand_uniform({5}, rng, 0.5, 2.0)},
                               1e-4, 1e-4, {3, 4});
}

TEST(Distributed, OneProcessCollectivesLeaveValuesAlone) {
  Communicator& world = Communicator::world();
  ASSERT_EQ(world.size(), 1);
  EXPECT_TRUE(world.is_root());
  EXPECT_EQ(world.describe(), "one process");
  double v[2] = {1.5, -2};
  world.all_reduce_sum(v, 2);
  world.broadcast(v, 2);
  EXPECT_EQ(v[0], 1.5);
  EXPECT_EQ(v[1], -2);
  Tensor t = Tensor::from_vector(std::vector<double>{3, 4}, {2}, DType::F64);
  world.all_reduce_sum(t);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{3, 4}));
  // Gradient averaging of one process changes nothing, and creates no gradient.
  Parameter a{"a", Tensor::ones({2}).set_requires_grad(true)}, b{"b", Tensor::ones({3}).set_requires_grad(true)};
  sum(scale(a.value, 2.0)).backward();
  GradientAverager avg({&a, &b}, world);
  avg.average();
  EXPECT_EQ(a.value.grad().to_vector(), (std::vector<double>{2, 2}));
  EXPECT_FALSE(b.value.grad().defined());
}

// ---- two ranks --------------------------------------------------------------------

TEST(Distributed, TwoRanksUnderMpirun) {
#if !SKINMTL_MPI
  GTEST_SKIP() << "built without MPI (install Open MPI: make deps, then rebuild)";
#endif
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun is not installed";
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(n, 0);
  self[n] = 0;
  test::TempDir dir;
  const std::string log = dir.path("mpirun.log");
  // --oversubscribe allows two ranks on a one-core machine.
  const std::string cmd = test::mpirun_env() + "timeout 300 mpirun -np 2 --oversubscribe " + std::string(self) +
                          " --gtest_color=no --gtest_also_run_disabled_tests --gtest_filter='DISABLED_TwoRanks.*' > " + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(log);
  const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << out;
  // Both ranks ran the whole suite and passed it.
  size_t passed = 0;
  for (size_t at = out.find("[  PASSED  ] 6 tests"); at != std::string::npos;
       at = out.find("[  PASSED  ] 6 tests", at + 1))
    ++passed;
  EXPECT_EQ(passed, 2u) << out;
}

TEST(DISABLED_TwoRanks, Collectives) {
  Communicator& world = Communicator::world();
  ASSERT_EQ(world.size(), 2) << "run under mpirun -np 2";
  const int r = world.rank();
  double v[3] = {1.0 + r, 10.0 * r, -1};
  world.all_reduce_sum(v, 3);
  EXPECT_EQ(v[0], 3);
  EXPECT_EQ(v[1], 10);
  EXPECT_EQ(v[2], -2);
  double w = r == 0 ? 7.25 : 0;
  world.broadcast(&w, 1);
  EXPECT_EQ(w, 7.25);
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor t = Tensor::from_vector(std::vector<double>{1.0 * r, 2, 0.5}, {3}, dt);
    world.all_reduce_sum(t);
    EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 4, 1})) << dtype_name(dt);
    Tensor u = Tensor::full({2, 2}, r == 0 ? 3.0 : -1.0, dt);
    world.broadcast(u);
    EXPECT_EQ(u.to_vector(), (std::vector<double>{3, 3, 3, 3}));
  }
  if (cuda_available()) {
    Tensor t = Tensor::from_vector(std::vector<float>{1.f * r, 2.f}, {2}).to(Device::CUDA);
    world.all_reduce_sum(t);
    EXPECT_EQ(t.to(Device::CPU).to_vector(), (std::vector<double>{1, 4})) << "GPU all-reduce";
  }
}

TEST(DISABLED_TwoRanks, GradientsAreAveragedAndHeadsReachedByOneRankToo) {
  Communicator& world = Communicator::world();
  ASSERT_EQ(world.size(), 2);
  const int r = world.rank();
  Parameter a{"a", Tensor::ones({2}, DType::F64).set_requires_grad(true)};
  Parameter b{"b", Tensor::ones({3}, DType::F64).set_requires_grad(true)};
  Parameter c{"c", Tensor::ones({1}, DType::F64).set_requires_grad(true)};
  // Every rank reaches a; only rank 1 reaches b; nobody reaches c.
  Tensor loss = sum(scale(a.value, 1.0 + r));
  if (r == 1) loss = add(loss, sum(scale(b.value, 4.0)));
  loss.backward();
  GradientAverager avg({&a, &b, &c}, world);
  avg.average();
  EXPECT_EQ(a.value.grad().to_vector(), (std::vector<double>{1.5, 1.5}));
  ASSERT_TRUE(b.value.grad().defined()) << "rank " << r << ": b was reached on rank 1, so it has a gradient here too";
  EXPECT_EQ(b.value.grad().to_vector(), (std::vector<double>{2, 2, 2}));
  EXPECT_FALSE(c.value.grad().defined());
  // The same buffer again, next step.
  a.value.zero_grad();
  b.value.zero_grad();
  sum(scale(a.value, r == 0 ? 2.0 : 0.0)).backward();
  avg.average();
  EXPECT_EQ(a.value.grad().to_vector(), (std::vector<double>{1, 1}));
  EXPECT_EQ(b.value.grad().to_vector(), (std::vector<double>{0, 0, 0}));
}

// With the optimizer's parameters packed (SGD's flat buffers), the ranks
// all-reduce that buffer itself: the same means as through the averager's own
// buffer, in one collective. A parameter reached on one rank only changes the
// layouts' agreement, and the averager falls back to its own buffer.
TEST(DISABLED_TwoRanks, PackedGradientsAreAveragedInTheOptimizersBuffer) {
  Communicator& world = Communicator::world();
  ASSERT_EQ(world.size(), 2);
  const int r = world.rank();
  Parameter a{"a", Tensor::ones({5}, DType::F64).set_requires_grad(true)};
  Parameter b{"b", Tensor::ones({3}, DType::F64).set_requires_grad(true)};
  Parameter c{"c", Tensor::ones({7}, DType::F64).set_requires_grad(true)};
  Parameter d{"d", Tensor::ones({2}, DType::F64).set_requires_grad(true)};
  const std::vector<Parameter*> params = {&a, &b, &c, &d};
  SGD opt(params, SGDOptions{0.1, 0.0, 0.0, Packing::Always});
  GradientAverager avg(params, world);
  auto step = [&](bool d_on_rank_1) {
    opt.zero_grad();
    Tensor loss = add(add(sum(scale(a.value, 1.0 + r)), sum(scale(b.value, 2.0 + r))), sum(scale(c.value, 3.0 * r)));
    if (d_on_rank_1 && r == 1) loss = add(loss, sum(scale(d.value, 4.0)));
    loss.backward();
    avg.average(opt.packed_gradients());
    EXPECT_EQ(a.value.grad().to_vector(), std::vector<double>(5, 1.5));
    EXPECT_EQ(b.value.grad().to_vector(), std::vector<double>(3, 2.5));
    EXPECT_EQ(c.value.grad().to_vector(), std::vector<double>(7, 1.5));
    if (d_on_rank_1) {
      EXPECT_EQ(d.value.grad().to_vector(), std::vector<double>(2, 2.0));
    }
    opt.step();
  };
  step(false);  // nothing packed yet: the averager's own buffer
  EXPECT_EQ(avg.packed_averages(), 0);
  EXPECT_EQ(opt.packed_params(), 3);
  step(false);  // a, b and c packed alike on both ranks: their buffer itself
  step(false);
  EXPECT_EQ(avg.packed_averages(), 2);
  step(true);  // d reached on rank 1 alone: the ranks' layouts differ
  EXPECT_EQ(avg.packed_averages(), 2);
  // Both ranks hold the same values after the same averaged steps.
  for (const Parameter* p : params) {
    Tensor mine = p->value.clone(), root = p->value.clone();
    world.broadcast(root);
    EXPECT_EQ(mine.to_vector(), root.to_vector()) << p->name;
  }
}

TEST(DISABLED_TwoRanks, SyncBatchNormOnHalfBatchesEqualsOneProcessOnTheWhole) {
  Communicator& world = Communicator::world();
  ASSERT_EQ(world.size(), 2);
  const int r = world.rank();
  Rng rng(44);  // the same numbers on both ranks
  Tensor x = uniform64({4, 3, 5, 2}, rng, 1.0, 4.0), g = uniform64({3}, rng, 0.5, 1.5);
  Tensor b = uniform64({3}, rng), dy = uniform64({4, 3, 5, 2}, rng);
  const BnRun whole = run_bn(x, g, b, dy, nullptr);
  const BnRun half = run_bn(slice(x, 0, 2 * r, 2 * r + 2), g, b, slice(dy, 0, 2 * r, 2 * r + 2), &world);
  EXPECT_TENSORS_CLOSE(slice(whole.y, 0, 2 * r, 2 * r + 2), half.y, 1e-12, 1e-12);
  EXPECT_TENSORS_CLOSE(slice(whole.dx, 0, 2 * r, 2 * r + 2), half.dx, 1e-12, 1e-12);
  EXPECT_TENSORS_CLOSE(whole.running_mean, half.running_mean, 1e-12, 1e-12);
  EXPECT_TENSORS_CLOSE(whole.running_var, half.running_var, 1e-12, 1e-12);
  // dgamma and dbeta are this rank's part: their sum over ranks is the whole.
  Tensor dg = half.dgamma.clone(), db = half.dbeta.clone();
  world.all_reduce_sum(dg);
  world.all_reduce_sum(db);
  EXPECT_TENSORS_CLOSE(whole.dgamma, dg, 1e-12, 1e-12);
  EXPECT_TENSORS_CLOSE(whole.dbeta, db, 1e-12, 1e-12);
  // Without synchronisation the halves see other statistics (the test can fail).
  const BnRun local = run_bn(slice(x, 0, 2 * r, 2 * r + 2), g, b, slice(dy, 0, 2 * r, 2 * r + 2), nullptr);
  EXPECT_FALSE(test::tensors_close(slice(whole.y, 0, 2 * r, 2 * r + 2), local.y, 1e-6, 1e-6));
}

TEST(DISABLED_TwoRanks, NetworkStepOnHalfBatchesEqualsOneProcessOnTheWhole) {
  // A small network with batch norms in training mode: loss and averaged
  // gradients of two ranks with half a batch each against one process.
  Communicator& world = Communicator::world();
  ASSERT_EQ(world.size(), 2);
  const int r = world.rank();
  Rng data(45);
  Tensor x = rand_uniform({4, 3, 12, 12}, data, -1, 1), lesions = Tensor::zeros({4, 3}), sites = Tensor::zeros({4});
  lesions = rand_uniform({4, 3}, data, 0, 1);
  Rng init_whole(46), init_half(46);
  TinyMtlNet whole(3, 2, init_whole, 8), half(3, 2, init_half, 8);
  const TinyMtlNet::Losses lw = whole.loss(whole.forward(x), lesions, sites);
  lw.total.backward();
  set_sync_batch_norm(half, &world);
  const TinyMtlNet::Losses lh = half.loss(half.forward(slice(x, 0, 2 * r, 2 * r + 2)), slice(lesions, 0, 2 * r, 2 * r + 2),
                                          slice(sites, 0, 2 * r, 2 * r + 2));
  lh.total.backward();
  double loss = lh.total.item();
  world.all_reduce_sum(&loss, 1);
  EXPECT_NEAR(loss / 2, lw.total.item(), 1e-6 * std::abs(lw.total.item()));
  GradientAverager avg(half.parameters(), world);
  avg.average();
  const auto pw = whole.named_parameters(), ph = half.named_parameters();
  ASSERT_EQ(pw.size(), ph.size());
  for (size_t i = 0; i < pw.size(); ++i)
    EXPECT_TENSORS_CLOSE(pw[i].second->value.grad(), ph[i].second->value.grad(), 1e-4, 1e-6) << pw[i].first;
}

TEST(DISABLED_TwoRanks, BroadcastModuleGivesRankZerosWeights) {
  Communicator& world = Communicator::world();
  ASSERT_EQ(world.size(), 2);
  Rng rng(100 + world.rank());  // different initial weights on each rank
  Conv2d conv(3, 4, 3, Conv2dParams::make(1, 1), true, rng);
  BatchNorm2d bn(4);
  bn.running_mean->fill_(world.rank() + 1.0);
  broadcast_module(conv, world);
  broadcast_module(bn, world);
  Rng rng0(100);
  Conv2d expected(3, 4, 3, Conv2dParams::make(1, 1), true, rng0);
  EXPECT_EQ(conv.weight->value.to_vector(), expected.weight->value.to_vector());
  EXPECT_EQ(conv.bias->value.to_vector(), expected.bias->value.to_vector());
  EXPECT_EQ(bn.running_mean->to_vector(), (std::vector<double>(4, 1.0)));
}

}  // namespace
}  // namespace skinmtl
