#include "nets/fpn.h"

#include <cmath>
#include <string>

namespace skinmtl {

namespace {

// Overwrites a float32 parameter's value (outside the tape) with `values`.
void assign(Parameter* p, const Tensor& values) { p->value.copy_from(values); }

}  // namespace

void xavier_fill(Conv2d& conv, Rng& rng) {
  const Shape& s = conv.weight->value.shape();  // (K, C, R, S)
  const double a = std::sqrt(3.0 / (double)(s[1] * s[2] * s[3]));
  assign(conv.weight, rand_uniform(s, rng, -a, a));
  if (conv.bias) conv.bias->value.zero_();
}

void xavier_fill(Linear& fc, Rng& rng) {
  const Shape& s = fc.weight->value.shape();  // (O, I)
  const double a = std::sqrt(3.0 / (double)s[1]);
  assign(fc.weight, rand_uniform(s, rng, -a, a));
  if (fc.bias) fc.bias->value.zero_();
}

void normal_fill(Conv2d& conv, double std, Rng& rng) {
  assign(conv.weight, randn(conv.weight->value.shape(), rng, std));
  if (conv.bias) conv.bias->value.zero_();
}

void normal_fill(Linear& fc, double std, Rng& rng) {
  assign(fc.weight, randn(fc.weight->value.shape(), rng, std));
  if (fc.bias) fc.bias->value.zero_();
}

FPN::FPN(const FpnConfig& cfg, Rng& rng) : cfg_(cfg) {
  SKINMTL_CHECK(cfg.channels > 0 && cfg.in_channels.size() == 4,
                "FPN: channels must be positive and in_channels hold c2..c5 (4 widths)");
  for (size_t i = 0; i < cfg.in_channels.size(); ++i) {
    auto l = std::make_shared<Conv2d>(cfg.in_channels[i], cfg.channels, 1, Conv2dParams::make(1, 0), true, rng);
    xavier_fill(*l, rng);
    lateral.push_back(register_module("lateral." + std::to_string(i), l));
  }
  for (size_t i = 0; i < cfg.in_channels.size(); ++i) {
    auto o = std::make_shared<Conv2d>(cfg.channels, cfg.channels, 3, Conv2dParams::make(1, 1), true, rng);
    xavier_fill(*o, rng);
    output.push_back(register_module("output." + std::to_string(i), o));
  }
}

std::vector<Tensor> FPN::forward(const ResNet50::Stages& s) {
  const Tensor* c[4] = {&s.c2, &s.c3, &s.c4, &s.c5};
  for (int i = 0; i < 4; ++i)
    SKINMTL_CHECK(c[i]->defined() && c[i]->ndim() == 4 && c[i]->size(1) == cfg_.in_channels[i],
                  "FPN: stage c" << i + 2 << " must be (N, " << cfg_.in_channels[i] << ", h, w), got "
                                 << (c[i]->defined() ? c[i]->str() : std::string("undefined")));
  // Top-down: m5 = l5; m_i = l_i + up(m_{i+1}) at l_i's size (c_i's: the
  // lateral convolutions are 1x1, stride 1), the add in the lateral
  // convolution's bias pass (conv2d_bias_act, framework/ops.h).
  Tensor merged[4];
  merged[3] = lateral[3]->forward(*c[3]);
  for (int i = 2; i >= 0; --i) {
    const Tensor up = upsample_nearest(merged[i + 1], c[i]->size(2), c[i]->size(3));
    merged[i] = lateral[i]->forward(*c[i], /*relu=*/false, up);
  }
  std::vector<Tensor> p(5);
  for (int i = 0; i < 4; ++i) p[i] = output[i]->forward(merged[i]);
  p[4] = max_pool2d(p[3], Pool2dParams::make(1, 2));  // P6: every other pixel of P5
  return p;
}

}  // namespace skinmtl
