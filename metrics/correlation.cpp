// The lesion-by-location matrix of Liao & Luo eq. 1: see metrics/correlation.h.
#include "metrics/correlation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "base/check.h"

namespace skinmtl {

LesionLocationMatrix lesion_location_matrix(const std::vector<std::vector<int>>& lesions,
                                            const std::vector<int>& locations, int num_lesions,
                                            int num_locations) {
  SKINMTL_CHECK(num_lesions >= 1 && num_locations >= 1,
                "lesion_location_matrix: need at least one lesion and one location class, got "
                    << num_lesions << " and " << num_locations);
  SKINMTL_CHECK(lesions.size() == locations.size(),
                "lesion_location_matrix: " << lesions.size() << " lesion lists but "
                                           << locations.size() << " locations");
  LesionLocationMatrix m;
  m.num_lesions = num_lesions;
  m.num_locations = num_locations;
  m.joint.assign((size_t)num_lesions * num_locations, 0);
  m.lesion_count.assign(num_lesions, 0);
  // seen[i] == n + 1: lesion i is already counted for image n (0: never).
  std::vector<size_t> seen(num_lesions, 0);
  for (size_t n = 0; n < lesions.size(); ++n) {
    const int j = locations[n];
    SKINMTL_CHECK(j >= -1 && j < num_locations, "lesion_location_matrix: image "
                                                    << n << " has location " << j << ", outside [-1, "
                                                    << num_locations << ")");
    for (int i : lesions[n])
      SKINMTL_CHECK(i >= 0 && i < num_lesions, "lesion_location_matrix: image "
                                                   << n << " has lesion " << i << ", outside [0, "
                                                   << num_lesions << ")");
    if (j < 0) {
      ++m.unknown_location;
      continue;
    }
    ++m.images;
    for (int i : lesions[n]) {
      if (seen[i] == n + 1) continue;  // a repeated label counts once
      seen[i] = n + 1;
      ++m.lesion_count[i];
      ++m.joint[(size_t)i * num_locations + j];
    }
  }
  m.R.assign(m.joint.size(), std::numeric_limits<double>::quiet_NaN());
  for (int i = 0; i < num_lesions; ++i)
    if (m.lesion_count[i] > 0)
      for (int j = 0; j < num_locations; ++j)
        m.R[(size_t)i * num_locations + j] =
            double(m.joint[(size_t)i * num_locations + j]) / double(m.lesion_count[i]);
  return m;
}

LesionLocationMatrix lesion_location_matrix(const Manifest& manifest) {
  std::vector<std::vector<int>> lesions;
  std::vector<int> locations;
  lesions.reserve(manifest.size());
  locations.reserve(manifest.size());
  for (const Sample& s : manifest.samples) {
    lesions.push_back(s.lesions);
    locations.push_back(s.location);
  }
  return lesion_location_matrix(lesions, locations, manifest.num_lesion_classes(),
                                manifest.num_location_classes());
}

}  // namespace skinmtl
