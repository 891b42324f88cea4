// The JSON form of a paired mAP comparison (metrics/metrics.h's compare_map),
// as `metrics multilabel --compare` and `eval mtl --model2` write it; `reproduce
// liao` reads it back from eval's metrics.json.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

#include "metrics/metrics.h"

namespace skinmtl {

// null where the mAP is undefined; else the two mAPs, their difference, its 95%
// interval, p, and how many resamples made them.
inline nlohmann::json map_difference_json(const std::optional<MapDifference>& d) {
  if (!d) return nullptr;
  return {{"map", d->a},         {"map_compare", d->b}, {"difference", d->diff},
          {"low", d->low},       {"high", d->high},     {"p", d->p},
          {"resamples", d->resamples}, {"bootstrap_skipped", d->skipped}};
}

}  // namespace skinmtl
