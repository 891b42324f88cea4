#include "app/eval_data.h"

#include "base/check.h"
#include "io/seg_folder.h"

namespace skinmtl {

const std::vector<std::string> kEvalDataOptions = {"data", "data-dir", "split", "images", "masks", "labels"};

std::string EvalSet::what() const {
  const std::string n = std::to_string(samples.size()) + " image" + (samples.size() == 1 ? "" : "s");
  if (split == "folders") return data.description;
  return data.description + "; " + (split == "all" ? std::string("every row") : split + " split") + ": " + n;
}

EvalSet load_eval_set(const Args& args) {
  EvalSet e;
  const bool folders = args.has("images") || args.has("masks") || args.has("labels");
  if (folders) {
    SKINMTL_USER_CHECK(args.has("images") && args.has("masks"),
                       "give --images DIR and --masks DIR together (and --labels CSV for the classification)");
    SKINMTL_USER_CHECK(!args.has("data") && !args.has("split") && !args.has("data-dir"),
                       "--images/--masks take the place of --data, --split and --data-dir: give one or the other");
    e.data = read_seg_folders(args.get("images", ""), args.get("masks", ""), args.get("labels", ""));
    e.samples = e.data.all;
    e.split = "folders";
    return e;
  }
  e.data = load_seg_data(args.get("data", "synthetic"), args.get("data-dir", "../shared/data"));
  e.split = args.get("split", e.data.default_split);
  e.samples = select_split(e.data, e.split);
  e.paper_split = e.data.kind == "isic2017" && e.split == "val";
  return e;
}

}  // namespace skinmtl
