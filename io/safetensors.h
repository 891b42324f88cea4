// io/safetensors.h: the project's checkpoint format, safetensors.
//
// safetensors (Hugging Face, https://github.com/huggingface/safetensors) is a
// deliberately boring container that any framework can read without running
// code (unlike a pickle):
//
//   bytes 0..7      N, the header length, an unsigned 64-bit little-endian int
//   bytes 8..8+N    the header: UTF-8 JSON, padded with spaces (0x20) so that
//                   8 + N is a multiple of 8 and the data starts aligned
//   bytes 8+N..     the data section: every tensor's raw little-endian bytes,
//                   row-major, packed back to back with no gap
//
//   header = {
//     "__metadata__": {"key": "value", ...},           (optional, strings only)
//     "conv1.weight": {"dtype": "F32", "shape": [64, 3, 7, 7],
//                      "data_offsets": [begin, end]},  (bytes, relative to the
//     ...                                               start of the data section)
//   }
//
// What this file writes: F32 and F64 tensors (the dtypes a skinmtl Tensor has),
// ordered as the reference writer orders them: by element size, largest first
// (so every tensor starts aligned to its element size), then by name. The
// header lists them in that same order, "__metadata__" first, as compact JSON.
//
// What it reads: F32 and F64 as they are; F16 and BF16 converted to F32
// (torchvision / timm checkpoints are sometimes stored in half precision).
// Integer and boolean tensors (torchvision's "bn1.num_batches_tracked" is an
// I64) cannot be held by a Tensor: they are an error unless the caller asks to
// skip them (SafetensorsLoadOptions::skip_unsupported). Everything is checked
// as strictly as the reference reader does: a file that is too short, a header
// length past the end of the file, bad JSON, an unknown dtype, a shape that
// does not match its byte range, overlapping or out-of-range offsets, gaps
// between tensors or bytes after the last one all throw skinmtl::Error, naming
// the file and the problem.
//
// Metadata keys the project uses (all values are strings, as the format wants):
//   "format"          = "skinmtl"  (save_safetensors always writes it)
//   "format_version"  = "1"        (always written; a skinmtl file of another
//                                   version is refused on load)
//   further free keys, written by whoever makes the file, for example
//     "arch", "num_classes", "classes" (a JSON array of class names),
//     "stride_placement", "bn_eps", "input_channels", "input_mean",
//     "input_scale" (io/resnet50_import.h documents these), or a training
//     run's "step", "config".
//   Values that are not plain strings or numbers are stored as JSON text.
//
// Saving is atomic: the bytes go to `path + ".tmp"`, which is fsync'ed and then
// renamed over `path` (rename is atomic on POSIX file systems), and the folder
// is fsync'ed so the rename itself survives a crash. A run killed mid-save
// leaves the old file (or none) at `path`, never half of a new one.
//
// Byte order: the format is little-endian, and so is every machine skinmtl
// builds for (x86-64, AArch64); safetensors.cpp refuses to compile elsewhere
// rather than silently writing the wrong bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/tensor.h"

namespace skinmtl {

// The contents of one safetensors file: named tensors and string metadata.
struct TensorFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
  // Filled by load_safetensors only: the names of the tensors it skipped (see
  // SafetensorsLoadOptions::skip_unsupported).
  std::vector<std::string> skipped;

  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  // The tensor called `name`; throws skinmtl::Error when there is none.
  const Tensor& at(const std::string& name) const;
  // A metadata value, or `fallback` when the key is absent.
  std::string meta(const std::string& key, const std::string& fallback = "") const;
};

// The project's format tag and version, written into every file.
inline constexpr const char* kFormatName = "skinmtl";
inline constexpr const char* kFormatVersion = "1";

// Writes `file` to `path` atomically (see above). Tensors may live on any
// device; they are copied to the CPU for writing. The metadata keys "format"
// and "format_version" are set to kFormatName / kFormatVersion, replacing any
// values the caller had (a file written by skinmtl says so).
//
// SaveOptions::bf16 stores every float32 tensor as BF16 (round to nearest,
// ties to even; NaN stays NaN): half the size, 8 significant bits. For
// carrying weights where bytes are scarce (tools/gpu/), never for checkpoints:
// load_safetensors widens BF16 back to float32, but the lost bits stay lost.
struct SaveOptions {
  bool bf16 = false;
};
void save_safetensors(const std::string& path, const TensorFile& file, const SaveOptions& options = {});
// Where save_safetensors writes `path` before renaming it: what a save killed
// half-way leaves behind.
std::string safetensors_temp_path(const std::string& path);

// float32 -> bfloat16 bit pattern, round to nearest even (as PyTorch's
// .to(torch.bfloat16)); a NaN keeps a quiet NaN.
uint16_t float_to_bfloat16(float f);

struct SafetensorsLoadOptions {
  // Integer and boolean tensors (BOOL, U8, I8, I16, U16, I32, U32, I64, U64,
  // and the 8-bit floats F8_E4M3 / F8_E5M2): false, the default, makes them an
  // error; true validates their byte ranges like any other tensor and leaves
  // them out, listing them in TensorFile::skipped.
  bool skip_unsupported = false;
};

// Reads and validates a safetensors file. Tensors come back on the CPU, F32 or
// F64 (F16 and BF16 converted to F32).
TensorFile load_safetensors(const std::string& path, const SafetensorsLoadOptions& opt = {});

// IEEE 754 binary16 ("half", safetensors F16) and bfloat16 (BF16) bit patterns
// to float32. Both conversions are exact: every half and every bfloat16 value
// is representable as a float. Exposed for the tests.
float half_to_float(uint16_t bits);
float bfloat16_to_float(uint16_t bits);

}  // namespace skinmtl
