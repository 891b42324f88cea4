// app/model_limits.h: sane ranges for the numbers a model file's metadata
// carries, checked when a model is loaded.
//
// A model file is input like any other: it may come from a download, a
// truncated copy or a hand edit. Each number in its metadata goes into an
// allocation size, a divisor or a loop bound, so one out of range (an input
// size of 100000, a std of 0, a NaN threshold) must be refused with its name
// before it becomes a bad_alloc, a division by zero or a silently wrong
// prediction. The ranges are wide: every value a real model of this project
// can have passes, with room to spare.
#pragma once

#include <string>
#include <vector>

#include "io/image.h"

namespace skinmtl {

// NAME must be finite and in [lo, hi]: otherwise an Error
// "NAME must be in [lo, hi], got V".
void require_in_range(const std::string& name, double value, double lo, double hi);
// Each element of a list: "NAME[i] must be in ...". The list's length must be
// in [min_len, max_len].
void require_all_in_range(const std::string& name, const std::vector<double>& values, double lo, double hi,
                          size_t min_len, size_t max_len);
// input_mean in [-1000, 1000], input_std and input_scale in (0, 1000] (a
// std or scale of 0 would divide by zero or blank the input).
void require_sane_normalize(const Normalize& n);
// Class names: between min_count and 10000 of them, none empty, no two alike.
void require_class_names(const std::string& name, const std::vector<std::string>& classes, size_t min_count);

// The largest input side a model file may ask for (pixels): 8192, four times
// the largest the papers use, far below what would exhaust memory silently.
constexpr int kMaxModelInputSide = 8192;

}  // namespace skinmtl
