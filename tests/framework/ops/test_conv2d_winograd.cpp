// The CPU's Winograd path for 3x3 stride-1 convolutions (kernels/conv2d_winograd.h):
// the tile transforms against the matrices they write out, the whole path
// against the plain loops (forward) and finite differences (gradients), the
// blocks, the threads, the epilogues, and which convolutions take it.
#include <omp.h>

#include <climits>
#include <cstring>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/conv2d_winograd.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::naive_conv2d;
using test::uniform64;

class WinogradSetting {  // the setting for one scope
 public:
  explicit WinogradSetting(Conv2dCpuWinograd w) : old_(conv2d_cpu_winograd()) { set_conv2d_cpu_winograd(w); }
  ~WinogradSetting() { set_conv2d_cpu_winograd(old_); }

 private:
  Conv2dCpuWinograd old_;
};

// Every 3x3 stride-1 convolution through Winograd, whatever its size; with
// `block_elems`, blocks of that many elements (a tile row at least).
Conv2dCpuWinograd always(int64_t block_elems = int64_t(1) << 22) {
  Conv2dCpuWinograd w;
  w.enabled = true, w.min_channels = 0, w.min_tiles = 0, w.max_filters = INT64_MAX, w.block_elems = block_elems;
  w.weight_gradient = true, w.weight_gradient_min_filters = 0;
  return w;
}
Conv2dCpuWinograd never() {
  Conv2dCpuWinograd w;
  w.enabled = false;
  return w;
}

struct Case {
  const char* name;
  Shape x;  // (N, C, H, W)
  int K, pad_h, pad_w;
  bool bias;
};

// Odd and even output sizes (a half-outside last tile row or column), every
// padding 0 .. 2 (the data gradient's is 2 - pad), per axis, one-pixel and
// one-tile outputs, more channels out than in and the reverse.
const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"pad 1, 7x6", {2, 3, 7, 6}, 4, 1, 1, true},
      {"pad 1, 8x8", {1, 5, 8, 8}, 2, 1, 1, false},
      {"pad 0, 9x7 (valid)", {2, 2, 9, 7}, 3, 0, 0, true},
      {"pad 2, 4x5 (full)", {3, 2, 4, 5}, 2, 2, 2, false},
      {"pads (0, 2), 5x3", {1, 3, 5, 3}, 4, 0, 2, true},
      {"pads (2, 1), 3x6", {2, 4, 3, 6}, 3, 2, 1, false},
      {"pad 1, 1x1", {2, 3, 1, 1}, 2, 1, 1, true},
      {"pad 0, 3x3 (one output)", {2, 3, 3, 3}, 5, 0, 0, false},
      {"pad 1, 2x11", {1, 2, 2, 11}, 6, 1, 1, true},
  };
  return c;
}

std::vector<Tensor> inputs_of(const Case& c, Rng& rng) {
  return {uniform64(c.x, rng), uniform64({c.K, c.x[1], 3, 3}, rng), c.bias ? uniform64({c.K}, rng) : Tensor()};
}

// ---- one tile ------------------------------------------------------------------------------

// C = A B for small row-major matrices.
std::vector<double> matmul(const std::vector<double>& A, const std::vector<double>& B, int m, int k, int n) {
  std::vector<double> C((size_t)m * n, 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int l = 0; l < k; ++l) C[i * n + j] += A[i * k + l] * B[l * n + j];
  return C;
}
std::vector<double> transpose(const std::vector<double>& A, int m, int n) {
  std::vector<double> T((size_t)m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) T[j * m + i] = A[i * n + j];
  return T;
}

// The matrices of the header, as Lavin and Gray print them.
const std::vector<double> kBT = {1, 0, -1, 0, 0, 1, 1, 0, 0, -1, 1, 0, 0, 1, 0, -1};  // 4 x 4
const std::vector<double> kG = {1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1};     // 4 x 3
const std::vector<double> kAT = {1, 1, 1, 0, 0, 1, -1, -1};                           // 2 x 4

TEST(WinogradTile, TransformsAreTheMatrixProducts) {
  Rng rng(3);
  const std::vector<double> g = uniform64({9}, rng).to_vector(), d = uniform64({16}, rng).to_vector(),
                            m = uniform64({16}, rng).to_vector();
  std::vector<double> u(16), v(16), y(4);
  winograd_filter_tile(u.data(), g.data());
  winograd_input_tile(v.data(), d.data());
  winograd_output_tile(y.data(), m.data());
  const std::vector<double> u_ref = matmul(matmul(kG, g, 4, 3, 3), transpose(kG, 4, 3), 4, 3, 4);
  const std::vector<double> v_ref = matmul(matmul(kBT, d, 4, 4, 4), transpose(kBT, 4, 4), 4, 4, 4);
  const std::vector<double> y_ref = matmul(matmul(kAT, m, 2, 4, 4), transpose(kAT, 2, 4), 2, 4, 2);
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(u[i], u_ref[i], 1e-15) << "U " << i;
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(v[i], v_ref[i], 1e-15) << "V " << i;
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], y_ref[i], 1e-15) << "Y " << i;
}

TEST(WinogradTile, OneTileIsTheDirectCorrelation) {
  // A^T [(G g G^T) (.) (B^T d B)] A = the 2 x 2 valid correlation of d with g.
  Rng rng(4);
  for (int trial = 0; trial < 5; ++trial) {
    const std::vector<double> g = uniform64({9}, rng).to_vector(), d = uniform64({16}, rng).to_vector();
    double u[16], v[16], m[16], y[4];
    winograd_filter_tile(u, g.data());
    winograd_input_tile(v, d.data());
    for (int i = 0; i < 16; ++i) m[i] = u[i] * v[i];
    winograd_output_tile(y, m);
    for (int p = 0; p < 2; ++p)
      for (int q = 0; q < 2; ++q) {
        double direct = 0;
        for (int r = 0; r < 3; ++r)
          for (int s = 0; s < 3; ++s) direct += g[r * 3 + s] * d[(p + r) * 4 + q + s];
        EXPECT_NEAR(y[p * 2 + q], direct, 1e-14) << "output (" << p << ", " << q << ")";
      }
  }
}

TEST(WinogradTile, GradientTransformsAreTheTransposedMatrixProducts) {
  // A dy A^T and G^T du G, A = (A^T)^T.
  Rng rng(12);
  const std::vector<double> dy = uniform64({4}, rng).to_vector(), du = uniform64({16}, rng).to_vector();
  std::vector<double> m(16), dg(9);
  winograd_output_gradient_tile(m.data(), dy.data());
  winograd_filter_gradient_tile(dg.data(), du.data());
  const std::vector<double> A = transpose(kAT, 2, 4), GT = transpose(kG, 4, 3);
  const std::vector<double> m_ref = matmul(matmul(A, dy, 4, 2, 2), kAT, 4, 2, 4);
  const std::vector<double> dg_ref = matmul(matmul(GT, du, 3, 4, 4), kG, 3, 4, 3);
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(m[i], m_ref[i], 1e-15) << "dM " << i;
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(dg[i], dg_ref[i], 1e-15) << "dg " << i;
}

TEST(WinogradTile, WeightGradientOfOneTileIsTheDirectOne) {
  // For y = the 2 x 2 valid correlation of d with g and a gradient dy of y:
  // G^T [(A dy A^T) (.) (B^T d B)] G = dL/dg = sum_{p, q} dy[p, q] d[p + r, q + s].
  Rng rng(13);
  for (int trial = 0; trial < 5; ++trial) {
    const std::vector<double> dy = uniform64({4}, rng).to_vector(), d = uniform64({16}, rng).to_vector();
    double m[16], v[16], du[16], dg[9];
    winograd_output_gradient_tile(m, dy.data());
    winograd_input_tile(v, d.data());
    for (int i = 0; i < 16; ++i) du[i] = m[i] * v[i];
    winograd_filter_gradient_tile(dg, du);
    for (int r = 0; r < 3; ++r)
      for (int s = 0; s < 3; ++s) {
        double direct = 0;
        for (int p = 0; p < 2; ++p)
          for (int q = 0; q < 2; ++q) direct += dy[p * 2 + q] * d[(p + r) * 4 + q + s];
        EXPECT_NEAR(dg[r * 3 + s], direct, 1e-14) << "tap (" << r << ", " << s << ")";
      }
  }
}

TEST(WinogradTile, FilterTransformIsTheTileFunctionForEveryFilter) {
  // 19 x 70 filters: blocks of 16 x 64 with partial ones on both axes. The
  // data gradient's filter of (c, k) is w[k, c] turned by 180 degrees.
  const int K = 19, C = 70;
  Rng rng(5);
  const std::vector<double> w64 = uniform64({K, C, 3, 3}, rng).to_vector();
  const std::vector<float> w(w64.begin(), w64.end());
  for (bool data_gradient : {false, true}) {
    SCOPED_TRACE(data_gradient ? "data gradient" : "forward");
    const int rows = data_gradient ? C : K, cols = data_gradient ? K : C;
    std::vector<float> U((size_t)16 * rows * cols, NAN);  // poisoned
    winograd_filter_transform_cpu(U.data(), w.data(), K, C, data_gradient);
    int mismatches = 0;
    for (int row = 0; row < rows; ++row)
      for (int col = 0; col < cols; ++col) {
        const int k = data_gradient ? col : row, c = data_gradient ? row : col;
        float g[9], u[16];
        for (int i = 0; i < 9; ++i) g[i] = w[((size_t)k * C + c) * 9 + (data_gradient ? 8 - i : i)];
        winograd_filter_tile(u, g);
        for (int xi = 0; xi < 16; ++xi)
          if (!(U[((size_t)xi * rows + row) * cols + col] == u[xi])) ++mismatches;  // bit for bit, no NaN left
      }
    EXPECT_EQ(mismatches, 0);
  }
}

// ---- the whole convolution ----------------------------------------------------------------

TEST(Conv2dWinograd, ForwardMatchesNaiveLoop) {
  WinogradSetting on(always());
  Rng rng(6);
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<Tensor> in = inputs_of(c, rng);
    const Conv2dParams p{1, 1, c.pad_h, c.pad_w, 1, 1};
    EXPECT_TRUE(conv2d_cpu_uses_winograd(test::conv2d_shape_for(c.x, in[1].shape(), p)));
    EXPECT_TENSORS_CLOSE(naive_conv2d(in[0], in[1], in[2], p), conv2d(in[0], in[1], in[2], p),
                         1e-12, 1e-12);
  }
}

TEST(Conv2dWinograd, Float32WithinTheDirectSumsRounding) {
  // 64 channels in: float32 rounding of the same size as the im2col path's.
  Rng rng(7);
  const Tensor x = uniform64({2, 64, 9, 10}, rng), w = uniform64({48, 64, 3, 3}, rng), b = uniform64({48}, rng);
  const Conv2dParams p = Conv2dParams::make(1, 1);
  const Tensor exact = naive_conv2d(x, w, b, p);
  Tensor y_wino, y_im2col;
  {
    WinogradSetting on(always());
    y_wino = conv2d(x.to(DType::F32), w.to(DType::F32), b.to(DType::F32), p).to(DType::F64);
  }
  {
    WinogradSetting off(never());
    y_im2col = conv2d(x.to(DType::F32), w.to(DType::F32), b.to(DType::F32), p).to(DType::F64);
  }
  EXPECT_TENSORS_CLOSE(exact, y_wino, 1e-5, 2e-5);
  EXPECT_TENSORS_CLOSE(exact, y_im2col, 1e-5, 2e-5);
}

TEST(Conv2dWinograd, GradCheck) {
  WinogradSetting on(always());
  Rng rng(8);
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const Conv2dParams p{1, 1, c.pad_h, c.pad_w, 1, 1};
    EXPECT_GRADCHECK([p](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], p); }, inputs_of(c, rng));
  }
}

TEST(Conv2dWinograd, GradientsMatchTheIm2colPath) {
  // dx and dw by Winograd (each into a fresh buffer, then accumulated: x and
  // w are used twice), dbias as always, against all three by im2col.
  Rng rng(9);
  const Tensor x0 = uniform64({3, 4, 7, 8}, rng), w0 = uniform64({5, 4, 3, 3}, rng), b0 = uniform64({5}, rng);
  const Tensor r = uniform64({3, 5, 7, 8}, rng);
  auto grads = [&](Conv2dCpuWinograd setting) {
    WinogradSetting s(setting);
    Tensor x = x0.detach().set_requires_grad(), w = w0.detach().set_requires_grad(),
           b = b0.detach().set_requires_grad();
    const Conv2dParams p = Conv2dParams::make(1, 1);
    Tensor y = add(conv2d(x, w, b, p), conv2d(x, w, Tensor(), p));
    sum(mul(y, r)).backward();
    return std::vector<Tensor>{x.grad(), w.grad(), b.grad()};
  };
  const std::vector<Tensor> wino = grads(always()), ref = grads(never());
  for (int i = 0; i < 3; ++i) EXPECT_TENSORS_CLOSE(ref[i], wino[i], 1e-12, 1e-12) << "input " << i;
}

TEST(Conv2dWinograd, WeightGradientMatchesNaiveLoop) {
  // dw (overwritten, then accumulated onto a given one) against the plain sum
  // dw[k, c, r, s] = sum_{n, p, q} dy[n, k, p, q] x[n, c, p - pad_h + r, q - pad_w + s],
  // every case, in blocks of one tile row and in one block (the sum over the
  // tiles then runs block by block).
  Rng rng(14);
  for (int64_t block : {int64_t(1), int64_t(1) << 22}) {
    WinogradSetting on(always(block));
    for (const Case& c : cases()) {
      SCOPED_TRACE(std::string(c.name) + ", block elems " + std::to_string(block));
      const Tensor x = uniform64(c.x, rng), w = uniform64({c.K, c.x[1], 3, 3}, rng);
      const Conv2dShape sh = test::conv2d_shape_for(c.x, w.shape(), Conv2dParams{1, 1, c.pad_h, c.pad_w, 1, 1});
      ASSERT_TRUE(conv2d_cpu_uses_winograd_weight_gradient(sh));
      const Tensor dy = uniform64({sh.N, sh.K, sh.P, sh.Q}, rng), start = uniform64(w.shape(), rng);
      std::vector<double> ref((size_t)w.numel(), 0.0);
      const std::vector<double> xv = x.to_vector(), dyv = dy.to_vector();
      for (int k = 0; k < sh.K; ++k)
        for (int ci = 0; ci < sh.C; ++ci)
          for (int r = 0; r < 3; ++r)
            for (int s2 = 0; s2 < 3; ++s2) {
              double sum = 0;
              for (int n = 0; n < sh.N; ++n)
                for (int p = 0; p < sh.P; ++p)
                  for (int q = 0; q < sh.Q; ++q) {
                    const int h = p - sh.pad_h + r, v = q - sh.pad_w + s2;
                    if (h < 0 || h >= sh.H || v < 0 || v >= sh.W) continue;
                    sum += dyv[(((size_t)n * sh.K + k) * sh.P + p) * sh.Q + q] *
                           xv[(((size_t)n * sh.C + ci) * sh.H + h) * sh.W + v];
                  }
              ref[(((size_t)k * sh.C + ci) * 3 + r) * 3 + s2] = sum;
            }
      std::vector<double> scratch((size_t)conv2d_cpu_backward_scratch_elems(sh, false, true));
      std::vector<double> dw((size_t)w.numel(), NAN);  // poisoned: overwritten
      conv2d_backward_cpu<double>(nullptr, dw.data(), nullptr, dy.data<double>(), x.data<double>(),
                                  w.data<double>(), scratch.data(), sh, Conv2dAccumulate{false, false, false});
      std::vector<double> acc = start.to_vector();  // accumulated
      conv2d_backward_cpu<double>(nullptr, acc.data(), nullptr, dy.data<double>(), x.data<double>(),
                                  w.data<double>(), scratch.data(), sh, Conv2dAccumulate{false, true, false});
      const std::vector<double> s0 = start.to_vector();
      for (size_t i = 0; i < ref.size(); ++i) {
        ASSERT_NEAR(dw[i], ref[i], 1e-12 * (1 + std::fabs(ref[i]))) << "element " << i;
        ASSERT_NEAR(acc[i], s0[i] + ref[i], 1e-12 * (1 + std::fabs(ref[i]))) << "element " << i;
      }
    }
  }
}

TEST(Conv2dWinograd, WeightGradientFloat32WithinTheDirectSumsRounding) {
  // 64 channels and 2 x 10 x 12 pixels summed: float32 rounding of the same
  // size as the im2col path's, against float64.
  Rng rng(15);
  const Tensor x = uniform64({2, 64, 10, 12}, rng), dy = uniform64({2, 48, 10, 12}, rng);
  const Tensor w = uniform64({48, 64, 3, 3}, rng);
  const Conv2dShape sh = test::conv2d_shape_for(x.shape(), w.shape(), Conv2dParams::make(1, 1));
  auto dw_of = [&](DType t, Conv2dCpuWinograd setting) {
    WinogradSetting s(setting);
    const Tensor xt = x.to(t), dyt = dy.to(t), wt = w.to(t);
    Tensor dw = Tensor::zeros(w.shape(), t), scratch;
    const int64_t n = conv2d_cpu_backward_scratch_elems(sh, false, true);
    scratch = Tensor::zeros({std::max<int64_t>(n, 1)}, t);
    if (t == DType::F32)
      conv2d_backward_cpu<float>(nullptr, dw.data<float>(), nullptr, dyt.data<float>(), xt.data<float>(),
                                 wt.data<float>(), scratch.data<float>(), sh, Conv2dAccumulate{false, false, false});
    else
      conv2d_backward_cpu<double>(nullptr, dw.data<double>(), nullptr, dyt.data<double>(), xt.data<double>(),
                                  wt.data<double>(), scratch.data<double>(), sh, Conv2dAccumulate{false, false, false});
    return dw.to(DType::F64);
  };
  const Tensor exact = dw_of(DType::F64, never());
  EXPECT_TENSORS_CLOSE(exact, dw_of(DType::F32, always()), 1e-5, 2e-5);
  EXPECT_TENSORS_CLOSE(exact, dw_of(DType::F32, never()), 1e-5, 2e-5);
}

TEST(Conv2dWinograd, BlocksAndThreadsChangeNoBit) {
  // Blocks of one tile row (the smallest) and the default, on one thread and
  // on two: each output element is computed by the same operations in the
  // same order whichever block or thread computes it.
  Rng rng(10);
  const Tensor x = uniform64({3, 6, 9, 11}, rng).to(DType::F32), w = uniform64({5, 6, 3, 3}, rng).to(DType::F32);
  const Tensor dy = uniform64({3, 5, 9, 11}, rng).to(DType::F32);
  const Conv2dShape sh = test::conv2d_shape_for(x.shape(), w.shape(), Conv2dParams::make(1, 1));
  // The weight gradient (returned in `dw`) sums over the tiles block by
  // block: the threads change none of its bits, the block size may.
  auto run = [&](int64_t block_elems, int threads, std::vector<float>* dw) {
    WinogradSetting s(always(block_elems));
    const int old_threads = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> y((size_t)sh.N * sh.y_image(), NAN), dx((size_t)sh.N * sh.x_image(), NAN);
    dw->assign((size_t)sh.K * sh.C * 9, NAN);
    std::vector<float> scratch(
        std::max(conv2d_cpu_forward_scratch_elems(sh), conv2d_cpu_backward_scratch_elems(sh, true, true)));
    conv2d_forward_cpu<float>(y.data(), x.data<float>(), w.data<float>(), nullptr, scratch.data(), sh);
    conv2d_backward_cpu<float>(dx.data(), dw->data(), nullptr, dy.data<float>(), x.data<float>(),
                               w.data<float>(), scratch.data(), sh, Conv2dAccumulate{false, false, false});
    omp_set_num_threads(old_threads);
    y.insert(y.end(), dx.begin(), dx.end());
    return y;
  };
  // One tile row per block: 16 (6 + 5) * 6 tiles_w elements.
  EXPECT_EQ(winograd_block_tile_rows(winograd_forward_problem(sh)), 15);  // the default: all 3 * 5 rows
  {
    WinogradSetting s(always(1));
    EXPECT_EQ(winograd_block_tile_rows(winograd_forward_problem(sh)), 1);
  }
  std::vector<float> dw_reference, dw_one_thread, dw;
  const std::vector<float> reference = run(int64_t(1) << 22, 1, &dw_reference);
  for (float v : reference) ASSERT_TRUE(std::isfinite(v));
  for (float v : dw_reference) ASSERT_TRUE(std::isfinite(v));
  for (int64_t block : {int64_t(1), int64_t(16 * 11 * 6 * 4)})
    for (int threads : {1, 2}) {
      SCOPED_TRACE("block elems " + std::to_string(block) + ", threads " + std::to_string(threads));
      const std::vector<float> got = run(block, threads, &dw);
      EXPECT_EQ(0, std::memcmp(got.data(), reference.data(), sizeof(float) * got.size()));
      if (threads == 1) dw_one_thread = dw;
      EXPECT_EQ(0, std::memcmp(dw.data(), dw_one_thread.data(), sizeof(float) * dw.size()));
      for (size_t i = 0; i < dw.size(); ++i)
        ASSERT_NEAR(dw[i], dw_reference[i], 1e-5f * (1 + std::fabs(dw_reference[i])));
    }
}

TEST(Conv2dWinograd, EpiloguesMatchTheIm2colPath) {
  // conv2d_bias_act (bias, residual, ReLU) and conv2d_bn (inference folding)
  // through Winograd against the same ops by im2col.
  Rng rng(11);
  const Tensor x = uniform64({2, 4, 6, 7}, rng), w = uniform64({3, 4, 3, 3}, rng), b = uniform64({3}, rng);
  const Tensor res = uniform64({2, 3, 6, 7}, rng);
  const Tensor gamma = uniform64({3}, rng, 0.5, 1.5), beta = uniform64({3}, rng), mean = uniform64({3}, rng),
               var = uniform64({3}, rng, 0.5, 2.0);
  const Conv2dParams p = Conv2dParams::make(1, 1);
  auto outputs = [&](Conv2dCpuWinograd setting) {
    WinogradSetting s(setting);
    return std::vector<Tensor>{conv2d_bias_act(x, w, b, p, true, res), conv2d_bias_act(x, w, b, p, false),
                               conv2d_bn(x, w, b, p, gamma, beta, mean, var, 1e-3, true, res)};
  };
  const std::vector<Tensor> wino = outputs(always()), ref = outputs(never());
  for (size_t i = 0; i < wino.size(); ++i) EXPECT_TENSORS_CLOSE(ref[i], wino[i], 1e-12, 1e-12) << "output " << i;
}

TEST(Conv2dWinograd, WhichConvolutionsTakeIt) {
  WinogradSetting defaults(Conv2dCpuWinograd{});
  auto shape = [](int N, int C, int K, int H, int W, Conv2dParams p, int R = 3, int S = 3) {
    return test::conv2d_shape_for({N, C, H, W}, {K, C, R, S}, p);
  };
  const Conv2dParams s1 = Conv2dParams::make(1, 1);
  EXPECT_TRUE(conv2d_cpu_uses_winograd(shape(2, 256, 256, 16, 16, s1)));   // 128 tiles
  EXPECT_FALSE(conv2d_cpu_uses_winograd(shape(2, 256, 256, 15, 15, {1, 1, 0, 0, 1, 1})));  // 2 * 7 * 7 = 98 tiles
  EXPECT_FALSE(conv2d_cpu_uses_winograd(shape(1, 256, 256, 14, 14, s1)));  // 49 tiles
  EXPECT_TRUE(conv2d_cpu_uses_winograd(shape(8, 32, 32, 60, 80, s1)));
  // The weight gradient from 2^16 filters.
  EXPECT_TRUE(conv2d_cpu_uses_winograd_weight_gradient(shape(2, 256, 256, 16, 16, s1)));
  EXPECT_TRUE(conv2d_cpu_uses_winograd_weight_gradient(shape(8, 768, 128, 15, 20, s1)));
  EXPECT_FALSE(conv2d_cpu_uses_winograd_weight_gradient(shape(8, 32, 32, 60, 80, s1)));
  EXPECT_FALSE(conv2d_cpu_uses_winograd_weight_gradient(shape(20, 128, 128, 16, 16, s1)));
  EXPECT_FALSE(conv2d_cpu_uses_winograd_weight_gradient(shape(1, 256, 256, 14, 14, s1)));  // not for Winograd at all
  EXPECT_FALSE(conv2d_cpu_uses_winograd(shape(8, 31, 32, 60, 80, s1)));    // too few channels in
  EXPECT_FALSE(conv2d_cpu_uses_winograd(shape(8, 32, 16, 60, 80, s1)));    // or out
  EXPECT_TRUE(conv2d_cpu_uses_winograd(shape(20, 512, 512, 7, 7, s1)));    // 2^18 filters
  EXPECT_FALSE(conv2d_cpu_uses_winograd(shape(8, 3072, 256, 8, 10, s1)));  // more
  EXPECT_FALSE(conv2d_cpu_uses_winograd(shape(8, 64, 64, 60, 80, Conv2dParams::make(2, 1))));     // stride 2
  EXPECT_FALSE(conv2d_cpu_uses_winograd(shape(8, 64, 64, 60, 80, Conv2dParams::make(1, 2, 2))));  // dilation 2
  EXPECT_FALSE(conv2d_cpu_uses_winograd(shape(8, 64, 64, 60, 80, Conv2dParams::make(1, 3))));     // pad 3
  EXPECT_FALSE(conv2d_cpu_uses_winograd(shape(8, 64, 64, 60, 80, Conv2dParams::make(1, 2), 5, 5)));  // 5x5
  EXPECT_FALSE(conv2d_cpu_uses_winograd(shape(8, 64, 64, 60, 80, {1, 1, 1, 0, 1, 1}, 3, 1)));   // 3x1
  {
    WinogradSetting off(never());
    EXPECT_FALSE(conv2d_cpu_uses_winograd(shape(2, 256, 256, 16, 16, s1)));
  }
  // The scratch: U (or dU), then V and M (or dM) of one block, for all three;
  // a weight gradient by im2col (the setting's weight_gradient off) adds im2col's.
  const Conv2dShape sh = shape(2, 256, 256, 16, 16, s1);
  const int64_t winograd = 16 * 256 * 256 + 16 * (256 + 256) * 8 * 16;  // 16 tile rows of 8 tiles: one block
  EXPECT_TRUE(conv2d_cpu_uses_winograd_weight_gradient(sh));
  EXPECT_EQ(conv2d_cpu_forward_scratch_elems(sh), winograd);
  EXPECT_EQ(conv2d_cpu_backward_scratch_elems(sh, true, false), winograd);
  EXPECT_EQ(conv2d_cpu_backward_scratch_elems(sh, false, true), winograd);
  EXPECT_EQ(conv2d_cpu_backward_scratch_elems(sh, true, true), winograd);
  {
    Conv2dCpuWinograd w;
    w.weight_gradient = false;
    WinogradSetting im2col_dw(w);
    EXPECT_TRUE(conv2d_cpu_uses_winograd(sh));
    EXPECT_FALSE(conv2d_cpu_uses_winograd_weight_gradient(sh));
    EXPECT_EQ(conv2d_cpu_backward_scratch_elems(sh, false, true), conv2d_cpu_im2col_scratch_elems(sh));
    EXPECT_EQ(conv2d_cpu_backward_scratch_elems(sh, true, true),
              std::max(winograd, conv2d_cpu_im2col_scratch_elems(sh)));
  }
}

}  // namespace
}  // namespace skinmtl
