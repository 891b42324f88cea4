// io/safetensors.cpp: reading and writing safetensors files (format and rules
// in io/safetensors.h).
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "framework/allocator.h"
#include "kernels/bf16.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "io/safetensors.cpp copies tensor bytes as they are: it needs a little-endian machine"
#endif

namespace skinmtl {

namespace {

using ordered_json = nlohmann::ordered_json;
using json = nlohmann::json;

// The reference implementation refuses headers over 100 MB; so do we (a
// corrupt length field would otherwise make us allocate whatever it says).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Every error names the file: "safetensors file 'x.safetensors': <problem>".
#define ST_CHECK(cond, msg) SKINMTL_USER_CHECK(cond, "safetensors file '" << path << "': " << msg)

// ---- dtypes ------------------------------------------------------------------------

// What load does with each dtype name the format defines.
enum class Load { F32, F64, F16, BF16, Skip };
struct DTypeInfo {
  const char* name;
  size_t size;  // bytes per element
  Load load;
};
constexpr DTypeInfo kDTypes[] = {
    {"F32", 4, Load::F32},      {"F64", 8, Load::F64},     {"F16", 2, Load::F16},
    {"BF16", 2, Load::BF16},    {"BOOL", 1, Load::Skip},   {"U8", 1, Load::Skip},
    {"I8", 1, Load::Skip},      {"I16", 2, Load::Skip},    {"U16", 2, Load::Skip},
    {"I32", 4, Load::Skip},     {"U32", 4, Load::Skip},    {"I64", 8, Load::Skip},
    {"U64", 8, Load::Skip},     {"F8_E4M3", 1, Load::Skip}, {"F8_E5M2", 1, Load::Skip},
};

const DTypeInfo* find_dtype(const std::string& name) {
  for (const DTypeInfo& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

const char* st_dtype_name(DType t) { return t == DType::F32 ? "F32" : "F64"; }

// ---- POSIX file helpers (writing) ------------------------------------------------------

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;  // interrupted by a signal: try again
    ST_CHECK(w > 0, "write failed: " << std::strerror(errno));
    p += w;
    n -= (size_t)w;
  }
}

// fsync the folder holding `path`, so a rename into it is on disk too.
void fsync_parent_dir(const std::string& path) {
  std::string dir = ".";
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: the data itself is already synced
  ::fsync(fd);
  ::close(fd);
}

// Checked arithmetic for sizes read from a file we do not trust.
bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return true;
  *out = a * b;
  return false;
}

}  // namespace

// ---- TensorFile ------------------------------------------------------------------------

const Tensor& TensorFile::at(const std::string& name) const {
  auto it = tensors.find(name);
  SKINMTL_CHECK(it != tensors.end(), "no tensor named '" << name << "' (the file has "
                                                         << tensors.size() << " tensors)");
  return it->second;
}

std::string TensorFile::meta(const std::string& key, const std::string& fallback) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? fallback : it->second;
}

// ---- half and bfloat16 --------------------------------------------------------------------

// binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
// binary32: 1 sign bit, 8 exponent bits (bias 127), 23 mantissa bits.
float half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h >> 15) << 31;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    // Zero or subnormal: value = mant * 2^-24. Every such value is a normal
    // float, and ldexp of an integer below 2^10 is exact.
    float v = std::ldexp((float)mant, -24);
    return sign ? -v : v;
  } else if (exp == 0x1F) {
    // Infinity (mant == 0) or NaN (mant != 0, payload kept in the top bits).
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    // Normal: rebias the exponent, widen the mantissa.
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// bfloat16: the conversions of kernels/bf16.h, the ones the tensors use
// (widening is a shift; narrowing rounds to nearest even, NaN kept quiet).
float bfloat16_to_float(uint16_t b) { return bf16_to_float(bf16{b}); }

uint16_t float_to_bfloat16(float f) { return bf16_from_float(f).bits; }

// ---- save --------------------------------------------------------------------------------

std::string safetensors_temp_path(const std::string& path) { return path + ".tmp"; }

void save_safetensors(const std::string& path, const TensorFile& file, const SaveOptions& options) {
  // Order: element size descending, then name (the std::map is already sorted
  // by name, and stable_sort keeps that within each size).
  std::vector<std::pair<std::string, Tensor>> order;
  for (const auto& [name, t] : file.tensors) {
    ST_CHECK(t.defined(), "tensor '" << name << "' is undefined");
    ST_CHECK(name != "__metadata__", "'__metadata__' is reserved and cannot name a tensor");
    order.emplace_back(name, t);
  }
  // Bytes per element as stored: float32 becomes 2 under options.bf16.
  auto stored_size = [&](const Tensor& t) -> size_t {
    return options.bf16 && t.dtype() == DType::F32 ? 2 : dtype_size(t.dtype());
  };
  std::stable_sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    return stored_size(a.second) > stored_size(b.second);
  });

  // The header. ordered_json keeps keys in insertion order; nlohmann's plain
  // json would sort them.
  ordered_json header = ordered_json::object();
  std::map<std::string, std::string> meta = file.metadata;
  meta["format"] = kFormatName;
  meta["format_version"] = kFormatVersion;
  ordered_json m = ordered_json::object();
  for (const auto& [k, v] : meta) m[k] = v;
  header["__metadata__"] = m;
  uint64_t offset = 0;
  for (const auto& [name, t] : order) {
    ordered_json e = ordered_json::object();
    const uint64_t nbytes = (uint64_t)t.numel() * stored_size(t);
    e["dtype"] = stored_size(t) == 2 ? "BF16" : st_dtype_name(t.dtype());
    e["shape"] = t.shape();
    e["data_offsets"] = {offset, offset + nbytes};
    header[name] = e;
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();  // compact: no spaces, no newlines
  } catch (const nlohmann::json::exception& e) {  // JSON strings must be valid UTF-8
    ST_CHECK(false, "a tensor name or metadata entry is not valid UTF-8: " << e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // 8 + N is a multiple of 8

  const std::string tmp = safetensors_temp_path(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ST_CHECK(fd >= 0, "cannot create '" << tmp << "': " << std::strerror(errno));
  try {
    uint8_t len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = (uint8_t)(n >> (8 * i));  // little-endian
    write_all(fd, len, 8, path);
    write_all(fd, text.data(), text.size(), path);
    for (const auto& [name, t] : order) {
      Tensor host = t.to(Device::CPU);  // explicit copy for a GPU tensor
      if (stored_size(host) == 2) {
        std::vector<uint16_t> b((size_t)host.numel());
        const float* p = host.data<float>();
        for (size_t i = 0; i < b.size(); ++i) b[i] = float_to_bfloat16(p[i]);  // little-endian host
        write_all(fd, b.data(), b.size() * 2, path);
      } else {
        write_all(fd, host.raw_data(), host.nbytes(), path);
      }
    }
    ST_CHECK(::fsync(fd) == 0, "fsync failed: " << std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    ST_CHECK(false, "close failed: " << std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    ST_CHECK(false, "cannot rename '" << tmp << "' to it: " << std::strerror(err));
  }
  fsync_parent_dir(path);
}

// ---- load --------------------------------------------------------------------------------

namespace {

// A JSON value that must be a non-negative integer (offsets, dimensions).
uint64_t get_u64(const json& v, const std::string& path, const std::string& what) {
  ST_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0),
           what << " must be a non-negative integer, got " << v.dump());
  return v.get<uint64_t>();
}

struct Entry {
  std::string name;
  const DTypeInfo* dtype;
  Shape shape;
  uint64_t begin, end;
};

}  // namespace

TensorFile load_safetensors(const std::string& path, const SafetensorsLoadOptions& opt) {
  HugePagesGuard huge_pages;  // every tensor below is written whole, straight away
  std::ifstream in(path, std::ios::binary);
  ST_CHECK(in, "cannot open: " << std::strerror(errno));
  in.seekg(0, std::ios::end);
  const uint64_t file_size = (uint64_t)in.tellg();
  in.seekg(0);

  // ---- the header length and the header ----
  ST_CHECK(file_size >= 8, "file too short (" << file_size
                                              << " bytes): not even the 8-byte header length");
  uint8_t len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= (uint64_t)len[i] << (8 * i);
  ST_CHECK(n <= file_size - 8, "header length " << n << " is larger than the rest of the file ("
                                                << file_size - 8 << " bytes)");
  ST_CHECK(n <= kMaxHeaderBytes, "header length " << n << " is over the 100 MB limit");
  std::string text(n, '\0');
  in.read(text.data(), (std::streamsize)n);
  ST_CHECK(in, "read error in the header");
  ST_CHECK(n > 0 && text[0] == '{', "the header does not start with '{' (not a safetensors file?)");
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    ST_CHECK(false, "the header is not valid JSON: " << e.what());
  }
  ST_CHECK(header.is_object(), "the header is not a JSON object");

  // ---- entries ----
  TensorFile out;
  std::vector<Entry> entries;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      ST_CHECK(v.is_object(), "__metadata__ must be an object of strings");
      for (const auto& [k, s] : v.items()) {
        ST_CHECK(s.is_string(), "__metadata__ value of '" << k << "' is not a string: " << s.dump());
        out.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    const std::string t = "tensor '" + name + "'";
    ST_CHECK(v.is_object(), t << ": entry is not an object");
    ST_CHECK(v.contains("dtype") && v["dtype"].is_string(), t << ": missing or non-string dtype");
    ST_CHECK(v.contains("shape") && v["shape"].is_array(), t << ": missing or non-array shape");
    ST_CHECK(v.contains("data_offsets") && v["data_offsets"].is_array() &&
                 v["data_offsets"].size() == 2,
             t << ": data_offsets must be an array [begin, end]");
    Entry e;
    e.name = name;
    const std::string dt = v["dtype"].get<std::string>();
    e.dtype = find_dtype(dt);
    ST_CHECK(e.dtype, t << ": unknown dtype '" << dt << "'");
    uint64_t numel = 1;
    for (const json& d : v["shape"]) {
      uint64_t dim = get_u64(d, path, t + ": a shape dimension");
      ST_CHECK(dim <= (uint64_t)std::numeric_limits<int64_t>::max() &&
                   !mul_overflows(numel, dim, &numel),
               t << ": shape " << v["shape"].dump() << " is too large");
      e.shape.push_back((int64_t)dim);
    }
    e.begin = get_u64(v["data_offsets"][0], path, t + ": data_offsets[0]");
    e.end = get_u64(v["data_offsets"][1], path, t + ": data_offsets[1]");
    ST_CHECK(e.begin <= e.end, t << ": data_offsets [" << e.begin << ", " << e.end
                                 << "] end before begin");
    uint64_t bytes = 0;
    ST_CHECK(!mul_overflows(numel, e.dtype->size, &bytes),
             t << ": shape " << v["shape"].dump() << " is too large");
    ST_CHECK(bytes == e.end - e.begin,
             t << ": shape " << v["shape"].dump() << " of " << dt << " needs " << bytes
               << " bytes but data_offsets [" << e.begin << ", " << e.end << "] hold "
               << e.end - e.begin);
    entries.push_back(std::move(e));
  }

  // ---- the byte ranges must tile the data section exactly ----
  const uint64_t data_start = 8 + n;
  const uint64_t data_size = file_size - data_start;
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : by_offset) {
    ST_CHECK(e->end <= data_size, "tensor '" << e->name << "': data_offsets [" << e->begin << ", "
                                             << e->end << "] are out of range (the data section "
                                             << "holds " << data_size << " bytes)");
    ST_CHECK(e->begin >= covered, "tensors '" << prev->name << "' and '" << e->name
                                              << "' overlap (byte " << e->begin << " < " << covered
                                              << ")");
    ST_CHECK(e->begin == covered, "gap in the data section: bytes [" << covered << ", "
                                                                     << e->begin
                                                                     << ") belong to no tensor");
    covered = e->end;
    prev = e;
  }
  ST_CHECK(covered == data_size, "trailing garbage: " << data_size - covered
                                                      << " bytes after the last tensor");

  // ---- the version ----
  if (out.meta("format") == kFormatName) {
    ST_CHECK(out.meta("format_version") == kFormatVersion,
             "skinmtl format_version '" << out.meta("format_version")
                                        << "' is not supported by this build (it reads version "
                                        << kFormatVersion << ")");
  }

  // ---- the data ----
  for (const Entry& e : entries) {
    if (e.dtype->load == Load::Skip) {
      ST_CHECK(opt.skip_unsupported,
               "tensor '" << e.name << "': dtype " << e.dtype->name
                          << " is not supported (skinmtl reads F32, F64, F16 and BF16)");
      out.skipped.push_back(e.name);
      continue;
    }
    in.seekg((std::streamoff)(data_start + e.begin));
    const std::streamsize bytes = (std::streamsize)(e.end - e.begin);
    if (e.dtype->load == Load::F32 || e.dtype->load == Load::F64) {
      Tensor t = Tensor::empty(e.shape, e.dtype->load == Load::F32 ? DType::F32 : DType::F64);
      if (bytes > 0) in.read(static_cast<char*>(t.raw_data()), bytes);
      ST_CHECK(in, "read error in tensor '" << e.name << "'");
      out.tensors[e.name] = t;
    } else {  // F16 / BF16: read the 16-bit patterns, widen to float32
      std::vector<uint16_t> half((size_t)(bytes / 2));
      if (bytes > 0) in.read(reinterpret_cast<char*>(half.data()), bytes);
      ST_CHECK(in, "read error in tensor '" << e.name << "'");
      Tensor t = Tensor::empty(e.shape, DType::F32);
      float* p = t.data<float>();
      const bool bf = e.dtype->load == Load::BF16;
      for (size_t i = 0; i < half.size(); ++i)
        p[i] = bf ? bfloat16_to_float(half[i]) : half_to_float(half[i]);
      out.tensors[e.name] = t;
    }
  }
  return out;
}

}  // namespace skinmtl
