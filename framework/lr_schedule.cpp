// Learning-rate schedules: see framework/lr_schedule.h.
#include "framework/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/check.h"

namespace skinmtl {

// ---- StepLR -------------------------------------------------------------------------

StepLR::StepLR(double base_lr, int64_t step_size, double gamma)
    : base_lr_(base_lr), gamma_(gamma), step_size_(step_size) {
  SKINMTL_CHECK(std::isfinite(base_lr) && base_lr >= 0,
                "StepLR: base_lr must be finite and >= 0, got " << base_lr);
  SKINMTL_CHECK(step_size > 0, "StepLR: step_size must be > 0, got " << step_size);
  SKINMTL_CHECK(std::isfinite(gamma) && gamma > 0, "StepLR: gamma must be > 0, got " << gamma);
}

double StepLR::lr(int64_t iteration) const {
  SKINMTL_CHECK(iteration >= 0, "StepLR: negative iteration " << iteration);
  // Integer division is the floor for iteration >= 0. std::pow with an integer
  // exponent keeps e.g. 1e-3 * 0.1^2 as close to 1e-5 as double allows.
  return base_lr_ * std::pow(gamma_, (double)(iteration / step_size_));
}

// ---- WarmupCosineLR -------------------------------------------------------------------

WarmupCosineLR::WarmupCosineLR(double base_lr, int64_t warmup, int64_t total, double final_fraction)
    : base_lr_(base_lr), final_fraction_(final_fraction), warmup_(warmup), total_(total) {
  SKINMTL_CHECK(std::isfinite(base_lr) && base_lr >= 0,
                "WarmupCosineLR: base_lr must be finite and >= 0, got " << base_lr);
  SKINMTL_CHECK(warmup >= 0 && total > warmup,
                "WarmupCosineLR: need total > warmup >= 0, got warmup " << warmup << ", total " << total);
  SKINMTL_CHECK(final_fraction >= 0 && final_fraction <= 1,
                "WarmupCosineLR: final_fraction must be in [0, 1], got " << final_fraction);
}

double WarmupCosineLR::lr(int64_t iteration) const {
  SKINMTL_CHECK(iteration >= 0, "WarmupCosineLR: negative iteration " << iteration);
  if (iteration < warmup_) return base_lr_ * (double)(iteration + 1) / (double)warmup_;
  const double progress = std::min(1.0, (double)(iteration - warmup_) / (double)(total_ - warmup_));
  const double cosine = (1 + std::cos(M_PI * progress)) / 2;  // 1 -> 0
  return base_lr_ * (final_fraction_ + (1 - final_fraction_) * cosine);
}

// ---- ReduceOnPlateau ------------------------------------------------------------------

ReduceOnPlateau::ReduceOnPlateau(double initial_lr, PlateauOptions options) : options_(options) {
  const PlateauOptions& o = options_;
  SKINMTL_CHECK(std::isfinite(initial_lr) && initial_lr >= 0,
                "ReduceOnPlateau: lr must be finite and >= 0, got " << initial_lr);
  SKINMTL_CHECK(o.factor > 0 && o.factor < 1,
                "ReduceOnPlateau: factor must be in (0, 1), got " << o.factor);
  SKINMTL_CHECK(o.patience >= 0, "ReduceOnPlateau: patience must be >= 0, got " << o.patience);
  SKINMTL_CHECK(o.threshold >= 0 && std::isfinite(o.threshold),
                "ReduceOnPlateau: threshold must be >= 0, got " << o.threshold);
  SKINMTL_CHECK(o.cooldown >= 0, "ReduceOnPlateau: cooldown must be >= 0, got " << o.cooldown);
  SKINMTL_CHECK(o.min_lr >= 0 && std::isfinite(o.min_lr),
                "ReduceOnPlateau: min_lr must be >= 0, got " << o.min_lr);
  state_.lr = initial_lr;
  state_.best = std::numeric_limits<double>::infinity();
}

double ReduceOnPlateau::update(double metric) {
  PlateauState& s = state_;
  // An improvement must beat the best by a relative margin. With best = +inf
  // (no update yet) any finite metric improves; NaN compares false: bad.
  const bool improved = std::isinf(s.best) ? metric < s.best
                                           : metric < s.best - options_.threshold * std::fabs(s.best);
  if (improved) {
    s.best = metric;
    s.num_bad_epochs = 0;
  } else {
    s.num_bad_epochs += 1;
  }
  if (s.cooldown_counter > 0) {  // just after a reduction: give the new lr time
    s.cooldown_counter -= 1;
    s.num_bad_epochs = 0;
  }
  if (s.num_bad_epochs > options_.patience) {
    s.lr = std::max(s.lr * options_.factor, options_.min_lr);
    s.cooldown_counter = options_.cooldown;
    s.num_bad_epochs = 0;
  }
  return s.lr;
}

void ReduceOnPlateau::load_state(const PlateauState& s) {
  SKINMTL_CHECK(std::isfinite(s.lr) && s.lr >= 0, "ReduceOnPlateau: bad lr in state " << s.lr);
  SKINMTL_CHECK(s.num_bad_epochs >= 0 && s.cooldown_counter >= 0,
                "ReduceOnPlateau: negative counters in state (" << s.num_bad_epochs << ", "
                                                                << s.cooldown_counter << ")");
  state_ = s;
}

}  // namespace skinmtl
