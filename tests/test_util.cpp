#include "tests/test_util.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "framework/autograd.h"

namespace skinmtl::test {

::testing::AssertionResult tensors_close(const Tensor& expected, const Tensor& actual, double rtol,
                                         double atol) {
  if (expected.shape() != actual.shape())
    return ::testing::AssertionFailure() << "shapes differ: expected " << expected.str() << ", got "
                                         << actual.str();
  std::vector<double> e = expected.to(Device::CPU).to_vector();
  std::vector<double> a = actual.to(Device::CPU).to_vector();
  double worst = 0;
  size_t worst_i = 0;
  int bad = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(e[i])) {
      return ::testing::AssertionFailure()
             << "non-finite value at flat index " << i << ": expected " << e[i] << ", got " << a[i]
             << " (an output element the kernel never wrote stays NaN)";
    }
    double err = std::fabs(a[i] - e[i]);
    double excess = err - (atol + rtol * std::fabs(e[i]));
    if (excess > 0) {
      ++bad;
      if (excess > worst) {
        worst = excess;
        worst_i = i;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << e.size() << " elements differ; worst at flat index " << worst_i
         << ": expected " << e[worst_i] << ", got " << a[worst_i] << " (rtol " << rtol
         << ", atol " << atol << ", shape " << shape_str(expected.shape()) << ")";
}

Tensor naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  const int N = (int)x.size(0), C = (int)x.size(1), H = (int)x.size(2), W = (int)x.size(3);
  const int K = (int)w.size(0), R = (int)w.size(2), S = (int)w.size(3);
  const int P = (H + 2 * p.pad_h - p.dilation_h * (R - 1) - 1) / p.stride_h + 1;
  const int Q = (W + 2 * p.pad_w - p.dilation_w * (S - 1) - 1) / p.stride_w + 1;
  const std::vector<double> xv = x.to_vector(), wv = w.to_vector();
  const std::vector<double> bv = bias.defined() ? bias.to_vector() : std::vector<double>(K, 0.0);
  std::vector<double> y((size_t)N * K * P * Q);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k)
      for (int pp = 0; pp < P; ++pp)
        for (int q = 0; q < Q; ++q) {
          double acc = bv[k];
          for (int c = 0; c < C; ++c)
            for (int r = 0; r < R; ++r)
              for (int s = 0; s < S; ++s) {
                const int h = pp * p.stride_h - p.pad_h + r * p.dilation_h;
                const int v = q * p.stride_w - p.pad_w + s * p.dilation_w;
                if (h < 0 || h >= H || v < 0 || v >= W) continue;
                acc += wv[((size_t)(k * C + c) * R + r) * S + s] *
                       xv[((size_t)(n * C + c) * H + h) * W + v];
              }
          y[(((size_t)n * K + k) * P + pp) * Q + q] = acc;
        }
  return Tensor::from_vector(y, {N, K, P, Q}, DType::F64);
}

Conv2dShape conv2d_shape_for(const Shape& x, const Shape& w, const Conv2dParams& p) {
  Conv2dShape sh;
  sh.N = (int)x[0], sh.C = (int)x[1], sh.H = (int)x[2], sh.W = (int)x[3];
  sh.K = (int)w[0], sh.R = (int)w[2], sh.S = (int)w[3];
  sh.stride_h = p.stride_h, sh.stride_w = p.stride_w, sh.pad_h = p.pad_h, sh.pad_w = p.pad_w;
  sh.dilation_h = p.dilation_h, sh.dilation_w = p.dilation_w;
  sh.P = conv2d_out_size(sh.H, sh.R, sh.stride_h, sh.pad_h, sh.dilation_h);
  sh.Q = conv2d_out_size(sh.W, sh.S, sh.stride_w, sh.pad_w, sh.dilation_w);
  return sh;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to(Device::CPU).to_vector() == b.to(Device::CPU).to_vector();
}

double l2_relative_gap(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to(Device::CPU).to_vector(), vb = b.to(Device::CPU).to_vector();
  double gap = 0, scale = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    gap += (va[i] - vb[i]) * (va[i] - vb[i]);
    scale += vb[i] * vb[i];
  }
  return std::sqrt(gap / scale);
}

Tensor far_from_zero(const Shape& shape, Rng& rng) {
  std::vector<double> v = randn(shape, rng, 0.5).to_vector();
  const std::vector<double> coin = rand_uniform(shape, rng, 0.0, 1.0).to_vector();
  for (size_t i = 0; i < v.size(); ++i) v[i] += coin[i] < 0.5 ? -10.0 : 10.0;
  return Tensor::from_vector(v, shape);
}

Tensor uniform64(const Shape& shape, Rng& rng, double lo, double hi) {
  return rand_uniform(shape, rng, lo, hi, DType::F64);
}

Tensor distinct64(const Shape& shape, Rng& rng, double lo, double step) {
  std::vector<double> v((size_t)shape_numel(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = lo + step * (double)i;
  std::shuffle(v.begin(), v.end(), rng.engine());
  return Tensor::from_vector(v, shape, DType::F64);
}

// L = sum(r * f(x)) evaluated on the host.
static double projected(const GradFn& f, const std::vector<Tensor>& xs, const std::vector<double>& r) {
  NoGradGuard ng;
  std::vector<double> y = f(xs).to_vector();
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += r[i] * y[i];
  return s;
}

GradCheckResult gradcheck(const GradFn& f, const std::vector<Tensor>& inputs,
                          const GradCheckOptions& opt, const std::vector<int>& no_grad) {
  GradCheckResult res;
  Rng rng(opt.seed);
  std::ostringstream report;
  int reported = 0;

  // Private copies: the checker nudges their elements in place.
  std::vector<Tensor> xs;
  std::vector<bool> check(inputs.size(), false);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      xs.push_back(Tensor());
      continue;
    }
    SKINMTL_CHECK(inputs[i].dtype() == DType::F64 && inputs[i].device() == Device::CPU,
                  "gradcheck needs float64 CPU inputs, got " << inputs[i].str());
    Tensor c = inputs[i].clone();
    check[i] = std::find(no_grad.begin(), no_grad.end(), (int)i) == no_grad.end();
    if (check[i]) c.set_requires_grad(true);
    xs.push_back(c);
  }

  // Analytic gradients with respect to L = sum(r * f(x)).
  Tensor y = f(xs);
  std::vector<double> r((size_t)y.numel());
  for (double& v : r) v = rng.uniform(-1.0, 1.0);
  y.backward(Tensor::from_vector(r, y.shape(), DType::F64));

  std::vector<int> kinks_per_input(xs.size(), 0), checked_per_input(xs.size(), 0);
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!check[i]) continue;
    Tensor g = xs[i].grad();
    std::vector<double> analytic =
        g.defined() ? g.to_vector() : std::vector<double>((size_t)xs[i].numel(), 0.0);
    double* p = xs[i].data<double>();
    const int64_t n = xs[i].numel();
    std::vector<int64_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    if (n > opt.max_checks_per_input) {
      std::shuffle(idx.begin(), idx.end(), rng.engine());
      idx.resize(opt.max_checks_per_input);
    }
    for (int64_t j : idx) {
      const double x0 = p[j];
      const double l0 = projected(f, xs, r);
      p[j] = x0 + opt.eps;
      const double lp = projected(f, xs, r);
      p[j] = x0 - opt.eps;
      const double lm = projected(f, xs, r);
      p[j] = x0;
      const double numeric = (lp - lm) / (2 * opt.eps);
      // One-sided slopes disagree by O(eps * f'') where f is smooth, by O(1)
      // at a kink.
      const double right = (lp - l0) / opt.eps, left = (l0 - lm) / opt.eps;
      if (std::fabs(right - left) > 1e-3 * (1.0 + std::fabs(numeric))) {
        kinks_per_input[i]++;
        continue;
      }
      checked_per_input[i]++;
      const double err = std::fabs(analytic[j] - numeric);
      res.max_abs_err = std::max(res.max_abs_err, err);
      if (err > opt.atol + opt.rtol * std::fabs(numeric)) {
        res.ok = false;
        if (reported++ < 8)
          report << "input " << i << " " << shape_str(xs[i].shape()) << " element " << j
                 << ": analytic " << analytic[j] << ", numeric " << numeric << "\n";
      }
    }
    res.checked += checked_per_input[i];
    res.kinks_skipped += kinks_per_input[i];
    const int tried = checked_per_input[i] + kinks_per_input[i];
    if (tried > 0 && kinks_per_input[i] > opt.max_kink_fraction * tried) {
      res.ok = false;
      report << "input " << i << ": " << kinks_per_input[i] << " of " << tried
             << " sampled elements sit on a kink; choose test inputs away from them\n";
    }
  }
  if (!res.ok) report << "(max abs error " << res.max_abs_err << ")";
  res.report = report.str();
  return res;
}

void expect_cpu_cuda_parity(const GradFn& f, const std::vector<Tensor>& inputs, double rtol,
                            double atol, const std::vector<int>& no_grad) {
  std::vector<Tensor> cpu, gpu;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      cpu.push_back(Tensor());
      gpu.push_back(Tensor());
      continue;
    }
    bool grad = std::find(no_grad.begin(), no_grad.end(), (int)i) == no_grad.end();
    Tensor c = inputs[i].clone(), g = inputs[i].to(Device::CUDA);
    if (grad) {
      c.set_requires_grad(true);
      g.set_requires_grad(true);
    }
    cpu.push_back(c);
    gpu.push_back(g);
  }
  Tensor yc = f(cpu), yg = f(gpu);
  ASSERT_EQ(yg.device(), Device::CUDA) << "the op did not run on the GPU";
  EXPECT_TENSORS_CLOSE(yc, yg, rtol, atol) << "forward output";

  bool any = false;
  for (auto& t : cpu) any = any || (t.defined() && t.requires_grad());
  if (!any || !yc.requires_grad()) return;
  Rng rng(99);
  Tensor r = rand_uniform(yc.shape(), rng, -1.0, 1.0, yc.dtype());
  yc.backward(r);
  yg.backward(r.to(Device::CUDA));
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (!cpu[i].defined() || !cpu[i].requires_grad()) continue;
    ASSERT_TRUE(cpu[i].grad().defined() && gpu[i].grad().defined())
        << "input " << i << " received no gradient";
    EXPECT_TENSORS_CLOSE(cpu[i].grad(), gpu[i].grad(), rtol, atol) << "gradient of input " << i;
  }
}

void expect_input_as_its_residual_adds(const std::function<Tensor(const Tensor& h, bool fused)>& y_of,
                                       const Tensor& x0, const Tensor& seed) {
  for (bool intermediate : {false, true}) {
    SCOPED_TRACE(intermediate ? "an intermediate" : "a leaf");
    auto grad_of_x = [&](bool fused) {
      Tensor x = x0.clone();
      x.set_requires_grad(true);
      const Tensor h = intermediate ? scale(x, 1.5) : x;
      sum(mul(y_of(h, fused), seed)).backward();
      return x.grad();
    };
    EXPECT_TENSORS_CLOSE(grad_of_x(false), grad_of_x(true), 1e-12, 1e-12);
  }
}

ThreadCountGuard::ThreadCountGuard(int threads) : prev_(omp_get_max_threads()) { omp_set_num_threads(threads); }
ThreadCountGuard::~ThreadCountGuard() { omp_set_num_threads(prev_); }

}  // namespace skinmtl::test
