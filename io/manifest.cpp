#include "io/manifest.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

#include "io/csv.h"
#include "io/image.h"
#include "io/progress.h"

namespace fs = std::filesystem;

namespace skinmtl {

// ---- Manifest ------------------------------------------------------------------

void Manifest::lesion_targets(size_t i, float* out) const {
  std::fill(out, out + lesion_classes.size(), 0.0f);
  for (int k : samples.at(i).lesions) out[k] = 1.0f;
}

Tensor Manifest::lesion_targets() const {
  const int64_t K = num_lesion_classes();
  Tensor t = Tensor::empty({(int64_t)size(), K});
  for (size_t i = 0; i < size(); ++i) lesion_targets(i, t.data<float>() + i * K);
  return t;
}

Tensor Manifest::location_targets() const {
  Tensor t = Tensor::empty({(int64_t)size()});
  for (size_t i = 0; i < size(); ++i) t.data<float>()[i] = (float)samples[i].location;
  return t;
}

Manifest Manifest::subset(const std::vector<size_t>& indices) const {
  Manifest m;
  m.source = source;
  m.lesion_classes = lesion_classes;
  m.location_classes = location_classes;
  m.samples.reserve(indices.size());
  for (size_t i : indices) {
    SKINMTL_CHECK(i < size(), "Manifest::subset: index " << i << " out of range (" << size()
                                                         << " samples)");
    m.samples.push_back(samples[i]);
  }
  return m;
}

// ---- building a manifest from rows -------------------------------------------------
//
// Every reader turns its file into RawRows (labels as strings), then build()
// fixes the class lists and converts labels to indices.

namespace {

struct RawRow {
  std::string image, mask, id, group, where;
  std::vector<std::string> lesions;  // >= 1, trimmed, non-empty
  std::string location;              // trimmed; "" = unknown
};

// image/mask paths: absolute as written, else relative to the manifest's folder.
std::string resolve(const fs::path& folder, const std::string& p) {
  if (p.empty()) return p;
  const fs::path path(p);
  if (path.is_absolute() || folder.empty()) return path.string();
  return (folder / path).string();
}

// "a; b|c" -> {"a", "b", "c"}; empty pieces are dropped.
std::vector<std::string> split_labels(const std::string& field) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i <= field.size(); ++i) {
    if (i == field.size() || field[i] == ';' || field[i] == '|') {
      std::string t = trim(cur);
      if (!t.empty()) out.push_back(t);
      cur.clear();
    } else {
      cur += field[i];
    }
  }
  return out;
}

// The class list: the given order (checked for duplicates), or the sorted labels seen.
std::vector<std::string> class_list(const std::vector<std::string>& given,
                                    const std::set<std::string>& seen, const char* what) {
  if (given.empty()) return std::vector<std::string>(seen.begin(), seen.end());
  std::set<std::string> distinct(given.begin(), given.end());
  SKINMTL_CHECK(distinct.size() == given.size(), "manifest: the given " << what
                                                                        << " classes repeat a name");
  return given;
}

std::string join(const std::vector<std::string>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  return os.str();
}

Manifest build(const std::string& source, const std::vector<RawRow>& rows,
               const ManifestOptions& options) {
  std::set<std::string> lesions_seen, locations_seen;
  for (const RawRow& r : rows) {
    lesions_seen.insert(r.lesions.begin(), r.lesions.end());
    if (!r.location.empty()) locations_seen.insert(r.location);
  }
  Manifest m;
  m.source = source;
  m.lesion_classes = class_list(options.lesion_classes, lesions_seen, "lesion");
  m.location_classes = class_list(options.location_classes, locations_seen, "location");
  std::map<std::string, int> lesion_index, location_index;
  for (size_t k = 0; k < m.lesion_classes.size(); ++k) lesion_index[m.lesion_classes[k]] = (int)k;
  for (size_t k = 0; k < m.location_classes.size(); ++k)
    location_index[m.location_classes[k]] = (int)k;

  // Ids must be unique: they name the rows of prediction CSVs and output files.
  std::map<std::string, std::string> id_where;
  for (const RawRow& r : rows) {
    auto [it, fresh] = id_where.emplace(r.id, r.where);
    SKINMTL_USER_CHECK(fresh, r.where << ": id '" << r.id << "' was already used at " << it->second
                                      << " (ids name the rows of the outputs, so they must be unique)");
  }
  m.samples.reserve(rows.size());
  for (const RawRow& r : rows) {
    Sample s;
    s.image = r.image;
    s.mask = r.mask;
    s.id = r.id;
    s.group = r.group;
    s.where = r.where;
    for (const std::string& l : r.lesions) {
      auto it = lesion_index.find(l);
      SKINMTL_CHECK(it != lesion_index.end(), r.where << ": unknown lesion label '" << l
                                                      << "' (classes: "
                                                      << join(m.lesion_classes) << ")");
      s.lesions.push_back(it->second);
    }
    std::sort(s.lesions.begin(), s.lesions.end());
    s.lesions.erase(std::unique(s.lesions.begin(), s.lesions.end()), s.lesions.end());
    if (!r.location.empty()) {
      auto it = location_index.find(r.location);
      SKINMTL_CHECK(it != location_index.end(), r.where << ": unknown location label '"
                                                        << r.location << "' (classes: "
                                                        << join(m.location_classes) << ")");
      s.location = it->second;
    }
    m.samples.push_back(std::move(s));
  }
  return m;
}

}  // namespace

std::string resolve_manifest_path(const std::string& csv_path, const std::string& path) {
  return resolve(fs::path(csv_path).parent_path(), path);
}

Manifest read_manifest(const std::string& csv_path, const ManifestOptions& options) {
  const CsvTable t = read_csv(csv_path);
  const int c_image = t.require_column("image");
  const int c_lesions = t.require_column("lesions");
  const int c_location = t.column("location");  // optional
  const int c_id = t.column("id"), c_group = t.column("group"), c_mask = t.column("mask");
  const fs::path folder = fs::path(csv_path).parent_path();
  std::vector<RawRow> rows;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& f = t.rows[i];
    RawRow r;
    r.where = t.where(i);
    const std::string image = trim(f[c_image]);
    SKINMTL_CHECK(!image.empty(), r.where << ": empty image path");
    r.image = resolve(folder, image);
    r.lesions = split_labels(f[c_lesions]);
    SKINMTL_CHECK(!r.lesions.empty(), r.where << ": no lesion label for '" << image << "'");
    if (c_location >= 0) r.location = trim(f[c_location]);
    r.id = c_id >= 0 && !trim(f[c_id]).empty() ? trim(f[c_id]) : image;
    if (c_group >= 0) r.group = trim(f[c_group]);
    if (c_mask >= 0) r.mask = resolve(folder, trim(f[c_mask]));
    rows.push_back(std::move(r));
  }
  return build(csv_path, rows, options);
}

// ---- checking the files ------------------------------------------------------------------

std::string ManifestCheck::report(size_t max_lines) const {
  std::ostringstream os;
  os << checked << " samples checked: " << missing.size() << " missing file(s), "
     << undecodable.size() << " undecodable";
  size_t shown = 0, total = missing.size() + undecodable.size();
  for (const auto* list : {&missing, &undecodable})
    for (const ImageProblem& p : *list) {
      if (shown == max_lines) break;
      os << "\n  " << p.where << ": " << p.path << ": " << p.reason;
      ++shown;
    }
  if (shown < total) os << "\n  ... and " << total - shown << " more";
  return os.str();
}

// Checks of at least this many files show a progress bar.
constexpr int64_t kCheckProgressMinFiles = 500;

ManifestCheck check_images(const Manifest& m, bool decode) {
  ManifestCheck result;
  result.checked = m.size();
  // Existence first (cheap, in order).
  std::vector<char> present(m.size(), 0), mask_present(m.size(), 0);
  for (size_t i = 0; i < m.size(); ++i) {
    const Sample& s = m.samples[i];
    std::error_code ec;
    present[i] = fs::is_regular_file(s.image, ec);
    mask_present[i] = !s.mask.empty() && fs::is_regular_file(s.mask, ec);
    if (!present[i]) result.missing.push_back({i, s.where, s.image, "missing"});
    if (!s.mask.empty() && !mask_present[i]) result.missing.push_back({i, s.where, s.mask, "missing (mask)"});
  }
  // Then each present file's header and ending (io/image.h image_file_problem:
  // cheap), or with decode=true a whole decode (slow), in parallel, one message
  // slot per file.
  std::vector<std::string> reason(m.size()), mask_reason(m.size());
  const int64_t n = (int64_t)m.size();
  auto check_one = [&](int64_t i) {
    if (!present[i]) return;
    const Sample& s = m.samples[i];
    reason[i] = image_file_problem(s.image);
    if (mask_present[i]) mask_reason[i] = image_file_problem(s.mask);
    if (!decode) return;
    if (reason[i].empty()) {
      try {
        load_image(s.image, 0);
      } catch (const std::exception& e) {
        reason[i] = e.what();
      }
    }
    if (mask_present[i] && mask_reason[i].empty()) {
      try {
        load_truth_mask(s.mask);
      } catch (const std::exception& e) {
        mask_reason[i] = e.what();
      }
    }
  };
  // A progress bar for a real data set (a whole decode of thousands of files
  // takes a while); whichever thread finds the bar free draws it.
  std::unique_ptr<Progress> bar;
  if (n >= kCheckProgressMinFiles) bar = std::make_unique<Progress>(n, decode ? "decode images" : "check images");
  std::atomic<int64_t> done{0};
  std::mutex bar_in_use;
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t i = 0; i < n; ++i) {
    check_one(i);
    const int64_t d = ++done;
    if (bar && bar_in_use.try_lock()) {
      bar->update(d);
      bar_in_use.unlock();
    }
  }
  if (bar) bar->finish();
  for (size_t i = 0; i < m.size(); ++i) {
    if (!reason[i].empty())
      result.undecodable.push_back({i, m.samples[i].where, m.samples[i].image, reason[i]});
    if (!mask_reason[i].empty())
      result.undecodable.push_back({i, m.samples[i].where, m.samples[i].mask, mask_reason[i] + " (mask)"});
  }
  return result;
}

void require_images(const Manifest& m, bool decode) {
  const ManifestCheck c = check_images(m, decode);
  SKINMTL_CHECK(c.ok(), m.source << ": image check failed: " << c.report());
}

std::vector<ImageProblem> drop_samples_with_problems(Manifest& m, const ManifestCheck& c) {
  std::map<size_t, ImageProblem> bad;  // by sample index: row order, one per sample
  for (const auto* list : {&c.missing, &c.undecodable})
    for (const ImageProblem& p : *list) bad.emplace(p.index, p);
  std::vector<ImageProblem> dropped;
  std::vector<Sample> kept;
  for (size_t i = 0; i < m.samples.size(); ++i) {
    const auto it = bad.find(i);
    if (it == bad.end()) kept.push_back(std::move(m.samples[i]));
    else dropped.push_back(it->second);
  }
  m.samples = std::move(kept);
  return dropped;
}

std::vector<ImageProblem> require_or_drop_bad_samples(Manifest& m, bool skip_bad_rows) {
  const ManifestCheck c = check_images(m);
  SKINMTL_USER_CHECK(c.ok() || skip_bad_rows, m.source << ": image check failed: " << c.report()
                                                        << "\n(to train without these rows: --skip-bad-rows)");
  return drop_samples_with_problems(m, c);  // none when c.ok()
}

void write_skipped_rows(const std::string& path, const std::vector<ImageProblem>& skipped) {
  std::ofstream f(path);
  SKINMTL_CHECK(f, "cannot write " << path);
  f << "where,path,reason\n";
  for (const ImageProblem& p : skipped) f << csv_field(p.where) << "," << csv_field(p.path) << "," << csv_field(p.reason) << "\n";
  f.close();
  SKINMTL_CHECK(f.good(), "cannot write " << path);
}

// ---- adapters ----------------------------------------------------------------------------

Manifest load_ham10000(const std::string& labels_csv, const ManifestOptions& options) {
  const CsvTable t = read_csv(labels_csv);
  const int c_id = t.require_column("image_id"), c_lesion = t.require_column("lesion_id");
  const int c_dx = t.require_column("dx"), c_loc = t.require_column("localization");
  const int c_image = t.require_column("image");
  const fs::path folder = fs::path(labels_csv).parent_path();
  std::vector<RawRow> rows;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& f = t.rows[i];
    RawRow r;
    r.where = t.where(i);
    const std::string image = trim(f[c_image]);
    SKINMTL_CHECK(!image.empty(), r.where << ": empty image path");
    r.image = resolve(folder, image);
    const std::string dx = trim(f[c_dx]);
    SKINMTL_CHECK(!dx.empty(), r.where << ": no lesion label (empty dx) for '" << image << "'");
    r.lesions = {dx};
    r.location = trim(f[c_loc]);
    if (r.location == "unknown") r.location.clear();
    r.id = trim(f[c_id]);
    r.group = trim(f[c_lesion]);
    rows.push_back(std::move(r));
  }
  return build(labels_csv, rows, options);
}

Manifest load_isic2017(const std::string& labels_csv, const std::string& split,
                       const ManifestOptions& options) {
  SKINMTL_CHECK(split.empty() || split == "train" || split == "val",
                "load_isic2017: split must be \"train\", \"val\" or \"\" (all), got '" << split
                                                                                       << "'");
  const CsvTable t = read_csv(labels_csv);
  const int c_id = t.require_column("image_id"), c_split = t.require_column("split");
  const int c_mel = t.require_column("melanoma");
  const int c_sk = t.require_column("seborrheic_keratosis");
  const int c_site = t.require_column("anatom_site_general");
  const int c_image = t.require_column("image"), c_mask = t.require_column("mask");
  const int c_dx = t.column("diagnosis3");  // optional cross-check
  const fs::path folder = fs::path(labels_csv).parent_path();

  // A 0/1 column: ISIC writes "0"/"1" (sometimes "0.0"/"1.0").
  auto flag = [&](size_t i, int col) {
    const std::string v = trim(t.rows[i][col]);
    if (v == "1" || v == "1.0") return true;
    if (v == "0" || v == "0.0") return false;
    SKINMTL_FAIL(t.where(i) << ": column '" << t.header[col] << "' must be 0 or 1, got '" << v
                            << "'");
  };

  std::vector<RawRow> rows;
  std::vector<size_t> keep;  // rows of the requested split
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& f = t.rows[i];
    RawRow r;
    r.where = t.where(i);
    const std::string image = trim(f[c_image]);
    SKINMTL_CHECK(!image.empty(), r.where << ": empty image path");
    r.image = resolve(folder, image);
    r.mask = resolve(folder, trim(f[c_mask]));
    const bool mel = flag(i, c_mel), sk = flag(i, c_sk);
    SKINMTL_CHECK(!(mel && sk), r.where << ": both melanoma and seborrheic_keratosis are 1");
    const std::string dx = mel ? "melanoma" : sk ? "seborrheic_keratosis" : "nevus";
    if (c_dx >= 0)
      SKINMTL_CHECK(trim(f[c_dx]) == dx, r.where << ": diagnosis3 is '" << trim(f[c_dx])
                                                 << "' but the melanoma/seborrheic_keratosis"
                                                    " columns say '"
                                                 << dx << "'");
    r.lesions = {dx};
    r.location = trim(f[c_site]);
    r.id = trim(f[c_id]);
    const std::string s = trim(f[c_split]);
    SKINMTL_CHECK(s == "train" || s == "val",
                  r.where << ": split must be 'train' or 'val', got '" << s << "'");
    if (split.empty() || s == split) keep.push_back(i);
    rows.push_back(std::move(r));
  }
  // Classes from every row, so that the train and val manifests agree.
  return build(labels_csv, rows, options).subset(keep);
}

}  // namespace skinmtl
