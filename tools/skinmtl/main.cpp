// bin/skinmtl: the command-line entry point. Each subcommand lives in its own
// file under tools/skinmtl/ and is listed in the table below.
#include <cstdio>
#include <cstring>
#include <string>

#include "framework/distributed.h"
#include "framework/tensor.h"
#include "tools/skinmtl/commands.h"

namespace {

// `skinmtl train|eval|predict <model> ...`: the models each verb knows, and
// the command that runs it (argv[0] is then the model's name).
struct Model {
  const char* name;
  const char* help;
  int (*run)(int argc, char** argv);
};

const Model kTrain[] = {
    {"detseg", "the Song et al. detect + classify + segment network", skinmtl::train_detseg},
    {"mtl", "the Liao & Luo lesion + body-location classifier", skinmtl::train_mtl},
    {"segcls", "the Yang et al. lesion segmentation + melanoma / seborrheic keratosis model", skinmtl::train_segcls},
};
const Model kEval[] = {
    {"detseg", "the Song et al. detect + classify + segment network", skinmtl::eval_detseg},
    {"mtl", "the Liao & Luo classifier: mAP-class, mAP-image, top-k, CAMs, retrieval", skinmtl::eval_mtl},
    {"segcls", "the Yang et al. model on ISIC 2017 Parts 1 and 3", skinmtl::eval_segcls},
};
const Model kPredict[] = {
    {"detseg", "the Song et al. network on images: boxes, masks, overlays", skinmtl::predict_detseg},
};

// `--help` (or -h) lists the models on stdout with status 0; no model or an
// unknown one is a usage mistake (stderr, 2).
template <size_t N>
int run_model(const char* verb, const Model (&models)[N], int argc, char** argv) {
  const std::string first = argc >= 2 ? argv[1] : "";
  for (const Model& m : models)
    if (first == m.name) return m.run(argc - 1, argv + 1);
  const bool help = first == "--help" || first == "-h";
  std::FILE* out = help ? stdout : stderr;
  if (!help && !first.empty()) std::fprintf(stderr, "skinmtl %s: unknown model '%s'\n\n", verb, first.c_str());
  std::fprintf(out, "usage: skinmtl %s <model> [options]\n\nmodels:\n", verb);
  for (const Model& m : models)
    std::fprintf(out, "  %-8s %s ('skinmtl %s %s --help')\n", m.name, m.help, verb, m.name);
  return help ? 0 : 2;
}

int cmd_train(int argc, char** argv) { return run_model("train", kTrain, argc, argv); }
int cmd_eval(int argc, char** argv) { return run_model("eval", kEval, argc, argv); }
int cmd_predict(int argc, char** argv) { return run_model("predict", kPredict, argc, argv); }

struct Command {
  const char* name;
  const char* help;
  int (*run)(int argc, char** argv);
};

const Command kCommands[] = {
    {"check-data", "check a data set's rows, images and masks before training", skinmtl::cmd_check_data},
    {"classify", "ImageNet top-k classes of a photograph with a ResNet-50 checkpoint", skinmtl::cmd_classify},
    {"cv", "k-fold cross-validation ('skinmtl cv mtl --help')", skinmtl::cmd_cv},
    {"demo", "train a small two-headed network on generated data", skinmtl::cmd_demo},
    {"eval", "evaluate trained models ('skinmtl eval mtl|segcls|detseg --help')", cmd_eval},
    {"info", "print the build configuration and the devices found", skinmtl::cmd_info},
    {"metrics", "mAP, top-k, binary (AUC/AP/SE/SP) or segmentation (JA/DI/...) metrics from files", skinmtl::cmd_metrics},
    {"predict", "run a trained model on images ('skinmtl predict detseg --help')", cmd_predict},
    {"reproduce", "train and evaluate one paper's model with its pinned recipe ('skinmtl reproduce --help')",
     skinmtl::cmd_reproduce},
    {"synth", "write the synthetic skin-lesion data set (images, masks, manifests)", skinmtl::cmd_synth},
    {"train", "train a model ('skinmtl train mtl|segcls|detseg --help')", cmd_train},
};

// To stdout when asked for (--help), to stderr as part of a usage error.
void usage(std::FILE* out) {
  std::fprintf(out, "usage: skinmtl <command> [options]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
  std::fprintf(out, "\n'skinmtl <command> --help' describes a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Line-buffered even when redirected to a file, so a long run's log shows
  // its progress as it goes.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (std::string(argv[1]) == c.name) {
      // "skinmtl train mtl": the command and, for train/eval/predict/cv/metrics, its model or mode.
      std::string name = std::string("skinmtl ") + c.name;
      if (argc > 2 && argv[2][0] != '-') name += std::string(" ") + argv[2];
      try {
        return c.run(argc - 1, argv + 1);
      } catch (const skinmtl::UsageError& e) {
        skinmtl::Communicator& world = skinmtl::Communicator::world();
        const std::string who = world.distributed() ? name + " (rank " + std::to_string(world.rank()) + " of " +
                                                          std::to_string(world.size()) + ")"
                                                    : name;
        std::fprintf(stderr, "%s: %s\n  ('%s --help' lists the options)\n", who.c_str(), e.what(), name.c_str());
        if (world.distributed()) world.abort_job(2);
        return 2;
      } catch (const std::exception& e) {
        skinmtl::Communicator& world = skinmtl::Communicator::world();
        if (!world.distributed()) {
          std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
          return 1;
        }
        // One rank of several: say which, and end them all rather than leave
        // the others waiting in a collective for this one.
        std::fprintf(stderr, "%s (rank %d of %d): error: %s\n", name.c_str(), world.rank(), world.size(), e.what());
        world.abort_job(1);
      }
    }
  }
  std::fprintf(stderr, "skinmtl: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
