#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <cpl_string.h>
#include <gdal_priv.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/io/products.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "test_support.hpp"

using namespace lstfuse;

namespace {
Grid utm_grid(int w, int h) {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {400000.0, 30.0, 0.0, 6200000.0, 0.0, -30.0};
  g.crs = io::crs_to_wkt("EPSG:32755");
  return g;
}

// A GeoTIFF on utm_grid's geotransform written by GDAL itself (no lstfuse mark), with creation
// options NAME=VALUE.
void gdal_geotiff(const std::string& path, int w, int h, GDALDataType type, const std::vector<std::string>& options = {}) {
  io::init_gdal();
  char** co = nullptr;
  for (const auto& o : options) co = CSLAddString(co, o.c_str());
  GDALDataset* ds = GetGDALDriverManager()->GetDriverByName("GTiff")->Create(path.c_str(), w, h, 1, type, co);
  CSLDestroy(co);
  ASSERT_NE(ds, nullptr);
  double t[6] = {400000.0, 30.0, 0.0, 6200000.0, 0.0, -30.0};
  ds->SetGeoTransform(t);
  ds->SetProjection(io::crs_to_wkt("EPSG:32755").c_str());
  GDALClose(ds);
}

// The message read_raster(path) fails with ("" when it reads).
std::string read_error(const std::string& path) {
  try {
    io::read_raster(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(RasterIo, GeoTiffRoundTripKeepsGridValuesAndMask) {
  test::TempDir tmp;
  Raster r(utm_grid(300, 200), 2);
  for (int b = 0; b < 2; ++b)
    for (int y = 0; y < 200; ++y)
      for (int x = 0; x < 300; ++x) r.at(b, y, x) = 290.0f + 0.01f * x + b;
  r.set_valid(1, 5, 7, false);
  for (const std::string fmt : {"GTiff", "COG"}) {
    const auto path = (tmp / ("out_" + fmt + ".tif")).string();
    io::WriteOptions wo;
    wo.format = fmt;
    io::write_raster(path, r, wo);
    EXPECT_FALSE(std::filesystem::exists(temporary_name(path, ".tif")));
    EXPECT_FALSE(std::filesystem::exists(temporary_name(path, ".cog.tif")));
    const Raster back = io::read_raster(path);
    EXPECT_TRUE(io::same_grid(back.grid(), r.grid())) << fmt;
    ASSERT_EQ(back.bands(), 2);
    EXPECT_FLOAT_EQ(back.at(1, 10, 299), r.at(1, 10, 299));
    EXPECT_FALSE(back.valid(1, 5, 7));
    EXPECT_TRUE(back.valid(0, 5, 7));
    // A window reaching past the edge: outside pixels invalid, grid shifted.
    const Raster win = io::read_window(path, 290, -2, 20, 5);
    EXPECT_FALSE(win.valid(0, 0, 0));
    EXPECT_TRUE(win.valid(0, 2, 9));
    EXPECT_FALSE(win.valid(0, 2, 10));
    EXPECT_FLOAT_EQ(win.at(0, 2, 9), r.at(0, 0, 299));
    EXPECT_DOUBLE_EQ(win.grid().transform[0], 400000.0 + 290 * 30.0);
  }
}

TEST(RasterIo, ScaleOffsetUnitsAndValidRange) {
  test::TempDir tmp;
  Raster dn(utm_grid(3, 1), 1);
  dn.at(0, 0) = 0;       // fill
  dn.at(0, 1) = 14500;   // 14500 * 0.02 = 290 K
  dn.at(0, 2) = 20000;   // 400 K: out of the valid range below
  const auto path = (tmp / "dn.tif").string();
  io::WriteOptions wo;
  wo.data_type = "UInt16";
  wo.nodata = 0;
  io::write_raster(path, dn, wo);
  io::ReadOptions ro;
  ro.scale = 0.02;
  ro.valid_max = 350;
  const Raster k = io::read_raster(path, ro);
  EXPECT_FALSE(k.valid(0, 0));
  EXPECT_TRUE(k.valid(0, 1));
  EXPECT_NEAR(k.at(0, 1), 290.0, 1e-4);
  EXPECT_FALSE(k.valid(0, 2));

  Raster c(utm_grid(1, 1), 1, 20.0f);
  const auto cpath = (tmp / "celsius.tif").string();
  io::write_raster(cpath, c);
  io::ReadOptions rc;
  rc.units = "C";
  EXPECT_NEAR(io::read_raster(cpath, rc).at(0, 0), 293.15, 1e-4);
}

TEST(RasterIo, AFilesOwnScaleAndOffsetAreApplied) {
  // GDAL's reads hand back the stored numbers; a GeoTIFF that declares value = stored * scale +
  // offset (gdal_edit.py -scale/-offset, lstfuse's own UInt16 writes) was read as its stored
  // numbers: 14500 as 14500 K (refused), or 200 with offset 100 as 200 K (used, 100 K off).
  test::TempDir tmp;
  Raster k(utm_grid(2, 1), 1);
  k.at(0, 0) = 290.0f;
  k.at(0, 1) = 301.5f;
  io::WriteOptions wo;
  wo.data_type = "UInt16";
  wo.nodata = 0;
  wo.scale = 0.02;
  wo.offset = 10.0;
  const auto path = (tmp / "dn.tif").string();
  io::write_raster(path, k, wo);
  {
    const Raster stored = io::read_raster(path, [] { io::ReadOptions r; r.bands = {1}; return r; }());
    EXPECT_NEAR(stored.at(0, 0), 290.0, 1e-4);  // (290 - 10) / 0.02 = 14000 stored, read back as 290
    EXPECT_NEAR(stored.at(0, 1), 301.5, 1e-4);
  }
  auto ds = std::unique_ptr<GDALDataset>(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY));
  int has = 0;
  EXPECT_DOUBLE_EQ(ds->GetRasterBand(1)->GetScale(&has), 0.02);
  double raw = 0;
  ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, 1, 1, &raw, 1, 1, GDT_Float64, 0, 0), CE_None);
  EXPECT_DOUBLE_EQ(raw, 14000.0);
  ds.reset();
  // The same encoding given by the caller agrees; another one is refused, naming the file.
  io::ReadOptions same;
  same.scale = 0.02;
  same.offset = 10.0;
  EXPECT_NEAR(io::read_raster(path, same).at(0, 0), 290.0, 1e-4);
  io::ReadOptions other;
  other.scale = 0.01;
  try {
    io::read_raster(path, other);
    FAIL() << "another scale than the file's was applied";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": declares its own scale 0.02 and offset 10"), std::string::npos)
        << e.what();
  }
  // Ingest's reader of generic GeoTIFFs: the same.
  const auto named = (tmp / "lst_20210704.tif").string();
  std::filesystem::copy_file(path, named);
  EXPECT_NEAR(io::ProductReader(io::identify_product(named), {}).read_all().at(0, 1), 301.5, 1e-4);
  io::ProductOptions given;
  given.scale = 0.5;
  EXPECT_THROW(io::ProductReader(io::identify_product(named), given), Error);
  // A scale no value can be read with (NaN, infinity, 0) is named, not ignored.
  for (const double bad : {std::nan(""), std::numeric_limits<double>::infinity(), 0.0}) {
    {
      auto w = std::unique_ptr<GDALDataset>(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
      w->GetRasterBand(1)->SetScale(bad);
    }
    try {
      io::read_raster(path);
      FAIL() << "scale " << bad << " was ignored";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("band 1 declares a scale of"), std::string::npos) << e.what();
    }
  }
}

TEST(RasterIo, ARasterReplacedLosesTheOldOnesStatisticsSidecar) {
  // gdalinfo -stats (or QGIS) leaves X.tif.aux.xml with X's statistics; a new X written over it
  // was shown with the old raster's mean, minimum and maximum.
  test::TempDir tmp;
  const auto path = (tmp / "x.tif").string();
  io::write_raster(path, Raster(utm_grid(4, 4), 1, 290.0f));
  const auto stats_mean = [&] {
    auto ds = std::unique_ptr<GDALDataset>(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY));
    double mn = 0, mx = 0, mean = 0, sd = 0;
    EXPECT_EQ(ds->GetRasterBand(1)->GetStatistics(FALSE, TRUE, &mn, &mx, &mean, &sd), CE_None);
    return mean;
  };
  EXPECT_DOUBLE_EQ(stats_mean(), 290.0);
  ASSERT_TRUE(std::filesystem::exists(path + ".aux.xml"));  // GDAL's sidecar, as gdalinfo -stats leaves it
  io::write_raster(path, Raster(utm_grid(4, 4), 1, 300.0f));
  EXPECT_FALSE(std::filesystem::exists(path + ".aux.xml"));
  EXPECT_DOUBLE_EQ(stats_mean(), 300.0);
  // A new raster leaves a sidecar of that name alone (it describes no raster lstfuse made).
  const auto fresh = (tmp / "y.tif").string();
  std::ofstream(fresh + ".aux.xml") << "<PAMDataset/>";
  io::write_raster(fresh, Raster(utm_grid(4, 4), 1, 300.0f));
  EXPECT_TRUE(std::filesystem::exists(fresh + ".aux.xml"));
  // Where lstfuse removes a raster of its own (fuse --overwrite, a benchmark run again), the
  // sidecar goes too: GDAL would give it to the next raster of that name. A link of that name,
  // or another file, stays.
  io::remove_stale_sidecar(fresh);
  EXPECT_FALSE(std::filesystem::exists(fresh + ".aux.xml"));
  std::ofstream(tmp / "notes.txt") << "mine";
  std::filesystem::create_symlink(tmp / "notes.txt", fresh + ".aux.xml");
  io::remove_stale_sidecar(fresh);
  EXPECT_TRUE(std::filesystem::is_symlink(fresh + ".aux.xml"));
  EXPECT_TRUE(std::filesystem::exists(tmp / "notes.txt"));
}

TEST(RasterIo, BadInputsNameTheFile) {
  test::TempDir tmp;
  const auto junk = (tmp / "junk.tif").string();
  std::ofstream(junk) << "this is not a raster";
  try {
    io::read_raster(junk);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(junk), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("not a readable raster"), std::string::npos);
  }
  EXPECT_THROW(io::read_raster((tmp / "missing.tif").string()), Error);

  Grid g = utm_grid(2, 2);
  g.crs.clear();
  const auto nocrs = (tmp / "nocrs.tif").string();
  io::write_raster(nocrs, Raster(g, 1, 300.0f));
  try {
    io::read_raster(nocrs);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no coordinate reference system"), std::string::npos);
  }
  // Writing into a missing folder fails before anything is created.
  EXPECT_THROW(io::write_raster((tmp / "nope" / "x.tif").string(), Raster(utm_grid(2, 2), 1)), Error);
  // A geotransform with pixels of no size is named as such.
  const auto zero = (tmp / "zero.tif").string();
  io::write_raster(zero, Raster(utm_grid(2, 2), 1, 300.0f));
  {
    GDALDataset* ds = static_cast<GDALDataset*>(GDALOpen(zero.c_str(), GA_Update));
    ASSERT_NE(ds, nullptr);
    double t[6] = {400000.0, 0.0, 0.0, 6200000.0, 0.0, 0.0};
    ds->SetGeoTransform(t);
    GDALClose(ds);
  }
  try {
    io::read_raster(zero);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(zero + ": has an invalid geotransform (pixel size 0 x 0)"), std::string::npos)
        << e.what();
  }
  // Complex numbers were read as their real part, the imaginary one dropped without a word.
  const auto cplx = (tmp / "cplx.tif").string();
  gdal_geotiff(cplx, 4, 4, GDT_CFloat32);
  const std::string why = read_error(cplx);
  EXPECT_NE(why.find(cplx + ": band 1 holds complex numbers (CFloat32)"), std::string::npos) << why;
}

// A mask of the file's own marks pixels invalid as nodata does: an internal mask band (as some
// Landsat-derived COGs carry) and a .msk sidecar; values under the mask are not read as LST.
// Values that are not numbers (NaN, +-inf) are no LST: read as nodata, as many products write
// NaN for it. A number far outside any LST (3e38, a sentinel the file does not declare) is not
// dropped in silence: the LST check refuses the file by name.
TEST(RasterIo, NonNumbersAreNodataAndAbsurdNumbersAreRefusedAsLst) {
  test::TempDir tmp;
  const std::string path = (tmp / "lst.tif").string();
  gdal_geotiff(path, 4, 3, GDT_Float32);
  std::vector<float> v(12, 300.0f);
  v[1] = std::numeric_limits<float>::quiet_NaN();
  v[5] = std::numeric_limits<float>::infinity();
  v[10] = -std::numeric_limits<float>::infinity();
  {
    GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
    ASSERT_NE(ds, nullptr);
    ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 4, 3, v.data(), 4, 3, GDT_Float32, 0, 0), CE_None);
  }
  const Raster r = io::read_raster(path);
  for (int i = 0; i < 12; ++i) {
    const bool number = i != 1 && i != 5 && i != 10;
    EXPECT_EQ(r.valid(i / 4, i % 4), number) << i;
    if (number) {
      EXPECT_EQ(r.at(i / 4, i % 4), 300.0f) << i;
    }
  }
  EXPECT_NO_THROW(io::check_plausible_lst(r, path));
  v[5] = 3e38f;
  {
    GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
    ASSERT_NE(ds, nullptr);
    ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 4, 3, v.data(), 4, 3, GDT_Float32, 0, 0), CE_None);
  }
  try {
    io::check_plausible_lst(io::read_raster(path), path);
    ADD_FAILURE() << "3e38 K accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("at pixel (1, 1) is outside the plausible 150-380 K"), std::string::npos)
        << e.what();
  }
}

TEST(RasterIo, AFilesOwnMaskMarksItsPixelsInvalid) {
  test::TempDir tmp;
  for (const bool internal : {true, false}) {
    const auto path = (tmp / (internal ? "internal.tif" : "sidecar.tif")).string();
    CPLSetThreadLocalConfigOption("GDAL_TIFF_INTERNAL_MASK", internal ? "YES" : "NO");
    gdal_geotiff(path, 4, 3, GDT_Float32);
    GDALDataset* ds = static_cast<GDALDataset*>(GDALOpen(path.c_str(), GA_Update));
    ASSERT_NE(ds, nullptr);
    std::vector<float> v(12, 300.0f);
    v[5] = -50.0f;  // under the mask: no LST
    ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 4, 3, v.data(), 4, 3, GDT_Float32, 0, 0), CE_None);
    ASSERT_EQ(ds->CreateMaskBand(GMF_PER_DATASET), CE_None);
    std::vector<uint8_t> m(12, 255);
    m[5] = 0;
    m[0] = 0;
    ASSERT_EQ(ds->GetRasterBand(1)->GetMaskBand()->RasterIO(GF_Write, 0, 0, 4, 3, m.data(), 4, 3, GDT_Byte, 0, 0), CE_None);
    GDALClose(ds);
    CPLSetThreadLocalConfigOption("GDAL_TIFF_INTERNAL_MASK", nullptr);
    EXPECT_EQ(std::filesystem::exists(path + ".msk"), !internal);
    const Raster r = io::read_raster(path);
    EXPECT_EQ(r.valid_count(0), 10) << path;
    EXPECT_FALSE(r.valid(0, 0, 0));
    EXPECT_FALSE(r.valid(0, 1, 1));
    EXPECT_TRUE(r.valid(0, 2, 3));
    EXPECT_FLOAT_EQ(r.at(0, 2, 3), 300.0f);
    const Raster w = io::read_window(path, 1, 1, 2, 2);  // the window's own part of the mask
    EXPECT_FALSE(w.valid(0, 0, 0));
    EXPECT_EQ(w.valid_count(0), 3);
  }
}

// A raster too large to read whole (a sparse file of 100 000 x 20 000 px: a few MB on disk)
// gave "out of memory ... a smaller --tile", in commands that have no --tile; a window of it
// still reads.
TEST(RasterIo, ARasterTooLargeToReadWholeIsNamed) {
  test::TempDir tmp;
  const auto path = (tmp / "huge.tif").string();
  gdal_geotiff(path, 100000, 20000, GDT_Float32, {"SPARSE_OK=TRUE", "TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512"});
  const std::string why = read_error(path);
  EXPECT_NE(why.find(path + ": a read of 100000 x 20000 pixels is beyond lstfuse's limit"), std::string::npos) << why;
  const Raster w = io::read_window(path, 50000, 10000, 64, 32);
  EXPECT_EQ(w.width(), 64);
  EXPECT_EQ(w.height(), 32);
  // metrics compares the grids before it reads either raster.
  const auto small = (tmp / "small.tif").string();
  io::write_raster(small, Raster(utm_grid(8, 8), 1, 300.0f));
  const auto r = test::run_cli("metrics " + small + " " + path);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("grid differs from the reference"), std::string::npos) << r.output;
  // info describes it at once, its statistics left out with the reason (a scan of 2 x 10^9
  // pixels would take minutes).
  const auto i = test::run_cli("info " + path);
  EXPECT_EQ(i.exit_code, 0) << i.output;
  EXPECT_NE(i.output.find("grid: 100000 x 20000 pixels"), std::string::npos) << i.output;
  EXPECT_NE(i.output.find("band 1: Float32, nodata none, statistics not computed: 2000000000 pixels, beyond lstfuse's "
                          "limit of 1000000000"),
            std::string::npos)
      << i.output;
}

// A file cut short (an interrupted copy or download) is named as truncated, with libtiff's
// reason, whichever thread decoded the block that is missing.
TEST(RasterIo, ATruncatedFileIsNamedAsSuch) {
  test::TempDir tmp;
  Raster r(utm_grid(300, 200), 1);
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 300; ++x) r.at(0, y, x) = 290.0f + 0.01f * static_cast<float>(x * y % 97);
  for (const std::string fmt : {"GTiff", "COG"}) {
    const auto whole = (tmp / ("whole_" + fmt + ".tif")).string();
    io::WriteOptions wo;
    wo.format = fmt;
    io::write_raster(whole, r, wo);
    const auto size = std::filesystem::file_size(whole);
    // A copy of the file cut to `n` bytes, read: the error's text ("" when it was read).
    const auto read_cut = [&](const std::string& name, uintmax_t n) {
      const auto path = (tmp / (name + "_" + fmt + ".tif")).string();
      std::filesystem::copy_file(whole, path, std::filesystem::copy_options::overwrite_existing);
      std::filesystem::resize_file(path, n);
      try {
        io::read_raster(path);
      } catch (const Error& e) {
        return std::make_pair(path, std::string(e.what()));
      }
      return std::make_pair(path, std::string());
    };
    const auto [cut, what] = read_cut("cut", size - size / 3);
    EXPECT_EQ(what.rfind(cut + ": read failed (the file is truncated or damaged: ", 0), 0u) << fmt << ": " << what;
    EXPECT_EQ(what.find("GDAL gave no reason"), std::string::npos) << what;
    // Cut inside its header, the file does not open at all: said the same way.
    const auto [stub, stub_what] = read_cut("stub", 100);
    EXPECT_EQ(stub_what.rfind(stub + ": not a readable raster (the TIFF file is truncated or damaged: ", 0), 0u)
        << fmt << ": " << stub_what;
    // Wherever it is cut, reading it fails and says so: a cut among the tags' data opened the
    // file without its georeferencing (a 1 x 1 m grid at the origin) or its nodata.
    for (uintmax_t n = 8; n < size; n += n < 2048 ? 5 : 997) {
      const std::string any_what = read_cut("any", n).second;
      EXPECT_NE(any_what.find("truncated or damaged"), std::string::npos)
          << fmt << " cut at " << n << " bytes of " << size << ": " << (any_what.empty() ? "was read" : any_what);
    }
  }
}

TEST(RasterIo, UncommittedWriterLeavesNothing) {
  test::TempDir tmp;
  const auto path = (tmp / "partial.tif").string();
  {
    io::RasterWriter w(path, utm_grid(10, 10), 1);
    w.write(Raster(utm_grid(10, 10).window(0, 0, 5, 5), 1, 300.0f), 0, 0);
    // no commit: as if an error happened mid-scene
  }
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

TEST(RasterIo, ReadsTheRealYancoLandsat) {
  const auto path = test::shared_data("yanco/Landsat_LST_cloudrm_20160205.tif").string();
  const Raster r = io::read_raster(path);
  EXPECT_EQ(r.width(), 400);
  EXPECT_EQ(r.height(), 400);
  EXPECT_NEAR(r.grid().res_x(), 0.001, 1e-9);
  const auto s = band_stats(r);
  EXPECT_GT(s.count, 100000);
  EXPECT_GT(s.min, 270.0);  // Kelvin, summer in NSW
  EXPECT_LT(s.max, 345.0);
}

TEST(RasterIo, BandNamesTravelAsGdalBandDescriptions) {
  test::TempDir dir;
  Raster r(utm_grid(20, 10), 3, 1.0f);
  r.band_names = {"n_similar", "coarse_filled", "reference_filled"};
  for (const char* format : {"GTiff", "COG"}) {
    const std::string path = (dir / (std::string(format) + ".tif")).string();
    io::WriteOptions wo;
    wo.format = format;
    io::write_raster(path, r, wo);
    EXPECT_EQ(io::read_raster(path).band_names, r.band_names) << format;
    io::ReadOptions ro;
    ro.bands = {3};
    EXPECT_EQ(io::read_raster(path, ro).band_names, std::vector<std::string>{"reference_filled"}) << format;
  }
  // Explicit names win over the raster's; a raster without names writes no description.
  io::WriteOptions wo;
  wo.band_names = {"a", "b", "c"};
  io::write_raster((dir / "explicit.tif").string(), r, wo);
  EXPECT_EQ(io::read_raster((dir / "explicit.tif").string()).band_names, (std::vector<std::string>{"a", "b", "c"}));
  r.band_names.clear();
  io::write_raster((dir / "plain.tif").string(), r);
  EXPECT_TRUE(io::read_raster((dir / "plain.tif").string()).band_names.empty());
}

TEST(RasterIo, AWriterThatCannotCreateItsFileLeavesNothing) {
  // GDAL refuses a block width that is not a multiple of 16; the constructor throws, and its
  // destructor never runs, so the constructor itself removes what GDAL may have made.
  test::TempDir tmp;
  Raster r(utm_grid(64, 64), 1, 290.0f, true);
  io::WriteOptions wo;
  wo.creation_options = {"BLOCKXSIZE=7"};
  const auto path = (tmp.path() / "b.tif").string();
  EXPECT_THROW(io::write_raster(path, r, wo), Error);
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

// A block that GDAL fails to compress in one of its worker threads (JPEG takes no 32-bit float)
// is a failed write naming the file, not a finished file of nodata; nothing is left. The command
// line refuses such --co at once (check_creation_options, below); this is the writer's own guard.
TEST(RasterIo, ABlockThatFailsInGdalsWorkerThreadsFailsTheWrite) {
  test::TempDir tmp;
  Raster r(utm_grid(600, 600), 1, 290.0f, true);
  io::WriteOptions wo;
  wo.user_options = {"COMPRESS=JPEG", "NUM_THREADS=2"};
  const auto path = (tmp.path() / "j.tif").string();
  try {
    io::write_raster(path, r, wo);
    FAIL() << "a write that GDAL could not compress was taken as done";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": write failed"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
  // The next write of the same process is not blamed for it.
  io::write_raster(path, r, io::WriteOptions{});
  EXPECT_EQ(io::read_raster(path).at(5, 5), 290.0f);
  for (const char* co : {"COMPRESS=JPEG", "compress=webp", "NBITS=16", "MAX_Z_ERROR=20", "DISCARD_LSB=16"})
    EXPECT_THROW(io::check_creation_options("GTiff", {co}), Error) << co;
  EXPECT_NO_THROW(io::check_creation_options("GTiff", {"COMPRESS=ZSTD"}));
  EXPECT_NO_THROW(io::check_creation_options("GTiff", {"COMPRESS=LERC", "MAX_Z_ERROR=0"}));
}

// Every raster lstfuse writes carries its mark (LSTFUSE_VERSION, and for a GeoTIFF the
// TIFFTAG_SOFTWARE "lstfuse ..."), by which the output rules replace it; rasters of earlier
// versions carry other LSTFUSE_* items, and another program's raster carries none.
TEST(RasterIo, EveryRasterWrittenCarriesLstfusesMark) {
  test::TempDir tmp;
  Raster r(utm_grid(8, 6), 1, 300.0f);
  for (const std::string format : {"GTiff", "COG"}) {
    io::WriteOptions wo;
    wo.format = format;
    const auto path = (tmp / (format + ".tif")).string();
    io::write_raster(path, r, wo);
    EXPECT_TRUE(io::is_lstfuse_raster(path)) << format;
    GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY));
    ASSERT_TRUE(ds);
    ASSERT_NE(ds->GetMetadataItem("LSTFUSE_VERSION"), nullptr) << format;
    EXPECT_STREQ(ds->GetMetadataItem("LSTFUSE_VERSION"), LSTFUSE_VERSION);
  }
  // Another program's GeoTIFF, and an older lstfuse output with only LSTFUSE_DATE.
  GDALDriver* gtiff = GetGDALDriverManager()->GetDriverByName("GTiff");
  for (const bool old_lstfuse : {false, true}) {
    const auto path = (tmp / (old_lstfuse ? "old.tif" : "other.tif")).string();
    {
      GDALDatasetUniquePtr ds(gtiff->Create(path.c_str(), 4, 4, 1, GDT_Float32, nullptr));
      ASSERT_TRUE(ds);
      ds->SetMetadataItem("AREA_OR_POINT", "Area");
      if (old_lstfuse) ds->SetMetadataItem("LSTFUSE_DATE", "2020-01-01");
    }
    EXPECT_EQ(io::is_lstfuse_raster(path), old_lstfuse) << path;
  }
  std::ofstream(tmp / "notes.txt") << "text";
  EXPECT_FALSE(io::is_lstfuse_raster((tmp / "notes.txt").string()));
  EXPECT_FALSE(io::is_lstfuse_raster((tmp / "missing.tif").string()));
}
