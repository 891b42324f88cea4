// The JSON forms of a paired mAP comparison (metrics/metrics.h's compare_map),
// as `metrics multilabel --compare` and `eval mtl --model2` write it (`reproduce
// liao` reads it back from eval's metrics.json), and of a comparison of two
// recipes over several seeds (compare_map_seeds), as `metrics multilabel` with
// lists of files and `reproduce liao --seeds` write it.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

#include "metrics/metrics.h"

namespace skinmtl {

// What a 95% interval of a - b says: "a better" (all above 0), "b better"
// (all below) or "not told apart".
inline const char* interval_verdict(double low, double high) {
  return low > 0 ? "a better" : high < 0 ? "b better" : "not told apart";
}

// null where the mAP is undefined; else the two mAPs, their difference, its 95%
// interval, p, and how many resamples made them.
inline nlohmann::json map_difference_json(const std::optional<MapDifference>& d) {
  if (!d) return nullptr;
  return {{"map", d->a},         {"map_compare", d->b}, {"difference", d->diff},
          {"low", d->low},       {"high", d->high},     {"p", d->p},
          {"resamples", d->resamples}, {"bootstrap_skipped", d->skipped}};
}

// null where the mAP is undefined; else each seed's two mAPs and difference,
// the means, the mean difference, its 95% interval, p, the verdict of the
// interval ("a better", "b better", "not told apart") and the two parts of its
// standard error.
inline nlohmann::json seed_map_difference_json(const std::optional<SeedMapDifference>& d) {
  if (!d) return nullptr;
  std::vector<double> per_seed;
  for (size_t k = 0; k < d->a.size(); ++k) per_seed.push_back(d->a[k] - d->b[k]);
  return {{"per_seed_map", d->a},
          {"per_seed_map_compare", d->b},
          {"per_seed_difference", per_seed},
          {"map", d->mean_a},
          {"map_compare", d->mean_b},
          {"difference", d->diff},
          {"low", d->low},
          {"high", d->high},
          {"p", d->p},
          {"verdict", interval_verdict(d->low, d->high)},
          {"sd_training", d->sd_training},
          {"se_training", d->se_training},
          {"se_images", d->se_images},
          {"se", d->se},
          {"df", d->df},
          {"resamples", d->resamples},
          {"bootstrap_skipped", d->skipped}};
}

}  // namespace skinmtl
