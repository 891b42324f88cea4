// io/seg_data: the generic CSV (columns, flags, splits, ids, relative paths),
// its errors with file:line, every missing file reported at once, the
// synthetic, ISIC 2017 and HAM10000 sources (fake labels.csv files here; the
// real ones when present), choosing a split, the training commands' check; io/seg_folder: images and masks paired by name
// across two folders, with labels from a CSV.
#include <filesystem>
#include <set>

#include "io/image.h"
#include "io/seg_data.h"
#include "io/seg_folder.h"
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
             "img/d.png," + dir.path("img/dm.png") + ",0,1,D,train,x\n");  // absolute mask path
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
  EXPECT_EQ(d.train[1].seborrheic_keratosis, 1);
  EXPECT_NE(d.description.find("2 train / 1 val; melanoma 1 / 0, seborrheic_keratosis 1 / 1"),
            std::string::npos) << d.description;
  EXPECT_NE(d.description.find("1 test rows left out"), std::string::npos) << d.description;
  // Every row, the test row too, in file order, with its split.
  ASSERT_EQ(d.all.size(), 4u);
  EXPECT_EQ(d.all[2].id, "C");
  EXPECT_EQ(d.all[2].split, "test");
  EXPECT_EQ(d.kind, "csv");
  EXPECT_TRUE(d.has_split_column);

  // Without a split column every row is train.
  write_file(dir.path("nosplit.csv"), "image,mask,melanoma,seborrheic_keratosis\n"
                                      "img/a.png,img/am.png,0,0\nimg/b.png,img/bm.png,0,0\n");
  const SegData n = load_seg_data(dir.path("nosplit.csv"), "");
  EXPECT_EQ(n.train.size(), 2u);
  EXPECT_EQ(n.val.size(), 0u);
  EXPECT_FALSE(n.has_split_column);
}

TEST(SegData, SelectSplit) {
  TempDir dir;
  write_pngs(dir);
  write_file(dir.path("d.csv"), "image,mask,melanoma,seborrheic_keratosis,id,split\n"
                                "img/a.png,img/am.png,0,0,A,train\nimg/b.png,img/bm.png,0,0,B,val\n"
                                "img/c.png,img/cm.png,0,0,C,test\nimg/d.png,img/dm.png,0,0,D,val\n");
  const SegData d = load_seg_data(dir.path("d.csv"), "");
  auto ids = [](const std::vector<SegSample>& v) {
    std::string s;
    for (const SegSample& x : v) s += x.id;
    return s;
  };
  EXPECT_EQ(ids(select_split(d, "val")), "BD");
  EXPECT_EQ(ids(select_split(d, "train")), "A");
  EXPECT_EQ(ids(select_split(d, "test")), "C");
  EXPECT_EQ(ids(select_split(d, "all")), "ABCD");
  EXPECT_ERROR_WITH(select_split(d, "valid"), "train, val, test or all, got 'valid'");
  // A CSV without a split column: every row is train; asking for val says how to take them all.
  write_file(dir.path("n.csv"), "image,mask,melanoma,seborrheic_keratosis\nimg/a.png,img/am.png,0,0\n");
  const SegData n = load_seg_data(dir.path("n.csv"), "");
  EXPECT_ERROR_WITH(select_split(n, "val"), "no val rows", "(the data has 1 train)", "no split column",
                    "--split all");
  EXPECT_EQ(select_split(n, "all").size(), 1u);
  try {  // the user's mistake: no C++ file:line in the message
    select_split(n, "val");
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find(".cpp:"), std::string::npos) << e.what();
  }
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
  EXPECT_ERROR_WITH(load_seg_data(bad("x.csv", "img/b.png,img/bm.png,1,1,B,train\n"), ""),
                    dir.path("x.csv") + ":3", "both melanoma and seborrheic_keratosis are 1", "exclusive");
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
  EXPECT_EQ(d.kind, "isic2017");
  ASSERT_EQ(d.all.size(), 3u);  // train rows, then val rows
  EXPECT_EQ(d.all[2].id, "I1");
  EXPECT_EQ(d.all[2].split, "val");
}

// HAM10000 as an external test set of the classifiers: every row a test row
// without a mask, melanoma from dx = mel and the seborrheic keratosis flag from
// dx = bkl (and said so); the training commands' check refuses it.
TEST(SegData, Ham10000OnAFakeLabelsFile) {
  TempDir dir;
  write_pngs(dir);
  std::filesystem::create_directories(dir.path("ham10000"));
  write_file(dir.path("ham10000/labels.csv"),
             "image_id,lesion_id,dx,dx_type,age,sex,localization,image\n"
             "H0,L0,nv,histo,40,male,back,../img/a.png\n"
             "H1,L1,mel,histo,60,female,face,../img/b.png\n"
             "H2,L2,bkl,histo,70,male,unknown,../img/c.png\n"
             "H3,L3,bcc,histo,80,male,trunk,../img/d.png\n");
  const SegData d = load_seg_data("ham10000", dir.str());
  EXPECT_EQ(d.kind, "ham10000");
  EXPECT_FALSE(d.has_masks);
  EXPECT_TRUE(d.labelled);
  EXPECT_EQ(d.default_split, "test");
  EXPECT_EQ(d.sk_name, "benign keratosis (bkl)");
  EXPECT_TRUE(d.train.empty());
  EXPECT_TRUE(d.val.empty());
  ASSERT_EQ(d.all.size(), 4u);
  const int mel[] = {0, 1, 0, 0}, bkl[] = {0, 0, 1, 0};
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(d.all[i].id, "H" + std::to_string(i));
    EXPECT_EQ(d.all[i].split, "test");
    EXPECT_TRUE(d.all[i].mask.empty());
    EXPECT_EQ(d.all[i].melanoma, mel[i]);
    EXPECT_EQ(d.all[i].seborrheic_keratosis, bkl[i]);
  }
  EXPECT_EQ(d.all[1].image, dir.path("ham10000/../img/b.png"));
  EXPECT_NE(d.description.find("4 test images without masks, for the classifiers only; melanoma 1, benign "
                               "keratosis-like (bkl, for seborrheic_keratosis) 1"),
            std::string::npos) << d.description;
  EXPECT_EQ(select_split(d, "test").size(), 4u);
  EXPECT_EQ(load_seg_data("ham10000:" + dir.path("ham10000/labels.csv"), "nowhere").all.size(), 4u);
  EXPECT_ERROR_WITH(require_training_data(d), "have no lesion masks", "ham10000");
  // A missing image is reported with its row, as for the other sources.
  std::filesystem::remove(dir.path("img/d.png"));
  EXPECT_ERROR_WITH(load_seg_data("ham10000", dir.str()), "labels.csv:5", "d.png");
}

TEST(SegData, TrainingDataMustHaveMasksAndTrainRows) {
  TempDir dir;
  write_pngs(dir);
  write_file(dir.path("d.csv"), "image,mask,melanoma,seborrheic_keratosis,split\nimg/a.png,img/am.png,0,0,val\n");
  EXPECT_ERROR_WITH(require_training_data(load_seg_data(dir.path("d.csv"), "")), "no training images in");
  write_file(dir.path("d.csv"), "image,mask,melanoma,seborrheic_keratosis,split\nimg/a.png,img/am.png,0,0,train\n");
  EXPECT_NO_THROW(require_training_data(load_seg_data(dir.path("d.csv"), "")));
}

// ---- folders ---------------------------------------------------------------------------------

TEST(SegFolder, MaskKeys) {
  EXPECT_EQ(mask_file_key("/x/ISIC_0000000_segmentation.png"), "ISIC_0000000");
  EXPECT_EQ(mask_file_key("IMD002_lesion.bmp"), "IMD002");
  EXPECT_EQ(mask_file_key("masks/lesion7.png"), "lesion7");
  EXPECT_EQ(mask_file_key("_lesion.png"), "_lesion");  // nothing would be left
  EXPECT_TRUE(has_mask_suffix("IMD002_lesion.bmp"));
  EXPECT_FALSE(has_mask_suffix("IMD002.bmp"));
  EXPECT_TRUE(is_image_file_name("a.BMP"));
  EXPECT_FALSE(is_image_file_name("a.txt"));
}

// An ISIC-named, a PH2-named (24-bit BMP) and a plain-named mask; labels for
// all three and one other image.
struct Folders {
  TempDir dir;
  std::string images = dir.path("images"), masks = dir.path("masks"), labels = dir.path("labels.csv");
  Folders() {
    std::filesystem::create_directories(images);
    std::filesystem::create_directories(masks);
    for (const char* n : {"ISIC_0000001", "IMD002", "plain"}) save_png(images + "/" + n + ".png", Image(4, 5, 3));
    save_png(masks + "/ISIC_0000001_segmentation.png", Image(4, 5, 1));
    write_file(masks + "/IMD002_lesion.bmp", test::bmp_file(Image(4, 5, 1), 24));
    save_png(masks + "/plain.png", Image(4, 5, 1));
    write_file(masks + "/notes.txt", "not an image");
    write_file(labels, "image_id,melanoma,seborrheic_keratosis,extra\nplain,0,1,x\nIMD002,1,0,x\n"
                       "ISIC_0000001,0.0,0,x\nother,1,0,x\n");
  }
};

TEST(SegFolder, PairsIsicPh2AndPlainNamesWithLabels) {
  Folders f;
  const SegData d = read_seg_folders(f.images, f.masks, f.labels);
  EXPECT_EQ(d.kind, "folders");
  EXPECT_TRUE(d.labelled);
  EXPECT_FALSE(d.has_split_column);
  EXPECT_TRUE(d.train.empty() && d.val.empty());
  ASSERT_EQ(d.all.size(), 3u);  // by key
  EXPECT_EQ(d.all[0].id, "IMD002");
  EXPECT_EQ(d.all[0].mask, f.masks + "/IMD002_lesion.bmp");
  EXPECT_EQ(d.all[0].melanoma, 1);
  EXPECT_EQ(d.all[1].id, "ISIC_0000001");
  EXPECT_EQ(d.all[1].image, f.images + "/ISIC_0000001.png");
  EXPECT_EQ(d.all[1].mask, f.masks + "/ISIC_0000001_segmentation.png");
  EXPECT_EQ(d.all[2].id, "plain");
  EXPECT_EQ(d.all[2].seborrheic_keratosis, 1);
  EXPECT_NE(d.description.find("3 images with masks"), std::string::npos) << d.description;
  EXPECT_NE(d.description.find("melanoma 1, seborrheic_keratosis 1 (1 rows for other images ignored)"),
            std::string::npos) << d.description;
  EXPECT_EQ(select_split(d, "all").size(), 3u);

  // Without labels: masks only.
  const SegData u = read_seg_folders(f.images, f.masks, "");
  EXPECT_FALSE(u.labelled);
  EXPECT_EQ(u.all.size(), 3u);
  EXPECT_NE(u.description.find("no labels"), std::string::npos) << u.description;

  // One folder for both: the suffixed files are the masks, "plain.png" is then an image without a mask.
  std::filesystem::copy(f.masks + "/IMD002_lesion.bmp", f.images + "/IMD002_lesion.bmp");
  std::filesystem::copy(f.masks + "/ISIC_0000001_segmentation.png", f.images + "/ISIC_0000001_segmentation.png");
  std::filesystem::remove(f.images + "/plain.png");
  const SegData one = read_seg_folders(f.images, f.images, "");
  ASSERT_EQ(one.all.size(), 2u);
  EXPECT_EQ(one.all[0].image, f.images + "/IMD002.png");
  EXPECT_EQ(one.all[0].mask, f.images + "/IMD002_lesion.bmp");
}

TEST(SegFolder, ErrorsListWhatIsMissing) {
  Folders f;
  save_png(f.images + "/lonely.jpg", Image(4, 5, 3));
  EXPECT_ERROR_WITH(read_seg_folders(f.images, f.masks, ""),
                    "1 of 4 images in " + f.images + " have no mask in " + f.masks, "lonely.jpg");
  std::filesystem::remove(f.images + "/lonely.jpg");
  // Masks without an image are counted, not an error.
  save_png(f.masks + "/spare_segmentation.png", Image(4, 5, 1));
  EXPECT_NE(read_seg_folders(f.images, f.masks, "").description.find("1 masks without an image ignored"),
            std::string::npos);
  // Two masks for one image.
  save_png(f.masks + "/plain_segmentation.png", Image(4, 5, 1));
  EXPECT_ERROR_WITH(read_seg_folders(f.images, f.masks, ""), "--masks " + f.masks, "two masks for 'plain'",
                    f.masks + "/plain.png", f.masks + "/plain_segmentation.png");
  std::filesystem::remove(f.masks + "/plain_segmentation.png");
  // Labels: an image without a row, a bad flag, a repeated id.
  write_file(f.labels, "image_id,melanoma,seborrheic_keratosis\nplain,0,0\n");
  EXPECT_ERROR_WITH(read_seg_folders(f.images, f.masks, f.labels), f.labels, "no row for 2 of 3 images",
                    "IMD002, ISIC_0000001");
  write_file(f.labels, "image_id,melanoma,seborrheic_keratosis\nplain,0,0\nIMD002,yes,0\nISIC_0000001,0,0\n");
  EXPECT_ERROR_WITH(read_seg_folders(f.images, f.masks, f.labels), f.labels + ":3", "'melanoma' must be 0 or 1");
  write_file(f.labels, "image_id,melanoma,seborrheic_keratosis\nplain,0,0\nplain,1,0\n");
  EXPECT_ERROR_WITH(read_seg_folders(f.images, f.masks, f.labels), f.labels + ":3", "'plain' was already on line 2");
  write_file(f.labels, "image_id,melanoma\nplain,0\n");
  EXPECT_ERROR_WITH(read_seg_folders(f.images, f.masks, f.labels), "no column 'seborrheic_keratosis'");
  // Folders that are not there, or hold no image.
  EXPECT_ERROR_WITH(read_seg_folders(f.dir.path("nowhere"), f.masks, ""), "--images", "not a folder");
  std::filesystem::create_directories(f.dir.path("empty"));
  EXPECT_ERROR_WITH(read_seg_folders(f.dir.path("empty"), f.masks, ""), "no image files");
  // None of these messages carries a C++ location.
  try {
    read_seg_folders(f.images, f.dir.path("nowhere"), "");
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find(".cpp:"), std::string::npos) << e.what();
  }
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

TEST(RealData, Ham10000SegData) {
  const std::string dir = test::real_data_dir();
  if (!std::filesystem::exists(dir + "/ham10000/labels.csv"))
    GTEST_SKIP() << "no HAM10000 in " << dir << " (set SKINMTL_DATA_DIR)";
  const SegData d = load_seg_data("ham10000", dir);  // also checks every image exists
  EXPECT_EQ(select_split(d, "test").size(), 4790u);
  EXPECT_NE(d.description.find("melanoma 393, benign keratosis-like (bkl, for seborrheic_keratosis) 467"),
            std::string::npos) << d.description;
  // No image of HAM10000 is one of ISIC 2017's (the models train on ISIC 2017).
  if (std::filesystem::exists(dir + "/isic2017/labels.csv")) {
    std::set<std::string> isic;
    for (const SegSample& s : load_seg_data("isic2017", dir).all) isic.insert(s.id);
    for (const SegSample& s : d.all) EXPECT_EQ(isic.count(s.id), 0u) << s.id;
  }
}

}  // namespace
}  // namespace skinmtl
