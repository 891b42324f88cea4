// framework/lr_schedule.h: learning-rate schedules. They compute a learning
// rate; the training loop hands it to the optimizer with SGD::set_lr.
//
// WarmupCosineLR is the fixed-budget schedule of the reproduce recipes: a
// linear warm-up from 0, then a half cosine down to a floor, so that a run of
// a known length ends at a small lr without needing a validation signal.
//
// StepLR is Caffe's "step" lr_policy (and torch.optim.lr_scheduler.StepLR):
// the lr is multiplied by gamma every step_size iterations.
//
// ReduceOnPlateau is what Liao & Luo (2016) did by hand ("reduced by 0.1 when
// error plateaus"), automated as in torch.optim.lr_scheduler.ReduceLROnPlateau
// (mode "min", threshold_mode "rel"): after each validation, call
// update(validation_loss); when the loss has not improved on its best for
// more than `patience` validations, the lr is multiplied by `factor`.
#pragma once

#include <cstdint>

namespace skinmtl {

// lr(iteration) = base_lr * gamma ^ floor(iteration / step_size)
// e.g. StepLR(1e-3, 40000, 0.1): 1e-3 for iterations 0..39999, 1e-4 from
// 40000, 1e-5 from 80000. Stateless, so nothing to checkpoint.
class StepLR {
 public:
  StepLR(double base_lr, int64_t step_size, double gamma = 0.1);
  double lr(int64_t iteration) const;

 private:
  double base_lr_, gamma_;
  int64_t step_size_;
};

// lr(i) for iteration i (the i-th update, counted from 0), with
// W = warmup, T = total, f = final_fraction:
//   i <  W:  base_lr * (i + 1) / W
//   i >= W:  base_lr * (f + (1 - f) * (1 + cos(pi * min(1, (i - W) / (T - W)))) / 2)
// so the first update uses base_lr / W, update W uses base_lr, and from T on
// the lr stays at f * base_lr. Stateless: a resumed run recomputes the lr from
// its iteration. T > W >= 0, 0 <= f <= 1.
class WarmupCosineLR {
 public:
  WarmupCosineLR(double base_lr, int64_t warmup, int64_t total, double final_fraction = 0);
  double lr(int64_t iteration) const;

 private:
  double base_lr_, final_fraction_;
  int64_t warmup_, total_;
};

struct PlateauOptions {
  double factor = 0.1;     // new lr = max(lr * factor, min_lr); in (0, 1)
  int patience = 10;       // bad updates tolerated; the (patience + 1)-th in a row reduces
  double threshold = 1e-4; // relative: an improvement must beat best by this fraction
  int cooldown = 0;        // updates after a reduction during which bad ones are not counted
  double min_lr = 0;       // the lr never goes below this
};

// The state to checkpoint; load_state() restores it.
struct PlateauState {
  double lr = 0;
  double best = 0;           // the best metric so far (+inf before the first update)
  int num_bad_epochs = 0;    // consecutive updates without improvement (outside cooldown)
  int cooldown_counter = 0;  // updates left in the current cooldown
};

// update(metric), once per validation (an "epoch" below), lower is better:
//
//   if metric < best - threshold * |best|:  best = metric, num_bad_epochs = 0
//   else:                                   num_bad_epochs += 1
//   if cooldown_counter > 0:                cooldown_counter -= 1, num_bad_epochs = 0
//   if num_bad_epochs > patience:           lr = max(lr * factor, min_lr),
//                                           cooldown_counter = cooldown, num_bad_epochs = 0
//
// This is PyTorch's rule, with one deliberate difference: PyTorch compares with
// best * (1 - threshold), which for a negative best demands a WORSE value;
// best - threshold * |best| is the same for best > 0 and right for best < 0.
// So with patience 2 the lr drops at the third bad update in a row, and with
// cooldown 3 the three updates after a drop never count as bad. A NaN metric
// is never an improvement: it counts as a bad update.
class ReduceOnPlateau {
 public:
  ReduceOnPlateau(double initial_lr, PlateauOptions options = {});

  // Records one validation metric; returns the (possibly reduced) lr.
  double update(double metric);

  double lr() const { return state_.lr; }
  double best() const { return state_.best; }
  int num_bad_epochs() const { return state_.num_bad_epochs; }
  int cooldown_counter() const { return state_.cooldown_counter; }
  bool in_cooldown() const { return state_.cooldown_counter > 0; }
  const PlateauOptions& options() const { return options_; }

  const PlateauState& state() const { return state_; }
  void load_state(const PlateauState& s);

 private:
  PlateauOptions options_;
  PlateauState state_;
};

}  // namespace skinmtl
