// The box ops of framework/ops.h (kernels/boxes.h): anchors, IoU, the box
// coder, clip, NMS; and nets/boxes.h: RPN proposals, RPN targets and RoI
// sampling.
//
//   Hand-computed values on tiny cases for every function (the numbers are
//   worked out in the comments); NMS against a brute-force reference on random
//   boxes, and the bitmask algorithm of the CUDA path (mask + host pass, run on
//   the CPU through its twin) against the plain greedy walk; IoU, NMS and the
//   box coder against torchvision (tests/reference/torch_boxes.py; skipped by
//   name without python3-torchvision); determinism of the samplers.
//   BoxesCuda.*: CPU-vs-CUDA parity of every function (skipped without a GPU).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "framework/ops.h"
#include "io/safetensors.h"
#include "kernels/boxes.h"
#include "nets/boxes.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

Tensor boxes_of(const std::vector<double>& v, DType dtype = DType::F32) {
  return Tensor::from_vector(v, {(int64_t)v.size() / 4, 4}, dtype);
}

Tensor vec_of(const std::vector<double>& v, DType dtype = DType::F32) {
  return Tensor::from_vector(v, {(int64_t)v.size()}, dtype);
}

// n random boxes inside [0, extent]^2 with sides in [min_side, max_side).
Tensor random_boxes(int64_t n, Rng& rng, double extent, double min_side, double max_side,
                    DType dtype = DType::F32) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) {
    const double w = rng.uniform(min_side, max_side), h = rng.uniform(min_side, max_side);
    const double x = rng.uniform(0, extent - w), y = rng.uniform(0, extent - h);
    v.insert(v.end(), {x, y, x + w, y + h});
  }
  return boxes_of(v, dtype);
}

// n distinct scores: a random permutation of 0, 1/n, 2/n, ...
Tensor distinct_scores(int64_t n, Rng& rng, DType dtype = DType::F32) {
  std::vector<double> v((size_t)n);
  for (int64_t i = 0; i < n; ++i) v[(size_t)i] = (double)i / (double)n;
  std::shuffle(v.begin(), v.end(), rng.engine());
  return vec_of(v, dtype);
}

void expect_values(const Tensor& t, const std::vector<double>& want, double atol) {
  const std::vector<double> got = t.to(Device::CPU).to_vector();
  ASSERT_EQ(got.size(), want.size()) << t.str();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], atol) << "element " << i;
}

// ---- IoU ------------------------------------------------------------------------------------

TEST(BoxIou, HandValues) {
  // a0 (0,0,10,10) area 100; a1 (0,0,4,4) area 16.
  // b0 (5,0,15,10):  with a0 inter 5 x 10 = 50, union 150 -> 1/3;   with a1 disjoint -> 0
  // b1 (2,2,6,6):    inside a0: inter 16, union 100 -> 0.16;        with a1 inter 2 x 2 = 4,
  //                  union 16 + 16 - 4 = 28 -> 1/7
  // b2 (10,0,20,10): touches a0's right edge -> 0;                  with a1 disjoint -> 0
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor a = boxes_of({0, 0, 10, 10, 0, 0, 4, 4}, dt);
    Tensor b = boxes_of({5, 0, 15, 10, 2, 2, 6, 6, 10, 0, 20, 10}, dt);
    Tensor iou = box_iou(a, b);
    EXPECT_EQ(iou.shape(), (Shape{2, 3}));
    EXPECT_EQ(iou.dtype(), dt);
    expect_values(iou, {1.0 / 3, 0.16, 0, 0, 1.0 / 7, 0}, dt == DType::F32 ? 1e-7 : 1e-15);
  }
  // Identical boxes -> 1; a zero-area box (a segment) inside another -> 0, not 0/0.
  expect_values(box_iou(boxes_of({3, 4, 9, 7}), boxes_of({3, 4, 9, 7, 5, 4, 5, 6, 5, 5, 5, 5})),
                {1, 0, 0}, 0);
  // Empty sets.
  EXPECT_EQ(box_iou(boxes_of({}), boxes_of({0, 0, 1, 1})).shape(), (Shape{0, 1}));
}

TEST(BoxIou, Errors) {
  Tensor ok = boxes_of({0, 0, 1, 1});
  EXPECT_THROW(box_iou(Tensor::zeros({2, 3}), ok), Error);
  EXPECT_THROW(box_iou(ok, Tensor::zeros({4})), Error);
  EXPECT_THROW(box_iou(ok, boxes_of({0, 0, 1, 1}, DType::F64)), Error);
  EXPECT_THROW(box_iou(Tensor(), ok), Error);
}

// ---- box coder and clip ----------------------------------------------------------------------

TEST(BoxCoder, EncodeHandValues) {
  // anchor (0,0,10,20): w 10, h 20, centre (5, 10); target (5,5,25,45): w 20, h 40, centre (15, 25)
  //   dx = (15 - 5) / 10 = 1, dy = (25 - 10) / 20 = 0.75, dw = dh = log 2.
  Tensor a = boxes_of({0, 0, 10, 20}), t = boxes_of({5, 5, 25, 45});
  expect_values(encode_boxes(a, t), {1, 0.75, std::log(2.0), std::log(2.0)}, 1e-6);
  // Detectron's second-stage weights (10, 10, 5, 5) scale each delta.
  BoxCoder c;
  c.wx = c.wy = 10;
  c.ww = c.wh = 5;
  expect_values(encode_boxes(a, t, c), {10, 7.5, 5 * std::log(2.0), 5 * std::log(2.0)}, 1e-5);
  // And decode inverts both.
  expect_values(decode_boxes(a, encode_boxes(a, t, c), c), {5, 5, 25, 45}, 1e-5);
  // A box encoded against itself: zero deltas.
  expect_values(encode_boxes(t, t), {0, 0, 0, 0}, 0);
}

TEST(BoxCoder, DecodeHandValuesAndClamp) {
  // anchor (0,0,10,10): centre (5, 5). Deltas (0.5, -0.2, log 3, 0):
  //   centre (5 + 0.5 * 10, 5 - 0.2 * 10) = (10, 3), w = 30, h = 10 -> (-5, -2, 25, 8).
  Tensor a = boxes_of({0, 0, 10, 10});
  expect_values(decode_boxes(a, boxes_of({0.5, -0.2, std::log(3.0), 0})), {-5, -2, 25, 8}, 1e-5);
  // dw = 10 is clamped to log(1000/16): w = 1000/16 * 10 = 625; dh = -1 is not (only a
  // maximum): h = 10 / e.
  const double h = 10 * std::exp(-1.0);
  expect_values(decode_boxes(a, boxes_of({0, 0, 10, -1})),
                {5 - 312.5, 5 - h / 2, 5 + 312.5, 5 + h / 2}, 1e-4);
  // A smaller clamp.
  BoxCoder c;
  c.clamp = std::log(2.0);
  expect_values(decode_boxes(a, boxes_of({0, 0, 3, 3}), c), {-5, -5, 15, 15}, 1e-5);
}

TEST(BoxCoder, RoundTripRandom) {
  Rng rng(3);
  BoxCoder c;
  c.wx = c.wy = 10;
  c.ww = c.wh = 5;
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor a = random_boxes(57, rng, 300, 2, 120, dt), t = random_boxes(57, rng, 300, 2, 120, dt);
    const double tol = dt == DType::F32 ? 1e-3 : 1e-10;  // coordinates up to 300
    EXPECT_TENSORS_CLOSE(t, decode_boxes(a, encode_boxes(a, t, c), c), 0, tol);
    EXPECT_TENSORS_CLOSE(t, decode_boxes(a, encode_boxes(a, t)), 0, tol);
  }
}

TEST(BoxCoder, Errors) {
  EXPECT_THROW(encode_boxes(boxes_of({0, 0, 1, 1}), boxes_of({0, 0, 1, 1, 0, 0, 2, 2})), Error);
  EXPECT_THROW(decode_boxes(boxes_of({0, 0, 1, 1}), Tensor::zeros({1, 5})), Error);
  EXPECT_THROW(decode_boxes(boxes_of({0, 0, 1, 1}), boxes_of({0, 0, 0, 0}, DType::F64)), Error);
}

TEST(ClipBoxes, HandValues) {
  // Image 50 high, 80 wide: x to [0, 80], y to [0, 50]; continuous coordinates, so
  // the far edges are 80 and 50, not 79 and 49.
  Tensor b = boxes_of({-5, -3, 90, 60, 10, 20, 30, 40, 85, -10, 100, -1});
  expect_values(clip_boxes(b, 50, 80), {0, 0, 80, 50, 10, 20, 30, 40, 80, 0, 80, 0}, 0);
  EXPECT_THROW(clip_boxes(Tensor::zeros({3}), 50, 80), Error);
}

TEST(GatherRows, HandValues) {
  Tensor x = Tensor::from_vector(std::vector<double>{0, 1, 10, 11, 20, 21}, {3, 2});
  expect_values(gather_rows(x, {2, 0, 2}), {20, 21, 0, 1, 20, 21}, 0);
  EXPECT_EQ(gather_rows(x, {}).shape(), (Shape{0, 2}));
  expect_values(gather_rows(vec_of({5, 6, 7}), {1, 1}), {6, 6}, 0);
  EXPECT_THROW(gather_rows(x, {3}), Error);
  EXPECT_THROW(gather_rows(x, {-1}), Error);
}

// ---- anchors --------------------------------------------------------------------------------

TEST(Anchors, OneCellHandValuesCountAndOrder) {
  // stride 4, size 32, ratios 0.5, 1, 2 on a 3 x 5 feature map: 3 * 5 * 3 = 45 anchors.
  Tensor a = make_anchors(3, 5, 4, 32, {0.5, 1, 2}, Device::CPU);
  EXPECT_EQ(a.shape(), (Shape{45, 4}));
  EXPECT_EQ(a.dtype(), DType::F32);
  const std::vector<double> v = a.to_vector();
  // Cell (0, 0), centre (2, 2). r = 0.5: w = sqrt(1024 / 0.5) = 45.2548, h = 22.6274;
  // r = 1: 32 x 32; r = 2: w = 22.6274, h = 45.2548.
  const double big = std::sqrt(2048.0) / 2, small = std::sqrt(512.0) / 2;  // half sides
  const std::vector<double> cell0 = {2 - big,   2 - small, 2 + big,   2 + small,  // r 0.5
                                     -14,       -14,       18,        18,         // r 1
                                     2 - small, 2 - big,   2 + small, 2 + big};   // r 2
  for (size_t i = 0; i < cell0.size(); ++i) EXPECT_NEAR(v[i], cell0[i], 1e-5) << i;
  // Every anchor has area size^2 and h / w = its ratio.
  for (int64_t i = 0; i < 45; ++i) {
    const double w = v[4 * i + 2] - v[4 * i], h = v[4 * i + 3] - v[4 * i + 1];
    EXPECT_NEAR(w * h, 1024, 1e-3) << i;
    EXPECT_NEAR(h / w, (std::vector<double>{0.5, 1, 2})[i % 3], 1e-6) << i;
  }
  // Order (y, x, ratio): anchor (y * W + x) * A + a. y = 2, x = 3, a = 1 (r = 1) is
  // anchor 40, centred at (3.5 * 4, 2.5 * 4) = (14, 10): (-2, -6, 30, 26).
  expect_values(gather_rows(a, {40}), {-2, -6, 30, 26}, 0);
  // Moving one cell right shifts x by the stride; one cell down shifts y.
  for (int k = 0; k < 4; ++k) {
    EXPECT_FLOAT_EQ(v[4 * 3 + k], v[k] + (k % 2 == 0 ? 4 : 0));          // (0, 1, 0)
    EXPECT_FLOAT_EQ(v[4 * 15 + k], v[k] + (k % 2 == 1 ? 4 : 0));         // (1, 0, 0)
  }
  EXPECT_EQ(make_anchors(0, 7, 8, 64, {1}, Device::CPU).shape(), (Shape{0, 4}));
  EXPECT_THROW(make_anchors(3, 3, 4, 32, {}, Device::CPU), Error);
  EXPECT_THROW(make_anchors(3, 3, 4, 32, {0.0}, Device::CPU), Error);
  EXPECT_THROW(make_anchors(3, 3, 0, 32, {1}, Device::CPU), Error);
}

// ---- NMS ------------------------------------------------------------------------------------

TEST(Nms, HandCase) {
  // 0 (0,0,10,10) .9    1 (1,0,11,10) .8: IoU with 0 = 90 / 110 = .818
  // 2 (20,20,30,30) .85 (overlaps nothing)
  // 3 (0,0,10,10) .9: the same box and score as 0 (tie: 0 comes first), IoU 1 with 0
  // 4 (5,0,15,10) .95: IoU 1/3 with 0 and 3, 60 / 140 = .43 with 1
  // Score order: 4, 0, 3, 2, 1.
  Tensor b = boxes_of({0, 0, 10, 10, 1, 0, 11, 10, 20, 20, 30, 30, 0, 0, 10, 10, 5, 0, 15, 10});
  Tensor s = vec_of({0.9, 0.8, 0.85, 0.9, 0.95});
  // IoU 0.7: 4 kept; 0 kept (1/3); 3 removed by 0; 2 kept; 1 removed by 0 (.818).
  EXPECT_EQ(nms(b, s, 0.7), (std::vector<int64_t>{4, 0, 2}));
  // IoU 0.3: 4 removes 0, 3 (1/3) and 1 (.43).
  EXPECT_EQ(nms(b, s, 0.3), (std::vector<int64_t>{4, 2}));
  // IoU 1: only IoU > 1 suppresses, so nothing does (not even the identical pair).
  EXPECT_EQ(nms(b, s, 1.0), (std::vector<int64_t>{4, 0, 3, 2, 1}));
  // float64 alike.
  EXPECT_EQ(nms(b.to(DType::F64), s.to(DType::F64), 0.7), (std::vector<int64_t>{4, 0, 2}));
  EXPECT_TRUE(nms(boxes_of({}), vec_of({}), 0.5).empty());
}

TEST(Nms, Errors) {
  Tensor b = boxes_of({0, 0, 1, 1, 0, 0, 2, 2});
  EXPECT_THROW(nms(b, vec_of({1}), 0.5), Error);
  EXPECT_THROW(nms(b, Tensor::zeros({2, 1}), 0.5), Error);
  EXPECT_THROW(nms(b, vec_of({1, NAN}), 0.5), Error);
}

// The definition, written independently: walk by descending score (ties: lower
// index); keep a box when its IoU with every kept box is <= iou.
std::vector<int64_t> nms_brute_force(const Tensor& boxes, const Tensor& scores, double iou) {
  const std::vector<double> b = boxes.to_vector(), s = scores.to_vector();
  std::vector<int64_t> order(s.size()), kept;
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return s[x] > s[y] || (s[x] == s[y] && x < y);
  });
  auto overlap = [&](int64_t i, int64_t j) {
    const double* p = &b[4 * i];
    const double* q = &b[4 * j];
    const double w = std::min(p[2], q[2]) - std::max(p[0], q[0]);
    const double h = std::min(p[3], q[3]) - std::max(p[1], q[1]);
    if (w <= 0 || h <= 0) return 0.0;
    const double inter = w * h;
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter);
  };
  for (int64_t i : order) {
    bool keep = true;
    for (int64_t k : kept) keep = keep && overlap(k, i) <= iou;
    if (keep) kept.push_back(i);
  }
  return kept;
}

TEST(Nms, BruteForceRandom) {
  Rng rng(11);
  for (double thr : {0.3, 0.5, 0.7}) {
    for (DType dt : {DType::F64, DType::F32}) {
      // 300 boxes crowded into 120 x 120: many overlaps, many suppressions.
      Tensor b = random_boxes(300, rng, 120, 5, 40, dt);
      Tensor s = distinct_scores(300, rng, dt);
      const std::vector<int64_t> got = nms(b, s, thr), want = nms_brute_force(b, s, thr);
      EXPECT_EQ(got, want) << "iou " << thr << " " << dtype_name(dt);
      EXPECT_GT(want.size(), 10u);
      EXPECT_LT(want.size(), 300u);  // suppression happened
    }
  }
  // Tied scores: the lower index wins.
  Tensor b = random_boxes(200, rng, 100, 5, 40);
  std::vector<double> tied(200);
  for (size_t i = 0; i < tied.size(); ++i) tied[i] = (double)(i % 7);
  EXPECT_EQ(nms(b, vec_of(tied), 0.5), nms_brute_force(b, vec_of(tied), 0.5));
}

// The CUDA path's algorithm (suppression masks of 64-bit words, then the host
// pass), run through the mask kernel's CPU twin, against the greedy walk.
TEST(Nms, BitmaskAlgorithmMatchesGreedyWalk) {
  Rng rng(12);
  for (int64_t n : {1, 2, 63, 64, 65, 128, 129, 300}) {
    const Tensor b = random_boxes(n, rng, 150, 5, 50);  // taken as already sorted by score
    const float* p = b.data<float>();
    std::vector<int64_t> greedy((size_t)n), bitmask((size_t)n);
    greedy.resize((size_t)nms_cpu<float>(greedy.data(), p, n, 0.5f));
    const int64_t words = nms_mask_words(n);
    EXPECT_EQ(words, (n + 63) / 64);
    std::vector<uint64_t> mask((size_t)(n * words), ~uint64_t(0));
    nms_mask_cpu<float>(mask.data(), p, n, 0.5f);
    bitmask.resize((size_t)nms_reduce_mask(bitmask.data(), mask.data(), n));
    EXPECT_EQ(bitmask, greedy) << "n = " << n;
    // Spot-check one mask bit against the IoU: box 0 against box j of block 0.
    for (int64_t j = 1; j < std::min<int64_t>(n, 64); ++j)
      EXPECT_EQ((mask[0] >> j) & 1, box_iou_elem(p, p + 4 * j) > 0.5f ? 1u : 0u) << j;
  }
}

// A walk stopped at max_keep kept boxes gives the first max_keep of the whole
// walk, through the greedy walk, the bitmask pass and nms_sorted.
TEST(Nms, MaxKeepGivesTheFirstOfTheWholeWalk) {
  Rng rng(13);
  const int64_t n = 300;
  const Tensor b = random_boxes(n, rng, 150, 5, 50);  // taken as already sorted by score
  const float* p = b.data<float>();
  const std::vector<int64_t> all = nms_sorted(b, 0.5);
  ASSERT_GT(all.size(), 20u);
  std::vector<uint64_t> mask((size_t)(n * nms_mask_words(n)));
  nms_mask_cpu<float>(mask.data(), p, n, 0.5f);
  for (int64_t k : {int64_t(1), int64_t(7), (int64_t)all.size(), (int64_t)all.size() + 5}) {
    const std::vector<int64_t> want(all.begin(), all.begin() + std::min<int64_t>(k, (int64_t)all.size()));
    EXPECT_EQ(nms_sorted(b, 0.5, k), want) << "max_keep " << k;
    std::vector<int64_t> walk((size_t)n), bitmask((size_t)n);
    walk.resize((size_t)nms_cpu<float>(walk.data(), p, n, 0.5f, k));
    bitmask.resize((size_t)nms_reduce_mask(bitmask.data(), mask.data(), n, k));
    EXPECT_EQ(walk, want) << "max_keep " << k;
    EXPECT_EQ(bitmask, want) << "max_keep " << k;
  }
  EXPECT_THROW(nms_sorted(b, 0.5, -1), Error);
}

// The proposals' top-k: the first k of the stable descending order, for every
// k, with many ties (values on a coarse grid, so the k-th value is usually
// shared and the lowest indices holding it must be the ones kept).
TEST(TopK, IsThePrefixOfTheStableDescendingOrder) {
  Rng rng(17);
  for (int64_t n : {1, 2, 9, 1000}) {
    std::vector<double> v = rand_uniform({n}, rng, -4.0, 4.0, DType::F64).to_vector();
    for (double& x : v) x = std::round(x * 2) / 2;  // 17 distinct values at most
    const std::vector<int64_t> order = order_descending(v);
    for (int64_t k : {int64_t(0), int64_t(1), n / 3, n - 1, n, n + 4}) {
      if (k < 0) continue;
      const std::vector<int64_t> want(order.begin(), order.begin() + std::min(k, n));
      EXPECT_EQ(top_k_descending(v, k), want) << "n " << n << ", k " << k;
    }
  }
  // Values bunched in one bucket, and one far away: the whole bucket is sorted.
  std::vector<double> bunched(500);
  for (size_t i = 0; i < bunched.size(); ++i) bunched[i] = 1e-9 * (double)((i * 37) % 101);
  bunched.push_back(1e6);
  const std::vector<int64_t> order = order_descending(bunched);
  EXPECT_EQ(top_k_descending(bunched, 50), std::vector<int64_t>(order.begin(), order.begin() + 50));
  EXPECT_EQ(top_k_descending(std::vector<double>(7, 2.5), 3), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(top_k_descending({}, 3).empty());
  EXPECT_EQ(top_k_descending({1, 3, 3, 2, 3}, 2), (std::vector<int64_t>{1, 2}));
  EXPECT_THROW(top_k_descending({1.0}, -1), Error);
  EXPECT_ERROR_WITH(top_k_descending({1.0, std::nan(""), 2.0}, 1), "value 1 is not finite");
  // Ranges a bucket width cannot be formed for: wider than a double holds
  // (hi - lo overflows) and narrower than its reciprocal can be (subnormal).
  for (const std::vector<double>& extreme : {std::vector<double>{-1.5e308, 3.0, 1.7e308, -2.0, 1.7e308, 0.0},
                                              std::vector<double>{0.0, 1e-310, 5e-311, 1e-310, 0.0, 2e-310}}) {
    const std::vector<int64_t> order = order_descending(extreme);
    for (int64_t k = 1; k <= 4; ++k)
      EXPECT_EQ(top_k_descending(extreme, k), std::vector<int64_t>(order.begin(), order.begin() + k)) << "k " << k;
  }
}

// The float overload (a model's logits where they lie) selects what the
// double one selects from the same values, ties included.
TEST(TopK, FloatValuesSelectAsTheirDoubles) {
  Rng rng(18);
  for (int64_t n : {1, 37, 5000}) {
    std::vector<float> f((size_t)n);
    for (float& x : f) x = (float)(std::round(rng.normal() * 8) / 8);  // ties on a grid of 1/8
    const std::vector<double> d(f.begin(), f.end());
    for (int64_t k : {int64_t(0), int64_t(1), n / 2, n, n + 1})
      EXPECT_EQ(top_k_descending(f.data(), n, k), top_k_descending(d, k)) << "n " << n << ", k " << k;
  }
  const float with_inf[] = {1.0f, 2.0f, INFINITY};
  EXPECT_ERROR_WITH(top_k_descending(with_inf, 3, 1), "value 2 is not finite");
  EXPECT_ERROR_WITH(top_k_descending(with_inf, 3, 1, "level 4 logit"), "level 4 logit 2 is not finite (inf)");
  EXPECT_NO_THROW(top_k_descending(with_inf, 2, 1));
}

// ---- RPN targets ------------------------------------------------------------------------------

AnchorTargetParams all_in_batch() {
  AnchorTargetParams p;
  p.batch_size = 256;  // large enough that every labelled anchor is sampled
  return p;
}

TEST(AnchorTargets, HandCaseWithBestAnchorRule) {
  // Image 100 x 100.
  //   a0 (0,0,20,20)    = gt0: IoU 1                                  -> 1
  //   a1 (10,0,30,20)   gt0: 200 / 600 = 1/3, in [0.3, 0.7)            -> -1
  //   a2 (50,50,70,70)  gt1 (55,50,75,70): 300 / 500 = 0.6 < 0.7, but
  //   a3 (60,50,80,70)  gt1: also 0.6: both are gt1's best (a tie)     -> 1, 1
  //   a4 (0,60,20,80)   gt2 (0,60,40,100): 400 / 1600 = 0.25 < 0.3 would be
  //                     negative, but it is gt2's best anchor           -> 1
  //   a5 (90,90,110,110) crosses the right/bottom border               -> -1
  //   a6 (30,0,50,20)   overlaps nothing                               -> 0
  Tensor anchors = boxes_of({0, 0, 20, 20, 10, 0, 30, 20, 50, 50, 70, 70, 60, 50, 80, 70,
                             0, 60, 20, 80, 90, 90, 110, 110, 30, 0, 50, 20});
  Tensor gt = boxes_of({0, 0, 20, 20, 55, 50, 75, 70, 0, 60, 40, 100});
  Rng rng(1);
  AnchorTargets t = assign_anchor_targets(anchors, gt, 100, 100, all_in_batch(), rng);
  expect_values(t.labels, {1, -1, 1, 1, 1, -1, 0}, 0);
  EXPECT_EQ(t.positives, 4);
  EXPECT_EQ(t.negatives, 1);
  // Deltas of the positives (zero elsewhere):
  //   a0 -> gt0: 0;  a2 (centre 60, 60) -> gt1 (centre 65, 60), both 20 x 20: (0.25, 0, 0, 0);
  //   a3 (centre 70, 60) -> gt1: (-0.25, 0, 0, 0);
  //   a4 (centre 10, 70, 20 x 20) -> gt2 (centre 20, 80, 40 x 40): (0.5, 0.5, log 2, log 2).
  const double l2 = std::log(2.0);
  expect_values(t.deltas, {0, 0, 0, 0, 0, 0, 0, 0, 0.25, 0, 0, 0, -0.25, 0, 0, 0,
                           0.5, 0.5, l2, l2, 0, 0, 0, 0, 0, 0, 0, 0},
                1e-6);
  // With the second-stage weights the deltas scale, the labels do not change.
  BoxCoder c;
  c.wx = c.wy = 10;
  c.ww = c.wh = 5;
  Rng rng2(1);
  AnchorTargets t2 = assign_anchor_targets(anchors, gt, 100, 100, all_in_batch(), rng2, c);
  EXPECT_TENSORS_CLOSE(t.labels, t2.labels, 0, 0);
  expect_values(gather_rows(t2.deltas, {4}), {5, 5, 5 * l2, 5 * l2}, 1e-5);
}

TEST(AnchorTargets, BorderRule) {
  // gt (85,85,100,100) overlaps only a1 (90,90,110,110): 100 / 525 = 0.19, and a1
  // crosses the 100 x 100 image by 10 pixels.
  Tensor anchors = boxes_of({0, 0, 20, 20, 90, 90, 110, 110});
  Tensor gt = boxes_of({85, 85, 100, 100});
  auto labels = [&](double border) {
    AnchorTargetParams p = all_in_batch();
    p.allowed_border = border;
    Rng rng(2);
    return assign_anchor_targets(anchors, gt, 100, 100, p, rng).labels.to_vector();
  };
  // Border 0: a1 is ignored, and gt has no inside anchor to be "best": no positive.
  EXPECT_EQ(labels(0), (std::vector<double>{0, -1}));
  EXPECT_EQ(labels(9.5), (std::vector<double>{0, -1}));
  // Allowed 10 pixels (an anchor ending on the allowed edge does not cross it), or
  // the rule off (< 0): a1 takes part and is gt's best anchor.
  EXPECT_EQ(labels(10), (std::vector<double>{0, 1}));
  EXPECT_EQ(labels(-1), (std::vector<double>{0, 1}));
}

// `positives` anchors equal to the gt box (IoU 1, positive) and `negatives` far away
// (negative), all inside a 300 x 300 image.
struct CapCase {
  Tensor anchors, gt;
  CapCase(int positives, int negatives) {
    std::vector<double> v;
    for (int i = 0; i < positives; ++i) v.insert(v.end(), {10, 10, 30, 30});
    for (int i = 0; i < negatives; ++i) {
      const double x = 100 + 3 * i;
      v.insert(v.end(), {x, 100, x + 20, 120});
    }
    anchors = boxes_of(v);
    gt = boxes_of({10, 10, 30, 30});
  }
};

TEST(AnchorTargets, OneToThreeCap) {
  // 10 positives possible, batch 16 at 1:3 -> int(16 * 0.25) = 4 positives, 12 negatives.
  CapCase k(10, 30);
  AnchorTargetParams p;
  p.batch_size = 16;
  Rng rng(3);
  AnchorTargets t = assign_anchor_targets(k.anchors, k.gt, 300, 300, p, rng);
  EXPECT_EQ(t.positives, 4);
  EXPECT_EQ(t.negatives, 12);
  const std::vector<double> l = t.labels.to_vector(), d = t.deltas.to_vector();
  int pos = 0, neg = 0;
  for (size_t i = 0; i < l.size(); ++i) {
    if (l[i] == 1) {
      ++pos;
      EXPECT_LT(i, 10u);  // only the anchors on the gt
    }
    if (l[i] == 0) {
      ++neg;
      EXPECT_GE(i, 10u);
    }
  }
  EXPECT_EQ(pos, 4);
  EXPECT_EQ(neg, 12);
  for (double x : d) EXPECT_EQ(x, 0);  // every positive sits exactly on the gt
  // Few positives: negatives fill the batch. 2 positives + 14 negatives.
  CapCase few(2, 30);
  Rng rng2(3);
  AnchorTargets t2 = assign_anchor_targets(few.anchors, few.gt, 300, 300, p, rng2);
  EXPECT_EQ(t2.positives, 2);
  EXPECT_EQ(t2.negatives, 14);
  // Few of both: everything labelled is taken.
  CapCase tiny(2, 3);
  Rng rng3(3);
  AnchorTargets t3 = assign_anchor_targets(tiny.anchors, tiny.gt, 300, 300, p, rng3);
  EXPECT_EQ(t3.positives, 2);
  EXPECT_EQ(t3.negatives, 3);
}

TEST(AnchorTargets, SameSeedSameSamples) {
  CapCase k(10, 30);
  AnchorTargetParams p;
  p.batch_size = 16;
  Rng r1(7), r2(7), r3(8);
  const Tensor l1 = assign_anchor_targets(k.anchors, k.gt, 300, 300, p, r1).labels;
  const Tensor l2 = assign_anchor_targets(k.anchors, k.gt, 300, 300, p, r2).labels;
  const Tensor l3 = assign_anchor_targets(k.anchors, k.gt, 300, 300, p, r3).labels;
  EXPECT_EQ(l1.to_vector(), l2.to_vector());
  // Another seed picks other anchors (C(10,4) * C(30,12) ways: a repeat is
  // practically impossible).
  EXPECT_NE(l1.to_vector(), l3.to_vector());
}

TEST(AnchorTargets, SampleAnchorsListsWhatAssignLabelsWithTheSameDraws) {
  // Two gt boxes, so that `matched` has a choice to get wrong.
  std::vector<double> v;
  for (int i = 0; i < 6; ++i) v.insert(v.end(), {10.0 + i, 10, 30.0 + i, 30});    // near gt 0
  for (int i = 0; i < 6; ++i) v.insert(v.end(), {150.0 + i, 150, 180.0 + i, 180});  // near gt 1
  for (int i = 0; i < 40; ++i) v.insert(v.end(), {60.0 + 2 * i, 220, 80.0 + 2 * i, 240});
  const Tensor anchors = boxes_of(v), gt = boxes_of({10, 10, 30, 30, 150, 150, 180, 180});
  AnchorTargetParams p;
  p.batch_size = 16;
  Rng r1(9), r2(9);
  const SampledAnchors s = sample_anchors(anchors, gt, 300, 300, p, r1);
  const AnchorTargets t = assign_anchor_targets(anchors, gt, 300, 300, p, r2);
  const std::vector<double> l = t.labels.to_vector(), d = t.deltas.to_vector();
  std::vector<int64_t> pos, neg;
  for (size_t a = 0; a < l.size(); ++a) {
    if (l[a] == 1) pos.push_back((int64_t)a);
    if (l[a] == 0) neg.push_back((int64_t)a);
  }
  EXPECT_EQ(s.positives, pos);
  EXPECT_EQ(s.negatives, neg);
  ASSERT_EQ(s.matched.size(), s.positives.size());
  EXPECT_EQ(s.positives.size(), 4u);  // int(16 * 0.25) of the 12 near a gt
  for (size_t k = 0; k < s.positives.size(); ++k) {
    EXPECT_EQ(s.matched[k], s.positives[k] < 6 ? 0 : 1) << "anchor " << s.positives[k];
    // Its dense regression target is encode(anchor, its matched gt).
    const Tensor want = encode_boxes(gather_rows(anchors, {s.positives[k]}), gather_rows(gt, {s.matched[k]}));
    const std::vector<double> w = want.to_vector();
    for (int c = 0; c < 4; ++c) EXPECT_EQ(d[4 * s.positives[k] + c], w[c]);
  }
  // Both drew the same numbers from their Rngs.
  EXPECT_EQ(r1.randint(0, 1000000), r2.randint(0, 1000000));
}

TEST(AnchorTargets, EmptyGt) {
  // No lesion box: every inside anchor is negative; the border rule still applies.
  Tensor anchors = boxes_of({0, 0, 20, 20, 10, 0, 30, 20, 50, 50, 70, 70, 90, 90, 110, 110});
  Tensor gt = boxes_of({});
  Rng rng(4);
  AnchorTargets t = assign_anchor_targets(anchors, gt, 100, 100, all_in_batch(), rng);
  expect_values(t.labels, {0, 0, 0, -1}, 0);
  EXPECT_EQ(t.positives, 0);
  EXPECT_EQ(t.negatives, 3);
  expect_values(t.deltas, std::vector<double>(16, 0.0), 0);
  // A small batch samples 2 of the 3.
  AnchorTargetParams p;
  p.batch_size = 2;
  AnchorTargets t2 = assign_anchor_targets(anchors, gt, 100, 100, p, rng);
  EXPECT_EQ(t2.negatives, 2);
  const std::vector<double> l = t2.labels.to_vector();
  EXPECT_EQ(std::count(l.begin(), l.end(), 0.0), 2);
  EXPECT_EQ(l[3], -1);
}

TEST(AnchorTargets, Errors) {
  Rng rng(5);
  Tensor anchors = boxes_of({0, 0, 20, 20});
  EXPECT_THROW(assign_anchor_targets(anchors, boxes_of({5, 5, 5, 9}), 100, 100, {}, rng), Error);
  EXPECT_THROW(assign_anchor_targets(anchors, Tensor::zeros({1, 3}), 100, 100, {}, rng), Error);
  AnchorTargetParams p;
  p.pos_fraction = 1.5;
  EXPECT_THROW(assign_anchor_targets(anchors, boxes_of({0, 0, 5, 5}), 100, 100, p, rng), Error);
}

// ---- RoI sampling -----------------------------------------------------------------------------

struct RoiCase {
  // p0 (0,0,10,10):   gt0 IoU 1                    -> fg, class 2
  // p1 (0,0,10,20):   gt0 100 / 200 = 0.5          -> fg (>= 0.5), class 2
  // p2 (5,0,15,10):   gt0 1/3                      -> bg
  // p3 (50,50,60,60): gt1 (50,50,70,70) 100 / 400  -> bg
  // p4 (100,100,110,110): 0                        -> bg (bg_lo = 0)
  // then the gt boxes appended: candidate 5 = gt0 (fg, class 2), 6 = gt1 (fg, class 1).
  Tensor proposals = boxes_of({0, 0, 10, 10, 0, 0, 10, 20, 5, 0, 15, 10, 50, 50, 60, 60,
                               100, 100, 110, 110});
  Tensor gt = boxes_of({0, 0, 10, 10, 50, 50, 70, 70});
  std::vector<int> classes = {2, 1};
};

TEST(SampleRois, HandCaseGtAppendedClassesDeltas) {
  RoiCase k;
  BoxCoder c;
  c.wx = c.wy = 10;
  c.ww = c.wh = 5;
  Rng rng(1);
  RoiSamples s = sample_rois(k.proposals, k.gt, k.classes, {}, rng, c);
  // All 4 fg (<= 32) and all 3 bg; fg first, each in candidate order: 0, 1, 5, 6 | 2, 3, 4.
  EXPECT_EQ(s.foreground, 4);
  expect_values(s.rois, {0, 0, 10, 10, 0, 0, 10, 20, 0, 0, 10, 10, 50, 50, 70, 70,
                         5, 0, 15, 10, 50, 50, 60, 60, 100, 100, 110, 110},
                0);
  expect_values(s.classes, {2, 2, 2, 1, 0, 0, 0}, 0);
  EXPECT_EQ(s.gt_index, (std::vector<int64_t>{0, 0, 0, 1, -1, -1, -1}));
  // p1 (centre (5, 10), 10 x 20) -> gt0 (centre (5, 5), 10 x 10): (0, -0.25, 0, log 0.5),
  // times (10, 10, 5, 5). The appended gt boxes match themselves: 0. Background: 0.
  std::vector<double> d(28, 0.0);
  d[5] = -2.5;
  d[7] = 5 * std::log(0.5);
  expect_values(s.deltas, d, 1e-5);
}

TEST(SampleRois, FractionsAndBackgroundRange) {
  RoiCase k;
  // batch 8 at 25 %: int(8 * 0.25) = 2 of the 4 fg, then min(3 bg, 6) = 3 bg.
  RoiSampleParams p;
  p.batch_size = 8;
  Rng rng(2);
  RoiSamples s = sample_rois(k.proposals, k.gt, k.classes, p, rng);
  EXPECT_EQ(s.foreground, 2);
  EXPECT_EQ(s.rois.size(0), 5);
  const std::vector<double> cls = s.classes.to_vector();
  EXPECT_GT(cls[0], 0);
  EXPECT_GT(cls[1], 0);
  EXPECT_EQ(std::vector<double>(cls.begin() + 2, cls.end()), (std::vector<double>{0, 0, 0}));
  for (int i = 0; i < 2; ++i) EXPECT_GE(s.gt_index[i], 0);
  // bg_lo 0.3: only p2 (1/3) is background; p3 (0.25) and p4 (0) are ignored.
  RoiSampleParams q;
  q.bg_lo = 0.3;
  RoiSamples s2 = sample_rois(k.proposals, k.gt, k.classes, q, rng);
  EXPECT_EQ(s2.foreground, 4);
  EXPECT_EQ(s2.rois.size(0), 5);
  expect_values(gather_rows(s2.rois, {4}), {5, 0, 15, 10}, 0);
  // Background deltas are zero rows.
  expect_values(gather_rows(s.deltas, {2, 3, 4}), std::vector<double>(12, 0.0), 0);
}

TEST(SampleRois, EmptyGtAndDeterminism) {
  RoiCase k;
  Rng rng(3);
  RoiSamples s = sample_rois(k.proposals, boxes_of({}), {}, {}, rng);
  EXPECT_EQ(s.foreground, 0);
  EXPECT_EQ(s.rois.size(0), 5);  // every proposal is background
  expect_values(s.classes, {0, 0, 0, 0, 0}, 0);
  expect_values(s.deltas, std::vector<double>(20, 0.0), 0);
  EXPECT_EQ(s.gt_index, std::vector<int64_t>(5, -1));

  // 300 random proposals and 40 jittered copies of the gt boxes (IoU well above 0.5).
  Rng boxes_rng(4);
  std::vector<double> v = random_boxes(300, boxes_rng, 200, 10, 80).to_vector();
  for (int i = 0; i < 20; ++i) {
    const double j = boxes_rng.uniform(-3, 3), k = boxes_rng.uniform(-3, 3);
    v.insert(v.end(), {20 + j, 20, 90, 90 + j});
    v.insert(v.end(), {100, 60 - k, 180 + k, 150});
  }
  Tensor props = boxes_of(v);
  Tensor gt = boxes_of({20, 20, 90, 90, 100, 60, 180, 150});
  RoiSampleParams p;
  p.batch_size = 64;
  Rng r1(9), r2(9);
  RoiSamples a = sample_rois(props, gt, {1, 2}, p, r1), b = sample_rois(props, gt, {1, 2}, p, r2);
  EXPECT_EQ(a.rois.to_vector(), b.rois.to_vector());
  EXPECT_EQ(a.gt_index, b.gt_index);
  EXPECT_EQ(a.foreground, 16);  // int(64 * 0.25) of the > 40 foreground candidates
  EXPECT_EQ(a.rois.size(0), 64);
}

TEST(SampleRois, Errors) {
  RoiCase k;
  Rng rng(5);
  EXPECT_THROW(sample_rois(k.proposals, k.gt, {1}, {}, rng), Error);        // count
  EXPECT_THROW(sample_rois(k.proposals, k.gt, {1, 0}, {}, rng), Error);     // class 0
  EXPECT_THROW(sample_rois(k.proposals, k.gt.to(DType::F64), k.classes, {}, rng), Error);
}

// ---- RPN proposals ----------------------------------------------------------------------------

struct ProposalCase {
  // Image 100 high, 95 wide. Level 0 (4 anchors), pre_nms_top_n 3 keeps logits 5, 3, 2:
  //   a0 (0,0,10,10) logit 3; a1 (1,0,11,10) logit 2 (IoU .818 with a0: NMS removes it);
  //   a2 (30,30,40,40) logit -1 (not in the top 3); a3 (60,60,70,70) logit 5.
  // Level 1 (3 anchors):
  //   b0 (0,0,40,40) logit 4;  b1 (50,0,90,40) logit 1 with deltas (0.25, 0, 0, 0):
  //   shifted by 0.25 * 40 = 10 to (60,0,100,40), clipped to (60,0,95,40);
  //   b2 (120,0,130,10) logit 10, outside the image: clipped to zero width, dropped.
  // NMS order: a3 (5), b0 (4), a0 (3), a1 (2: removed by a0), b1 (1).
  std::vector<Tensor> anchors = {
      boxes_of({0, 0, 10, 10, 1, 0, 11, 10, 30, 30, 40, 40, 60, 60, 70, 70}),
      boxes_of({0, 0, 40, 40, 50, 0, 90, 40, 120, 0, 130, 10})};
  std::vector<Tensor> logits = {vec_of({3, 2, -1, 5}), vec_of({4, 1, 10})};
  std::vector<Tensor> deltas = {Tensor::zeros({4, 4}),
                                boxes_of({0, 0, 0, 0, 0.25, 0, 0, 0, 0, 0, 0, 0})};
};

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

TEST(GenerateProposals, HandCase) {
  ProposalCase k;
  ProposalParams p;
  p.pre_nms_top_n = 3;
  Proposals r = generate_proposals(k.anchors, k.logits, k.deltas, 100, 95, p);
  expect_values(r.boxes, {60, 60, 70, 70, 0, 0, 40, 40, 0, 0, 10, 10, 60, 0, 95, 40}, 1e-5);
  expect_values(r.scores, {sigmoid(5), sigmoid(4), sigmoid(3), sigmoid(1)}, 1e-6);
  // post_nms_top_n 3: the best three.
  p.post_nms_top_n = 3;
  Proposals r3 = generate_proposals(k.anchors, k.logits, k.deltas, 100, 95, p);
  expect_values(r3.boxes, {60, 60, 70, 70, 0, 0, 40, 40, 0, 0, 10, 10}, 1e-5);
  // min_size 12 drops the 10 x 10 boxes: b0 and b1 remain.
  p.post_nms_top_n = 1000;
  p.min_size = 12;
  Proposals rm = generate_proposals(k.anchors, k.logits, k.deltas, 100, 95, p);
  expect_values(rm.boxes, {0, 0, 40, 40, 60, 0, 95, 40}, 1e-5);
  // Without the top-k cut (0: no limit) a2 (30,30,40,40, logit -1) comes in, last.
  // It lies inside b0, but IoU 100 / 1600 does not suppress it.
  p.min_size = 0;
  p.pre_nms_top_n = 0;
  Proposals ra = generate_proposals(k.anchors, k.logits, k.deltas, 100, 95, p);
  expect_values(ra.boxes, {60, 60, 70, 70, 0, 0, 40, 40, 0, 0, 10, 10, 60, 0, 95, 40,
                           30, 30, 40, 40},
                1e-5);
  // NMS at 0.9 keeps the duplicate a1 (IoU .818).
  p.nms_iou = 0.9;
  Proposals rn = generate_proposals(k.anchors, k.logits, k.deltas, 100, 95, p);
  EXPECT_EQ(rn.boxes.size(0), 6);
}

// The proposals against the algorithm written out plainly: each level's top
// k by order_descending, decoded and clipped, the size filter, one stable sort
// of all the survivors by logit, the NMS. The logits lie on a grid of 0.5, so
// that many tie within and across levels (the rule: the lower candidate index
// first), and the levels include an empty one and one with fewer anchors than
// k. generate_proposals merges the levels' sorted runs instead of sorting:
// the same boxes, in the same order, bit for bit.
TEST(GenerateProposals, EqualsThePlainAlgorithmWithTies) {
  Rng rng(31);
  const int64_t level_sizes[] = {300, 120, 0, 40, 7};
  std::vector<Tensor> anchors, logits, deltas;
  for (int64_t A : level_sizes) {
    std::vector<float> a;
    const std::vector<double> u = rand_uniform({A, 4}, rng, 0.0, 1.0).to_vector();
    for (int64_t i = 0; i < A; ++i) {
      const float x = (float)(150 * u[4 * i]), y = (float)(150 * u[4 * i + 1]);
      a.insert(a.end(), {x, y, x + 5 + (float)(55 * u[4 * i + 2]), y + 5 + (float)(55 * u[4 * i + 3])});
    }
    anchors.push_back(A > 0 ? Tensor::from_vector(a, {A, 4}) : Tensor::zeros({0, 4}));
    std::vector<double> lg = randn({A}, rng, 2.0).to_vector();
    for (double& v : lg) v = std::round(2 * v) / 2;
    logits.push_back(A > 0 ? Tensor::from_vector(lg, {A}) : Tensor::zeros({0}));
    deltas.push_back(randn({A, 4}, rng, 0.2));
  }
  ProposalParams p;
  p.pre_nms_top_n = 50;
  p.post_nms_top_n = 60;
  p.nms_iou = 0.7;
  p.min_size = 8;
  const double H = 180, W = 200;
  const Proposals got = generate_proposals(anchors, logits, deltas, H, W, p);

  std::vector<double> cand_logit;
  std::vector<Tensor> level_boxes;
  for (size_t l = 0; l < anchors.size(); ++l) {
    const std::vector<double> v = logits[l].to_vector();
    std::vector<int64_t> top = order_descending(v);
    top.resize(std::min<size_t>(top.size(), (size_t)p.pre_nms_top_n));
    for (int64_t i : top) cand_logit.push_back(v[(size_t)i]);
    if (!top.empty())
      level_boxes.push_back(
          clip_boxes(decode_boxes(gather_rows(anchors[l], top), gather_rows(deltas[l], top)), H, W));
  }
  const Tensor cand = concat(level_boxes, 0);
  const std::vector<double> b = cand.to_vector();
  std::vector<int64_t> alive;
  std::vector<double> alive_logit;
  for (size_t i = 0; i < cand_logit.size(); ++i) {
    const double w = b[4 * i + 2] - b[4 * i], h = b[4 * i + 3] - b[4 * i + 1];
    if (w > 0 && h > 0 && w >= p.min_size && h >= p.min_size) {
      alive.push_back((int64_t)i);
      alive_logit.push_back(cand_logit[i]);
    }
  }
  std::vector<int64_t> sorted;
  for (int64_t i : order_descending(alive_logit)) sorted.push_back(alive[(size_t)i]);
  std::vector<int64_t> final_index;
  std::vector<double> score;
  for (int64_t k : nms_sorted(gather_rows(cand, sorted), p.nms_iou, p.post_nms_top_n)) {
    final_index.push_back(sorted[(size_t)k]);
    score.push_back(1 / (1 + std::exp(-cand_logit[(size_t)sorted[(size_t)k]])));
  }
  ASSERT_GT(final_index.size(), 20u);  // enough kept to say something about the order
  EXPECT_EQ(got.boxes.to_vector(), gather_rows(cand, final_index).to_vector());
  EXPECT_TENSORS_CLOSE(Tensor::from_vector(score, {(int64_t)score.size()}, DType::F64), got.scores, 0, 1e-7);
}

TEST(GenerateProposals, Errors) {
  ProposalCase k;
  ProposalParams p;
  std::vector<Tensor> bad = k.logits;
  bad[1] = vec_of({4, NAN, 1});
  EXPECT_ERROR_WITH(generate_proposals(k.anchors, bad, k.deltas, 100, 95, p), "level 1: objectness logit 1 is not finite");
  bad[1] = vec_of({4, 1});
  EXPECT_THROW(generate_proposals(k.anchors, bad, k.deltas, 100, 95, p), Error);
  EXPECT_THROW(generate_proposals(k.anchors, {k.logits[0]}, k.deltas, 100, 95, p), Error);
}

// ---- against torchvision --------------------------------------------------------------------

const char* const kPython = "/usr/bin/python3";  // Debian's, where python3-torchvision installs
const char* const kScript = "tests/reference/torch_boxes.py";

const std::string& torchvision_missing() {
  static const std::string reason = [] {
    const std::string cmd = std::string(kPython) + " -c 'import torchvision' > /dev/null 2>&1";
    return std::system(cmd.c_str()) == 0
               ? std::string()
               : std::string("python3-torchvision not installed: make deps installs it");
  }();
  return reason;
}

void torchvision_case(DType dt, double tol) {
  if (!torchvision_missing().empty()) GTEST_SKIP() << torchvision_missing();
  ASSERT_TRUE(std::filesystem::exists(kScript)) << kScript << ": run from the repository root";
  Rng rng(21);
  TensorFile in;
  in.tensors["a"] = random_boxes(23, rng, 100, 5, 60, dt);
  in.tensors["b"] = random_boxes(17, rng, 100, 5, 60, dt);
  in.tensors["boxes"] = random_boxes(500, rng, 150, 5, 50, dt);
  in.tensors["scores"] = distinct_scores(500, rng, dt);
  in.tensors["ref"] = random_boxes(40, rng, 300, 2, 100, dt);
  in.tensors["tgt"] = random_boxes(40, rng, 300, 2, 100, dt);
  std::vector<double> d;
  for (int i = 0; i < 40; ++i)
    d.insert(d.end(), {rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-2, 2),
                       i % 5 == 0 ? 9.0 : rng.uniform(-2, 2)});  // some dh beyond the clamp
  in.tensors["deltas"] = boxes_of(d, dt);
  test::TempDir dir;
  save_safetensors(dir.path("in.safetensors"), in);
  const double thr = 0.5;
  const std::string cmd = std::string(kPython) + " " + kScript + " --input " +
                          dir.path("in.safetensors") + " --out " + dir.path("out.safetensors") +
                          " --iou 0.5 --weights 10,10,5,5";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const TensorFile ref = load_safetensors(dir.path("out.safetensors"));

  EXPECT_TENSORS_CLOSE(ref.at("iou"), box_iou(in.tensors["a"], in.tensors["b"]), 0, tol);
  std::vector<int64_t> want;
  for (double k : ref.at("keep").to_vector()) want.push_back((int64_t)k);
  const std::vector<int64_t> got = nms(in.tensors["boxes"], in.tensors["scores"], thr);
  EXPECT_EQ(got, want);
  EXPECT_GT(want.size(), 20u);
  EXPECT_LT(want.size(), 450u);
  BoxCoder c;
  c.wx = c.wy = 10;
  c.ww = c.wh = 5;
  EXPECT_TENSORS_CLOSE(ref.at("encoded"), encode_boxes(in.tensors["ref"], in.tensors["tgt"], c),
                       tol, tol);
  EXPECT_TENSORS_CLOSE(ref.at("decoded"), decode_boxes(in.tensors["ref"], in.tensors["deltas"], c),
                       tol, tol * 100);  // coordinates up to a few thousand
}

TEST(BoxesTorchReference, Float32) { torchvision_case(DType::F32, 1e-5); }
TEST(BoxesTorchReference, Float64) { torchvision_case(DType::F64, 1e-12); }

// ---- CUDA parity ------------------------------------------------------------------------------

TEST(BoxesCuda, AnchorsSameBits) {
  REQUIRE_CUDA();
  for (double stride : {4.0, 32.0, 64.0}) {
    Tensor c = make_anchors(13, 21, stride, 8 * stride, {0.5, 1, 2}, Device::CPU);
    Tensor g = make_anchors(13, 21, stride, 8 * stride, {0.5, 1, 2}, Device::CUDA);
    ASSERT_EQ(g.device(), Device::CUDA);
    EXPECT_TENSORS_CLOSE(c, g, 0, 0);
  }
}

TEST(BoxesCuda, IouEncodeDecodeClipGatherParity) {
  REQUIRE_CUDA();
  Rng rng(31);
  Tensor a = random_boxes(37, rng, 200, 2, 90), b = random_boxes(23, rng, 200, 2, 90);
  const std::vector<int> none = {0, 1};
  // The IoU is the same bits on both (box_iou_elem's products are never fused
  // into an FMA, and the division is IEEE's): NMS thresholds it, and a
  // different rounding could flip a decision.
  test::expect_cpu_cuda_parity([](const std::vector<Tensor>& x) { return box_iou(x[0], x[1]); },
                               {a, b}, 0, 0, none);
  // A large one: more pairs than one grid of capped blocks covers.
  Tensor big = random_boxes(4099, rng, 800, 2, 200), many = random_boxes(4111, rng, 800, 2, 200);
  test::expect_cpu_cuda_parity([](const std::vector<Tensor>& x) { return box_iou(x[0], x[1]); },
                               {big, many}, 0, 0, none);
  BoxCoder c;
  c.wx = c.wy = 10;
  c.ww = c.wh = 5;
  Tensor t = random_boxes(37, rng, 200, 2, 90);
  test::expect_cpu_cuda_parity(
      [&](const std::vector<Tensor>& x) { return encode_boxes(x[0], x[1], c); }, {a, t}, 1e-5,
      1e-5, none);
  Tensor d = randn({37, 4}, rng, 2.0);
  test::expect_cpu_cuda_parity(
      [&](const std::vector<Tensor>& x) { return decode_boxes(x[0], x[1]); }, {a, d}, 1e-5, 1e-3,
      none);
  test::expect_cpu_cuda_parity(
      [&](const std::vector<Tensor>& x) { return clip_boxes(decode_boxes(x[0], x[1]), 150, 170); },
      {a, d}, 1e-5, 1e-3, none);
  test::expect_cpu_cuda_parity(
      [](const std::vector<Tensor>& x) { return gather_rows(x[0], {5, 0, 36, 5, 17}); }, {a}, 0, 0,
      {0});
}

TEST(BoxesCuda, NmsSameKeep) {
  REQUIRE_CUDA();
  Rng rng(32);
  // 8500: 133 mask words, more than the device pass's 128 threads OR at once.
  for (int64_t n : {1, 64, 65, 1000, 5003, 8500}) {
    Tensor b = random_boxes(n, rng, 40.0 * std::sqrt((double)n), 5, 60);
    Tensor s = distinct_scores(n, rng);
    const std::vector<int64_t> cpu = nms(b, s, 0.7);
    const std::vector<int64_t> gpu = nms(b.to(Device::CUDA), s.to(Device::CUDA), 0.7);
    EXPECT_EQ(cpu, gpu) << "n = " << n;
    // Stopped at 100 kept: the first 100 (the device pass breaks out of its walk).
    const std::vector<int64_t> order = order_descending(s.to_vector());
    const Tensor sorted = gather_rows(b, order).to(Device::CUDA);
    const std::vector<int64_t> all = nms_sorted(sorted, 0.7), first = nms_sorted(sorted, 0.7, 100);
    EXPECT_EQ(first, std::vector<int64_t>(all.begin(), all.begin() + std::min<size_t>(100, all.size())));
    if (n >= 1000) {
      EXPECT_EQ(gpu, nms_brute_force(b, s, 0.7));
    }
  }
  EXPECT_TRUE(nms(boxes_of({}).to(Device::CUDA), vec_of({}).to(Device::CUDA), 0.5).empty());
}

// The device pass walks one 64-box word at a time: suppression inside a word
// (its diagonal), across words (the rows OR-ed into later words), and a
// stop at max_keep anywhere in a word. Clusters of 1 to 9 near-identical
// boxes in score order make runs of suppressed boxes inside words and across
// their boundaries; every max_keep from 1 to 200 stops at a different place.
// The host's walk (nms_sorted on the CPU) is the reference.
TEST(BoxesCuda, NmsWordByWordEqualsTheWalk) {
  REQUIRE_CUDA();
  Rng rng(33);
  std::vector<double> v;
  while (v.size() < 4 * 3000) {
    const double x = rng.uniform(0, 2000), y = rng.uniform(0, 2000), w = rng.uniform(10, 60), h = rng.uniform(10, 60);
    const int copies = (int)rng.randint(1, 10);
    for (int k = 0; k < copies && v.size() < 4 * 3000; ++k) {
      const double dx = rng.uniform(-1, 1), dy = rng.uniform(-1, 1);  // most copies overlap above 0.7
      v.insert(v.end(), {x + dx, y + dy, x + dx + w, y + dy + h});
    }
  }
  const Tensor sorted = boxes_of(v);  // taken as already in score order
  const std::vector<int64_t> walk = nms_sorted(sorted, 0.7);
  ASSERT_GT(walk.size(), 300u);
  ASSERT_LT(walk.size(), 2000u) << "the clusters must suppress";
  const Tensor on_gpu = sorted.to(Device::CUDA);
  EXPECT_EQ(nms_sorted(on_gpu, 0.7), walk);
  // Stops on each side of the 64-box words' seams (a few runs, not 200: the
  // test also runs under racecheck, which is slow).
  for (int64_t k : {1, 2, 3, 63, 64, 65, 127, 128, 129, 191, 192, 193, 300})
    EXPECT_EQ(nms_sorted(on_gpu, 0.7, k), std::vector<int64_t>(walk.begin(), walk.begin() + k)) << "max_keep " << k;
  // A stop past the end of the walk keeps everything the walk keeps.
  EXPECT_EQ(nms_sorted(on_gpu, 0.7, (int64_t)walk.size() + 1), walk);
  EXPECT_EQ(nms_sorted(on_gpu, 0.7, (int64_t)walk.size()), walk);
}

TEST(BoxesCuda, ProposalsParity) {
  REQUIRE_CUDA();
  ProposalCase k;
  std::vector<Tensor> ga, gl, gd;
  for (size_t l = 0; l < 2; ++l) {
    ga.push_back(k.anchors[l].to(Device::CUDA));
    gl.push_back(k.logits[l].to(Device::CUDA));
    gd.push_back(k.deltas[l].to(Device::CUDA));
  }
  ProposalParams p;
  p.pre_nms_top_n = 3;
  Proposals c = generate_proposals(k.anchors, k.logits, k.deltas, 100, 95, p);
  Proposals g = generate_proposals(ga, gl, gd, 100, 95, p);
  ASSERT_EQ(g.boxes.device(), Device::CUDA);
  ASSERT_EQ(g.scores.device(), Device::CUDA);
  EXPECT_TENSORS_CLOSE(c.boxes, g.boxes, 1e-6, 1e-4);
  EXPECT_TENSORS_CLOSE(c.scores, g.scores, 1e-6, 1e-7);
  // A realistic level set: anchors of a 64 x 64 image's P2..P3, random head outputs.
  Rng rng(33);
  std::vector<Tensor> ca, cl, cd;
  ga.clear();
  gl.clear();
  gd.clear();
  for (int l = 0; l < 2; ++l) {
    const int64_t f = 16 >> l;
    ca.push_back(make_anchors(f, f, 4 << l, 32 << l, {0.5, 1, 2}, Device::CPU));
    cl.push_back(randn({f * f * 3}, rng));
    cd.push_back(randn({f * f * 3, 4}, rng, 0.3));
    ga.push_back(ca.back().to(Device::CUDA));
    gl.push_back(cl.back().to(Device::CUDA));
    gd.push_back(cd.back().to(Device::CUDA));
  }
  p.pre_nms_top_n = 200;
  p.post_nms_top_n = 50;
  Proposals c2 = generate_proposals(ca, cl, cd, 64, 64, p);
  Proposals g2 = generate_proposals(ga, gl, gd, 64, 64, p);
  EXPECT_TENSORS_CLOSE(c2.boxes, g2.boxes, 1e-5, 1e-4);
  EXPECT_TENSORS_CLOSE(c2.scores, g2.scores, 1e-6, 1e-7);
}

TEST(BoxesCuda, AnchorTargetsAndRoisParity) {
  REQUIRE_CUDA();
  Tensor anchors = make_anchors(16, 16, 8, 32, {0.5, 1, 2}, Device::CPU);
  Tensor gt = boxes_of({20, 30, 70, 90, 80, 10, 120, 60});
  AnchorTargetParams p;
  Rng r1(41), r2(41);
  AnchorTargets c = assign_anchor_targets(anchors, gt, 128, 128, p, r1);
  AnchorTargets g =
      assign_anchor_targets(anchors.to(Device::CUDA), gt.to(Device::CUDA), 128, 128, p, r2);
  ASSERT_EQ(g.labels.device(), Device::CUDA);
  EXPECT_TENSORS_CLOSE(c.labels, g.labels, 0, 0);
  EXPECT_TENSORS_CLOSE(c.deltas, g.deltas, 1e-5, 1e-5);
  EXPECT_EQ(c.positives, g.positives);
  EXPECT_GT(c.positives, 0);

  Rng boxes_rng(42);
  Tensor props = random_boxes(300, boxes_rng, 128, 8, 70);
  Rng r3(43), r4(43);
  RoiSamples sc = sample_rois(props, gt, {1, 2}, {}, r3, BoxCoder{10, 10, 5, 5});
  RoiSamples sg = sample_rois(props.to(Device::CUDA), gt.to(Device::CUDA), {1, 2}, {}, r4,
                              BoxCoder{10, 10, 5, 5});
  ASSERT_EQ(sg.rois.device(), Device::CUDA);
  EXPECT_TENSORS_CLOSE(sc.rois, sg.rois, 0, 0);
  EXPECT_TENSORS_CLOSE(sc.classes, sg.classes, 0, 0);
  EXPECT_TENSORS_CLOSE(sc.deltas, sg.deltas, 1e-5, 1e-5);
  EXPECT_EQ(sc.gt_index, sg.gt_index);
}

}  // namespace
}  // namespace skinmtl
