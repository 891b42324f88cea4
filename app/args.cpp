#include "app/args.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "base/check.h"
#include "framework/precision.h"

namespace skinmtl {

Args::Args(int argc, char** argv, const std::vector<std::string>& options,
           const std::vector<std::string>& flags) {
  auto known = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      help_ = true;
      continue;
    }
    SKINMTL_USAGE_CHECK(a.rfind("--", 0) == 0, "unexpected argument '" << a << "' (options start with --)");
    std::string name = a.substr(2), value;
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (known(flags, name)) {
      SKINMTL_USAGE_CHECK(eq == std::string::npos, "--" << name << " takes no value");
      values_[name] = "1";
      continue;
    }
    SKINMTL_USAGE_CHECK(known(options, name), "unknown option --" << name << "");
    if (eq == std::string::npos) {
      SKINMTL_USAGE_CHECK(i + 1 < argc, "option --" << name << " needs a value");
      value = argv[++i];
    }
    values_[name] = value;
  }
}

Args::Args(int argc, char** argv, const std::vector<std::string>& options,
           const std::vector<std::string>& flags, int max_positional) {
  auto known = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  // Set the positional words aside; the constructor above parses the rest.
  std::vector<char*> rest{argv[0]};
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      rest.push_back(argv[i]);
      const std::string name = a.substr(2);
      // "--name VALUE": VALUE goes with it, whatever it looks like.
      if (known(options, name) && !known(flags, name) && i + 1 < argc) rest.push_back(argv[++i]);
    } else if (a.empty() || a[0] != '-') {
      SKINMTL_USAGE_CHECK((int)positional.size() < max_positional,
                          "unexpected argument '" << a << "' (options start with --)");
      positional.push_back(a);
    } else {
      rest.push_back(argv[i]);  // -h, or a mistake the constructor above names
    }
  }
  *this = Args((int)rest.size(), rest.data(), options, flags);
  positional_ = std::move(positional);
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

double Args::get_double(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  SKINMTL_USAGE_CHECK(end && *end == 0 && !it->second.empty(),
                "--" << name << " expects a number, got '" << it->second << "'");
  return v;
}

long long Args::get_int(const std::string& name, long long fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  SKINMTL_USAGE_CHECK(end && *end == 0 && !it->second.empty(),
                "--" << name << " expects an integer, got '" << it->second << "'");
  return v;
}

std::string precision_choice(const Args& args, Device device, const char* gpu_default) {
  const std::string p = args.get("precision", device == Device::CUDA ? gpu_default : "fp32");
  SKINMTL_USAGE_CHECK(p == "fp32" || p == "tf32" || p == "bf16",
                      "--precision must be fp32, tf32 or bf16, got '" << p << "'");
  SKINMTL_USAGE_CHECK(p != "tf32" || device == Device::CUDA,
                      "--precision tf32 is a GPU mode (the CPU always computes in FP32): use it "
                      "with --device cuda");
  return p;
}

std::string apply_precision(const Args& args, Device device, const char* gpu_default) {
  const std::string p = precision_choice(args, device, gpu_default);
  if (device == Device::CUDA) set_cuda_tf32(p != "fp32");
  set_autocast_bf16(p == "bf16");
  if (p == "bf16" && device == Device::CPU)
    std::fprintf(stderr, "--precision bf16 on the CPU: bfloat16 is computed through float32 here, "
                         "slower than fp32 (a check of the GPU's arithmetic, not a speed-up)\n");
  return p == "tf32" ? " (TF32)" : p == "bf16" ? " (BF16)" : "";
}

std::string precision_help(const char* gpu_default) {
  std::string h =
      "  --precision P       fp32 | tf32 | bf16. tf32: TF32 tensor cores for the GPU's convolutions\n"
      "                      and matrix products (compute capability 8.0 and up), about 3 significant\n"
      "                      digits per product. bf16: bfloat16 activations and convolutions with\n"
      "                      float32 weights, gradients and losses (on the CPU: computed through\n"
      "                      float32, slower). fp32 matches the CPU. Default: ";
  h += gpu_default;
  h += " on the GPU, fp32 on the CPU\n";
  return h;
}

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") {
    SKINMTL_USER_CHECK(cuda_available(), "--device cuda: " << cuda_unavailable_reason());
    return Device::CUDA;
  }
  SKINMTL_USAGE_CHECK(name == "auto", "--device must be auto, cpu or cuda, got '" << name << "'");
  // A machine meant to have a GPU must not fall back to the CPU in silence.
  SKINMTL_USER_CHECK(cuda_available() || !cuda_required(),
                     "--device auto: SKINMTL_REQUIRE_CUDA is set but " << cuda_unavailable_reason());
  return cuda_available() ? Device::CUDA : Device::CPU;
}

void report_skipped_rows(const std::vector<ImageProblem>& skipped, const std::string& out_dir) {
  if (skipped.empty()) return;
  const std::string path = out_dir + "/skipped_rows.csv";
  write_skipped_rows(path, skipped);
  std::fprintf(stderr, "--skip-bad-rows: %zu row(s) left out (all listed in %s):\n", skipped.size(), path.c_str());
  for (size_t i = 0; i < skipped.size() && i < 5; ++i)
    std::fprintf(stderr, "  %s: %s: %s\n", skipped[i].where.c_str(), skipped[i].path.c_str(), skipped[i].reason.c_str());
  if (skipped.size() > 5) std::fprintf(stderr, "  ... and %zu more\n", skipped.size() - 5);
}

std::string fixed4(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

}  // namespace skinmtl
