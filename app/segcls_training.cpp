#include "app/segcls_training.h"

#include <cmath>

#include "io/csv_log.h"
#include "io/seg_augment.h"
#include "io/seg_loader.h"
#include "metrics/metrics.h"
#include "metrics/seg_metrics.h"

namespace skinmtl {

namespace {

class SegClsTraining : public TrainingModel {
 public:
  SegClsTraining(const TrainingOptions& o, const SegClsTrainingOptions& s) : o_(o), s_(s) {
    data_ = load_seg_data(s.data, s.data_dir, o.skip_bad_rows ? &skipped_ : nullptr);
    require_training_data(data_);
    SKINMTL_USER_CHECK(!data_.val.empty(), "the data has no val rows to evaluate on (" << data_.description << ")");
    model_ = new_segcls_model(s.spec, o.weights, o.seed);
    model_.net->set_trunk_bn_frozen(o.bn == "frozen");
  }

  Module& net() override { return *model_.net; }
  std::map<std::string, std::string> model_metadata() const override { return segcls_model_metadata(model_.spec); }
  std::string data_description() const override { return data_.description; }
  std::string describe() const override {
    return std::string("tasks ") + segcls_tasks_name(s_.spec.config.tasks) + " at " +
           std::to_string(s_.spec.input_h) + "x" + std::to_string(s_.spec.input_w);
  }
  std::map<std::string, std::string> fingerprint() const override {
    const SegClsConfig& c = s_.spec.config;
    std::string widths;
    for (int w : c.decoder_widths) widths += (widths.empty() ? "" : ",") + std::to_string(w);
    std::map<std::string, std::string> f{
            {"tasks", segcls_tasks_name(c.tasks)},
            {"decoder", widths},
            {"new-lr-mult", format_csv_number(c.new_weight_lr_mult)},
            {"head-lr-mult", format_csv_number(c.head_weight_lr_mult)},
            {"size", std::to_string(s_.spec.input_h) + "x" + std::to_string(s_.spec.input_w)},
            {"w-seg", format_csv_number(s_.loss.seg)},
            {"w-jaccard", format_csv_number(s_.loss.jaccard)},
            {"jaccard-smooth", format_csv_number(s_.loss.jaccard_smooth)},
            {"w-mel", format_csv_number(s_.loss.melanoma)},
            {"w-sk", format_csv_number(s_.loss.sk)},
            {"flips", s_.augment == YangAugment::kNone ? "off" : "on"}};
    // (Written as before --augment existed, so those runs still resume;
    // full, which adds to the flips, is the one key more, with its ranges.)
    if (s_.augment == YangAugment::kFull)
      f["augment"] = std::string(yang_augment_name(s_.augment)) + ": " + yang_augment_ranges(YangAugmentOptions{});
    return f;
  }
  std::vector<ImageProblem> skipped_rows() const override { return skipped_; }

  std::vector<std::string> log_columns() const override {
    return {"seg_loss",        "jaccard_loss",         "melanoma_loss",  "sk_loss",         "heldout_loss",
            "heldout_jaccard", "heldout_auc_melanoma", "heldout_auc_sk", "heldout_auc_mean"};
  }
  std::vector<TrainingFigure> figures() const override {
    const std::string tasks = segcls_tasks_name(s_.spec.config.tasks);
    std::vector<std::string> metrics;
    if (model_.net->has_seg()) metrics.push_back("heldout_jaccard");
    if (model_.net->has_cls()) metrics.insert(metrics.end(), {"heldout_auc_melanoma", "heldout_auc_sk"});
    return {{"curves.png", {"loss", "heldout_loss"}, "train segcls: loss (" + tasks + ")"},
            {"metrics.png", metrics, "train segcls: held-out Jaccard / AUC (" + tasks + ")"}};
  }

  int64_t open_training_data(LoaderOptions lo) override {
    lo.normalize = model_.spec.normalize;
    loader_ = std::make_unique<SegLoader>(
        data_.train, yang_train_transform(model_.spec.input_h, model_.spec.input_w, s_.augment), lo);
    return loader_->batches_per_epoch();
  }
  void start_epoch(int64_t epoch) override { loader_->start_epoch(epoch); }
  bool next_batch() override { return loader_->next(batch_); }

  bool upload_batch() override {
    const Device d = o_.device;
    bool moved = upload_into(images_, batch_.images, d);
    moved = upload_into(masks_, batch_.masks, d) || moved;
    moved = upload_into(melanoma_, batch_.melanoma, d) || moved;
    return upload_into(sk_, batch_.seborrheic_keratosis, d) || moved;
  }
  StepLosses step_losses(int64_t) override {
    SegClsNet& net = *model_.net;
    const SegClsNet::Losses l = net.loss(net.forward(images_), masks_, melanoma_, sk_, s_.loss);
    return {l.total,
            {{"seg_loss", l.seg}, {"jaccard_loss", l.jaccard}, {"melanoma_loss", l.melanoma}, {"sk_loss", l.sk}},
            {}};
  }

  std::string replay_refusal() const override { return ""; }

  int64_t heldout_size() const override { return (int64_t)data_.val.size(); }
  // The losses, the mean Jaccard index at the input size, the AUC of each
  // binary task and their mean (NaN when the held-out set lacks a positive or
  // a negative).
  HeldoutResult evaluate(bool show_progress) override {
    SegClsNet& net = *model_.net;
    const SegClsPredictions p = predict_segcls(net, data_.val, model_.spec, s_.loss, o_.device, o_.batch, o_.threads,
                                               /*keep_truth=*/true, show_progress);
    HeldoutResult h;
    h.loss = p.total_loss;
    h.summary = "loss " + fixed4(h.loss);
    if (net.has_seg()) {
      std::vector<SegCounts> counts;
      for (size_t i = 0; i < p.masks.size(); ++i) counts.push_back(seg_counts(p.masks[i], p.truth[i]));
      const double jaccard = seg_metrics(counts).ja.value_or(NAN);
      h.values.push_back({"heldout_jaccard", jaccard});
      h.summary += "  Jaccard " + fixed4(jaccard);
    }
    if (net.has_cls()) {
      std::vector<int> mel, sk;
      for (const SegSample& s : data_.val) {
        mel.push_back(s.melanoma);
        sk.push_back(s.seborrheic_keratosis);
      }
      const double auc_mel = roc_auc(p.melanoma, mel).value_or(NAN), auc_sk = roc_auc(p.sk, sk).value_or(NAN);
      h.values.push_back({"heldout_auc_melanoma", auc_mel});
      h.values.push_back({"heldout_auc_sk", auc_sk});
      h.values.push_back({"heldout_auc_mean", (auc_mel + auc_sk) / 2});
      h.summary += "  AUC melanoma " + fixed4(auc_mel) + "  AUC SK " + fixed4(auc_sk) + "  mean " +
                   fixed4((auc_mel + auc_sk) / 2);
    }
    return h;
  }

 private:
  TrainingOptions o_;
  SegClsTrainingOptions s_;
  SegData data_;
  std::vector<ImageProblem> skipped_;
  SegClsModel model_;
  std::unique_ptr<SegLoader> loader_;
  SegBatch batch_;
  Tensor images_, masks_, melanoma_, sk_;  // the batch on the training device (upload_batch)
};

}  // namespace

std::unique_ptr<TrainingModel> make_segcls_training(const TrainingOptions& options,
                                                    const SegClsTrainingOptions& segcls) {
  return std::make_unique<SegClsTraining>(options, segcls);
}

}  // namespace skinmtl
