#include "app/mtl_training.h"

#include <cmath>

#include "app/mtl_model.h"
#include "io/loader.h"

namespace skinmtl {

namespace {

class MtlTraining : public TrainingModel {
 public:
  MtlTraining(const Args& args, const TrainingOptions& o, const MtlTrainingOptions& m) : o_(o), m_(m) {
    SKINMTL_USAGE_CHECK(m.min_short > 0 && m.min_short <= m.max_short && m.crop > 0 && m.crop <= m.min_short,
                        "need 0 < --crop <= --min-short <= --max-short, got " << m.crop << ", " << m.min_short
                                                                                << ", " << m.max_short);
    data_ = load_mtl_data(args);
    for (Manifest* part : {&data_.train, &data_.val})
      for (ImageProblem& p : require_or_drop_bad_samples(*part, o.skip_bad_rows)) skipped_.push_back(std::move(p));
    SKINMTL_USER_CHECK(!data_.train.samples.empty(), "no training images left in " << data_.description);
    model_ = new_mtl_model(data_, m.tasks, o.weights, o.seed);
    model_.net->trunk->set_bn_frozen(o.bn == "frozen");
  }

  Module& net() override { return *model_.net; }
  std::map<std::string, std::string> model_metadata() const override { return mtl_model_metadata(model_.spec); }
  std::string data_description() const override { return data_.description; }
  std::string describe() const override { return std::string("tasks ") + mtl_tasks_name(m_.tasks); }
  std::map<std::string, std::string> fingerprint() const override {
    return {{"tasks", mtl_tasks_name(m_.tasks)},
            {"min-short", std::to_string(m_.min_short)},
            {"max-short", std::to_string(m_.max_short)},
            {"crop", std::to_string(m_.crop)}};
  }
  std::vector<ImageProblem> skipped_rows() const override { return skipped_; }

  std::vector<std::string> log_columns() const override {
    return {"lesion_loss",       "location_loss",     "heldout_loss", "heldout_map_class",
            "heldout_map_image", "heldout_top1",      "heldout_top3"};
  }
  std::vector<TrainingFigure> figures() const override {
    return {{"curves.png", {"loss", "heldout_loss"},
             std::string("train mtl: loss (") + mtl_tasks_name(m_.tasks) + ")"}};
  }

  int64_t open_training_data(LoaderOptions lo) override {
    lo.normalize = model_.spec.normalize;
    loader_ = std::make_unique<Loader>(data_.train, train_transform(m_.min_short, m_.max_short, m_.crop), lo);
    return loader_->batches_per_epoch();
  }
  void start_epoch(int64_t epoch) override { loader_->start_epoch(epoch); }
  bool next_batch() override { return loader_->next(batch_); }

  bool upload_batch() override {
    bool moved = upload_into(images_, batch_.images, o_.device);
    moved = upload_into(lesions_, batch_.lesions, o_.device) || moved;
    return upload_into(locations_, batch_.locations, o_.device) || moved;
  }
  StepLosses step_losses(int64_t) override {
    MtlClassifier& net = *model_.net;
    const MtlClassifier::Losses l = net.loss(net.forward(images_), lesions_, locations_);
    return {l.total, {{"lesion_loss", l.lesion}, {"location_loss", l.location}}, {}};
  }
  std::string replay_refusal() const override { return ""; }

  int64_t heldout_size() const override { return (int64_t)data_.val.size(); }
  HeldoutResult evaluate(bool show_progress) override {
    const MtlPredictions p = predict_mtl(*model_.net, data_.val, test_transform(m_.min_short, m_.crop),
                                         model_.spec.normalize, o_.device, o_.batch, o_.threads,
                                         /*want_features=*/false, show_progress);
    const MtlMetrics m = mtl_metrics(p, data_.val);
    HeldoutResult h;
    h.loss = (std::isnan(p.lesion_loss) ? 0 : p.lesion_loss) + (std::isnan(p.location_loss) ? 0 : p.location_loss);
    h.summary = "loss " + fixed4(h.loss);
    if (m.has_lesion) {
      const double mc = m.map_class.map.value_or(NAN), mi = m.map_image.map.value_or(NAN);
      h.values.push_back({"heldout_map_class", mc});
      h.values.push_back({"heldout_map_image", mi});
      h.summary += "  mAP-class " + fixed4(mc) + "  mAP-image " + fixed4(mi);
    }
    if (m.has_location) {
      h.values.push_back({"heldout_top1", m.top1});
      h.values.push_back({"heldout_top3", m.top3});
      h.summary += "  top-1 " + fixed4(m.top1) + "  top-3 " + fixed4(m.top3);
    }
    return h;
  }

 private:
  TrainingOptions o_;
  MtlTrainingOptions m_;
  MtlData data_;
  std::vector<ImageProblem> skipped_;
  MtlModel model_;
  std::unique_ptr<Loader> loader_;
  Batch batch_;
  Tensor images_, lesions_, locations_;  // the batch on the training device (upload_batch)
};

}  // namespace

std::unique_ptr<TrainingModel> make_mtl_training(const Args& args, const TrainingOptions& options,
                                                 const MtlTrainingOptions& mtl) {
  return std::make_unique<MtlTraining>(args, options, mtl);
}

}  // namespace skinmtl
