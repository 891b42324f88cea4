// nets/state_dict.h: a Module's tensors to and from a TensorFile (a checkpoint
// in memory, io/safetensors.h), by name.
//
// A module's "state" is every parameter and every buffer of its subtree under
// its dotted name, exactly what Module::named_parameters() and
// Module::named_buffers() list ("layer1.0.conv1.weight",
// "layer1.0.bn1.running_mean", ...). PyTorch calls the same thing a
// state_dict; a checkpoint file is one state plus string metadata.
//
// Loading is strict, because a silently half-loaded network still runs and
// just gives worse answers:
//  - every module tensor must find a file tensor of the same name (otherwise:
//    "missing tensor"),
//  - with exactly the same shape (otherwise: "should be (..), got (..)"),
//  - and every file tensor must be used, unless its name starts with one of
//    the prefixes the caller allows to be ignored (for example "fc." when a
//    classifier checkpoint is loaded into a trunk without its classifier);
//    otherwise: "unexpected tensor".
// Everything is checked before anything is copied, so a failed load leaves
// the module as it was. Errors name `what` (the file) and the tensor.
#pragma once

#include <string>
#include <vector>

#include "framework/module.h"
#include "io/safetensors.h"

namespace skinmtl {

// A snapshot of every parameter and buffer of `m`, copied to the CPU (later
// training does not change it). No metadata.
TensorFile module_state(Module& m);

struct LoadStateOptions {
  // File tensors whose names start with one of these may be left unused.
  std::vector<std::string> ignore_prefixes;
};

// Copies the file's tensors into the module's parameters and buffers of the
// same names (see the rules above). The values land on the device each module
// tensor already lives on; a file tensor of another dtype (float64 for a
// float32 module, say) is converted. `what` names the source in errors.
void load_module_state(Module& m, const TensorFile& file, const std::string& what,
                       const LoadStateOptions& opt = {});

}  // namespace skinmtl
