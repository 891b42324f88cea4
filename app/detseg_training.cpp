#include "app/detseg_training.h"

#include <cmath>
#include <optional>

#include "framework/autograd.h"
#include "framework/grad_clip.h"
#include "framework/random.h"
#include "io/csv_log.h"
#include "io/progress.h"
#include "io/seg_augment.h"
#include "io/seg_loader.h"
#include "metrics/metrics.h"
#include "metrics/seg_metrics.h"

namespace skinmtl {

namespace {

// The phase (1, 2, 3) that iteration `it` (0-based) belongs to.
int detseg_phase_of(int64_t it, int64_t phase1, int64_t phase2) {
  return it < phase1 ? 1 : it < phase1 + phase2 ? 2 : 3;
}

class DetSegTraining : public TrainingModel {
 public:
  DetSegTraining(const TrainingOptions& o, const DetSegTrainingOptions& d, DataParallel& dp)
      : o_(o), d_(d), rank_(dp.comm().rank()) {
    SKINMTL_USAGE_CHECK(d.phase1 >= 0 && d.phase2 >= 0 && d.phase3 >= 0 && d.phase1 + d.phase2 + d.phase3 == o.iters,
                        "--phase1/2/3 must be >= 0 and add up to the iterations");
    SKINMTL_USAGE_CHECK(d.spec.size >= 32, "--size must be at least 32, got " << d.spec.size);
    SKINMTL_USAGE_CHECK(d.spec.config.channels > 0 && d.spec.config.roi_sample.batch_size > 0,
                        "--channels and --rois must be positive");
    SKINMTL_USAGE_CHECK(d.clip_norm >= 0, "--clip-norm must be >= 0, got " << d.clip_norm);
    SKINMTL_USAGE_CHECK(d.box_lr_mult > 0 && d.box_lr_mult <= 1000,
                        "--box-lr-mult must be in (0, 1000], got " << d.box_lr_mult);
    data_ = load_seg_data(d.data, d.data_dir, o.skip_bad_rows ? &skipped_ : nullptr);
    require_training_data(data_);
    model_ = new_detseg_model(d.spec, o.weights, o.seed);
    // The model file must rebuild this network: its spec reads back to itself.
    const std::string spec_json = detseg_spec_to_json(model_.spec);
    SKINMTL_CHECK(detseg_spec_to_json(detseg_spec_from_json(spec_json, "the new model's spec")) == spec_json,
                  "internal: the model spec does not survive its JSON round trip: " << spec_json);
    model_.net->backbone->set_bn_frozen(o.bn == "frozen");
    RoiHeads& heads = *model_.net->roi_heads;
    for (Linear* fc : {heads.fc6.get(), heads.fc7.get(), heads.cls_score.get(), heads.bbox_pred.get()})
      for (Parameter* p : fc->parameters()) p->lr_mult = (float)d.box_lr_mult;
  }

  Module& net() override { return *model_.net; }
  std::map<std::string, std::string> model_metadata() const override { return detseg_model_metadata(model_.spec); }
  std::string data_description() const override { return data_.description; }
  std::string describe() const override {
    return std::to_string(d_.phase1) + " + " + std::to_string(d_.phase2) + " + " + std::to_string(d_.phase3) +
           " iterations (phases 1, 2, 3) at " + std::to_string(d_.spec.size) + "x" + std::to_string(d_.spec.size);
  }
  // Phases 1 and 2 shape the run; phase 3 may be lengthened on resume.
  std::map<std::string, std::string> fingerprint() const override {
    std::map<std::string, std::string> f{{"size", std::to_string(d_.spec.size)},
                                         {"channels", std::to_string(d_.spec.config.channels)},
                                         {"rois", std::to_string(d_.spec.config.roi_sample.batch_size)},
                                         {"augment", d_.augment ? "song" : "none"},
                                         {"clip-norm", format_csv_number(d_.clip_norm)},
                                         {"phase1", std::to_string(d_.phase1)},
                                         {"phase2", std::to_string(d_.phase2)}};
    // Runs written before --cls-loss trained with the cross-entropy and have no key for it.
    const DetSegClsLoss cls_loss = d_.spec.config.cls_loss;
    if (cls_loss != DetSegClsLoss::CrossEntropy) f["cls-loss"] = detseg_cls_loss_name(cls_loss);
    // ... and before --cls-weight with weight 1.
    if (d_.spec.config.cls_weight != 1.0) f["cls-weight"] = format_csv_number(d_.spec.config.cls_weight);
    // ... and before --box-canonical / --mask-canonical with Lin et al.'s 224.
    const RoiHeadsConfig& heads = d_.spec.config.heads;
    if (heads.box_canonical != 224) f["box-canonical"] = format_csv_number(heads.box_canonical);
    if (heads.mask_canonical != 224) f["mask-canonical"] = format_csv_number(heads.mask_canonical);
    // ... and before --box-lr-mult with every layer at the phase's lr.
    if (d_.box_lr_mult != 1) f["box-lr-mult"] = format_csv_number(d_.box_lr_mult);
    return f;
  }
  std::vector<ImageProblem> skipped_rows() const override { return skipped_; }

  std::vector<std::string> log_columns() const override {
    return {"phase",     "rpn_cls",          "rpn_reg",         "cls",          "reg",
            "mask",      "grad_norm",        "positive_anchors", "foreground_rois", "heldout_loss",
            "heldout_jaccard", "heldout_auc"};
  }
  std::vector<TrainingFigure> figures() const override {
    return {{"curves.png", {"loss", "heldout_loss"}, "train detseg: loss"},
            {"loss_terms.png", {"rpn_cls", "rpn_reg", "cls", "reg", "mask"}, "train detseg: loss terms (log scale)",
             true}};
  }

  int64_t open_training_data(LoaderOptions lo) override {
    lo.normalize = model_.spec.normalize;
    const int size = model_.spec.size;
    loader_ = std::make_unique<SegLoader>(data_.train, d_.augment ? song_train_transform(size) : song_test_transform(size),
                                          lo);
    return loader_->batches_per_epoch();
  }
  void start_epoch(int64_t epoch) override { loader_->start_epoch(epoch); }
  bool next_batch() override { return loader_->next(batch_); }

  // The phase of this iteration: which layers train, and at what lr.
  void before_step(int64_t iteration, SGD& sgd) override {
    const int want = detseg_phase_of(iteration, d_.phase1, d_.phase2);
    if (want == phase_) return;
    phase_ = want;
    set_detseg_phase(*model_.net, phase_);
    sgd.set_lr(o_.lr * detseg_phase_lr_factor(phase_));
  }
  StepLosses step_losses(int64_t iteration) override {
    // Each rank of a data-parallel job has its own stream (rank 0's is the
    // one-process stream).
    Rng rng(loader_sample_seed(o_.seed, -1 - iteration, 0x5eed + (uint64_t)rank_));
    const DetSegLosses l = model_.net->loss(batch_.images.to(o_.device), detseg_targets(batch_, o_.device), rng);
    return {l.total,
            {{"rpn_cls", l.rpn_cls}, {"rpn_reg", l.rpn_reg}, {"cls", l.cls}, {"reg", l.reg}, {"mask", l.mask}},
            {{"positive_anchors", (double)l.positive_anchors}, {"foreground_rois", (double)l.foreground_rois}}};
  }
  std::string replay_refusal() const override {
    return "its RPN targets, RoI samples and proposals are drawn on the host from each step's boxes, "
           "and their counts change from step to step";
  }
  // Clipping sees the whole batch's gradient (after the all-reduce).
  std::vector<std::pair<std::string, Tensor>> before_update(SGD& sgd) override {
    return {{"phase", Tensor::full({}, (double)phase_)},
            {"grad_norm", clip_grad_norm_tensor(sgd.params(), d_.clip_norm)}};
  }
  bool milestone(int64_t iteration) const override {
    return detseg_phase_of(iteration, d_.phase1, d_.phase2) != phase_;
  }
  std::map<std::string, std::string> checkpoint_metadata(int64_t iteration) const override {
    return {{"phase", std::to_string(detseg_phase_of(iteration > 0 ? iteration - 1 : 0, d_.phase1, d_.phase2))}};
  }
  std::string bar_note() const override { return "phase " + std::to_string(phase_) + "  "; }

  int64_t heldout_size() const override { return (int64_t)data_.val.size(); }
  // On the val list: the mean loss (eval mode, no tape, fixed samples), the
  // mean Jaccard index of the predicted masks against the letterboxed ground
  // truth (metrics/seg_metrics.h's per-image JA and its conventions for empty
  // masks), and the ROC AUC of the malignancy probability for melanoma.
  HeldoutResult evaluate(bool show_progress) override {
    HeldoutResult h;
    if (data_.val.empty()) return h;
    DetSegNet& net = *model_.net;
    NoGradGuard no_grad;
    net.eval();
    const int size = model_.spec.size;
    SegLoader loader(data_.val, song_test_transform(size),
                     LoaderOptions::in_order(o_.batch, o_.threads, model_.spec.normalize));
    loader.start_epoch(0);
    Rng rng(o_.seed);
    double loss_sum = 0, jac_sum = 0;
    int64_t batches = 0, images = 0;
    std::vector<double> scores;
    std::vector<int> labels;
    std::optional<Progress> bar;  // the final evaluation's own bar
    if (show_progress) bar.emplace(loader.batches_per_epoch(), "held-out");
    SegBatch b;
    while (loader.next(b)) {
      if (bar) bar->update(batches);
      const Tensor x = b.images.to(o_.device);
      loss_sum += net.loss(x, detseg_targets(b, o_.device), rng).total.to(Device::CPU).item();
      ++batches;
      const std::vector<DetSegOutput> out = net.predict(x);
      const std::vector<double> gt = b.masks.to_vector(), mel = b.melanoma.to_vector();
      const size_t px = (size_t)size * size;
      for (size_t i = 0; i < out.size(); ++i) {
        Image truth(size, size, 1);
        for (size_t k = 0; k < px; ++k) truth.data[k] = gt[i * px + k] > 0.5 ? 255 : 0;
        jac_sum += seg_scores(seg_counts(out[i].mask, truth)).ja;
        scores.push_back(out[i].malignant);
        labels.push_back(mel[i] > 0.5 ? 1 : 0);
        ++images;
      }
    }
    if (bar) bar->finish();
    net.train();
    h.loss = loss_sum / (double)batches;
    const double jaccard = jac_sum / (double)images, auc = roc_auc(scores, labels).value_or(NAN);
    h.values = {{"heldout_jaccard", jaccard}, {"heldout_auc", auc}};
    h.summary = "loss " + fixed4(h.loss) + "  Jaccard " + fixed4(jaccard) + "  melanoma AUC " + fixed4(auc);
    return h;
  }

 private:
  TrainingOptions o_;
  DetSegTrainingOptions d_;
  int rank_ = 0;
  SegData data_;
  std::vector<ImageProblem> skipped_;
  DetSegModel model_;
  std::unique_ptr<SegLoader> loader_;
  SegBatch batch_;
  int phase_ = 0;  // set by before_step
};

}  // namespace

std::unique_ptr<TrainingModel> make_detseg_training(const TrainingOptions& options, const DetSegTrainingOptions& detseg,
                                                    DataParallel& dp) {
  return std::make_unique<DetSegTraining>(options, detseg, dp);
}

}  // namespace skinmtl
