// tools/skinmtl/args.h: a small "--name value" argument parser for the
// subcommands. Unknown options and missing values are errors that name the
// option; --help is reported so the command can print its usage.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "app/data_parallel.h"
#include "framework/module.h"
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

// The value of a training command's --precision option: fp32 (default) or
// tf32 (TF32 tensor cores for the GPU's convolutions and matrix products; an
// error on the CPU, which always computes in FP32). Sets it for the process
// and returns what to print after the device name: "" or " (TF32)".
std::string apply_precision(const Args& args, Device device);
// The --precision lines of a training command's help (a literal, to splice
// into the command's help text).
#define SKINMTL_PRECISION_HELP                                                                \
  "  --precision P       fp32 | tf32: TF32 tensor cores for the GPU's convolutions and\n"     \
  "                      matrix products (compute capability 8.0 and up): faster, about 3\n" \
  "                      significant digits per product (default fp32, which matches the CPU)\n"

// --skip-bad-rows of the training commands: rows whose image or mask file is
// missing, unreadable or truncated are left out instead of stopping the run.
#define SKINMTL_SKIP_BAD_ROWS_HELP                                                              \
  "  --skip-bad-rows     train without the rows whose image or mask file is missing,\n"        \
  "                      unreadable or truncated (counted, and listed in\n"                    \
  "                      DIR/skipped_rows.csv); without it such rows stop the run before\n"    \
  "                      its first step\n"
// --sync-bn of the training commands, for data-parallel runs
// (app/data_parallel.h).
#define SKINMTL_SYNC_BN_HELP                                                                   \
  "  --sync-bn on|off    with several processes (mpirun -np N ...): batch norms that use batch\n" \
  "                      statistics take them over the whole batch of all processes, as one\n" \
  "                      process would (on, the default), or over each process's part (off)\n"
// Reads --sync-bn and, in a job of several processes, sets it on every batch
// norm of `net` (frozen ones never communicate; call it after freezing).
// Returns "" or " (N batch norms synchronised)" to print.
std::string apply_sync_bn(const Args& args, Module& net, DataParallel& dp);

// "0.1235": a number as the end-of-run summaries print it.
std::string fixed4(double v);

// Says how many rows were skipped (and the first few) and writes them to
// OUT_DIR/skipped_rows.csv; nothing when none were.
void report_skipped_rows(const std::vector<ImageProblem>& skipped, const std::string& out_dir);

}  // namespace skinmtl
