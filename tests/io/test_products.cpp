#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <gdal_priv.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/products.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "test_support.hpp"

using namespace lstfuse;

namespace {

Grid utm(int w, int h, double res = 30.0) {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {400000.0, res, 0.0, 6200000.0, 0.0, -res};
  g.crs = io::crs_to_wkt("EPSG:32755");
  return g;
}

// Integer raster written as is (UInt16, no nodata semantics of our own).
void write_uint(const std::string& path, const Grid& g, const std::vector<double>& values, double nodata) {
  Raster r(g, 1);
  for (size_t i = 0; i < values.size(); ++i) r.band(0)[i] = static_cast<float>(values[i]);
  io::WriteOptions wo;
  wo.data_type = "UInt16";
  wo.nodata = nodata;
  io::write_raster(path, r, wo);
}

std::string expect_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no lstfuse::Error thrown";
  return "";
}

}  // namespace

TEST(Products, LandsatC2SurfaceTemperatureDecodesDnAndQaBitsExactly) {
  test::TempDir tmp;
  const std::string base = "LC08_L2SP_093084_20200101_20200110_02_T1_";
  const auto st = (tmp / (base + "ST_B10.TIF")).string();
  const auto qa = (tmp / (base + "QA_PIXEL.TIF")).string();
  // Pixel: 0 clear, 1 fill DN, 2 QA fill bit, 3 dilated cloud, 4 cirrus, 5 cloud, 6 shadow,
  // 7 snow, 8 water, 9 clear (other DN).
  const std::vector<double> dn = {44000, 0, 44000, 44000, 44000, 44000, 44000, 45000, 43000, 50000};
  const std::vector<double> bits = {0x5440, 0x5440, 1, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 7, 0x5440};
  write_uint(st, utm(10, 1), dn, 0);
  write_uint(qa, utm(10, 1), bits, 1);

  const io::ProductFile p = io::identify_product(st);
  EXPECT_EQ(p.kind, io::ProductKind::LandsatC2St);
  ASSERT_TRUE(p.role.has_value());
  EXPECT_EQ(*p.role, Role::Fine);
  EXPECT_EQ(p.date->iso(), "2020-01-01");
  EXPECT_EQ(p.sensor, "landsat8");
  EXPECT_EQ(p.qc, qa);

  io::ProductOptions opts;
  io::ProductReader reader(p, opts);
  const Raster k = reader.read_all();
  const std::vector<int> expect_valid = {1, 0, 0, 0, 0, 0, 0, 1, 1, 1};
  for (int x = 0; x < 10; ++x) {
    EXPECT_EQ(k.valid(0, x), expect_valid[x] == 1) << "pixel " << x;
    if (expect_valid[x]) {
      EXPECT_FLOAT_EQ(k.at(0, x), static_cast<float>(dn[x] * 0.00341802 + 149.0));
    }
  }
  EXPECT_FLOAT_EQ(k.at(0, 0), 299.39288f);  // 44000 * 0.00341802 + 149 = 299.39288

  opts.mask_snow = true;
  opts.mask_water = true;
  io::ProductReader strict(p, opts);
  const Raster ks = strict.read_all();
  EXPECT_FALSE(ks.valid(0, 7));
  EXPECT_FALSE(ks.valid(0, 8));
  EXPECT_TRUE(ks.valid(0, 9));
  // Windows past the edge are invalid, inside ones identical.
  const Raster w = reader.read(8, 0, 4, 1);
  EXPECT_TRUE(w.valid(0, 1));
  EXPECT_FLOAT_EQ(w.at(0, 1), k.at(0, 9));
  EXPECT_FALSE(w.valid(0, 2));
}

TEST(Products, LandsatWithoutQaPixelIsAnErrorNamingTheFile) {
  test::TempDir tmp;
  const auto st = (tmp / "LC09_L2SP_093084_20230305_20230310_02_T1_ST_B10.TIF").string();
  write_uint(st, utm(2, 2), {1, 2, 3, 4}, 0);
  const std::string msg = expect_error([&] { io::identify_product(st); });
  EXPECT_NE(msg.find(st), std::string::npos) << msg;
  EXPECT_NE(msg.find("QA_PIXEL"), std::string::npos) << msg;
}

TEST(Products, ModisQcPolicyAndErrorClasses) {
  io::ProductOptions good;
  io::ProductOptions any;
  any.qc = "any";
  EXPECT_TRUE(io::modis_qc_accept(0x00, good));
  EXPECT_FALSE(io::modis_qc_accept(0x01, good));
  EXPECT_TRUE(io::modis_qc_accept(0x01, any));
  EXPECT_FALSE(io::modis_qc_accept(0x02, any));
  EXPECT_FALSE(io::modis_qc_accept(0x03, any));
  any.max_lst_error = 2.0;
  EXPECT_TRUE(io::modis_qc_accept(0x01 | (0 << 6), any));   // <= 1 K
  EXPECT_TRUE(io::modis_qc_accept(0x01 | (1 << 6), any));   // <= 2 K
  EXPECT_FALSE(io::modis_qc_accept(0x01 | (2 << 6), any));  // <= 3 K
  EXPECT_FALSE(io::modis_qc_accept(0x01 | (3 << 6), any));  // > 3 K
  any.max_lst_error = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(io::modis_qc_accept(0x01 | (3 << 6), any));
}

TEST(Products, ModisGeoTiffPairAppliesScaleFillAndQc) {
  test::TempDir tmp;
  const auto lst = (tmp / "MOD11A1.A2024017.sim.LST_Day_1km.tif").string();
  const auto qc = (tmp / "MOD11A1.A2024017.sim.QC_Day.tif").string();
  const Grid g = utm(5, 1, 1000.0);
  write_uint(lst, g, {15000, 0, 14500, 14600, 16000}, 0);
  write_uint(qc, g, {0x00, 0x00, 0x01, 0x01 | (3 << 6), 0x02}, 255);
  const io::ProductFile p = io::identify_product(lst);
  EXPECT_EQ(p.kind, io::ProductKind::Modis11A1GeoTiff);
  EXPECT_EQ(*p.role, Role::Coarse);
  EXPECT_EQ(p.date->iso(), "2024-01-17");
  EXPECT_EQ(p.sensor, "modis-terra");
  io::ProductOptions opts;
  opts.qc = "any";
  const Raster k = io::ProductReader(p, opts).read_all();
  EXPECT_FLOAT_EQ(k.at(0, 0), 300.0f);
  EXPECT_FALSE(k.valid(0, 1));  // fill
  EXPECT_FLOAT_EQ(k.at(0, 2), 290.0f);
  EXPECT_TRUE(k.valid(0, 3));
  EXPECT_FALSE(k.valid(0, 4));  // QC 10: not produced
  opts.max_lst_error = 3.0;
  EXPECT_FALSE(io::ProductReader(p, opts).read_all().valid(0, 3));
  opts.qc = "good";
  const Raster kg = io::ProductReader(p, opts).read_all();
  EXPECT_TRUE(kg.valid(0, 0));
  EXPECT_FALSE(kg.valid(0, 2));
}

TEST(Products, AGranuleGivenAsARasterNamesItsSubdatasetsAndIngest) {
  // `info`, `metrics` or `predict` given the HDF itself: it said only "has no raster band".
  const std::string hdf = test::shared_data("mod11a1/MOD11A1.A2019305.h14v09.006.hdf").string();
  try {
    io::read_raster(hdf);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              hdf + ": has no raster band: a container of 12 subdataset(s) (LST_Day_1km, QC_Day, Day_view_time, "
                    "Day_view_angl, LST_Night_1km, QC_Night, ...); a MODIS LST product is read by 'lstfuse ingest'");
  }
}

TEST(Products, RealMod11a1GranuleScaleFillQcAndViewTime) {
  const std::string hdf = test::shared_data("mod11a1/MOD11A1.A2019305.h14v09.006.hdf").string();
  const io::ProductFile p = io::identify_product(hdf);
  EXPECT_EQ(p.kind, io::ProductKind::Modis11A1Hdf);
  EXPECT_EQ(p.date->iso(), "2019-11-01");
  EXPECT_EQ(*p.role, Role::Coarse);
  EXPECT_EQ(p.sensor, "modis-terra");

  // Independent reference: the raw UInt16 DNs through GDAL.
  io::init_gdal();
  GDALDataset* ds = GDALDataset::Open(p.lst.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY);
  ASSERT_NE(ds, nullptr);
  std::vector<uint16_t> dn(1200 * 1200);
  ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, 1200, 1200, dn.data(), 1200, 1200, GDT_UInt16, 0, 0),
            CE_None);
  GDALClose(GDALDataset::ToHandle(ds));

  io::ProductOptions any;
  any.qc = "any";
  io::ProductReader reader(p, any);
  EXPECT_EQ(reader.grid().width, 1200);
  EXPECT_NEAR(reader.grid().res_x(), 926.625433, 1e-5);
  const Raster k = reader.read_all();
  long long nonfill = 0, mismatched = 0;
  for (size_t i = 0; i < dn.size(); ++i) {
    if (dn[i] != 0) ++nonfill;
    // "any" keeps every produced pixel (QC 00/01); the others carry the fill value.
    if ((dn[i] != 0) != (k.mask(0)[i] != 0)) ++mismatched;
    if (dn[i] != 0 && k.band(0)[i] != static_cast<float>(dn[i] * 0.02)) ++mismatched;
  }
  EXPECT_EQ(mismatched, 0);
  EXPECT_NEAR(static_cast<double>(nonfill) / dn.size(), 0.2318, 0.001);
  const BandStats s = band_stats(k);
  EXPECT_NEAR(s.min, 291.4, 0.01);
  EXPECT_NEAR(s.max, 325.72, 0.01);

  // "good" keeps a subset; a 1 K error cap keeps a subset of that.
  const double f_good = io::ProductReader(p, io::ProductOptions{}).read_all().valid_fraction();
  io::ProductOptions tight;
  tight.max_lst_error = 1.0;
  const double f_tight = io::ProductReader(p, tight).read_all().valid_fraction();
  EXPECT_LT(f_good, k.valid_fraction());
  EXPECT_GT(f_good, 0.0);
  EXPECT_LE(f_tight, f_good);

  // View time in hours: Terra's day pass is late morning local solar time.
  ASSERT_EQ(reader.quality_name(), "view_time");
  const Raster vt = reader.read_quality(0, 0, 1200, 1200);
  const BandStats vs = band_stats(vt);
  EXPECT_GT(vs.count, 0);
  EXPECT_GE(vs.min, 9.0);
  EXPECT_LE(vs.max, 13.0);

  io::ProductOptions night = any;
  night.night = true;
  const io::ProductFile pn = io::identify_product(hdf, night);
  EXPECT_NE(pn.lst.find("LST_Night_1km"), std::string::npos);
  const BandStats ns = band_stats(io::ProductReader(pn, night).read_all());
  EXPECT_LT(ns.mean, s.mean);  // nights are cooler
}

TEST(Products, GenericGeoTiffUnitsScaleNodataAndRoleByName) {
  test::TempDir tmp;
  const auto path = (tmp / "field_20210704.tif").string();
  Raster c(utm(3, 1), 1);
  c.at(0, 0) = 2000;   // 20.00 degC with scale 0.01
  c.at(0, 1) = -500;   // user nodata
  c.at(0, 2) = 2500;
  io::write_raster(path, c);
  const io::ProductFile p = io::identify_product(path);
  EXPECT_EQ(p.kind, io::ProductKind::Generic);
  EXPECT_FALSE(p.role.has_value());  // the name says nothing
  EXPECT_EQ(p.date->iso(), "2021-07-04");
  io::ProductOptions o;
  o.units = "C";
  o.scale = 0.01;
  o.nodata = -500;
  const Raster k = io::ProductReader(p, o).read_all();
  EXPECT_NEAR(k.at(0, 0), 293.15, 1e-4);
  EXPECT_FALSE(k.valid(0, 1));
  EXPECT_NEAR(k.at(0, 2), 298.15, 1e-4);

  EXPECT_EQ(*io::identify_product(test::shared_data("yanco/Landsat_LST_cloudrm_20160205.tif").string()).role,
            Role::Fine);
  EXPECT_EQ(*io::identify_product(test::shared_data("yanco/MOD11A1_LST_cloudrm_20160218.tif").string()).role,
            Role::Coarse);

  // Two bands cannot be an LST layer.
  const auto two = (tmp / "two_20210704.tif").string();
  io::write_raster(two, Raster(utm(2, 2), 2, 300.0f));
  const std::string msg = expect_error([&] { io::ProductReader(io::identify_product(two), {}); });
  EXPECT_NE(msg.find(two), std::string::npos) << msg;
}

TEST(Products, CompanionFilesAreRecognised) {
  EXPECT_TRUE(io::is_companion_file("d/LC08_L2SP_093084_20200101_20200110_02_T1_QA_PIXEL.TIF"));
  EXPECT_TRUE(io::is_companion_file("d/LC08_L2SP_093084_20200101_20200110_02_T1_SR_B4.TIF"));
  EXPECT_FALSE(io::is_companion_file("d/LC08_L2SP_093084_20200101_20200110_02_T1_ST_B10.TIF"));
  EXPECT_TRUE(io::is_companion_file("m/MOD11A1.A2024001.sim.QC_Day.tif"));
  EXPECT_FALSE(io::is_companion_file("m/MOD11A1.A2024001.sim.LST_Day_1km.tif"));
}

// fuzz_products: damaged HDF4 files crash Debian's HDF4 library (4.2.15) while GDAL opens them
// (segmentation faults, a stack-protector abort; every frame inside HDF4). A dataset the HDF4
// driver reads is now opened once in a child process first, so a crash there becomes an error
// that names the file, in the reader and through `lstfuse info`. The segmentation faults are
// wild reads whose outcome depends on the memory layout (in some processes GDAL refuses the file
// instead); the stack-protector abort happens in every process.
TEST(Products, ADamagedHdf4FileThatCrashesTheLibraryIsAnErrorNamingIt) {
  namespace fs = std::filesystem;
  test::TempDir tmp;
  int day = 1;
  for (const std::string seed : {"crash-hdf4-abort-1", "crash-hdf4-segv-1", "crash-hdf4-segv-2"}) {
    const auto granule = tmp / fmt::format("MOD11A1.A2024{:03d}.h21v11.061.2024003000000.hdf", day++);
    fs::copy_file(fs::path(LSTFUSE_FUZZ_CORPUS) / "products" / seed, granule);
    io::ProductOptions opts;
    const auto product = io::identify_product(granule.string(), opts);
    try {
      io::ProductReader reader(product, opts);
      ADD_FAILURE() << seed << " opened";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(granule.string() + ": ", 0), 0u) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      if (seed == "crash-hdf4-abort-1") {
        EXPECT_NE(msg.find("is a damaged HDF4 file: the HDF4 library crashed reading it (Aborted"), std::string::npos)
            << msg;
      }
    }
    const auto r = test::run_cli("info " + granule.string());
    EXPECT_EQ(r.exit_code, 1) << seed << ": " << r.output;
    EXPECT_NE(r.output.find(granule.string() + ": "), std::string::npos) << r.output;
    if (seed == "crash-hdf4-abort-1") {
      EXPECT_NE(r.output.find("is a damaged HDF4 file"), std::string::npos) << r.output;
    }
  }
}

// A damaged HDF4 file that GDAL declines is declined in the checking child only, so the HDF4
// library in this process never sees it: opened again and again under one name, as the fuzzer
// writes every input, each stays a clean error (mod11a1_like.hdf, a plain HDF4 file the library
// opens, has no raster band). Opened in this process as well, a failed open left the library's
// tables half made, and a later open under that name crashed in VPgetinfo under ASan (9 of 20
// replays of the fuzz corpus).
TEST(Products, DamagedHdf4FilesUnderOneNameStayCleanErrorsOnEveryOpen) {
  namespace fs = std::filesystem;
  test::TempDir tmp;
  const auto granule = tmp / "MOD11A1.A2024001.h21v11.061.2024003000000.hdf";
  for (int round = 0; round < 2; ++round) {
    for (const std::string seed : {"crash-hdf4-abort-1", "crash-hdf4-segv-1", "crash-hdf4-segv-2",
                                   "crash-hdf4-under-asan-1", "crash-hdf4-under-asan-2", "mod11a1_like.hdf"}) {
      fs::copy_file(fs::path(LSTFUSE_FUZZ_CORPUS) / "products" / seed, granule, fs::copy_options::overwrite_existing);
      io::ProductOptions opts;
      for (int attempt = 0; attempt < 2; ++attempt) {
        try {
          io::ProductReader reader(io::identify_product(granule.string(), opts), opts);
          ADD_FAILURE() << seed << " opened";
        } catch (const Error& e) {
          const std::string msg = e.what();
          EXPECT_EQ(msg.rfind(granule.string() + ": ", 0), 0u) << seed << " " << attempt << ": " << msg;
          EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        }
      }
    }
  }
}
