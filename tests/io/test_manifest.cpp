// io/manifest and io/csv: the manifest format, its errors, the file check, and
// the HAM10000 / ISIC 2017 adapters (on small fake files, and on the real data
// when $SKINMTL_DATA_DIR or ../shared/data has it).
#include <filesystem>

#include "io/csv.h"
#include "io/manifest.h"
#include "tests/io_test_util.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::TempDir;
using test::write_file;

// The message of the skinmtl::Error that f throws ("" and a failure if none).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception thrown";
  return "";
}

#define EXPECT_MENTIONS(msg, part) \
  EXPECT_NE((msg).find(part), std::string::npos) << "'" << (msg) << "' lacks '" << (part) << "'"

TEST(Csv, QuotesAndFieldCounts) {
  EXPECT_EQ(parse_csv_line("a,\"b, c\",,\"say \"\"hi\"\"\"", "x"),
            (std::vector<std::string>{"a", "b, c", "", "say \"hi\""}));
  EXPECT_EQ(parse_csv_line("a,", "x"), (std::vector<std::string>{"a", ""}));
  EXPECT_MENTIONS(error_of([] { parse_csv_line("a,\"b", "f.csv:4"); }), "f.csv:4: unterminated");
  EXPECT_THROW(parse_csv_line("\"a\"b", "x"), Error);
  TempDir dir;
  write_file(dir.path("t.csv"), "x,y\r\n1,2\r\n\r\n3,4\n");
  const CsvTable t = read_csv(dir.path("t.csv"));
  EXPECT_EQ(t.header, (std::vector<std::string>{"x", "y"}));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[1][1], "4");
  EXPECT_EQ(t.line[1], 4);  // blank line skipped, numbering kept
  EXPECT_MENTIONS(error_of([&] { t.require_column("z"); }), "no column 'z'");
  EXPECT_MENTIONS(error_of([&] { read_csv(dir.path("none.csv")); }), "none.csv");
}

// UTF-8 as RFC 3629 defines it: every multi-byte form accepted, every
// malformed one (stray continuation, overlong, surrogate, > U+10FFFF,
// truncated) found at its first byte.
// csv_field writes what parse_csv_line reads back: plain fields as they are,
// the others quoted.
TEST(Csv, FieldsWrittenReadBackUnchanged) {
  EXPECT_EQ(csv_field("plain id"), "plain id");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  const std::vector<std::string> fields = {"plain", "a,b", "say \"hi\"", "two\nlines", "", "\r"};
  std::string line;
  for (const std::string& f : fields) line += (line.empty() ? "" : ",") + csv_field(f);
  // (parse_csv_line reads one line; the line break and CR live inside quotes.)
  EXPECT_EQ(parse_csv_line(line, "test"), fields);
}

TEST(Csv, Utf8Validation) {
  for (const char* ok : {"", "plain", "caf\xC3\xA9", "\xE2\x82\xAC 5", "\xF0\x9F\x94\xAC",
                         "\xED\x9F\xBF", "\xF4\x8F\xBF\xBF", "\xEF\xBB\xBF"})
    EXPECT_EQ(find_invalid_utf8(ok), std::string::npos) << ok;
  const std::pair<const char*, size_t> bad[] = {
      {"caf\xE9", 3},             // Latin-1 e-acute
      {"a\x80", 1},               // continuation byte without a lead
      {"\xC0\xAF", 0},            // overlong '/'
      {"ab\xE0\x80\xAF", 2},      // overlong, three bytes
      {"\xED\xA0\x80", 0},        // a UTF-16 surrogate
      {"\xF4\x90\x80\x80", 0},    // above U+10FFFF
      {"x\xE2\x82", 1},           // cut short at the end
      {"\xE2(\xA1", 0},           // a continuation byte missing
      {"\xFF", 0}};
  for (const auto& [s, at] : bad) EXPECT_EQ(find_invalid_utf8(s), at) << s;
}

// A Latin-1 label and CR-only line ends fail when the file is read, naming the
// file, line and column, instead of training and failing at the first save.
TEST(Csv, NonUtf8AndCrOnlyLineEndsAreErrorsWithLineAndColumn) {
  TempDir dir;
  write_file(dir.path("latin1.csv"), "image_id,label\nA1,nevus\nA2,m\xE9lanome\n");
  const std::string e = error_of([&] { read_csv(dir.path("latin1.csv")); });
  EXPECT_MENTIONS(e, "latin1.csv:3:5: byte 0xE9 is not UTF-8");
  EXPECT_MENTIONS(e, "iconv");
  write_file(dir.path("mac.csv"), "image_id,label\rA1,nevus\rA2,melanoma\r");
  EXPECT_MENTIONS(error_of([&] { read_csv(dir.path("mac.csv")); }),
                  "mac.csv:1:15: a carriage return inside the line");
  write_file(dir.path("bom.csv"), "\xEF\xBB\xBFimage_id,label\r\nA1,caf\xC3\xA9\r\n");
  EXPECT_EQ(read_csv(dir.path("bom.csv")).rows.at(0).at(1), "caf\xC3\xA9");  // BOM, CRLF, UTF-8 fine
}

TEST(Manifest, ParsesLabelsPathsAndClasses) {
  TempDir dir;
  write_file(dir.path("m.csv"),
             "image,lesions,location,extra\n"
             "images/a.jpg,melanoma,back,x\n"
             "b.png, nevus ; seborrheic_keratosis ,face,\n"
             "\"/abs/c d.jpg\",nevus|melanoma|nevus,,y\n"
             "e.jpg,nevus,back,\n");
  const Manifest m = read_manifest(dir.path("m.csv"));
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m.lesion_classes,
            (std::vector<std::string>{"melanoma", "nevus", "seborrheic_keratosis"}));
  EXPECT_EQ(m.location_classes, (std::vector<std::string>{"back", "face"}));
  EXPECT_EQ(m.samples[0].image, dir.path("images/a.jpg"));  // relative to the manifest
  EXPECT_EQ(m.samples[2].image, "/abs/c d.jpg");             // absolute as written
  EXPECT_EQ(m.samples[0].lesions, (std::vector<int>{0}));
  EXPECT_EQ(m.samples[1].lesions, (std::vector<int>{1, 2}));
  EXPECT_EQ(m.samples[2].lesions, (std::vector<int>{0, 1}));  // sorted, duplicates merged
  EXPECT_EQ(m.samples[0].location, 0);
  EXPECT_EQ(m.samples[1].location, 1);
  EXPECT_EQ(m.samples[2].location, -1);  // empty = unknown
  EXPECT_EQ(m.samples[1].id, "b.png");
  EXPECT_EQ(m.samples[3].where, dir.path("m.csv") + ":5");

  const Tensor lt = m.lesion_targets();
  ASSERT_EQ(lt.shape(), (Shape{4, 3}));
  EXPECT_EQ(lt.to_vector(), (std::vector<double>{1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0}));
  EXPECT_EQ(m.location_targets().to_vector(), (std::vector<double>{0, 1, -1, 0}));

  const Manifest s = m.subset({3, 0});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.samples[0].image, dir.path("e.jpg"));
  EXPECT_EQ(s.lesion_classes, m.lesion_classes);
  EXPECT_THROW(m.subset({4}), Error);
}

TEST(Manifest, GivenClassOrderAndOptionalColumns) {
  TempDir dir;
  write_file(dir.path("m.csv"), "id,lesions,image,group,mask\n"
                                "s1,b,x.jpg,g1,x_mask.png\n"
                                "s2,a;b,y.jpg,g1,\n");
  ManifestOptions opt;
  opt.lesion_classes = {"b", "a", "c"};
  opt.location_classes = {"arm", "leg"};
  const Manifest m = read_manifest(dir.path("m.csv"), opt);
  EXPECT_EQ(m.lesion_classes, opt.lesion_classes);
  EXPECT_EQ(m.samples[0].lesions, (std::vector<int>{0}));
  EXPECT_EQ(m.samples[1].lesions, (std::vector<int>{0, 1}));
  EXPECT_EQ(m.samples[0].location, -1);  // no location column: unknown
  EXPECT_EQ(m.samples[0].id, "s1");
  EXPECT_EQ(m.samples[1].group, "g1");
  EXPECT_EQ(m.samples[0].mask, dir.path("x_mask.png"));
  EXPECT_EQ(m.samples[1].mask, "");
  EXPECT_EQ(m.location_classes, opt.location_classes);

  opt.lesion_classes = {"b"};  // 'a' is not in it
  const std::string e = error_of([&] { read_manifest(dir.path("m.csv"), opt); });
  EXPECT_MENTIONS(e, dir.path("m.csv") + ":3");
  EXPECT_MENTIONS(e, "unknown lesion label 'a'");
  opt.lesion_classes = {"a", "b", "a"};
  EXPECT_MENTIONS(error_of([&] { read_manifest(dir.path("m.csv"), opt); }), "repeat");
}

TEST(Manifest, BadRowsNameFileAndLine) {
  TempDir dir;
  const std::string f = dir.path("bad.csv");
  struct Case {
    const char* text;
    const char* where;
    const char* what;
  };
  const Case cases[] = {
      {"image,lesions,location\na.jpg,nevus,back\nb.jpg,nevus\n", ":3", "2 fields, but the header has 3"},
      {"image,lesions,location\na.jpg,nevus,back\nb.jpg,nevus,back,x\n", ":3", "4 fields"},
      {"image,lesions,location\n  ,nevus,back\n", ":2", "empty image path"},
      {"image,lesions,location\na.jpg,nevus,back\n\nb.jpg, ; ,back\n", ":4", "no lesion label"},
      {"image,lesions,location\na.jpg,,back\n", ":2", "no lesion label"},
      {"image,location\na.jpg,back\n", ":1", "no column 'lesions'"},
      {"lesions,location\nnevus,back\n", ":1", "no column 'image'"},
      {"", "", "no header"},
      {"image,lesions,id\na.jpg,nevus,L1\nb.jpg,nevus,L2\nc.jpg,nevus,L1\n", ":4", "id 'L1' was already used at"},
      {"image,lesions\na.jpg,nevus\nb.jpg,nevus\na.jpg,melanoma\n", ":4", "id 'a.jpg' was already used"},
  };
  for (const Case& c : cases) {
    write_file(f, c.text);
    const std::string e = error_of([&] { read_manifest(f); });
    EXPECT_MENTIONS(e, f + c.where);
    EXPECT_MENTIONS(e, c.what);
  }
}

// A real data set's check (500 files or more) shows a progress bar, counts
// every file once, and drop_samples_with_problems (--skip-bad-rows) removes
// exactly the rows with a problem, keeping the order of the rest.
TEST(Manifest, LargeCheckShowsProgressAndBadRowsCanBeDropped) {
  TempDir dir;
  Rng rng(1);
  save_png(dir.path("ok.png"), test::random_image(2, 2, 3, rng));
  write_file(dir.path("bad.png"), "not an image");
  std::string csv = "image,lesions,location,id\n";
  for (int i = 0; i < 600; ++i) csv += (i == 7 || i == 300 ? "bad.png" : i == 450 ? "gone.png" : "ok.png") +
                                       std::string(",a,,s") + std::to_string(i) + "\n";
  write_file(dir.path("m.csv"), csv);
  Manifest m = read_manifest(dir.path("m.csv"));
  testing::internal::CaptureStderr();
  const ManifestCheck c = check_images(m);
  const std::string progress = testing::internal::GetCapturedStderr();
  EXPECT_MENTIONS(progress, "check images");
  EXPECT_MENTIONS(progress, "600/600");
  EXPECT_EQ(c.missing.size() + c.undecodable.size(), 3u);
  const std::vector<ImageProblem> dropped = drop_samples_with_problems(m, c);
  ASSERT_EQ(dropped.size(), 3u);
  EXPECT_EQ(dropped[0].index, 7u);  // row order
  EXPECT_EQ(dropped[1].index, 300u);
  EXPECT_EQ(dropped[2].index, 450u);
  EXPECT_EQ(dropped[2].reason, "missing");
  EXPECT_EQ(m.size(), 597u);
  EXPECT_TRUE(check_images(m).ok());
  // A small check draws nothing.
  Manifest small = m;
  small.samples.resize(10);
  testing::internal::CaptureStderr();
  check_images(small);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(Manifest, CheckReportsEveryMissingAndUndecodableImage) {
  TempDir dir;
  Rng rng(1);
  save_png(dir.path("ok.png"), test::random_image(4, 4, 3, rng));
  save_png(dir.path("ok2.png"), test::random_image(4, 4, 3, rng));
  write_file(dir.path("garbage.jpg"), "not an image");
  write_file(dir.path("m.csv"), "image,lesions,location,mask\n"
                                "ok.png,a,,\n"
                                "gone1.jpg,a,,\n"
                                "garbage.jpg,b,,\n"
                                "gone2.jpg,b,,\n"
                                "ok2.png,b,,gone_mask.png\n");
  const Manifest m = read_manifest(dir.path("m.csv"));
  const ManifestCheck quick = check_images(m);
  EXPECT_EQ(quick.checked, 5u);
  ASSERT_EQ(quick.missing.size(), 3u);  // all of them, not only the first
  EXPECT_EQ(quick.missing[0].path, dir.path("gone1.jpg"));
  EXPECT_EQ(quick.missing[0].where, dir.path("m.csv") + ":3");
  EXPECT_EQ(quick.missing[1].path, dir.path("gone2.jpg"));
  EXPECT_EQ(quick.missing[2].path, dir.path("gone_mask.png"));
  ASSERT_EQ(quick.undecodable.size(), 1u);  // its header, read without decoding
  EXPECT_EQ(quick.undecodable[0].path, dir.path("garbage.jpg"));
  EXPECT_MENTIONS(quick.undecodable[0].reason, "unreadable header");

  const ManifestCheck full = check_images(m, /*decode=*/true);
  ASSERT_EQ(full.undecodable.size(), 1u);
  EXPECT_EQ(full.undecodable[0].index, 2u);
  EXPECT_MENTIONS(full.undecodable[0].reason, "unknown image type");
  const std::string e = error_of([&] { require_images(m, true); });
  for (const char* part : {"gone1.jpg", "gone2.jpg", "gone_mask.png", "garbage.jpg", "3 missing"})
    EXPECT_MENTIONS(e, part);
  EXPECT_MENTIONS(full.report(2), "... and 2 more");

  const Manifest good = m.subset({0});
  EXPECT_TRUE(check_images(good, true).ok());
  EXPECT_NO_THROW(require_images(good, true));
}

// The quick check (header and last bytes) finds truncated JPEGs and PNGs and
// images over the pixel limit; decode=true also reads masks as load_mask does.
TEST(Manifest, QuickCheckFindsTruncatedFilesAndDecodeFindsUnreadableMasks) {
  TempDir dir;
  Rng rng(2);
  const Image img = test::random_image(24, 32, 3, rng);
  save_jpeg(dir.path("a.jpg"), img, 90);
  save_png(dir.path("b.png"), img);
  const std::string jpg = test::read_file(dir.path("a.jpg")), png = test::read_file(dir.path("b.png"));
  write_file(dir.path("cut.jpg"), jpg.substr(0, jpg.size() - 40));
  write_file(dir.path("cut.png"), png.substr(0, png.size() - 20));
  write_file(dir.path("padded.jpg"), jpg + std::string(3, '\0'));  // zero padding after FF D9 is fine
  Image dim(24, 32, 1);
  dim.at(3, 4, 0) = 7;  // largest value 7: no pixel reaches the threshold
  save_png(dir.path("dim_mask.png"), dim);
  write_file(dir.path("m.csv"), "image,lesions,mask\n"
                                "a.jpg,x,\n"
                                "cut.jpg,x,\n"
                                "cut.png,x,\n"
                                "padded.jpg,x,\n"
                                "b.png,x,dim_mask.png\n");
  const Manifest m = read_manifest(dir.path("m.csv"));
  const ManifestCheck quick = check_images(m);
  EXPECT_TRUE(quick.missing.empty());
  ASSERT_EQ(quick.undecodable.size(), 2u) << quick.report();
  EXPECT_EQ(quick.undecodable[0].path, dir.path("cut.jpg"));
  EXPECT_MENTIONS(quick.undecodable[0].reason, "end-of-image marker");
  EXPECT_EQ(quick.undecodable[1].path, dir.path("cut.png"));
  EXPECT_MENTIONS(quick.undecodable[1].reason, "IEND");
  const ManifestCheck full = check_images(m, /*decode=*/true);
  ASSERT_EQ(full.undecodable.size(), 3u) << full.report();
  EXPECT_EQ(full.undecodable[2].path, dir.path("dim_mask.png"));
  EXPECT_MENTIONS(full.undecodable[2].reason, "largest value is 7");
}

// ---- adapters on fake files with the real headers ---------------------------------

TEST(Ham10000, AdapterOnAFakeLabelsFile) {
  TempDir dir;
  write_file(dir.path("labels.csv"),
             "image_id,lesion_id,dx,dx_type,age,sex,localization,image\n"
             "ISIC_1,HAM_1,nv,follow_up,45,male,trunk,images/ISIC_1.jpg\n"
             "ISIC_2,HAM_2,mel,histo,50,female,unknown,images/ISIC_2.jpg\n"
             "ISIC_3,HAM_1,bkl,histo,,male,lower extremity,images/ISIC_3.jpg\n");
  const Manifest m = load_ham10000(dir.path("labels.csv"));
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m.lesion_classes, (std::vector<std::string>{"bkl", "mel", "nv"}));
  EXPECT_EQ(m.location_classes, (std::vector<std::string>{"lower extremity", "trunk"}));
  EXPECT_EQ(m.samples[0].lesions, (std::vector<int>{2}));
  EXPECT_EQ(m.samples[0].location, 1);
  EXPECT_EQ(m.samples[1].location, -1);  // 'unknown'
  EXPECT_EQ(m.samples[2].location, 0);
  EXPECT_EQ(m.samples[1].id, "ISIC_2");
  EXPECT_EQ(m.samples[2].group, "HAM_1");
  EXPECT_EQ(m.samples[0].image, dir.path("images/ISIC_1.jpg"));

  write_file(dir.path("bad.csv"), "image_id,lesion_id,dx,localization,image\n"
                                  "ISIC_1,HAM_1,,trunk,a.jpg\n");
  const std::string e = error_of([&] { load_ham10000(dir.path("bad.csv")); });
  EXPECT_MENTIONS(e, dir.path("bad.csv") + ":2");
  EXPECT_MENTIONS(e, "no lesion label");
  write_file(dir.path("nodx.csv"), "image_id,lesion_id,localization,image\n");
  EXPECT_MENTIONS(error_of([&] { load_ham10000(dir.path("nodx.csv")); }), "no column 'dx'");
}

TEST(Isic2017, AdapterOnAFakeLabelsFile) {
  TempDir dir;
  const std::string header =
      "image_id,split,melanoma,seborrheic_keratosis,diagnosis3,anatom_site_general,age_approx,"
      "sex,image,mask\n";
  write_file(dir.path("labels.csv"),
             header +
                 "I0,train,0,0,nevus,anterior torso,55,female,train/images/I0.jpg,train/masks/I0.png\n"
                 "I1,train,1,0,melanoma,,30,male,train/images/I1.jpg,train/masks/I1.png\n"
                 "I2,val,0,1,seborrheic_keratosis,head/neck,60,male,val/images/I2.jpg,val/masks/I2.png\n");
  const Manifest train = load_isic2017(dir.path("labels.csv"), "train");
  const Manifest val = load_isic2017(dir.path("labels.csv"), "val");
  const Manifest all = load_isic2017(dir.path("labels.csv"), "");
  EXPECT_EQ(train.size(), 2u);
  EXPECT_EQ(val.size(), 1u);
  EXPECT_EQ(all.size(), 3u);
  // Class lists come from every row, so both splits index alike.
  const std::vector<std::string> lesions{"melanoma", "nevus", "seborrheic_keratosis"};
  const std::vector<std::string> sites{"anterior torso", "head/neck"};
  EXPECT_EQ(train.lesion_classes, lesions);
  EXPECT_EQ(val.lesion_classes, lesions);
  EXPECT_EQ(train.location_classes, sites);
  EXPECT_EQ(val.location_classes, sites);
  EXPECT_EQ(train.samples[0].lesions, (std::vector<int>{1}));
  EXPECT_EQ(train.samples[1].lesions, (std::vector<int>{0}));
  EXPECT_EQ(val.samples[0].lesions, (std::vector<int>{2}));
  EXPECT_EQ(train.samples[0].location, 0);
  EXPECT_EQ(train.samples[1].location, -1);
  EXPECT_EQ(val.samples[0].location, 1);
  EXPECT_EQ(val.samples[0].mask, dir.path("val/masks/I2.png"));
  EXPECT_EQ(val.samples[0].id, "I2");
  EXPECT_EQ(val.samples[0].where, dir.path("labels.csv") + ":4");

  write_file(dir.path("both.csv"),
             header + "I0,train,1,1,melanoma,,,,a.jpg,a.png\n");
  EXPECT_MENTIONS(error_of([&] { load_isic2017(dir.path("both.csv"), ""); }),
                  "both melanoma and seborrheic_keratosis");
  write_file(dir.path("disagree.csv"), header + "I0,train,0,0,melanoma,,,,a.jpg,a.png\n");
  EXPECT_MENTIONS(error_of([&] { load_isic2017(dir.path("disagree.csv"), ""); }),
                  dir.path("disagree.csv") + ":2: diagnosis3 is 'melanoma'");
  write_file(dir.path("flag.csv"), header + "I0,train,yes,0,melanoma,,,,a.jpg,a.png\n");
  EXPECT_MENTIONS(error_of([&] { load_isic2017(dir.path("flag.csv"), ""); }), "must be 0 or 1");
  EXPECT_THROW(load_isic2017(dir.path("labels.csv"), "test"), Error);
}

// ---- the real data sets ---------------------------------------------------------------
// Skipped, by name, where the data is not there (a fresh clone, CI).

TEST(RealData, Ham10000LabelsAndImages) {
  const std::string csv = test::real_data_dir() + "/ham10000/labels.csv";
  if (!std::filesystem::exists(csv))
    GTEST_SKIP() << "no HAM10000 at " << csv << " (set SKINMTL_DATA_DIR)";
  const Manifest m = load_ham10000(csv);
  EXPECT_EQ(m.size(), 4790u);
  EXPECT_EQ(m.lesion_classes,
            (std::vector<std::string>{"akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"}));
  EXPECT_EQ(m.num_location_classes(), 14);  // 15 sites in the file, 'unknown' is not a class
  int unknown = 0;
  for (const Sample& s : m.samples) {
    EXPECT_EQ(s.lesions.size(), 1u);
    unknown += s.location < 0;
  }
  EXPECT_EQ(unknown, 128);
  EXPECT_TRUE(check_images(m).ok()) << check_images(m).report();
  // Decode a few: 224x224 RGB JPEGs.
  const Manifest few = m.subset({0, 1, 2, 1000, 4789});
  EXPECT_TRUE(check_images(few, true).ok());
  EXPECT_EQ(load_image(m.samples[4789].image).str(), "224x224x3");
}

TEST(RealData, Isic2017LabelsMasksAndImages) {
  const std::string csv = test::real_data_dir() + "/isic2017/labels.csv";
  if (!std::filesystem::exists(csv))
    GTEST_SKIP() << "no ISIC 2017 at " << csv << " (set SKINMTL_DATA_DIR)";
  const Manifest train = load_isic2017(csv, "train"), val = load_isic2017(csv, "val");
  EXPECT_EQ(train.size(), 2000u);
  EXPECT_EQ(val.size(), 150u);
  EXPECT_EQ(train.lesion_classes,
            (std::vector<std::string>{"melanoma", "nevus", "seborrheic_keratosis"}));
  EXPECT_EQ(train.location_classes, val.location_classes);
  EXPECT_EQ(train.num_location_classes(), 7);
  int counts[3] = {0, 0, 0};
  for (const Manifest* m : {&train, &val})
    for (const Sample& s : m->samples) ++counts[s.lesions.at(0)];
  EXPECT_EQ(counts[0], 404);   // melanoma
  EXPECT_EQ(counts[1], 1450);  // nevus
  EXPECT_EQ(counts[2], 296);   // seborrheic keratosis
  EXPECT_TRUE(check_images(train).ok()) << check_images(train).report();
  EXPECT_TRUE(check_images(val).ok()) << check_images(val).report();
  EXPECT_EQ(load_image(val.samples[0].image).str(), "192x256x3");
  EXPECT_EQ(load_image(val.samples[0].mask, 0).str(), "192x256x1");
}

}  // namespace
}  // namespace skinmtl
