// io/safetensors: round trips, the exact bytes the writer produces, files
// built by hand (as another writer would), every corruption the reader must
// refuse, and the half / bfloat16 conversions.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "io/safetensors.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::read_file;
using test::TempDir;
using test::write_file;

// ---- byte helpers ------------------------------------------------------------------------

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = (char)(v >> (8 * i));
  return s;
}

template <typename T>
std::string bytes_of(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return s;
}

// A safetensors file as another writer would make it: the length, the header
// (padded with spaces to a multiple of 8 unless pad is false), the data.
std::string st_file(std::string header, const std::string& data, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  return u64_le(header.size()) + header + data;
}

// ---- round trips ---------------------------------------------------------------------------

TEST(Safetensors, RoundTripWithMetadata) {
  TempDir dir;
  const std::string path = dir.path("ckpt.safetensors");
  TensorFile f;
  f.tensors["w"] = Tensor::from_vector(std::vector<double>{1, -2, 3.25, 4, 5, -6e-7}, {2, 3});
  f.tensors["d"] = Tensor::from_vector(std::vector<double>{0.1, 1e300, -0.3}, {3}, DType::F64);
  f.tensors["scalar"] = Tensor::from_vector(std::vector<double>{42.5}, {});
  f.tensors["scalar64"] = Tensor::from_vector(std::vector<double>{-1.0 / 3}, {}, DType::F64);
  f.tensors["empty"] = Tensor::empty({0, 5});
  f.tensors["empty64"] = Tensor::empty({3, 0}, DType::F64);
  f.metadata["step"] = "1200";
  f.metadata["config"] = R"({"lr": 0.001, "name": "caf\u00e9"})";
  f.metadata["format"] = "something else";  // replaced by the writer
  save_safetensors(path, f);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  TensorFile g = load_safetensors(path);
  ASSERT_EQ(g.tensors.size(), f.tensors.size());
  for (const auto& [name, t] : f.tensors) {
    ASSERT_TRUE(g.has(name)) << name;
    const Tensor& u = g.at(name);
    EXPECT_EQ(u.shape(), t.shape()) << name;
    EXPECT_EQ(u.dtype(), t.dtype()) << name;
    EXPECT_EQ(u.device(), Device::CPU);
    EXPECT_EQ(u.to_vector(), t.to_vector()) << name;  // bit-exact
  }
  EXPECT_EQ(g.at("scalar").ndim(), 0);
  EXPECT_EQ(g.at("empty").numel(), 0);
  EXPECT_EQ(g.meta("step"), "1200");
  EXPECT_EQ(g.meta("config"), f.metadata["config"]);
  EXPECT_EQ(g.meta("format"), "skinmtl");
  EXPECT_EQ(g.meta("format_version"), "1");
  EXPECT_EQ(g.meta("absent", "fallback"), "fallback");
  EXPECT_TRUE(g.skipped.empty());
  EXPECT_ERROR_WITH(g.at("nope"), "nope");
}

TEST(Safetensors, EmptyFileHoldsOnlyMetadata) {
  TempDir dir;
  const std::string path = dir.path("e.safetensors");
  save_safetensors(path, TensorFile{});
  TensorFile g = load_safetensors(path);
  EXPECT_TRUE(g.tensors.empty());
  EXPECT_EQ(g.meta("format"), "skinmtl");
}

// The writer follows the format, not just its own reader: the exact bytes.
TEST(Safetensors, WriterProducesTheExpectedBytes) {
  TempDir dir;
  const std::string path = dir.path("exact.safetensors");
  TensorFile f;
  f.tensors["b"] = Tensor::from_vector(std::vector<double>{1.0, -2.0}, {2});
  f.tensors["z"] = Tensor::from_vector(std::vector<double>{1.5}, {}, DType::F64);
  f.metadata["k"] = "v";
  save_safetensors(path, f);

  // The F64 tensor comes first although "z" sorts after "b": larger elements
  // first keeps every tensor aligned to its element size, as the reference
  // writer does. The header is compact JSON padded with spaces so that
  // 8 + its length is a multiple of 8.
  std::string header =
      R"({"__metadata__":{"format":"skinmtl","format_version":"1","k":"v"},)"
      R"("z":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
  const std::string expected =
      st_file(header, bytes_of<double>({1.5}) + bytes_of<float>({1.0f, -2.0f}));
  const std::string got = read_file(path);
  EXPECT_EQ(got.size() % 8, 0u);
  EXPECT_EQ(got.substr(0, 8), expected.substr(0, 8)) << "the header length";
  EXPECT_EQ(got, expected);
}

// A file as other writers make it: tensors out of name order, F16 and BF16,
// no metadata, an unpadded header.
TEST(Safetensors, ReadsAHandBuiltFileWithHalfPrecision) {
  TempDir dir;
  const std::string path = dir.path("hand.safetensors");
  const std::string header =
      R"({"h": {"dtype": "F16", "shape": [2, 2], "data_offsets": [8, 16]},)"
      R"( "f": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
      R"( "bf": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]}})";
  const std::string data = bytes_of<float>({0.5f, -7.0f}) +
                           bytes_of<uint16_t>({0x3C00, 0xC100, 0x7BFF, 0x0001}) +
                           bytes_of<uint16_t>({0x3F80, 0xC020, 0x4049});
  write_file(path, st_file(header, data, /*pad=*/false));
  TensorFile g = load_safetensors(path);
  EXPECT_TRUE(g.metadata.empty());
  EXPECT_EQ(g.at("f").to_vector(), (std::vector<double>{0.5, -7.0}));
  EXPECT_EQ(g.at("h").dtype(), DType::F32);
  EXPECT_EQ(g.at("h").shape(), (Shape{2, 2}));
  EXPECT_EQ(g.at("h").to_vector(), (std::vector<double>{1.0, -2.5, 65504.0, std::ldexp(1.0, -24)}));
  EXPECT_EQ(g.at("bf").dtype(), DType::F32);
  EXPECT_EQ(g.at("bf").to_vector(), (std::vector<double>{1.0, -2.5, 3.140625}));
}

// ---- half and bfloat16 ------------------------------------------------------------------------

TEST(Safetensors, HalfToFloat) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC100), -2.5f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);                 // the largest half
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);          // 1/3 rounded to half
  EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));    // the smallest normal
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));    // the smallest subnormal
  EXPECT_EQ(half_to_float(0x03FF), 1023 * std::ldexp(1.0f, -24));  // the largest subnormal
  EXPECT_EQ(half_to_float(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x0000), 0.0f);
  EXPECT_TRUE(std::signbit(half_to_float(0x8000)));           // -0 keeps its sign
  EXPECT_EQ(half_to_float(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(half_to_float(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7C01)));             // any non-zero mantissa
}

TEST(Safetensors, BFloat16ToFloat) {
  EXPECT_EQ(bfloat16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bfloat16_to_float(0xC020), -2.5f);
  EXPECT_EQ(bfloat16_to_float(0x477F), 65280.0f);
  EXPECT_EQ(bfloat16_to_float(0x7F7F), 3.38953139e38f);       // the largest bfloat16
  EXPECT_EQ(bfloat16_to_float(0x0001), std::ldexp(1.0f, -133));  // the smallest subnormal
  EXPECT_EQ(bfloat16_to_float(0x0080), std::ldexp(1.0f, -126));  // the smallest normal
  EXPECT_TRUE(std::signbit(bfloat16_to_float(0x8000)));
  EXPECT_EQ(bfloat16_to_float(0x7F80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(bfloat16_to_float(0xFF80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bfloat16_to_float(0x7FC0)));
}

TEST(Safetensors, FloatToBFloat16RoundsToNearestEven) {
  auto bits = [](uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  };
  EXPECT_EQ(float_to_bfloat16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bfloat16(-2.5f), 0xC020);
  EXPECT_EQ(float_to_bfloat16(bits(0x3F808000u)), 0x3F80);  // a tie, kept part even: down
  EXPECT_EQ(float_to_bfloat16(bits(0x3F818000u)), 0x3F82);  // a tie, kept part odd: up to even
  EXPECT_EQ(float_to_bfloat16(bits(0x3F808001u)), 0x3F81);  // just above the tie: up
  EXPECT_EQ(float_to_bfloat16(bits(0x3F807FFFu)), 0x3F80);  // just below: down
  EXPECT_EQ(float_to_bfloat16(bits(0x7F7FFFFFu)), 0x7F80);  // the largest float rounds to infinity
  EXPECT_EQ(float_to_bfloat16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_TRUE(std::isnan(bfloat16_to_float(float_to_bfloat16(std::nanf("")))));
  EXPECT_TRUE(std::isnan(bfloat16_to_float(float_to_bfloat16(bits(0x7F800001u)))));  // a NaN that truncation would make infinite
  // Every bfloat16 value survives the round trip exactly.
  for (uint32_t b = 0; b < 0x10000u; ++b) {
    const float f = bfloat16_to_float((uint16_t)b);
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_bfloat16(f), b) << std::hex << b;
  }
}

TEST(Safetensors, Bf16SaveHalvesFloat32AndLoadsBackWithinHalfAnUlp) {
  TempDir dir;
  TensorFile f;
  Rng rng(7);
  f.tensors["w"] = randn({64, 33}, rng);
  f.tensors["d"] = Tensor::from_vector(std::vector<double>{0.1, -0.3}, {2}, DType::F64);  // float64 stays
  f.metadata["bn_eps"] = "0.001";
  save_safetensors(dir.path("a.safetensors"), f);
  save_safetensors(dir.path("b.safetensors"), f, SaveOptions{true});
  const auto full = std::filesystem::file_size(dir.path("a.safetensors"));
  const auto half = std::filesystem::file_size(dir.path("b.safetensors"));
  EXPECT_NEAR((double)(full - half), 64.0 * 33 * 2, 64) << full << " vs " << half;
  const TensorFile g = load_safetensors(dir.path("b.safetensors"));
  EXPECT_EQ(g.metadata.at("bn_eps"), "0.001");
  ASSERT_EQ(g.at("w").dtype(), DType::F32);
  ASSERT_EQ(g.at("w").shape(), f.at("w").shape());
  const std::vector<double> a = f.at("w").to_vector(), b = g.at("w").to_vector();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_LE(std::fabs(a[i] - b[i]), std::fabs(a[i]) * std::ldexp(1.0, -8)) << i;
  EXPECT_EQ(g.at("d").dtype(), DType::F64);
  EXPECT_EQ(g.at("d").to_vector(), f.at("d").to_vector());
}

// ---- corruptions ---------------------------------------------------------------------------------

// A valid two-tensor file, to be broken one way at a time.
const std::string kA = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
const std::string kB = R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]})";
const std::string kData = bytes_of<float>({1.0f, 2.0f, 3.0f});

TEST(Safetensors, TheValidBaseFileLoads) {
  TempDir dir;
  const std::string path = dir.path("ok.safetensors");
  write_file(path, st_file("{" + kA + "," + kB + "}", kData));
  TensorFile g = load_safetensors(path);
  EXPECT_EQ(g.at("a").to_vector(), (std::vector<double>{1, 2}));
  EXPECT_EQ(g.at("b").to_vector(), (std::vector<double>{3}));
}

TEST(Safetensors, CorruptFilesAreRefusedNamingFileAndProblem) {
  TempDir dir;
  const std::string path = dir.path("bad.safetensors");
  auto expect_refused = [&](const std::string& bytes, const std::string& problem) {
    SCOPED_TRACE(problem);
    write_file(path, bytes);
    EXPECT_ERROR_WITH(load_safetensors(path), path, problem);
  };
  const std::string good = st_file("{" + kA + "," + kB + "}", kData);

  expect_refused("", "file too short");
  expect_refused(good.substr(0, 5), "file too short");
  expect_refused(u64_le(1000) + "{}", "header length 1000 is larger than the rest of the file");
  expect_refused(u64_le(0xFFFFFFFFFFFFFFFFull) + "{}", "is larger than the rest of the file");
  expect_refused(st_file("[1, 2]", ""), "does not start with '{'");
  expect_refused(st_file("{\"a\": {\"dtype\": ", ""), "not valid JSON");
  expect_refused(st_file(R"({"a": 3})", ""), "tensor 'a': entry is not an object");
  expect_refused(st_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", kData.substr(0, 8)),
                 "missing or non-string dtype");
  expect_refused(st_file(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", kData.substr(0, 8)),
                 "missing or non-array shape");
  expect_refused(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})",
                         kData.substr(0, 8)),
                 "data_offsets must be an array [begin, end]");
  expect_refused(st_file(R"({"a":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}})",
                         kData.substr(0, 8)),
                 "unknown dtype 'F17'");
  expect_refused(st_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
                         kData.substr(0, 8)),
                 "a shape dimension must be a non-negative integer");
  expect_refused(st_file(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})",
                         kData.substr(0, 8)),
                 "a shape dimension must be a non-negative integer");
  expect_refused(st_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],)"
                         R"("data_offsets":[0,8]}})",
                         kData.substr(0, 8)),
                 "is too large");
  expect_refused(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})",
                         kData.substr(0, 8)),
                 "data_offsets[0] must be a non-negative integer");
  expect_refused(st_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})",
                         kData.substr(0, 8)),
                 "end before begin");
  // Shape and offsets disagree: 3 floats need 12 bytes, not 8.
  expect_refused(st_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]},)" + kB + "}",
                         kData),
                 "tensor 'a': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8");
  // Overlap: b starts inside a.
  expect_refused(st_file("{" + kA + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         kData.substr(0, 8)),
                 "tensors 'a' and 'b' overlap");
  // Out of range: b ends past the data section.
  expect_refused(st_file("{" + kA + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                         kData),
                 "tensor 'b': data_offsets [8, 16] are out of range");
  // A gap: nothing owns bytes 8..12.
  expect_refused(st_file("{" + kA + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
                         kData + "abcd"),
                 "gap in the data section: bytes [8, 12)");
  // Trailing garbage after the last tensor.
  expect_refused(good + "xyz", "trailing garbage: 3 bytes after the last tensor");
  expect_refused(st_file(R"({"__metadata__":{"step":12}})", ""),
                 "__metadata__ value of 'step' is not a string");
  expect_refused(st_file(R"({"__metadata__":{"format":"skinmtl","format_version":"2"}})", ""),
                 "format_version '2' is not supported");
  // An integer tensor, which a Tensor cannot hold.
  expect_refused(st_file("{" + kA + R"(,"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})",
                         kData.substr(0, 8) + u64_le(7)),
                 "tensor 'n': dtype I64 is not supported");

  const std::string missing = dir.path("missing.safetensors");
  EXPECT_ERROR_WITH(load_safetensors(missing), missing, "cannot open");
}

TEST(Safetensors, IntegerTensorsCanBeSkipped) {
  TempDir dir;
  const std::string path = dir.path("int.safetensors");
  write_file(path,
             st_file("{" + kA + R"(,"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})",
                     kData.substr(0, 8) + u64_le(7)));
  SafetensorsLoadOptions opt;
  opt.skip_unsupported = true;
  TensorFile g = load_safetensors(path, opt);
  EXPECT_EQ(g.tensors.size(), 1u);
  EXPECT_EQ(g.at("a").to_vector(), (std::vector<double>{1, 2}));
  EXPECT_EQ(g.skipped, (std::vector<std::string>{"n"}));
  // Skipping does not excuse a broken byte range.
  write_file(path,
             st_file("{" + kA + R"(,"n":{"dtype":"I64","shape":[2],"data_offsets":[8,16]}})",
                     kData.substr(0, 8) + u64_le(7)));
  EXPECT_ERROR_WITH(load_safetensors(path, opt), path, "needs 16 bytes");
}

// ---- atomic saving -----------------------------------------------------------------------------------

TEST(Safetensors, AFailedSaveLeavesTheOldFileAndNoTemporary) {
  TempDir dir;
  const std::string path = dir.path("keep.safetensors");
  TensorFile f;
  f.tensors["x"] = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3});
  save_safetensors(path, f);
  const std::string before = read_file(path);

  TensorFile bad = f;
  bad.tensors["y"] = Tensor();  // undefined: the save must fail
  EXPECT_ERROR_WITH(save_safetensors(path, bad), path, "tensor 'y' is undefined");
  EXPECT_EQ(read_file(path), before);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  bad = f;
  bad.metadata["note"] = "caf\xe9";  // Latin-1, not UTF-8: JSON cannot carry it
  EXPECT_ERROR_WITH(save_safetensors(path, bad), path, "not valid UTF-8");
  EXPECT_EQ(read_file(path), before);

  // A successful save replaces the file whole.
  f.tensors["x"] = Tensor::from_vector(std::vector<double>{4, 5}, {2});
  save_safetensors(path, f);
  EXPECT_EQ(load_safetensors(path).at("x").to_vector(), (std::vector<double>{4, 5}));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  const std::string nowhere = dir.path("no/such/folder/x.safetensors");
  EXPECT_ERROR_WITH(save_safetensors(nowhere, f), nowhere, "cannot create");
}

TEST(SafetensorsCuda, SavesDeviceTensors) {
  REQUIRE_CUDA();
  TempDir dir;
  const std::string path = dir.path("gpu.safetensors");
  Tensor host = Tensor::from_vector(std::vector<double>{1.5, -2, 3, 4, 5, 6}, {3, 2});
  TensorFile f;
  f.tensors["g"] = host.to(Device::CUDA);
  save_safetensors(path, f);
  TensorFile g = load_safetensors(path);
  EXPECT_EQ(g.at("g").device(), Device::CPU);
  EXPECT_EQ(g.at("g").to_vector(), host.to_vector());
}

}  // namespace
}  // namespace skinmtl
