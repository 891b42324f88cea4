// io/seg_data: the generic CSV (columns, flags, splits, ids, relative paths),
// its errors with file:line, every missing file reported at once, the
// synthetic and ISIC 2017 sources (a fake labels.csv here; the real one when
// present).
#include <filesystem>

#include "io/image.h"
#include "io/seg_data.h"
#include "io/synthetic.h"
#include "tests/io_test_util.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::TempDir;
using test::write_file;

// a.png .. e.png and their masks am.png .. em.png (4x5), in dir/img/.
void write_pngs(const TempDir& dir) {
  std::filesystem::create_directories(dir.path("img"));
  for (const char* n : {"a", "b", "c", "d", "e"}) {
    save_png(dir.path(std::string("img/") + n + ".png"), Image(4, 5, 3));
    save_png(dir.path(std::string("img/") + n + "m.png"), Image(4, 5, 1));
  }
}

TEST(SegData, GenericCsv) {
  TempDir dir;
  write_pngs(dir);
  write_file(dir.path("d.csv"),
             "image,mask,melanoma,seborrheic_keratosis,id,split,extra\n"
             "img/a.png,img/am.png,1,0,A,train,x\n"
             "img/b.png,img/bm.png,0,1.0,,val,x\n"           // no id: the image's stem
             "img/c.png,img/cm.png,0.0,0,C,test,x\n"         // left out
             "img/d.png," + dir.path("img/dm.png") + ",1,1,D,train,x\n");  // absolute mask path
  const SegData d = load_seg_data(dir.path("d.csv"), "unused");
  ASSERT_EQ(d.train.size(), 2u);
  ASSERT_EQ(d.val.size(), 1u);
  EXPECT_EQ(d.train[0].id, "A");
  EXPECT_EQ(d.train[0].image, dir.path("img/a.png"));
  EXPECT_EQ(d.train[0].mask, dir.path("img/am.png"));
  EXPECT_EQ(d.train[0].melanoma, 1);
  EXPECT_EQ(d.train[0].seborrheic_keratosis, 0);
  EXPECT_EQ(d.train[0].where, dir.path("d.csv") + ":2");
  EXPECT_EQ(d.val[0].id, "b");
  EXPECT_EQ(d.val[0].melanoma, 0);
  EXPECT_EQ(d.val[0].seborrheic_keratosis, 1);
  EXPECT_EQ(d.train[1].mask, dir.path("img/dm.png"));
  EXPECT_EQ(d.train[1].melanoma + d.train[1].seborrheic_keratosis, 2);
  EXPECT_NE(d.description.find("2 train / 1 val; melanoma 2 / 0, seborrheic_keratosis 1 / 1"),
            std::string::npos) << d.description;
  EXPECT_NE(d.description.find("1 test rows left out"), std::string::npos) << d.description;

  // Without a split column every row is train.
  write_file(dir.path("nosplit.csv"), "image,mask,melanoma,seborrheic_keratosis\n"
                                      "img/a.png,img/am.png,0,0\nimg/b.png,img/bm.png,0,0\n");
  const SegData n = load_seg_data(dir.path("nosplit.csv"), "");
  EXPECT_EQ(n.train.size(), 2u);
  EXPECT_EQ(n.val.size(), 0u);
}

TEST(SegData, RowErrorsNameFileAndLine) {
  TempDir dir;
  write_pngs(dir);
  const std::string h = "image,mask,melanoma,seborrheic_keratosis,id,split\n";
  const std::string ok = "img/a.png,img/am.png,0,0,A,train\n";
  auto bad = [&](const std::string& name, const std::string& row) {
    write_file(dir.path(name), h + ok + row);
    return dir.path(name);
  };
  EXPECT_ERROR_WITH(load_seg_data(bad("f.csv", "img/b.png,img/bm.png,yes,0,B,train\n"), ""),
                    dir.path("f.csv") + ":3", "'melanoma' must be 0 or 1, got 'yes'");
  EXPECT_ERROR_WITH(load_seg_data(bad("s.csv", "img/b.png,img/bm.png,0,0,B,trian\n"), ""),
                    dir.path("s.csv") + ":3", "split must be train, val or test");
  EXPECT_ERROR_WITH(load_seg_data(bad("m.csv", "img/b.png,,0,0,B,train\n"), ""),
                    dir.path("m.csv") + ":3", "empty mask path");
  EXPECT_ERROR_WITH(load_seg_data(bad("i.csv", ",img/bm.png,0,0,B,train\n"), ""),
                    dir.path("i.csv") + ":3", "empty image path");
  EXPECT_ERROR_WITH(load_seg_data(bad("dup.csv", "img/b.png,img/bm.png,0,0,A,val\n"), ""),
                    dir.path("dup.csv") + ":3", "id 'A' was already used at " + dir.path("dup.csv") + ":2");
  write_file(dir.path("col.csv"), "image,mask,melanoma\nimg/a.png,img/am.png,0\n");
  EXPECT_ERROR_WITH(load_seg_data(dir.path("col.csv"), ""), "seborrheic_keratosis");
  EXPECT_ERROR_WITH(load_seg_data(dir.path("nothing.csv"), ""), "no data", "isic2017");
}

TEST(SegData, MissingFilesAreReportedTogether) {
  TempDir dir;
  write_pngs(dir);
  write_file(dir.path("d.csv"), "image,mask,melanoma,seborrheic_keratosis,split\n"
                                "img/a.png,img/am.png,0,0,train\n"
                                "img/x.png,img/bm.png,0,0,train\n"   // missing image
                                "img/c.png,img/ym.png,0,0,val\n");  // missing mask
  EXPECT_ERROR_WITH(load_seg_data(dir.path("d.csv"), ""), "2 missing file(s)",
                    dir.path("d.csv") + ":3: " + dir.path("img/x.png") + ": missing",
                    dir.path("d.csv") + ":4: " + dir.path("img/ym.png") + ": missing (mask)");
}

TEST(SegData, SyntheticManifest) {
  TempDir dir;
  SynthWriteOptions o;
  o.n = 20;
  o.synth.size = 32;
  o.contact_sheet = 0;
  o.progress = false;
  const std::string manifest = dir.path("syn/manifest.csv");
  // Absent: generated with the options given (here small); present: left alone.
  ensure_synth_dataset(manifest, o);
  ASSERT_TRUE(std::filesystem::exists(manifest));
  const auto stamp = std::filesystem::last_write_time(manifest);
  ensure_synth_dataset(manifest, o);
  EXPECT_EQ(std::filesystem::last_write_time(manifest), stamp);

  const SegData d = load_seg_data("synthetic:" + manifest, "");
  ASSERT_EQ(d.train.size(), 16u);  // 20 = 16 train + 2 val (8, 18) + 2 test (9, 19)
  ASSERT_EQ(d.val.size(), 2u);
  EXPECT_EQ(d.val[1].id, "synth_000018");
  EXPECT_EQ(d.val[1].mask, dir.path("syn/masks/000018.png"));
  for (size_t k = 0; k < d.train.size(); ++k) {
    const int64_t i = (int64_t)(k + k / 8 * 2);  // train indices 0-7, 10-17
    const SynthSample s = synth_labels(1, i);
    EXPECT_EQ(d.train[k].melanoma, (int)s.melanoma()) << k;
    EXPECT_EQ(d.train[k].seborrheic_keratosis, (int)s.seborrheic_keratosis()) << k;
  }
  EXPECT_NE(d.description.find("synthetic"), std::string::npos);
  EXPECT_ERROR_WITH(ensure_synth_dataset(dir.path("other/labels.csv"), o), "not named manifest.csv");
}

TEST(SegData, Isic2017OnAFakeLabelsFile) {
  TempDir dir;
  write_pngs(dir);
  std::filesystem::create_directories(dir.path("isic2017"));
  write_file(dir.path("isic2017/labels.csv"),
             "image_id,split,melanoma,seborrheic_keratosis,diagnosis3,anatom_site_general,image,mask\n"
             "I0,train,0,0,nevus,,../img/a.png,../img/am.png\n"
             "I1,val,1,0,melanoma,,../img/b.png,../img/bm.png\n"
             "I2,train,0,1,seborrheic_keratosis,,../img/c.png,../img/cm.png\n");
  const SegData d = load_seg_data("isic2017", dir.str());
  ASSERT_EQ(d.train.size(), 2u);
  ASSERT_EQ(d.val.size(), 1u);
  EXPECT_EQ(d.train[1].id, "I2");
  EXPECT_EQ(d.train[1].seborrheic_keratosis, 1);
  EXPECT_EQ(d.train[1].melanoma, 0);
  EXPECT_EQ(d.val[0].melanoma, 1);
  EXPECT_EQ(d.val[0].mask, dir.path("isic2017/../img/bm.png"));
  // The file may be named after the colon.
  EXPECT_EQ(load_seg_data("isic2017:" + dir.path("isic2017/labels.csv"), "nowhere").train.size(), 2u);
}

TEST(RealData, Isic2017SegData) {
  const std::string dir = test::real_data_dir();
  if (!std::filesystem::exists(dir + "/isic2017/labels.csv"))
    GTEST_SKIP() << "no ISIC 2017 in " << dir << " (set SKINMTL_DATA_DIR)";
  const SegData d = load_seg_data("isic2017", dir);  // also checks every file exists
  EXPECT_EQ(d.train.size(), 2000u);
  EXPECT_EQ(d.val.size(), 150u);
  EXPECT_NE(d.description.find("2000 train / 150 val; melanoma 374 / 30, seborrheic_keratosis 254 / 42"),
            std::string::npos) << d.description;
  EXPECT_EQ(d.train[0].id, "ISIC_0000000");
  EXPECT_EQ(load_image(d.train[0].mask, 1).str(), "192x256x1");
}

}  // namespace
}  // namespace skinmtl
