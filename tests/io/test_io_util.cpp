// io/ utilities: CSV logs (round trip, append, errors), PNG line charts
// (size, pixels actually drawn, errors) and the progress bar's formatting.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "figures/plot.h"
#include "io/csv_log.h"
#include "io/progress.h"
#include "stb_image.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// A fresh path in the temporary directory, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_(::testing::TempDir() + "skinmtl_" + std::to_string(getpid()) + "_" + name) {
    std::remove(path_.c_str());
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Expects `statement` to throw skinmtl::Error whose message contains `text`.
#define EXPECT_ERROR_MENTIONS(statement, text)                                      \
  do {                                                                              \
    try {                                                                           \
      statement;                                                                    \
      ADD_FAILURE() << "no error from " #statement;                                 \
    } catch (const Error& e) {                                                      \
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();   \
    }                                                                               \
  } while (0)

// ---- CSV ------------------------------------------------------------------------------------

TEST(CsvLog, WritesHeaderAndRows) {
  TempFile f("log.csv");
  {
    CsvLog log(f.path(), {"iter", "lr", "loss", "val_loss"});
    log.log({{"iter", 3}, {"loss", 0.5}, {"lr", 1e-3}});
    log.log(std::vector<double>{4, 1e-3, 0.1, 0.61});
    // Flushed row by row: readable before the log is closed.
    EXPECT_EQ(read_all(f.path()), "iter,lr,loss,val_loss\n3,0.001,0.5,\n4,0.001,0.1,0.61\n");
  }
}

TEST(CsvLog, RoundTrip) {
  TempFile f("round.csv");
  const std::vector<double> a = {0, 1, 2, 120000};
  const std::vector<double> b = {0.6931471805599453, 1.0 / 3.0, -2.5e-7, 1e300};
  {
    CsvLog log(f.path(), {"a", "b"});
    for (size_t i = 0; i < a.size(); ++i) log.log(std::vector<double>{a[i], b[i]});
    log.log({{"a", 5.0}});  // b left empty
    log.log(std::vector<double>{NAN, INFINITY});
  }
  CsvColumns t = read_csv_columns(f.path());
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(t.rows(), 6u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(t.column("a")[i], a[i]);  // exactly: shortest round-trip digits
    EXPECT_EQ(t.column("b")[i], b[i]);
  }
  EXPECT_EQ(t.column("a")[4], 5.0);
  EXPECT_TRUE(std::isnan(t.column("b")[4]));
  EXPECT_TRUE(std::isnan(t.column("a")[5]));
  EXPECT_TRUE(std::isinf(t.column("b")[5]));
  EXPECT_TRUE(t.has("b"));
  EXPECT_FALSE(t.has("c"));
  EXPECT_ERROR_MENTIONS(t.column("c"), f.path());
}

TEST(CsvLog, NumberFormat) {
  EXPECT_EQ(format_csv_number(3), "3");
  EXPECT_EQ(format_csv_number(0.1), "0.1");
  EXPECT_EQ(format_csv_number(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(format_csv_number(NAN), "nan");
  EXPECT_EQ(format_csv_number(-INFINITY), "-inf");
  EXPECT_EQ(std::strtod(format_csv_number(0.1 + 0.2).c_str(), nullptr), 0.1 + 0.2);
}

TEST(CsvLog, AppendChecksHeader) {
  TempFile f("append.csv");
  {
    CsvLog log(f.path(), {"iter", "loss"});
    log.log(std::vector<double>{1, 0.9});
  }
  {
    CsvLog log(f.path(), {"iter", "loss"}, CsvLog::Mode::Append);  // a resumed run
    log.log(std::vector<double>{2, 0.8});
  }
  EXPECT_EQ(read_all(f.path()), "iter,loss\n1,0.9\n2,0.8\n");
  // Other columns: refused, naming the file; the file is left as it was.
  EXPECT_ERROR_MENTIONS(CsvLog(f.path(), {"iter", "acc"}, CsvLog::Mode::Append), f.path());
  EXPECT_ERROR_MENTIONS(CsvLog(f.path(), {"iter", "acc"}, CsvLog::Mode::Append), "iter,acc");
  EXPECT_EQ(read_all(f.path()), "iter,loss\n1,0.9\n2,0.8\n");
  // Append to a file that does not exist yet starts it with the header.
  TempFile g("append_new.csv");
  {
    CsvLog log(g.path(), {"x"}, CsvLog::Mode::Append);
    log.log(std::vector<double>{7});
  }
  EXPECT_EQ(read_all(g.path()), "x\n7\n");
  // Truncate mode starts over.
  { CsvLog log(f.path(), {"iter", "acc"}); }
  EXPECT_EQ(read_all(f.path()), "iter,acc\n");
}

TEST(CsvLog, ResumeDropsTheRowsPastTheCheckpoint) {
  // A run checkpointed at iteration 2, then killed while writing iteration 4:
  // resuming at 2 drops rows 3 and the partial 4; they are logged again.
  TempFile f("resume.csv");
  {
    std::ofstream out(f.path());
    out << "iter,loss\n1,0.9\n2,0.8\n3,0.7\n4,0.";
  }
  {
    CsvLog log(f.path(), {"iter", "loss"}, CsvLog::Mode::Resume, 2);
    EXPECT_EQ(log.dropped_rows(), 2);
    log.log(std::vector<double>{3, 0.75});
  }
  EXPECT_EQ(read_all(f.path()), "iter,loss\n1,0.9\n2,0.8\n3,0.75\n");
  EXPECT_FALSE(std::filesystem::exists(f.path() + ".tmp"));
  // Resumed at the last row: nothing to drop, the file is not rewritten.
  {
    CsvLog log(f.path(), {"iter", "loss"}, CsvLog::Mode::Resume, 3);
    EXPECT_EQ(log.dropped_rows(), 0);
  }
  EXPECT_EQ(read_all(f.path()), "iter,loss\n1,0.9\n2,0.8\n3,0.75\n");
  // A log of a version with fewer columns is extended; other headers and a
  // first cell that is not a number are refused, the file left as it was.
  {
    CsvLog log(f.path(), {"iter", "loss", "allreduce_s"}, CsvLog::Mode::Resume, 3);
    log.log(std::vector<double>{4, 0.7, 0.01});
  }
  EXPECT_EQ(read_all(f.path()), "iter,loss,allreduce_s\n1,0.9,\n2,0.8,\n3,0.75,\n4,0.7,0.01\n");
  EXPECT_ERROR_MENTIONS(CsvLog(f.path(), {"iter", "acc", "allreduce_s"}, CsvLog::Mode::Resume, 3), "differs");
  EXPECT_ERROR_MENTIONS(CsvLog(f.path(), {"iter"}, CsvLog::Mode::Resume, 3), "differs");
  TempFile g("resume_bad.csv");
  {
    std::ofstream out(g.path());
    out << "iter,loss\n1,0.9\nx,0.8\n";
  }
  EXPECT_ERROR_MENTIONS(CsvLog(g.path(), {"iter", "loss"}, CsvLog::Mode::Resume, 5), g.path() + ":3");
  EXPECT_EQ(read_all(g.path()), "iter,loss\n1,0.9\nx,0.8\n");
  // No file yet: started with the header, as Append does.
  TempFile h("resume_new.csv");
  { CsvLog log(h.path(), {"iter"}, CsvLog::Mode::Resume, 7); }
  EXPECT_EQ(read_all(h.path()), "iter\n");
}

TEST(CsvLog, AppendAfterKilledRun) {
  TempFile f("killed.csv");
  {
    std::ofstream out(f.path());
    out << "iter,loss\n1,0.9\n2";  // killed in the middle of a row
  }
  {
    CsvLog log(f.path(), {"iter", "loss"}, CsvLog::Mode::Append);
    log.log(std::vector<double>{2, 0.8});
  }
  CsvColumns t = read_csv_columns(f.path());
  ASSERT_EQ(t.rows(), 3u);
  EXPECT_EQ(t.column("iter"), (std::vector<double>{1, 2, 2}));
  EXPECT_TRUE(std::isnan(t.column("loss")[1]));  // the partial row, padded
  EXPECT_EQ(t.column("loss")[2], 0.8);
}

TEST(CsvLog, Errors) {
  TempFile f("errors.csv");
  EXPECT_ERROR_MENTIONS(CsvLog("/nonexistent_dir/x.csv", {"a"}), "/nonexistent_dir/x.csv");
  EXPECT_THROW(CsvLog(f.path(), {}), Error);
  EXPECT_THROW(CsvLog(f.path(), {"a", "a"}), Error);
  EXPECT_THROW(CsvLog(f.path(), {"a,b"}), Error);
  CsvLog log(f.path(), {"a", "b"});
  EXPECT_ERROR_MENTIONS(log.log({{"c", 1.0}}), "no column 'c'");
  EXPECT_THROW(log.log({{"a", 1.0}, {"a", 2.0}}), Error);
  EXPECT_THROW(log.log(std::vector<double>{1, 2, 3}), Error);
  EXPECT_ERROR_MENTIONS(read_csv_columns("/nonexistent_dir/y.csv"), "/nonexistent_dir/y.csv");
  TempFile bad("bad.csv");
  {
    std::ofstream out(bad.path());
    out << "a,b\n1,2\n3,oops\n";
  }
  EXPECT_ERROR_MENTIONS(read_csv_columns(bad.path()), bad.path() + ":3");
  {
    std::ofstream out(bad.path());
    out << "a,b\n1,2,3\n";
  }
  EXPECT_ERROR_MENTIONS(read_csv_columns(bad.path()), bad.path() + ":2");
}

// ---- plots ----------------------------------------------------------------------------------

struct Image {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;
  const uint8_t* at(int x, int y) const { return &rgb[((size_t)y * w + x) * 3]; }
};

Image load_png(const std::string& path) {
  Image im;
  int channels = 0;
  unsigned char* p = stbi_load(path.c_str(), &im.w, &im.h, &channels, 3);
  if (!p) return im;
  im.rgb.assign(p, p + (size_t)im.w * im.h * 3);
  stbi_image_free(p);
  return im;
}

// Pixels in rows [y0, y1) that are "near" colour c.
int count_near(const Image& im, int y0, int y1, Rgb c, int tol) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = 0; x < im.w; ++x) {
      const uint8_t* p = im.at(x, y);
      if (std::abs(p[0] - c.r) <= tol && std::abs(p[1] - c.g) <= tol && std::abs(p[2] - c.b) <= tol)
        ++n;
    }
  return n;
}

TEST(Plot, WritesAPngWithLinesTitleAndLegend) {
  TempFile f("plot.png");
  Series down{"falling", {}, {}, Rgb{255, 0, 0}};
  Series flat{"flat", {}, {}, Rgb{0, 0, 255}};
  for (int i = 0; i <= 100; ++i) {
    down.xs.push_back(i);
    down.ys.push_back(1.0 - i / 100.0);
    flat.xs.push_back(i);
    flat.ys.push_back(0.5);
  }
  plot_lines(f.path(), "A TITLE", {down, flat}, "iteration", "loss", false, 640, 400);
  Image im = load_png(f.path());
  ASSERT_EQ(im.w, 640);
  ASSERT_EQ(im.h, 400);
  // The corners are background.
  EXPECT_EQ(count_near(im, 0, 1, Rgb{255, 255, 255}, 0), 640);
  // Red pixels along a diagonal across most of the image: count them and
  // check they span it from the upper left to the lower right.
  int n = 0, minx = im.w, maxx = -1, y_at_minx = -1, y_at_maxx = -1;
  for (int y = 0; y < im.h; ++y)
    for (int x = 0; x < im.w; ++x) {
      const uint8_t* p = im.at(x, y);
      if (p[0] > 200 && p[1] < 60 && p[2] < 60) {
        ++n;
        if (x < minx) minx = x, y_at_minx = y;
        if (x > maxx) maxx = x, y_at_maxx = y;
      }
    }
  EXPECT_GT(n, 600);  // a line about 2 px wide, ~550 px long (plus the legend sample)
  EXPECT_LT(minx, 120);
  EXPECT_GT(maxx, 560);
  EXPECT_LT(y_at_minx, y_at_maxx);  // falling: larger row (lower) at the right
  // The flat blue line is one horizontal band of rows.
  int blue_rows = 0;
  for (int y = 0; y < im.h; ++y) {
    int in_row = 0;
    for (int x = 0; x < im.w; ++x) {
      const uint8_t* p = im.at(x, y);
      if (p[2] > 200 && p[0] < 60 && p[1] < 60) ++in_row;
    }
    if (in_row > 300) ++blue_rows;
  }
  EXPECT_GE(blue_rows, 1);
  EXPECT_LE(blue_rows, 3);
  // Dark pixels in the title band (text), none of them in a row of pure margin.
  EXPECT_GT(count_near(im, 0, 40, Rgb{0, 0, 0}, 40), 50);
  EXPECT_EQ(count_near(im, 0, 10, Rgb{0, 0, 0}, 40), 0);
}

TEST(Plot, LogAxisGapsAndEdgeCases) {
  TempFile f("plot_log.png");
  // A NaN and non-positive values on a log axis are left out, not fatal.
  Series s{"lr", {0, 1, 2, 3, 4, 5}, {1e-2, 1e-3, NAN, 0.0, 1e-5, 1e-6}, std::nullopt};
  plot_lines(f.path(), "", {s}, "", "", true);
  Image im = load_png(f.path());
  ASSERT_EQ(im.w, 800);
  ASSERT_EQ(im.h, 500);
  const Rgb c = palette_color(0);
  EXPECT_GT(count_near(im, 0, im.h, c, 10), 100);
  // A single point, a flat series, and no series at all still draw.
  plot_lines(f.path(), "one point", {Series{"p", {3}, {7}, std::nullopt}}, "x", "y");
  EXPECT_EQ(load_png(f.path()).w, 800);
  plot_lines(f.path(), "nothing", {}, "x", "y");
  EXPECT_EQ(load_png(f.path()).h, 500);
}

TEST(Plot, Errors) {
  TempFile f("plot_err.png");
  EXPECT_ERROR_MENTIONS(plot_lines(f.path(), "t", {Series{"bad", {1, 2}, {1}, std::nullopt}},
                                   "x", "y"),
                        f.path());
  EXPECT_ERROR_MENTIONS(
      plot_lines("/nonexistent_dir/p.png", "t", {Series{"a", {1, 2}, {1, 2}, std::nullopt}}, "x",
                 "y"),
      "/nonexistent_dir/p.png");
  EXPECT_THROW(plot_lines(f.path(), "t", {}, "x", "y", false, 100, 100), Error);
}

TEST(Plot, FromCsv) {
  TempFile csv("curves.csv"), png("curves.png");
  {
    CsvLog log(csv.path(), {"iter", "loss", "val_loss"});
    for (int i = 0; i < 50; ++i) {
      log.log({{"iter", (double)i}, {"loss", 1.0 / (1 + i)}});
      if (i % 10 == 9) log.log({{"iter", (double)i}, {"val_loss", 1.5 / (1 + i)}});
    }
  }
  plot_csv(csv.path(), png.path(), "iter", {"loss", "val_loss"});
  Image im = load_png(png.path());
  ASSERT_EQ(im.w, 800);
  EXPECT_GT(count_near(im, 0, im.h, palette_color(0), 10), 200);
  EXPECT_GT(count_near(im, 0, im.h, palette_color(1), 10), 200);  // val points joined
  EXPECT_ERROR_MENTIONS(plot_csv(csv.path(), png.path(), "iter", {"acc"}), "no column 'acc'");
}

// Pixels of colour c (within tol) in the box [x0, x1) x [y0, y1).
int count_near_in(const Image& im, int x0, int y0, int x1, int y1, Rgb c, int tol) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const uint8_t* p = im.at(x, y);
      if (std::abs(p[0] - c.r) <= tol && std::abs(p[1] - c.g) <= tol && std::abs(p[2] - c.b) <= tol) ++n;
    }
  return n;
}

TEST(Plot, NoisyColumnsAreSmoothedAndSparseOnesGetDots) {
  TempFile csv("noisy.csv"), png("noisy.png");
  {
    CsvLog log(csv.path(), {"iter", "loss", "heldout_loss"});
    Rng rng(3);
    for (int i = 1; i <= 400; ++i) log.log({{"iter", (double)i}, {"loss", 2.0 / (1 + i / 50.0) + rng.uniform() - 0.5}});
    log.log({{"iter", 400.0}, {"heldout_loss", 0.9}});  // one held-out evaluation
  }
  const CsvColumns table = read_csv_columns(csv.path());
  const std::vector<Series> s = csv_series(table, "iter", {"loss", "heldout_loss"});
  ASSERT_EQ(s.size(), 3u);
  // loss: every value faint, and the running mean of the last 10 (400 / 40) named.
  // (The 401st row holds only the held-out value: its empty loss is left out.)
  const std::vector<double>& column = table.column("loss");
  const std::vector<double> raw(column.begin(), column.begin() + 400);
  EXPECT_TRUE(s[0].faint);
  EXPECT_EQ(s[0].ys, raw);
  EXPECT_FALSE(s[1].faint);
  EXPECT_EQ(s[1].name, "loss (mean of 10)");
  ASSERT_EQ(s[1].ys.size(), 400u);
  double want = 0;
  for (int r = 390; r < 400; ++r) want += raw[r] / 10;
  EXPECT_NEAR(s[1].ys[399], want, 1e-12);
  EXPECT_NEAR(s[1].ys[0], raw[0], 1e-15);  // fewer than 10 so far: the mean of those
  EXPECT_TRUE(s[0].color && s[1].color && *s[0].color == *s[1].color);
  // heldout_loss: one value, with a dot.
  EXPECT_TRUE(s[2].markers);
  EXPECT_EQ(s[2].ys, (std::vector<double>{0.9}));
  // In the picture the single held-out value is a visible dot (about 6 px
  // across, not cut by the frame), plus the legend's sample line.
  plot_csv(csv.path(), png.path(), "iter", {"loss", "heldout_loss"});
  const Image im = load_png(png.path());
  EXPECT_GE(count_near(im, 0, im.h, palette_color(1), 10), 25 + 12);
  // Fewer rows than kSmoothMinPoints: one line with dots, nothing faint.
  for (const Series& t : csv_series(table, "heldout_loss", {"heldout_loss"})) EXPECT_FALSE(t.faint);
}

TEST(Plot, TheLegendAvoidsTheCurves) {
  // A rising line fills the top-right and bottom-left corners: the legend goes
  // to the top left or bottom right, and leaves the line visible.
  TempFile f("legend.png");
  Series up{"rising", {}, {}, Rgb{255, 0, 0}};
  for (int i = 0; i <= 100; ++i) {
    up.xs.push_back(i);
    up.ys.push_back(i);
  }
  plot_lines(f.path(), "", {up}, "x", "y", false, 640, 400);
  Image im = load_png(f.path());
  const Rgb red{255, 0, 0}, border{170, 170, 170};
  // The line reaches into the top-right corner, uncovered.
  EXPECT_GT(count_near_in(im, 520, 10, 630, 70, red, 60), 40);
  // The legend box's grey border is in the top-left or bottom-right quarter.
  const int tl = count_near_in(im, 0, 0, 320, 200, border, 3), br = count_near_in(im, 320, 200, 640, 400, border, 3);
  const int tr = count_near_in(im, 320, 0, 640, 200, border, 3);
  EXPECT_GT(tl + br, 100);
  EXPECT_EQ(tr, 0);
}

TEST(Plot, NiceTicks) {
  EXPECT_EQ(nice_ticks(0, 1, 6), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}));
  EXPECT_EQ(nice_step(0, 12000, 6), 2000);
  EXPECT_EQ(nice_ticks(-0.13, 0.27, 5), (std::vector<double>{-0.1, 0, 0.1, 0.2}));
  EXPECT_EQ(nice_step(0.3, 2.8, 6), 0.5);
  EXPECT_EQ(format_tick(0.25, 0.05), "0.25");
  EXPECT_EQ(format_tick(2000, 1000), "2000");
  EXPECT_EQ(format_tick(1.0, 0.5), "1.0");
  EXPECT_EQ(format_tick(-1e-17, 0.1), "0.0");
  EXPECT_EQ(format_tick(3e-8, 1e-8), "3e-08");
  EXPECT_THROW(nice_ticks(1, 1), Error);
  // Whole numbers only (an axis of seeds): no 1.5 between seeds 1 and 2, a
  // nice step where the range is wide.
  EXPECT_EQ(nice_step(0.97, 3.03, 6), 0.5);
  EXPECT_EQ(whole_number_ticks(0.97, 3.03, 6), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(whole_number_ticks(0.5, 1.5, 6), (std::vector<double>{1}));
  EXPECT_EQ(whole_number_ticks(0, 30, 6), nice_ticks(0, 30, 6));
  EXPECT_THROW(whole_number_ticks(2, 2), Error);
}

// ---- progress ----------------------------------------------------------------------------------

TEST(Progress, FormatDuration) {
  EXPECT_EQ(format_duration(0), "00:00");
  EXPECT_EQ(format_duration(4.9), "00:04");
  EXPECT_EQ(format_duration(125), "02:05");
  EXPECT_EQ(format_duration(3599), "59:59");
  EXPECT_EQ(format_duration(3725), "1:02:05");
  EXPECT_EQ(format_duration(100 * 3600 + 1), "100:00:01");
  EXPECT_EQ(format_duration(-1), "--:--");
  EXPECT_EQ(format_duration(NAN), "--:--");
  EXPECT_EQ(format_duration(INFINITY), "--:--");
}

TEST(Progress, FormatRateAndBar) {
  EXPECT_EQ(format_rate(12.34), "12.3 it/s");
  EXPECT_EQ(format_rate(1234.5), "1234 it/s");
  EXPECT_EQ(format_rate(0.4), "2.50 s/it");
  EXPECT_EQ(format_rate(0), "? it/s");
  EXPECT_EQ(format_bar(45, 100, 10), "[====>     ]");
  EXPECT_EQ(format_bar(0, 100, 10), "[>         ]");
  EXPECT_EQ(format_bar(100, 100, 10), "[==========]");
  EXPECT_EQ(format_bar(150, 100, 4), "[====]");
  EXPECT_EQ(format_progress_line("train", 45, 100, 12.3, 3.7, false, "loss 0.6931", 10),
            "train [====>     ] 45/100  12.3 it/s  ETA 00:04  loss 0.6931");
  EXPECT_EQ(format_progress_line("", 0, 10, 0, 0, false, "", 4), "[>   ] 0/10  ? it/s  ETA --:--");
  EXPECT_EQ(format_progress_line("eval", 10, 10, 2, 5, true, "", 4),
            "eval [====] 10/10  2.0 it/s  took 00:05");
}

TEST(Progress, RateIsAMovingAverage) {
  RateMeter m(0.5);
  EXPECT_EQ(m.rate(), 0);
  m.add(0, 0);
  EXPECT_EQ(m.rate(), 0);  // one sample: no rate yet
  m.add(1, 10);
  EXPECT_DOUBLE_EQ(m.rate(), 10);  // the first measurement as it is
  m.add(2, 30);                    // 20 it/s: 0.5 * 20 + 0.5 * 10
  EXPECT_DOUBLE_EQ(m.rate(), 15);
  m.add(2, 40);  // no time passed: ignored
  EXPECT_DOUBLE_EQ(m.rate(), 15);
  for (int t = 3; t < 40; ++t) m.add(t, 30 + (t - 2) * 20);  // steady 20 it/s...
  EXPECT_NEAR(m.rate(), 20, 1e-6);                            // ...converges to it
}

TEST(Progress, PlainLinesEveryTenPercentWhenNotATerminal) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress p(200, "epoch 1", out);  // a file: not a TTY
    EXPECT_FALSE(p.is_tty());
    for (int i = 1; i <= 200; ++i) p.update(i, "loss 0.5");
    p.finish();
    p.finish();  // a second finish does nothing
  }
  std::rewind(out);
  std::string text;
  char buf[512];
  while (std::fgets(buf, sizeof buf, out)) text += buf;
  std::fclose(out);
  // Lines at 10%, 20%, ..., 90%, and the final one; no carriage returns.
  int lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, 10) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_NE(text.find("epoch 1 [===>"), std::string::npos) << text;
  EXPECT_NE(text.find(" 20/200 "), std::string::npos) << text;
  EXPECT_NE(text.find(" 200/200 "), std::string::npos) << text;
  EXPECT_NE(text.find("took 00:00  loss 0.5\n"), std::string::npos) << text;
}

// A resumed run starts its bar at the checkpoint's count: the first line must
// not credit the work done before the restart to the first few milliseconds
// (it once printed "25879917 it/s  ETA 00:00").
TEST(Progress, AResumedRunDoesNotCountEarlierWorkInItsRate) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress p(500, "train", out, /*tty=*/1);
    p.update(100);  // resumed at 100 of 500, nothing done yet in this run
  }
  std::rewind(out);
  std::string text;
  char buf[512];
  while (std::fgets(buf, sizeof buf, out)) text += buf;
  std::fclose(out);
  EXPECT_NE(text.find("100/500"), std::string::npos) << text;
  // Nothing done in this run yet: the rate and the ETA are unknown.
  EXPECT_NE(text.find("100/500  ? it/s  ETA --:--"), std::string::npos) << text;
}

TEST(Progress, RedrawsInPlaceOnATerminal) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress p(1000, "t", out, /*tty=*/1);
    for (int i = 1; i <= 1000; ++i) p.update(i);  // fast: throttled to very few redraws
    p.finish("done");
  }
  std::rewind(out);
  std::string text;
  char buf[512];
  while (std::fgets(buf, sizeof buf, out)) text += buf;
  std::fclose(out);
  int redraws = 0, newlines = 0;
  for (char c : text) {
    redraws += c == '\r';
    newlines += c == '\n';
  }
  EXPECT_GE(redraws, 2);   // the first update, and the final state
  EXPECT_LE(redraws, 10);  // not one per update
  EXPECT_EQ(newlines, 1);  // only at the end
  EXPECT_NE(text.find("1000/1000"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_THROW(Progress(0, "x"), Error);
}

// The ranks other than 0 of a data-parallel job silence their bars
// (app/data_parallel.h): a bar meant for stderr draws nothing, one given its
// own stream still draws, and errors still reach stderr. Process-wide, so it
// runs in a child process of its own.
TEST(Progress, SilencedBarsDrawNothingOnStderr) {
  EXPECT_EXIT(
      {
        silence_progress_bars();
        Progress quiet(4, "silenced-bar", stderr, 0);
        for (int i = 1; i <= 4; ++i) quiet.update(i);
        quiet.finish();
        Progress own(2, "own-stream", stdout, 0);  // a stream chosen by the caller is kept
        own.finish();
        std::fputs("an error line\n", stderr);
        std::exit(0);
      },
      testing::ExitedWithCode(0), "^an error line\n$");
}

}  // namespace
}  // namespace skinmtl
