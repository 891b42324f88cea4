// app/args.h: a small "--name value" argument parser for the
// subcommands. Unknown options and missing values are errors that name the
// option; --help is reported so the command can print its usage.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "framework/tensor.h"
#include "io/manifest.h"

namespace skinmtl {

class Args {
 public:
  // `options`: the names the command accepts (without "--"); `flags`: those
  // that take no value. argv[0] is the command's name.
  Args(int argc, char** argv, const std::vector<std::string>& options,
       const std::vector<std::string>& flags = {});
  // As above, and words that are not options (not starting with '-'), among
  // the options anywhere, are the command's positional arguments: at most
  // `max_positional` of them, more is a usage error. A word that follows an
  // option taking a value is that value. `skinmtl metrics seg --pred DIR`:
  // positional() is {"seg"}.
  Args(int argc, char** argv, const std::vector<std::string>& options,
       const std::vector<std::string>& flags, int max_positional);
  // The positional arguments, in the order given (none with the first constructor).
  const std::vector<std::string>& positional() const { return positional_; }

  bool help() const { return help_; }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback) const;
  double get_double(const std::string& name, double fallback) const;
  long long get_int(const std::string& name, long long fallback) const;
  bool flag(const std::string& name) const { return has(name); }

 private:
  std::map<std::string, std::string> values_;
  bool help_ = false;
  std::vector<std::string> positional_;
};

// The value of a --device option: "auto" (CUDA when a GPU is visible, else the
// CPU), "cpu" or "cuda" (an error when no GPU is available).
Device parse_device(const std::string& name);

// The value of a --precision option, checked:
//   fp32  float32 everywhere (matches the CPU to float tolerance);
//   tf32  TF32 tensor cores for the GPU's convolutions and matrix products
//         (an error on the CPU);
//   bf16  bfloat16 activations and convolutions, float32 weights, gradients
//         and losses (framework/precision.h); on the GPU also TF32 for what
//         stays float32; on the CPU it is computed through float32 (slower
//         than fp32: a check, not a speed-up).
// Without the option: `gpu_default` on the GPU (training: tf32, as PyTorch's
// default for convolutions; evaluation: fp32), fp32 on the CPU.
std::string precision_choice(const Args& args, Device device, const char* gpu_default);
// precision_choice, then sets it for the process (TF32, autocast) and returns
// what to print after the device name: "", " (TF32)" or " (BF16)".
std::string apply_precision(const Args& args, Device device, const char* gpu_default);
// The help lines of --precision, with the default named.
std::string precision_help(const char* gpu_default);
// "0.1235": a number as the end-of-run summaries print it.
std::string fixed4(double v);

// Says how many rows were skipped (and the first few) and writes them to
// OUT_DIR/skipped_rows.csv; nothing when none were.
void report_skipped_rows(const std::vector<ImageProblem>& skipped, const std::string& out_dir);

}  // namespace skinmtl
