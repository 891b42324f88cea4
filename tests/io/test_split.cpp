// Group-aware k-fold splits.
#include <set>

#include "io/split.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// n samples; sample i belongs to group i / per_group (every group the same size)
// except that group "" marks single samples.
Manifest fake(int n, int per_group) {
  Manifest m;
  m.source = "fake.csv";
  m.lesion_classes = {"a", "b"};
  for (int i = 0; i < n; ++i) {
    Sample s;
    s.image = "img" + std::to_string(i) + ".jpg";
    s.id = std::to_string(i);
    s.lesions = {i % 2};
    s.group = per_group > 1 ? "g" + std::to_string(i / per_group) : "";
    m.samples.push_back(s);
  }
  return m;
}

TEST(Split, FoldsPartitionTheSamplesAndKeepGroupsTogether) {
  Manifest m = fake(103, 3);  // 35 groups (the last has 1 sample)
  std::multiset<std::string> seen_val;
  for (int k = 0; k < 5; ++k) {
    Split s = kfold_split(m, 5, k, 42);
    EXPECT_EQ(s.train.size() + s.val.size(), m.size());
    EXPECT_NEAR((double)s.val.size(), 103.0 / 5, 3.0) << "fold " << k;
    std::set<std::string> train_groups;
    for (auto& x : s.train.samples) train_groups.insert(x.group);
    for (auto& x : s.val.samples) {
      EXPECT_EQ(train_groups.count(x.group), 0u) << "group " << x.group << " on both sides";
      seen_val.insert(x.id);
    }
    EXPECT_EQ(s.train.lesion_classes, m.lesion_classes);
  }
  // Every sample is in exactly one validation fold.
  EXPECT_EQ(seen_val.size(), m.size());
  for (auto& x : m.samples) EXPECT_EQ(seen_val.count(x.id), 1u);
}

TEST(Split, DeterministicInTheSeed) {
  Manifest m = fake(50, 1);
  EXPECT_EQ(kfold_assignment(m, 5, 1), kfold_assignment(m, 5, 1));
  EXPECT_NE(kfold_assignment(m, 5, 1), kfold_assignment(m, 5, 2));
}

TEST(Split, Errors) {
  Manifest m = fake(6, 3);  // 2 groups
  EXPECT_THROW(kfold_split(m, 5, 0, 1), Error);   // fewer groups than folds
  EXPECT_THROW(kfold_split(fake(10, 1), 5, 5, 1), Error);
  EXPECT_THROW(kfold_split(fake(10, 1), 1, 0, 1), Error);
}

}  // namespace
}  // namespace skinmtl
