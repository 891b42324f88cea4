#include "app/model_limits.h"

#include <cmath>
#include <set>

#include "base/check.h"

namespace skinmtl {

void require_in_range(const std::string& name, double value, double lo, double hi) {
  SKINMTL_CHECK(std::isfinite(value) && value >= lo && value <= hi,
                name << " must be in [" << lo << ", " << hi << "], got " << value);
}

void require_all_in_range(const std::string& name, const std::vector<double>& values, double lo, double hi,
                          size_t min_len, size_t max_len) {
  SKINMTL_CHECK(values.size() >= min_len && values.size() <= max_len,
                name << " must have " << min_len << " to " << max_len << " entries, got " << values.size());
  for (size_t i = 0; i < values.size(); ++i)
    require_in_range(name + "[" + std::to_string(i) + "]", values[i], lo, hi);
}

void require_sane_normalize(const Normalize& n) {
  for (int c = 0; c < 3; ++c) {
    require_in_range("input_mean[" + std::to_string(c) + "]", n.mean[c], -1000, 1000);
    // (0, 1000]: a range check with a strictly positive floor.
    SKINMTL_CHECK(std::isfinite(n.std[c]) && n.std[c] > 0 && n.std[c] <= 1000,
                  "input_std[" << c << "] must be in (0, 1000], got " << n.std[c]);
  }
  SKINMTL_CHECK(std::isfinite(n.scale) && n.scale > 0 && n.scale <= 1000,
                "input_scale must be in (0, 1000], got " << n.scale);
}

void require_class_names(const std::string& name, const std::vector<std::string>& classes, size_t min_count) {
  SKINMTL_CHECK(classes.size() >= min_count && classes.size() <= 10000,
                name << " must have " << min_count << " to 10000 names, got " << classes.size());
  std::set<std::string> seen;
  for (size_t i = 0; i < classes.size(); ++i) {
    SKINMTL_CHECK(!classes[i].empty(), name << "[" << i << "] is empty");
    SKINMTL_CHECK(seen.insert(classes[i]).second, name << " lists '" << classes[i] << "' twice");
  }
}

}  // namespace skinmtl
