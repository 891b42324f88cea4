// io/checkpoint.h: a module's state and a training run's state, in one
// safetensors file (io/safetensors.h).
//
// Model state is every named parameter and buffer of a Module (framework/
// module.h) under its dotted name ("trunk.layer1.0.conv1.weight",
// "trunk.bn1.running_mean"), so any safetensors reader sees a plain
// name -> tensor map. A training checkpoint adds, under reserved prefixes:
//
//   "optim.momentum.<parameter name>"   SGD's momentum buffer of that parameter
//                                       (absent while it has none yet)
//
// and, in the metadata, whatever the training command needs to continue
// exactly where it stopped (iteration, epoch, learning rate, scheduler state,
// the configuration), as strings.
//
// Loading is strict, because a silently half-loaded network still runs and
// just gives worse answers (see load_module_state).
//
// Saving goes through save_safetensors, which writes a temporary file and
// renames it: a run killed mid-save never leaves half a checkpoint.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "framework/module.h"
#include "framework/optimizer.h"
#include "io/safetensors.h"

namespace skinmtl {

inline constexpr const char* kMomentumPrefix = "optim.momentum.";

// A snapshot of every parameter and buffer of `module`, copied to the CPU
// (later training does not change it). No metadata. A name used twice would
// make a checkpoint ambiguous, so it is an error.
TensorFile module_state(Module& module);

struct LoadStateOptions {
  // File tensors whose names start with one of these may be left unused (for
  // example "fc." when a classifier checkpoint is loaded into a trunk).
  std::vector<std::string> ignore_prefixes;
};

// Copies the file's tensors into the module's parameters and buffers of the
// same names, strictly: every module tensor must find a file tensor of the
// same name and shape, and every file tensor must be used unless ignored.
// Everything is checked before anything is copied, so a failed load leaves
// the module as it was. The values land on the device each module tensor
// lives on; another dtype (float64 for float32) is converted. `what` names
// the source in errors.
void load_module_state(Module& module, const TensorFile& file, const std::string& what,
                       const LoadStateOptions& options = {});

// A training checkpoint: the module, the optimizer's momentum, the metadata.
// The optimizer must have been built over module.parameters().
//
// Two safeguards for long runs:
//  - every value is checked finite first; a model with a NaN or an infinity
//    throws "the model diverged: ..." and the file at `path` is left as it was
//    (the last good state);
//  - the checkpoint being replaced is kept as previous_checkpoint_path(path)
//    (checkpoint.prev.safetensors), so a divergence noticed one checkpoint too
//    late can still be rolled back by hand.
void save_checkpoint(const std::string& path, Module& module, const SGD& optimizer,
                     const std::map<std::string, std::string>& metadata);

// "DIR/checkpoint.prev.safetensors" for "DIR/checkpoint.safetensors" (any
// other name: name + ".prev").
std::string previous_checkpoint_path(const std::string& path);

// Restores what save_checkpoint wrote into `module` and (when not null)
// `optimizer`, and returns the metadata. A safetensors_temp_path(path) beside
// it is what a save killed half-way left: it is removed, after the checkpoint
// itself has loaded.
std::map<std::string, std::string> load_checkpoint(const std::string& path, Module& module,
                                                   SGD* optimizer);

}  // namespace skinmtl
