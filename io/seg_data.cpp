#include "io/seg_data.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "base/check.h"
#include "io/csv.h"
#include "io/manifest.h"
#include "io/synthetic.h"

namespace fs = std::filesystem;

namespace skinmtl {

namespace {

// "melanoma 374 / 30, seborrheic_keratosis 254 / 42": positives in train / val.
std::string counts(const SegData& d) {
  auto count = [](const std::vector<SegSample>& v, int SegSample::*flag) {
    int64_t n = 0;
    for (const SegSample& s : v) n += s.*flag;
    return n;
  };
  std::ostringstream os;
  os << d.train.size() << " train / " << d.val.size() << " val; melanoma "
     << count(d.train, &SegSample::melanoma) << " / " << count(d.val, &SegSample::melanoma)
     << ", seborrheic_keratosis " << count(d.train, &SegSample::seborrheic_keratosis) << " / "
     << count(d.val, &SegSample::seborrheic_keratosis);
  return os.str();
}

// A 0/1 column (ISIC writes "0"/"1", sometimes "0.0"/"1.0").
int flag(const CsvTable& t, size_t row, int col) {
  const std::string v = trim(t.rows[row][col]);
  if (v == "1" || v == "1.0") return 1;
  if (v == "0" || v == "0.0") return 0;
  SKINMTL_USER_FAIL(t.where(row) << ": column '" << t.header[col] << "' must be 0 or 1, got '" << v << "'");
}

// Ids must be unique: they name output files.
void check_unique_ids(const SegData& d) {
  std::map<std::string, std::string> seen;  // id -> where
  for (const SegSample& s : d.all) {
    auto [it, fresh] = seen.emplace(s.id, s.where);
    SKINMTL_USER_CHECK(fresh, s.where << ": id '" << s.id << "' was already used at " << it->second);
  }
}

SegData load_isic2017_seg(const std::string& labels_csv) {
  SegData d;
  for (const char* split : {"train", "val"}) {
    const Manifest m = load_isic2017(labels_csv, split);
    std::vector<SegSample>& out = std::string(split) == "train" ? d.train : d.val;
    for (const Sample& s : m.samples) {
      // load_isic2017 gives each row one lesion label: melanoma,
      // seborrheic_keratosis or nevus (from the two flags).
      const std::string& dx = m.lesion_classes.at(s.lesions.at(0));
      SegSample g;
      g.id = s.id;
      g.image = s.image;
      g.mask = s.mask;
      g.melanoma = dx == "melanoma";
      g.seborrheic_keratosis = dx == "seborrheic_keratosis";
      g.where = s.where;
      g.split = split;
      SKINMTL_USER_CHECK(!g.mask.empty(), g.where << ": empty mask path");
      out.push_back(std::move(g));
    }
  }
  d.kind = "isic2017";
  d.all = d.train;
  d.all.insert(d.all.end(), d.val.begin(), d.val.end());
  check_unique_ids(d);
  d.description = "isic2017 (" + labels_csv + "): " + counts(d);
  return d;
}

}  // namespace

SegData read_ham10000_seg(const std::string& labels_csv) {
  const Manifest m = load_ham10000(labels_csv);
  SegData d;
  int64_t mel = 0, bkl = 0;
  for (const Sample& s : m.samples) {
    const std::string& dx = m.lesion_classes.at(s.lesions.at(0));
    SegSample g;
    g.id = s.id;
    g.image = s.image;  // no mask: HAM10000 has none
    g.melanoma = dx == "mel";
    g.seborrheic_keratosis = dx == "bkl";
    g.where = s.where;
    g.split = "test";
    mel += g.melanoma;
    bkl += g.seborrheic_keratosis;
    d.all.push_back(std::move(g));
  }
  check_unique_ids(d);
  d.kind = "ham10000";
  d.has_masks = false;
  d.default_split = "test";
  d.sk_name = "benign keratosis (bkl)";
  d.description = "ham10000 (" + labels_csv + "): " + std::to_string(d.all.size()) +
                  " test images without masks, for the classifiers only; melanoma " + std::to_string(mel) +
                  ", benign keratosis-like (bkl, for seborrheic_keratosis) " + std::to_string(bkl);
  return d;
}

void require_training_data(const SegData& data) {
  SKINMTL_USER_CHECK(data.has_masks, data.description << ": these images have no lesion masks, so the "
                                                          "segmentation models cannot train on them (they "
                                                          "serve `skinmtl eval` as an external test set)");
  SKINMTL_USER_CHECK(!data.train.empty(), "no training images in " << data.description);
}

SegData read_seg_csv(const std::string& csv_path) {
  const CsvTable t = read_csv(csv_path);
  const int c_image = t.require_column("image"), c_mask = t.require_column("mask");
  const int c_mel = t.require_column("melanoma");
  const int c_sk = t.require_column("seborrheic_keratosis");
  const int c_id = t.column("id"), c_split = t.column("split");  // optional
  SegData d;
  int64_t test_rows = 0;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& f = t.rows[i];
    SegSample s;
    s.where = t.where(i);
    const std::string image = trim(f[c_image]), mask = trim(f[c_mask]);
    SKINMTL_USER_CHECK(!image.empty(), s.where << ": empty image path");
    SKINMTL_USER_CHECK(!mask.empty(), s.where << ": empty mask path for '" << image << "'");
    s.image = resolve_manifest_path(csv_path, image);
    s.mask = resolve_manifest_path(csv_path, mask);
    s.melanoma = flag(t, i, c_mel);
    s.seborrheic_keratosis = flag(t, i, c_sk);
    // ISIC 2017's three classes are exclusive: a lesion is melanoma,
    // seborrheic keratosis or nevus, never two of them.
    SKINMTL_USER_CHECK(!(s.melanoma && s.seborrheic_keratosis),
                       s.where << ": both melanoma and seborrheic_keratosis are 1 for '" << image
                               << "'; the classes are exclusive (at most one may be 1)");
    s.id = c_id >= 0 ? trim(f[c_id]) : "";
    if (s.id.empty()) s.id = fs::path(image).stem().string();
    s.split = c_split >= 0 ? trim(f[c_split]) : "train";
    SKINMTL_USER_CHECK(s.split == "train" || s.split == "val" || s.split == "test",
                       s.where << ": split must be train, val or test, got '" << s.split << "'");
    d.all.push_back(s);
    if (s.split == "train") d.train.push_back(std::move(s));
    else if (s.split == "val") d.val.push_back(std::move(s));
    else ++test_rows;
  }
  check_unique_ids(d);
  d.kind = "csv";
  d.has_split_column = c_split >= 0;
  d.description = csv_path + ": " + counts(d);
  if (test_rows > 0) d.description += "; " + std::to_string(test_rows) + " test rows left out";
  if (c_split < 0) d.description += " (no split column: every row is train)";
  return d;
}

std::vector<SegSample> select_split(const SegData& data, const std::string& name) {
  if (name == "all") {
    SKINMTL_USER_CHECK(!data.all.empty(), data.description << ": no images");
    return data.all;
  }
  SKINMTL_USER_CHECK(name == "train" || name == "val" || name == "test",
                     "the split must be train, val, test or all, got '" << name << "'");
  std::vector<SegSample> out;
  std::map<std::string, int64_t> have;  // split -> rows
  for (const SegSample& s : data.all) {
    ++have[s.split];
    if (s.split == name) out.push_back(s);
  }
  if (out.empty()) {
    std::ostringstream os;
    for (const auto& [split, n] : have) os << (os.tellp() > 0 ? ", " : "") << n << " " << split;
    SKINMTL_USER_FAIL(data.description << ": no " << name << " rows to evaluate (the data has "
                                       << (have.empty() ? std::string("no rows") : os.str()) << ")"
                                       << (data.has_split_column ? "; --split all takes every row"
                                                                 : "; it has no split column: --split all "
                                                                   "evaluates every row"));
  }
  return out;
}

Manifest seg_manifest(const SegData& data, const std::string& source) {
  Manifest m;
  m.source = source;
  for (const SegSample& s : data.all) {
    Sample x;
    x.image = s.image;
    x.mask = s.mask;
    x.id = s.id;
    x.where = s.where;
    m.samples.push_back(std::move(x));
  }
  return m;
}

void require_seg_files(const SegData& data, const std::string& source) {
  Manifest m = seg_manifest(data, source);
  require_or_drop_bad_samples(m, false);
}

SegData load_seg_data(const std::string& spec, const std::string& data_dir, std::vector<ImageProblem>* skipped) {
  auto after_colon = [&](const std::string& fallback) {
    const size_t c = spec.find(':');
    return c == std::string::npos ? fallback : spec.substr(c + 1);
  };
  SKINMTL_USER_CHECK(!spec.empty(), "no data given (synthetic, isic2017, ham10000 or a CSV file)");
  SegData d;
  std::string source;
  if (spec == "synthetic" || spec.rfind("synthetic:", 0) == 0) {
    source = after_colon("data/synthetic/manifest.csv");
    ensure_synth_dataset(source);
    d = read_seg_csv(source);
    d.kind = "synthetic";
    d.description = "synthetic " + d.description;
  } else if (spec == "isic2017" || spec.rfind("isic2017:", 0) == 0) {
    source = after_colon(data_dir + "/isic2017/labels.csv");
    d = load_isic2017_seg(source);
  } else if (spec == "ham10000" || spec.rfind("ham10000:", 0) == 0) {
    source = after_colon(data_dir + "/ham10000/labels.csv");
    d = read_ham10000_seg(source);
  } else {
    source = spec;
    SKINMTL_USER_CHECK(fs::exists(source), "no data '" << spec << "': give synthetic[:manifest.csv], "
                                           "isic2017[:labels.csv], ham10000[:labels.csv] or an existing "
                                           "CSV file");
    d = read_seg_csv(source);
  }
  // Every file checked; with --skip-bad-rows (skipped given) the samples with a
  // problem are dropped from every split (ids are unique), else any is an error.
  Manifest m = seg_manifest(d, source);
  const std::vector<ImageProblem> bad = require_or_drop_bad_samples(m, skipped != nullptr);
  if (!bad.empty()) {
    std::set<std::string> ids;
    for (const ImageProblem& p : bad) ids.insert(d.all.at(p.index).id);
    for (std::vector<SegSample>* part : {&d.all, &d.train, &d.val})
      part->erase(std::remove_if(part->begin(), part->end(), [&](const SegSample& s) { return ids.count(s.id); }),
                  part->end());
    d.description += "; " + std::to_string(bad.size()) + " bad rows skipped";
  }
  if (skipped) *skipped = bad;
  return d;
}

}  // namespace skinmtl
