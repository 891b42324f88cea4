#include "app/detseg_predict.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "figures/overlay.h"
#include "framework/autograd.h"
#include "io/csv.h"
#include "io/csv_log.h"
#include "io/progress.h"

namespace skinmtl {

namespace fs = std::filesystem;

std::string detseg_file_name(const std::string& id) {
  std::string name = id;
  for (char& c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_';
    if (!ok) c = '_';
  }
  if (name.empty() || name == "." || name == "..") name = "_" + name;  // never a folder's name
  return name;
}

std::string detseg_result_label(const DetSegResult& r) {
  return r.malignant >= 0.5 ? detseg_label("malignant", r.malignant) : detseg_label("benign", r.benign);
}

namespace {

// One decoded input: the source image, its truth mask (empty when none) and
// the letterbox geometry.
struct Decoded {
  Image image, truth;
  Letterbox lb;
};

Decoded decode(const DetSegInput& in, int size) {
  Decoded d;
  d.image = load_image(in.image, 3);  // names the file when it cannot be read or decoded
  if (!in.mask.empty()) {
    d.truth = load_truth_mask(in.mask);  // read as `skinmtl metrics seg` reads it
    SKINMTL_CHECK(d.truth.height == d.image.height && d.truth.width == d.image.width,
                  in.id << ": the mask " << in.mask << " is " << d.truth.height << "x" << d.truth.width
                        << " but the image " << in.image << " is " << d.image.height << "x" << d.image.width);
  }
  d.lb = letterbox_geometry(d.image.height, d.image.width, size);
  return d;
}

// The network's S x S output back to the source image (see the header comment).
void to_source(const DetSegOutput& o, const Letterbox& lb, DetSegResult& r, Image& mask) {
  r.height = lb.src_h;
  r.width = lb.src_w;
  r.malignant = o.malignant;
  r.benign = 1.0 - o.malignant;
  r.detected = o.detected;
  r.score = o.score;
  const Box b = box_from_letterbox({o.box[0], o.box[1], o.box[2], o.box[3]}, lb);
  auto clamp = [](double v, int hi) { return std::min<double>(std::max(v, 0.0), hi); };
  r.box = {clamp(b.x1, lb.src_w), clamp(b.y1, lb.src_h), clamp(b.x2, lb.src_w), clamp(b.y2, lb.src_h)};
  // The probabilities as 0-255 grey, rounded: round(255 p) >= 128 exactly
  // when p >= 0.5, so unletterbox_mask's threshold of 128 is the network's 0.5.
  Image prob(lb.size, lb.size, 1);
  SKINMTL_CHECK(o.mask_prob.size() == prob.data.size(),
                "predict: the network's mask has " << o.mask_prob.size() << " values, expected " << lb.size << "^2");
  for (size_t k = 0; k < prob.data.size(); ++k)
    prob.data[k] = (uint8_t)std::lround(std::min(1.0f, std::max(0.0f, o.mask_prob[k])) * 255.0f);
  mask = unletterbox_mask(prob, lb);
}

void write_csv_header(std::ofstream& f) { f << "image_id,malignant,benign,detected,score,x1,y1,x2,y2\n"; }

void write_csv_row(std::ofstream& f, const DetSegResult& r) {
  f << csv_field(r.id) << "," << format_csv_number(r.malignant) << "," << format_csv_number(r.benign) << ","
    << (r.detected ? 1 : 0) << "," << format_csv_number(r.score) << "," << format_csv_number(r.box.x1) << ","
    << format_csv_number(r.box.y1) << "," << format_csv_number(r.box.x2) << "," << format_csv_number(r.box.y2)
    << "\n";
}

}  // namespace

std::vector<DetSegResult> run_detseg(DetSegModel& model, const std::vector<DetSegInput>& inputs,
                                     const DetSegRunOptions& opt) {
  SKINMTL_CHECK(!inputs.empty(), "predict: no images");
  SKINMTL_USAGE_CHECK(opt.batch > 0, "predict: the batch size must be positive, got " << opt.batch);
  // File names first: a clash is found before any work is done.
  std::vector<std::string> names;
  {
    std::map<std::string, std::string> seen;  // file name -> id
    for (const DetSegInput& in : inputs) {
      names.push_back(detseg_file_name(in.id));
      auto [it, fresh] = seen.emplace(names.back(), in.id);
      SKINMTL_CHECK(fresh, "two images would write " << names.back() << ".png: ids '" << it->second << "' and '"
                                                     << in.id << "' (give them different names)");
    }
  }
  fs::create_directories(opt.out + "/masks");
  if (opt.overlays != 0) fs::create_directories(opt.out + "/overlays");
  const std::string csv_path = opt.out + "/predictions.csv";
  std::ofstream csv(csv_path);
  SKINMTL_CHECK(csv, "cannot write " << csv_path);
  write_csv_header(csv);

  DetSegNet& net = *model.net;
  net.to(opt.device);
  net.eval();
  net.set_image_score(opt.image_score);
  NoGradGuard no_grad;
  const int size = model.spec.size;
  std::vector<DetSegResult> results;
  results.reserve(inputs.size());
  std::unique_ptr<Progress> bar;
  if (opt.progress) bar = std::make_unique<Progress>((int64_t)inputs.size(), "predict detseg");
  for (size_t first = 0; first < inputs.size(); first += (size_t)opt.batch) {
    const size_t last = std::min(inputs.size(), first + (size_t)opt.batch);
    std::vector<Decoded> batch;
    std::vector<Image> letterboxed;
    for (size_t i = first; i < last; ++i) {
      batch.push_back(decode(inputs[i], size));
      letterboxed.push_back(letterbox_image(batch.back().image, batch.back().lb));
    }
    const std::vector<DetSegOutput> outs = net.predict(to_tensor(letterboxed, model.spec.normalize).to(opt.device));
    for (size_t j = 0; j < outs.size(); ++j) {
      const size_t i = first + j;
      const Decoded& d = batch[j];
      DetSegResult r;
      r.id = inputs[i].id;
      Image mask;
      to_source(outs[j], d.lb, r, mask);
      const std::string name = names[i];
      save_png(opt.out + "/masks/" + name + ".png", mask);
      if (!d.truth.empty()) {
        r.has_truth = true;
        r.truth_box = mask_box(d.truth);
        r.counts = seg_counts(mask, d.truth);
      }
      if (opt.overlays < 0 || (int64_t)i < opt.overlays) {
        const float box[4] = {(float)r.box.x1, (float)r.box.y1, (float)r.box.x2, (float)r.box.y2};
        const std::string label = detseg_result_label(r) + (r.detected ? "" : " (no detection)");
        save_png(opt.out + "/overlays/" + name + ".png",
                 draw_detseg_overlay(d.image, &mask, d.truth.empty() ? nullptr : &d.truth, r.detected ? box : nullptr,
                                     label));
      }
      write_csv_row(csv, r);
      results.push_back(std::move(r));
    }
    if (bar) bar->update((int64_t)last);
  }
  if (bar) bar->finish();
  csv.flush();
  SKINMTL_CHECK(csv.good(), "cannot write " << csv_path);
  return results;
}

}  // namespace skinmtl
