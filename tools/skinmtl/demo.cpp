// skinmtl demo: train the small two-headed network on generated data and say
// what it learned. The README's main job while the big models are built.
//
// Every step draws a fresh batch from the generator (io/toy_data.h), so there
// is no over-fitting to speak of; the held-out set is generated from another
// seed. The learning rate drops x0.1 at 2/3 of the steps (StepLR).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "figures/plot.h"
#include "framework/autograd.h"
#include "framework/lr_schedule.h"
#include "framework/optimizer.h"
#include "io/csv_log.h"
#include "io/progress.h"
#include "io/toy_data.h"
#include "nets/tiny_net.h"
#include "app/args.h"
#include "tools/skinmtl/commands.h"

namespace skinmtl {

namespace {

const char* kDemoHelp =
    "usage: skinmtl demo [options]\n"
    "\n"
    "Trains a small two-headed CNN (conv, batch norm, ReLU, pooling, a residual add,\n"
    "global average pooling, two linear heads) with SGD on generated images: a\n"
    "multi-label lesion-type head (sigmoid cross-entropy) and a site head (softmax\n"
    "cross-entropy), then reports held-out accuracy for both beside chance.\n"
    "\n"
    "options:\n"
    "  --iters N       SGD steps (default 600)\n"
    "  --batch N       images per step (default 32)\n"
    "  --lr X          base learning rate (default 0.05; x0.1 at 2/3 of the steps)\n"
    "  --size N        image side in pixels (default 32)\n"
    "  --width N       channels of the first conv (default 16)\n"
    "  --device D      auto | cpu | cuda (default auto: cuda when a GPU is visible)\n"
    "  --out DIR       where log.csv and loss.png go (default runs/demo)\n"
    "  --seed N        model initialisation seed (default 1)\n";

struct HeldOut {
  double loss = 0;
  double lesion_acc[kToyLesionTypes] = {};
  double lesion_base[kToyLesionTypes] = {};  // accuracy of always answering the majority
  double site_acc = 0, site_base = 0;
};

HeldOut evaluate(TinyMtlNet& net, const ToyBatch& data, Device device) {
  NoGradGuard no_grad;
  net.eval();
  auto out = net.forward(data.images.to(device));
  auto losses = net.loss(out, data.lesions.to(device), data.sites.to(device));
  net.train();
  HeldOut h;
  h.loss = losses.total.to(Device::CPU).item();
  const std::vector<double> les = out.lesion_logits.to(Device::CPU).to_vector();
  const std::vector<double> site = out.site_logits.to(Device::CPU).to_vector();
  const std::vector<double> les_t = data.lesions.to_vector(), site_t = data.sites.to_vector();
  const int n = (int)site_t.size();
  int site_count[kToySites] = {};
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < kToyLesionTypes; ++k) {
      const bool pred = les[i * kToyLesionTypes + k] > 0;  // sigmoid(x) > 0.5
      const bool truth = les_t[i * kToyLesionTypes + k] > 0.5;
      h.lesion_acc[k] += (pred == truth);
      h.lesion_base[k] += truth;
    }
    int best = 0;
    for (int q = 1; q < kToySites; ++q)
      if (site[i * kToySites + q] > site[i * kToySites + best]) best = q;
    h.site_acc += (best == (int)site_t[i]);
    site_count[(int)site_t[i]]++;
  }
  for (int k = 0; k < kToyLesionTypes; ++k) {
    h.lesion_acc[k] /= n;
    h.lesion_base[k] = std::max(h.lesion_base[k], n - h.lesion_base[k]) / n;
  }
  h.site_acc /= n;
  for (int q = 0; q < kToySites; ++q) h.site_base = std::max(h.site_base, (double)site_count[q] / n);
  return h;
}

}  // namespace

int cmd_demo(int argc, char** argv) {
  Args args(argc, argv, {"iters", "batch", "lr", "size", "width", "device", "out", "seed"});
  if (args.help()) {
    std::fputs(kDemoHelp, stdout);
    return 0;
  }
  const int steps = (int)args.get_int("iters", 600);
  const int batch = (int)args.get_int("batch", 32);
  const double lr = args.get_double("lr", 0.05);
  const int width = (int)args.get_int("width", 16);
  const std::string out_dir = args.get("out", "runs/demo");
  ToyDataSpec spec;
  spec.size = (int)args.get_int("size", 32);
  SKINMTL_USAGE_CHECK(steps > 0 && batch > 0 && width > 0 && lr > 0, "iters, batch, width and lr must be positive");
  SKINMTL_USAGE_CHECK(spec.size >= 8 && spec.size % 4 == 0, "--size must be a multiple of 4, at least 8");
  const Device device = parse_device(args.get("device", "auto"));

  std::filesystem::create_directories(out_dir);
  std::printf("skinmtl demo: %d steps of %d generated %dx%d images on %s\n", steps, batch, spec.size,
              spec.size, device_name(device));

  Rng rng((uint64_t)args.get_int("seed", 1));
  TinyMtlNet net(kToyLesionTypes, kToySites, rng, width);
  net.to(device);
  net.train();
  SGD sgd(net.parameters(), {lr, 0.9, 1e-4});
  StepLR schedule(lr, std::max(1, 2 * steps / 3), 0.1);
  const ToyBatch held_out = make_toy_batch(1024, /*seed=*/7, spec);

  HeldOut before = evaluate(net, held_out, device);
  CsvLog log(out_dir + "/log.csv", {"step", "lr", "loss", "lesion_loss", "site_loss", "heldout_loss"});
  Progress bar(steps, "train");
  double smooth = NAN;
  for (int s = 0; s < steps; ++s) {
    sgd.set_lr(schedule.lr(s));
    ToyBatch b = make_toy_batch(batch, /*seed=*/1000 + (uint64_t)s, spec);
    sgd.zero_grad();
    auto out = net.forward(b.images.to(device));
    auto l = net.loss(out, b.lesions.to(device), b.sites.to(device));
    l.total.backward();
    sgd.step();
    const double loss = l.total.to(Device::CPU).item();
    SKINMTL_CHECK(std::isfinite(loss), "the loss became " << loss << " at step " << s);
    smooth = std::isnan(smooth) ? loss : 0.9 * smooth + 0.1 * loss;
    const bool last = s + 1 == steps;
    const double held = (last || (s + 1) % 100 == 0) ? evaluate(net, held_out, device).loss : NAN;
    log.log({{"step", (double)s + 1},
             {"lr", sgd.lr()},
             {"loss", loss},
             {"lesion_loss", l.lesion.to(Device::CPU).item()},
             {"site_loss", l.site.to(Device::CPU).item()},
             {"heldout_loss", held}});
    char extra[64];
    std::snprintf(extra, sizeof extra, "loss %.4f", smooth);
    bar.update(s + 1, extra);
  }
  bar.finish();
  plot_csv(out_dir + "/log.csv", out_dir + "/loss.png", "step",
           {"loss", "lesion_loss", "site_loss", "heldout_loss"}, "skinmtl demo: training loss");

  HeldOut after = evaluate(net, held_out, device);
  std::printf("\nheld-out set: %d generated images (never trained on)\n", (int)held_out.sites.numel());
  std::printf("  loss %.4f before training, %.4f after\n\n", before.loss, after.loss);
  std::printf("  %-22s %10s %10s %10s\n", "task", "before", "after", "chance");
  for (int k = 0; k < kToyLesionTypes; ++k)
    std::printf("  lesion: %-14s %9.1f%% %9.1f%% %9.1f%%\n", kToyLesionNames[k],
                100 * before.lesion_acc[k], 100 * after.lesion_acc[k], 100 * after.lesion_base[k]);
  std::printf("  %-22s %9.1f%% %9.1f%% %9.1f%%\n", "site (4 textures)", 100 * before.site_acc,
              100 * after.site_acc, 100 * after.site_base);
  std::printf("\n(chance: always answering the most frequent label)\nlog: %s/log.csv  curves: %s/loss.png\n",
              out_dir.c_str(), out_dir.c_str());
  return 0;
}

}  // namespace skinmtl
