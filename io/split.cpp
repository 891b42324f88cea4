#include "io/split.h"

#include <algorithm>
#include <map>

#include "framework/random.h"

namespace skinmtl {

std::vector<int> kfold_assignment(const Manifest& data, int folds, uint64_t seed) {
  SKINMTL_CHECK(folds >= 2, "k-fold split: need at least 2 folds, got " << folds);
  // Groups in order of first appearance, so the shuffle below is the only
  // source of order.
  std::vector<std::string> names;
  std::map<std::string, std::vector<size_t>> members;
  for (size_t i = 0; i < data.size(); ++i) {
    const Sample& s = data.samples[i];
    const std::string key = s.group.empty() ? "\x01sample:" + std::to_string(i) : s.group;
    auto it = members.find(key);
    if (it == members.end()) {
      names.push_back(key);
      members[key] = {i};
    } else {
      it->second.push_back(i);
    }
  }
  SKINMTL_CHECK((int)names.size() >= folds, "k-fold split of " << data.source << ": " << names.size()
                                                                << " groups cannot fill " << folds << " folds");
  Rng rng(seed);
  std::shuffle(names.begin(), names.end(), rng.engine());
  std::vector<int> fold_of(data.size(), -1);
  std::vector<size_t> count(folds, 0);
  for (const std::string& g : names) {
    const int f = (int)(std::min_element(count.begin(), count.end()) - count.begin());
    for (size_t i : members[g]) fold_of[i] = f;
    count[f] += members[g].size();
  }
  return fold_of;
}

Split kfold_split(const Manifest& data, int folds, int fold, uint64_t seed) {
  SKINMTL_CHECK(fold >= 0 && fold < folds, "k-fold split: fold " << fold << " of " << folds
                                                                   << " does not exist (0.." << folds - 1 << ")");
  const std::vector<int> fold_of = kfold_assignment(data, folds, seed);
  std::vector<size_t> tr, va;
  for (size_t i = 0; i < data.size(); ++i) (fold_of[i] == fold ? va : tr).push_back(i);
  return {data.subset(tr), data.subset(va)};
}

}  // namespace skinmtl
