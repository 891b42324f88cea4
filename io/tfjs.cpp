// io/tfjs.cpp: reading a TensorFlow.js layers model (format in io/tfjs.h).
#include "io/tfjs.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "io/tfjs.cpp copies weight bytes as they are: it needs a little-endian machine"
#endif

namespace skinmtl {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// Every error names model.json: "TF.js model 'dir/model.json': <problem>".
#define TJ_CHECK(cond, msg) SKINMTL_CHECK(cond, "TF.js model '" << path << "': " << msg)

// ---- the topology --------------------------------------------------------------------------

// Keras writes pair-valued settings (kernel_size, strides) as [a, b], and
// sometimes a single int for both.
void get_pair(const json& cfg, const char* key, int out[2]) {
  if (!cfg.contains(key)) return;
  const json& v = cfg[key];
  if (v.is_number_integer()) {
    out[0] = out[1] = v.get<int>();
  } else if (v.is_array() && v.size() == 2 && v[0].is_number_integer() &&
             v[1].is_number_integer()) {
    out[0] = v[0].get<int>();
    out[1] = v[1].get<int>();
  } else {
    SKINMTL_FAIL("'" << key << "' is neither an int nor a pair of ints: " << v.dump());
  }
}

template <typename T>
T get_or(const json& cfg, const char* key, T fallback) {
  return cfg.contains(key) && !cfg[key].is_null() ? cfg[key].get<T>() : fallback;
}

// The list of layers of a model config, which Keras spells in two ways:
// {"config": {"layers": [...]}} (functional models, newer Sequential) or
// {"config": [...]} (older Sequential).
const json* layer_list(const json& model) {
  if (!model.contains("config")) return nullptr;
  const json& c = model["config"];
  if (c.is_array()) return &c;
  if (c.is_object() && c.contains("layers") && c["layers"].is_array()) return &c["layers"];
  return nullptr;
}

void read_layers(const json& model, TfjsModel& out) {
  const json* layers = layer_list(model);
  if (!layers) return;
  for (const json& l : *layers) {
    if (!l.is_object() || !l.contains("class_name")) continue;
    const std::string cls = l["class_name"].get<std::string>();
    const json cfg = l.contains("config") && l["config"].is_object() ? l["config"] : json::object();
    std::string name = get_or<std::string>(l, "name", get_or<std::string>(cfg, "name", ""));
    out.layers.emplace_back(name, cls);
    try {
      if (cls == "Conv2D") {
        TfjsConv2D c;
        c.filters = get_or<int>(cfg, "filters", 0);
        get_pair(cfg, "kernel_size", c.kernel_size);
        get_pair(cfg, "strides", c.strides);
        get_pair(cfg, "dilation_rate", c.dilation_rate);
        c.padding = get_or<std::string>(cfg, "padding", "valid");
        c.use_bias = get_or<bool>(cfg, "use_bias", true);
        out.conv2d[name] = c;
      } else if (cls == "BatchNormalization") {
        TfjsBatchNorm b;
        b.epsilon = get_or<double>(cfg, "epsilon", 1e-3);  // Keras's default
        b.center = get_or<bool>(cfg, "center", true);
        b.scale = get_or<bool>(cfg, "scale", true);
        out.batch_norm[name] = b;
      } else if (cls == "Dense") {
        TfjsDense d;
        d.units = get_or<int>(cfg, "units", 0);
        d.use_bias = get_or<bool>(cfg, "use_bias", true);
        d.activation = get_or<std::string>(cfg, "activation", "linear");
        out.dense[name] = d;
      } else if (cls == "Model" || cls == "Functional" || cls == "Sequential") {
        read_layers(l, out);  // a model used as a layer
      }
    } catch (const std::exception& e) {  // nlohmann's type errors, get_pair's Error
      SKINMTL_FAIL("layer '" << name << "' (" << cls << "): malformed config: " << e.what());
    }
  }
}

// ---- the shards --------------------------------------------------------------------------

// Reads a group's shard files as one stream of bytes, in the order listed; a
// read may cross from one shard into the next.
class ShardStream {
 public:
  explicit ShardStream(std::vector<std::string> files) : files_(std::move(files)) {}

  void read(char* dst, uint64_t n) {
    while (n > 0) {
      if (!in_.is_open() || in_.peek() == std::char_traits<char>::eof()) {
        SKINMTL_CHECK(next_ < files_.size(), "shards ended early");  // sizes were checked before
        in_.close();
        in_.clear();
        in_.open(files_[next_], std::ios::binary);
        SKINMTL_CHECK(in_, "cannot open shard '" << files_[next_] << "'");
        ++next_;
        continue;
      }
      in_.read(dst, (std::streamsize)n);
      const uint64_t got = (uint64_t)in_.gcount();
      SKINMTL_CHECK(got > 0 || in_.eof(), "read error in shard '" << files_[next_ - 1] << "'");
      in_.clear();  // a short read at the end of a shard sets eof/fail; go on with the next
      dst += got;
      n -= got;
    }
  }

 private:
  std::vector<std::string> files_;
  size_t next_ = 0;
  std::ifstream in_;
};

}  // namespace

namespace {

TfjsModel load(const std::string& path) {
  std::ifstream f(path);
  TJ_CHECK(f, "cannot open: " << std::strerror(errno));
  json doc;
  try {
    doc = json::parse(f);
  } catch (const json::exception& e) {
    TJ_CHECK(false, "not valid JSON: " << e.what());
  }
  TJ_CHECK(doc.is_object(), "not a JSON object");
  const std::string format = get_or<std::string>(doc, "format", "layers-model");
  TJ_CHECK(format == "layers-model",
           "format is '" << format << "', not 'layers-model' (a graph model has no Keras layers)");
  TJ_CHECK(doc.contains("modelTopology") && doc["modelTopology"].is_object(),
           "no modelTopology object");
  TJ_CHECK(doc.contains("weightsManifest") && doc["weightsManifest"].is_array(),
           "no weightsManifest array");

  TfjsModel out;
  out.generated_by = get_or<std::string>(doc, "generatedBy", "");
  out.converted_by = get_or<std::string>(doc, "convertedBy", "");

  // The topology: a Keras-written model.json nests the model under
  // "model_config"; one written by TF.js itself has it at the top.
  const json& topo = doc["modelTopology"];
  try {
    read_layers(topo.contains("model_config") ? topo["model_config"] : topo, out);
  } catch (const Error& e) {
    TJ_CHECK(false, e.what());
  }

  // The weights, group by group.
  const fs::path dir = fs::path(path).parent_path();
  int gi = 0;
  for (const json& group : doc["weightsManifest"]) {
    const std::string g = "weightsManifest[" + std::to_string(gi++) + "]";
    TJ_CHECK(group.is_object() && group.contains("paths") && group["paths"].is_array() &&
                 group.contains("weights") && group["weights"].is_array(),
             g << " needs 'paths' and 'weights' arrays");

    // What the manifest says the group holds.
    struct W {
      std::string name;
      Shape shape;
      uint64_t bytes;
    };
    std::vector<W> ws;
    uint64_t expected = 0;
    for (const json& w : group["weights"]) {
      TJ_CHECK(w.is_object() && w.contains("name") && w["name"].is_string() &&
                   w.contains("shape") && w["shape"].is_array(),
               g << ": a weight entry needs a name and a shape: " << w.dump());
      W e;
      e.name = w["name"].get<std::string>();
      const std::string dtype = get_or<std::string>(w, "dtype", "float32");
      TJ_CHECK(!w.contains("quantization"),
               "weight '" << e.name << "' is quantized; only float32 models are supported");
      TJ_CHECK(dtype == "float32", "weight '" << e.name << "' has unsupported dtype '" << dtype
                                              << "' (only float32 is supported)");
      TJ_CHECK(!out.weights.count(e.name), "weight '" << e.name << "' is listed twice");
      uint64_t numel = 1;
      for (const json& d : w["shape"]) {
        TJ_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0 &&
                     d.get<uint64_t>() < (1ull << 40),
                 "weight '" << e.name << "': bad shape " << w["shape"].dump());
        e.shape.push_back(d.get<int64_t>());
        numel *= d.get<uint64_t>();
        TJ_CHECK(numel < (1ull << 40), "weight '" << e.name << "': shape too large");
      }
      e.bytes = numel * 4;
      expected += e.bytes;
      ws.push_back(e);
      out.weights[e.name] = Tensor();  // reserve the name (duplicate check above)
    }

    // What the shards hold.
    std::vector<std::string> files;
    uint64_t total = 0;
    for (const json& p : group["paths"]) {
      TJ_CHECK(p.is_string(), g << ": shard paths must be strings");
      // A shard lies in the model's own folder (or below it): a manifest that
      // names an absolute path or climbs out with '..' would make loading a
      // downloaded model read any file the user can read.
      const fs::path rel = fs::path(p.get<std::string>()).lexically_normal();
      TJ_CHECK(!rel.empty() && rel.is_relative() && *rel.begin() != ".." && rel.filename() != "",
               g << ": shard path '" << p.get<std::string>()
                 << "' leaves the model's folder (shards must be files beside model.json)");
      const std::string file = (dir / rel).string();
      std::error_code ec;
      TJ_CHECK(fs::is_regular_file(file, ec), "missing shard '" << file << "' (not a regular file)");
      const uint64_t size = fs::file_size(file, ec);
      TJ_CHECK(!ec, "missing shard '" << file << "' (" << ec.message() << ")");
      total += size;
      files.push_back(file);
    }
    TJ_CHECK(total == expected, g << ": the shards hold " << total << " bytes but the manifest's "
                                  << ws.size() << " float32 weights need " << expected);

    // Slice the weights out of the concatenated shards.
    ShardStream stream(files);
    for (const W& w : ws) {
      Tensor t = Tensor::empty(w.shape, DType::F32);
      try {
        stream.read(static_cast<char*>(t.raw_data()), w.bytes);
      } catch (const Error& e) {
        TJ_CHECK(false, "weight '" << w.name << "': " << e.what());
      }
      out.weights[w.name] = t;
      out.weight_order.push_back(w.name);
    }
  }
  return out;
}

}  // namespace

TfjsModel load_tfjs_layers_model(const std::string& path) {
  try {
    return load(path);
  } catch (const nlohmann::json::exception& e) {
    // A value of the wrong JSON type somewhere load() did not check by hand.
    TJ_CHECK(false, "malformed: " << e.what());
  }
}

}  // namespace skinmtl
