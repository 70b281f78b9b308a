// Quick-look PNGs: colours, grey no-data, ranges, downsampling; pixels read back with cairo.
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include <cairo.h>
#include <gtest/gtest.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/eval/quicklook.hpp"
#include "test_support.hpp"

using lstfuse::Grid;
using lstfuse::Raster;
namespace ev = lstfuse::eval;

namespace {

Grid grid(int w, int h) {
  Grid g;
  g.width = w;
  g.height = h;
  return g;
}

struct Png {
  explicit Png(const std::string& path) : s(cairo_image_surface_create_from_png(path.c_str())) {}
  ~Png() { cairo_surface_destroy(s); }
  bool ok() const { return cairo_surface_status(s) == CAIRO_STATUS_SUCCESS; }
  int width() const { return cairo_image_surface_get_width(s); }
  int height() const { return cairo_image_surface_get_height(s); }
  std::array<int, 3> rgb(int x, int y) const {
    cairo_surface_flush(s);
    const auto* row = cairo_image_surface_get_data(s) + static_cast<size_t>(y) * cairo_image_surface_get_stride(s);
    const uint32_t p = reinterpret_cast<const uint32_t*>(row)[x];
    return {static_cast<int>((p >> 16) & 0xFF), static_cast<int>((p >> 8) & 0xFF), static_cast<int>(p & 0xFF)};
  }
  cairo_surface_t* s;
};

std::array<int, 3> rgb(std::array<uint8_t, 3> c) { return {c[0], c[1], c[2]}; }

}  // namespace

TEST(Quicklook, ColourMapEnds) {
  EXPECT_EQ(rgb(ev::colour_at(ev::ColourMap::Sequential, 0.0)), (std::array<int, 3>{0x44, 0x01, 0x54}));
  EXPECT_EQ(rgb(ev::colour_at(ev::ColourMap::Sequential, 1.0)), (std::array<int, 3>{0xfd, 0xe7, 0x25}));
  EXPECT_EQ(rgb(ev::colour_at(ev::ColourMap::Sequential, 7.0)), (std::array<int, 3>{0xfd, 0xe7, 0x25}));
  EXPECT_EQ(rgb(ev::colour_at(ev::ColourMap::Diverging, 0.5)), (std::array<int, 3>{0xf7, 0xf7, 0xf7}));
  const auto lo = ev::colour_at(ev::ColourMap::Diverging, 0.0), hi = ev::colour_at(ev::ColourMap::Diverging, 1.0);
  EXPECT_GT(lo[2], lo[0]);  // negative end blue
  EXPECT_GT(hi[0], hi[2]);  // positive end red
  // Sequential map gets monotonically lighter (sum of channels as a crude luminance).
  int prev = -1;
  for (int i = 0; i <= 20; ++i) {
    const auto c = ev::colour_at(ev::ColourMap::Sequential, i / 20.0);
    const int lum = 2 * c[0] + 7 * c[1] + c[2];
    EXPECT_GT(lum, prev);
    prev = lum;
  }
}

TEST(Quicklook, NiceTicks) {
  EXPECT_EQ(ev::nice_ticks(302.1, 312.2), (std::vector<double>{304, 306, 308, 310, 312}));
  EXPECT_EQ(ev::nice_ticks(-5, 5, 4), (std::vector<double>{-5, -2.5, 0, 2.5, 5}));
  EXPECT_TRUE(ev::nice_ticks(3, 3).empty());
}

TEST(Quicklook, MapColoursAndGreyNoData) {
  lstfuse::test::TempDir tmp;
  Raster r(grid(50, 40), 1, 300.0f);
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 50; ++x) {
      if (x < 25) r.set_valid(0, y, x, false);
      r.at(y, x) = x < 40 ? 310.0f : 290.0f;  // above and below the fixed range
    }
  ev::QuicklookOptions o;
  o.vmin = 295.0;
  o.vmax = 305.0;
  o.title = "test map";
  const auto path = (tmp / "map.png").string();
  const auto info = ev::render_png(r, path, o);
  EXPECT_EQ(info.range_source, "fixed");
  EXPECT_EQ(info.downsample, 1);
  EXPECT_EQ(info.map_width, 800);  // 50 px enlarged 16 times
  EXPECT_EQ(info.map_height, 640);
  Png png(path);
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png.width(), info.image_width);
  EXPECT_EQ(png.height(), info.image_height);
  const int s = 16;
  auto at = [&](int x, int y) { return png.rgb(info.map_x + x * s + s / 2, info.map_y + y * s + s / 2); };
  EXPECT_EQ(at(3, 5), (std::array<int, 3>{0xA0, 0xA0, 0xA0}));              // invalid: grey
  EXPECT_EQ(at(30, 5), rgb(ev::colour_at(ev::ColourMap::Sequential, 1.0)));  // 310 > max
  EXPECT_EQ(at(45, 20), rgb(ev::colour_at(ev::ColourMap::Sequential, 0.0))); // 290 < min
  EXPECT_FALSE(std::filesystem::exists(lstfuse::temporary_name(path)));
  // A range that is no range: infinite (one colour under "-inf .. inf") or absurd.
  for (const auto& [lo, hi] : std::vector<std::pair<double, double>>{
           {-std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()}, {0.0, 1e308}}) {
    o.vmin = lo;
    o.vmax = hi;
    const auto bad = (tmp / "bad.png").string();
    EXPECT_THROW(ev::render_png(r, bad, o), lstfuse::Error);
    EXPECT_FALSE(std::filesystem::exists(bad));
  }
}

TEST(Quicklook, RobustRangeAndDownsampling) {
  Raster r(grid(2500, 100), 1);
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 2500; ++x) r.at(y, x) = 280.0f + 40.0f * x / 2499.0f;
  r.at(0, 0) = 1000.0f;  // one outlier must not stretch the range
  ev::QuicklookInfo info;
  const auto bytes = ev::render_png_bytes(r, {}, &info);
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(bytes[1], 'P');
  EXPECT_EQ(bytes[2], 'N');
  EXPECT_EQ(info.downsample, 3);
  EXPECT_EQ(info.map_width, 834);
  EXPECT_LE(std::max(info.map_width, info.map_height), 1200);
  EXPECT_NEAR(info.vmin, 280.0 + 40.0 * 0.02, 0.05);
  EXPECT_NEAR(info.vmax, 280.0 + 40.0 * 0.98, 0.05);
  EXPECT_EQ(info.range_source, "robust 2-98 % percentiles");
}

TEST(Quicklook, DifferenceMapIsSymmetricAndCentred) {
  lstfuse::test::TempDir tmp;
  Raster b(grid(40, 40), 1, 300.0f);
  Raster a = b;
  for (int y = 0; y < 40; ++y)
    for (int x = 20; x < 40; ++x) a.at(y, x) = 300.0f + (y < 20 ? 3.0f : -1.0f);
  const auto path = (tmp / "diff.png").string();
  auto info = ev::render_diff_png(a, b, path);
  EXPECT_DOUBLE_EQ(info.vmin, -info.vmax);
  EXPECT_DOUBLE_EQ(info.vmax, 3.0);  // 98 % percentile of |a - b|
  Png png(path);
  ASSERT_TRUE(png.ok());
  const int s = 20;  // 40 px enlarged to 800
  auto at = [&](int x, int y) { return png.rgb(info.map_x + x * s + s / 2, info.map_y + y * s + s / 2); };
  EXPECT_EQ(at(5, 5), (std::array<int, 3>{0xf7, 0xf7, 0xf7}));                // 0: white
  EXPECT_EQ(at(30, 5), rgb(ev::colour_at(ev::ColourMap::Diverging, 1.0)));   // +3: red end
  const auto neg = at(30, 30);
  EXPECT_GT(neg[2], neg[0]);  // -1: bluish
  // A given range is made symmetric.
  ev::QuicklookOptions o;
  o.vmin = -1.0;
  o.vmax = 4.0;
  info = ev::render_diff_png(a, b, path, o);
  EXPECT_DOUBLE_EQ(info.vmin, -4.0);
  EXPECT_DOUBLE_EQ(info.vmax, 4.0);
  Raster other(grid(41, 40), 1, 300.0f);
  EXPECT_THROW(ev::render_diff_png(a, other, path, {}), lstfuse::Error);
}

TEST(Quicklook, Errors) {
  lstfuse::test::TempDir tmp;
  Raster none(grid(10, 10), 1, 300.0f, false);
  EXPECT_THROW(ev::render_png(none, (tmp / "x.png").string()), lstfuse::Error);
  EXPECT_FALSE(std::filesystem::exists(tmp / "x.png"));
  Raster r(grid(10, 10), 1, 300.0f);
  EXPECT_THROW(ev::render_png(r, (tmp / "no" / "dir" / "x.png").string()), lstfuse::Error);
  ev::QuicklookOptions o;
  o.band = 1;
  EXPECT_THROW(ev::render_png(r, (tmp / "x.png").string(), o), lstfuse::Error);
}

// The output rules replace a PNG only when lstfuse wrote it: every PNG it writes carries a
// "Software: lstfuse" text chunk with a correct CRC, which cairo's own PNGs do not.
TEST(Quicklook, PngsCarryLstfusesMark) {
  lstfuse::test::TempDir tmp;
  Raster r(grid(20, 10), 1, 300.0f);
  r.at(0, 0) = 290.0f;
  const auto path = (tmp / "map.png").string();
  ev::render_png(r, path);
  EXPECT_TRUE(ev::is_lstfuse_png(path));
  Png png(path);  // still a PNG cairo (libpng) reads
  ASSERT_TRUE(png.ok());
  // The chunk itself, as PNG defines it: length, "tEXt", keyword NUL text.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(bytes.find(std::string("tEXtSoftware\0lstfuse ", 20)), std::string::npos);
  // cairo's own PNG of the same size: no mark; a damaged mark (CRC wrong): no mark either.
  cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 20, 10);
  const auto plain = (tmp / "plain.png").string();
  ASSERT_EQ(cairo_surface_write_to_png(s, plain.c_str()), CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy(s);
  EXPECT_FALSE(ev::is_lstfuse_png(plain));
  std::string damaged = bytes;
  damaged[damaged.find("lstfuse ") + 8] ^= 1;  // the version: the keyword still matches
  std::ofstream((tmp / "damaged.png").string(), std::ios::binary) << damaged;
  EXPECT_FALSE(ev::is_lstfuse_png((tmp / "damaged.png").string()));
  std::ofstream((tmp / "text.png").string()) << "not a png";
  EXPECT_FALSE(ev::is_lstfuse_png((tmp / "text.png").string()));
  EXPECT_FALSE(ev::is_lstfuse_png((tmp / "missing.png").string()));
}
