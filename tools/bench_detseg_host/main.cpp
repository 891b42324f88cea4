// tools/bench_detseg_host: the host's share of Song et al.'s training
// iteration (nets/detseg.h, "where the work runs"), timed on this machine.
//
// On a GPU the device runs the network while the host works out what the
// losses compare against: the anchors, the RPN's sampled targets, the RoI
// samples. While the host is busy the GPU may wait for it, so these times
// bound the iteration from below whatever the GPU. They need no GPU to
// measure: this tool times them on the CPU, at Song et al.'s size (1024 x
// 1024, 2 images, one lesion each), against the dense form the detector used
// before (assign_anchor_targets and B x A label, weight and target arrays).
//
//   bin/bench_detseg_host [--size S] [--batch B] [--reps R]
//
// The proposals are timed without their NMS, which runs on the GPU in a GPU
// run (generate_proposals' nms_device) and dominates them on the CPU: with
// post_nms_top_n = 1 the walk stops at the first box, and what remains is the
// host's part (per level the top 2000 logits, decoding, clipping, the size
// filter, the score order of the ~10,000 candidates), on random RPN outputs.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "framework/ops.h"
#include "framework/random.h"
#include "nets/boxes.h"
#include "nets/detseg.h"
#include "nets/rpn.h"
#include "tools/bench_steps.h"

using namespace skinmtl;

namespace {

// The median of `reps` timings of f, in milliseconds, after one untimed run.
double median_ms(int reps, const std::function<void()>& f) {
  return 1e3 * bench::median(bench::time_reps(f, /*warmup=*/1, reps));
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "bench_detseg_host: %s\nusage: bench_detseg_host [--size S] [--batch B] [--reps R]\n",
               why.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int size = 1024, batch = 2, reps = 7;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage("missing a value after " + a);
    const int v = std::atoi(argv[++i]);
    if (v <= 0) usage(a + " takes a positive integer, got '" + argv[i] + "'");
    if (a == "--size") size = v;
    else if (a == "--batch") batch = v;
    else if (a == "--reps") reps = v;
    else usage("unknown option " + a);
  }
  if (size < 64) usage("--size must be at least 64");
  try {
    Rng rng(1);
    RPNHead rpn(RpnConfig{}, rng);
    const DetSegConfig cfg;
    // Pyramid levels of the right sizes (P2 .. P6: strides 4 .. 64, as the FPN rounds them up).
    std::vector<Tensor> P;
    for (int l = 0; l < 5; ++l) {
      const int64_t side = (size + (4 << l) - 1) / (4 << l);
      P.push_back(Tensor::zeros({1, 1, side, side}));
    }
    const std::vector<Tensor> levels = rpn.anchors(P, Device::CPU);
    const Tensor anchors = concat(levels, 0);
    const int64_t A = anchors.size(0);
    // One lesion per image, of about half the side.
    std::vector<Tensor> gt;
    for (int b = 0; b < batch; ++b) {
      const float x = size * (0.15f + 0.1f * (b % 2)), y = size * (0.2f - 0.08f * (b % 2));
      gt.push_back(Tensor::from_vector(std::vector<float>{x, y, x + 0.55f * size, y + 0.6f * size}, {1, 4}));
    }

    const double t_anchors = median_ms(reps, [&] { concat(rpn.anchors(P, Device::CPU), 0); });
    const double t_sampled = median_ms(reps, [&] {
      std::vector<int64_t> rows;
      std::vector<float> box_target;
      for (int b = 0; b < batch; ++b) {
        const SampledAnchors s = sample_anchors(anchors, gt[b], size, size, cfg.anchor_targets, rng);
        for (int64_t i : s.positives) rows.push_back(b * A + i);
        for (int64_t i : s.negatives) rows.push_back(b * A + i);
        if (!s.positives.empty()) {
          const std::vector<double> d =
              encode_boxes(gather_rows(anchors, s.positives), gather_rows(gt[b], s.matched)).to_vector();
          box_target.insert(box_target.end(), d.begin(), d.end());
        }
      }
    });
    const double t_dense = median_ms(reps, [&] {
      std::vector<float> target(batch * A), weight(batch * A), box_weight(batch * A * 4);
      std::vector<Tensor> deltas;
      for (int b = 0; b < batch; ++b) {
        const AnchorTargets at = assign_anchor_targets(anchors, gt[b], size, size, cfg.anchor_targets, rng);
        const std::vector<double> lab = at.labels.to_vector();
        for (int64_t i = 0; i < A; ++i) {
          target[b * A + i] = lab[i] > 0.5f;
          weight[b * A + i] = lab[i] > -0.5f;
          for (int k = 0; k < 4; ++k) box_weight[(b * A + i) * 4 + k] = lab[i] > 0.5f;
        }
        deltas.push_back(reshape(at.deltas, {1, A, 4}));
      }
      const Tensor t = Tensor::from_vector(target, {batch, A}), w = Tensor::from_vector(weight, {batch, A}),
                   bw = Tensor::from_vector(box_weight, {batch, A, 4}), d = concat(deltas, 0);
    });
    // Random RPN outputs for the proposals: logits N(0, 1), deltas N(0, 0.1).
    std::vector<Tensor> logits, deltas;
    for (const Tensor& a : levels) {
      logits.push_back(randn({a.size(0)}, rng));
      deltas.push_back(randn({a.size(0), 4}, rng, 0.1));
    }
    ProposalParams host_part = cfg.train_proposals;
    host_part.post_nms_top_n = 1;
    const double t_proposals = median_ms(reps, [&] {
      for (int b = 0; b < batch; ++b) generate_proposals(levels, logits, deltas, size, size, host_part);
    });
    std::printf("Song et al.'s iteration, the host's part: %d x %d, batch %d, %lld anchors per image (median of %d)\n",
                size, size, batch, (long long)A, reps);
    std::printf("  %-58s %8.2f ms  (kept by DetSegNet: made once per size)\n", "anchors, all levels", t_anchors);
    std::printf("  %-58s %8.2f ms\n", "RPN targets, the sampled anchors (sample_anchors)", t_sampled);
    std::printf("  %-58s %8.2f ms\n", "RPN targets, dense B x A arrays (before, for comparison)", t_dense);
    std::printf("  %-58s %8.2f ms\n", "proposals without the NMS (GPU's in a GPU run), all images", t_proposals);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_detseg_host: %s\n", e.what());
    return 1;
  }
  return 0;
}
