// `lstfuse ingest` and `lstfuse info` end to end: real data, a simulator folder fixture and
// every bad-input case (each must name the file and leave no catalog behind).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gdal_priv.h>
#include <nlohmann/json.hpp>
#include <ogr_spatialref.h>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_ingest_cli {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

Grid utm(int w, int h, double res, double x0 = 400000.0, double y0 = 6200000.0) {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {x0, res, 0.0, y0, 0.0, -res};
  g.crs = io::crs_to_wkt("EPSG:32755");
  return g;
}

void write_dn(const fs::path& path, const Grid& g, const std::function<double(int, int)>& f, double nodata) {
  Raster r(g, 1);
  for (int y = 0; y < g.height; ++y)
    for (int x = 0; x < g.width; ++x) r.at(y, x) = static_cast<float>(f(x, y));
  io::WriteOptions wo;
  wo.data_type = "UInt16";
  wo.nodata = nodata;
  io::write_raster(path.string(), r, wo);
}

// Nothing but the inputs in the folder: no catalog, no temporary ingest folder.
void expect_no_output(const fs::path& dir, const fs::path& cat) {
  EXPECT_FALSE(fs::exists(cat));
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".cat"), std::string::npos) << e.path();
}

std::string fmt_modis(const std::string& yyyyddd, const std::string& layer) {
  return "modis/MOD11A1.A" + yyyyddd + ".sim." + layer + ".tif";
}

}  // namespace

TEST(IngestCli, YancoGivesTwoPairsAndOneCoarseOnlyDate) {
  test::TempDir tmp;
  const auto yanco = test::shared_data("yanco");
  const auto r = test::run_cli("ingest " + q(yanco) + " -o " + q(tmp / "cat"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Catalog cat = Catalog::load(tmp / "cat");
  ASSERT_EQ(cat.pair_dates().size(), 2u);
  EXPECT_EQ(cat.pair_dates()[0].iso(), "2016-02-05");
  EXPECT_EQ(cat.pair_dates()[1].iso(), "2016-03-08");
  ASSERT_EQ(cat.coarse_only_dates().size(), 1u);
  EXPECT_EQ(cat.coarse_only_dates()[0].iso(), "2016-02-18");
  EXPECT_TRUE(io::same_grid(cat.grid(), io::read_grid((yanco / "Landsat_LST_cloudrm_20160205.tif").string())));
  // Already on the grid: values pass through unchanged.
  const Raster orig = io::read_raster((yanco / "MOD11A1_LST_cloudrm_20160308.tif").string());
  const Raster got = io::load_observation(cat, *cat.find(Date(2016, 3, 8), Role::Coarse));
  ASSERT_EQ(got.mask_data(), orig.mask_data());
  for (size_t i = 0; i < orig.band_size(); ++i)
    if (orig.mask(0)[i]) {
      ASSERT_EQ(got.band(0)[i], orig.band(0)[i]);
    }
  EXPECT_EQ(cat.find(Date(2016, 2, 5), Role::Fine)->sensor, "landsat");

  const auto info = test::run_cli("info " + q(tmp / "cat"));
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find("pairs (fine + coarse): 2016-02-05, 2016-03-08"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("coarse-only dates: 2016-02-18"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("EPSG:4326"), std::string::npos) << info.output;
  const auto js = test::run_cli("info --json " + q(tmp / "cat"));
  ASSERT_EQ(js.exit_code, 0) << js.output;
  const auto j = nlohmann::json::parse(js.output);
  EXPECT_EQ(j["pairs"].size(), 2u);
  EXPECT_EQ(j["observations"].size(), 5u);

  const auto fi = test::run_cli("info --json " + q(yanco / "Landsat_LST_cloudrm_20160205.tif"));
  ASSERT_EQ(fi.exit_code, 0) << fi.output;
  const auto fj = nlohmann::json::parse(fi.output);
  EXPECT_EQ(fj["grid"]["width"], 400);
  EXPECT_EQ(fj["bands"].size(), 1u);
  EXPECT_NEAR(fj["bands"][0]["nodata"].get<double>(), -3.4e38, 1e33);
  EXPECT_GT(fj["bands"][0]["mean"].get<double>(), 280.0);
}

TEST(IngestCli, Mod11a1OntoUtmKilometreAndThirtyMetreGrids) {
  test::TempDir tmp;
  const auto hdf = test::shared_data("mod11a1/MOD11A1.A2019305.h14v09.006.hdf");
  // UTM 24S, 1 km, 300 x 300 km in the tile.
  auto r = test::run_cli("ingest " + q(hdf) + " -o " + q(tmp / "km") +
                         " --qc any --crs EPSG:32724 --res 1000 --extent 322000 9305000 622000 9605000");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Catalog km = Catalog::load(tmp / "km");
  ASSERT_EQ(km.observations().size(), 1u);
  const Observation& o = km.observations()[0];
  EXPECT_EQ(o.date.iso(), "2019-11-01");
  EXPECT_EQ(o.role, Role::Coarse);
  EXPECT_EQ(o.sensor, "modis-terra");
  EXPECT_EQ(km.grid().width, 300);
  EXPECT_FALSE(o.quality_path.empty());
  const Raster k = io::load_observation(km, o);
  const BandStats s = band_stats(k);
  EXPECT_GT(o.valid_fraction, 0.05);
  EXPECT_NEAR(o.valid_fraction, k.valid_fraction(), 1e-9);
  EXPECT_GE(s.min, 291.0);
  EXPECT_LE(s.max, 326.0);

  // 30 m sub-area with nearest resampling: every pixel is exactly DN * 0.02 of the granule pixel
  // under its centre (checked away from pixel borders, where the warper's 1/8-pixel
  // approximation may pick the neighbour).
  r = test::run_cli("ingest " + q(hdf) + " -o " + q(tmp / "m30") +
                    " --qc any --resampling nearest --crs EPSG:32724 --res 30 --extent 395000 9580000 413000 9598000");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Catalog m30 = Catalog::load(tmp / "m30");
  EXPECT_EQ(m30.grid().width, 600);
  const Raster f = io::load_observation(m30, m30.observations()[0]);
  EXPECT_GT(f.valid_fraction(), 0.9);

  io::init_gdal();
  const std::string sds = "HDF4_EOS:EOS_GRID:\"" + hdf.string() + "\":MODIS_Grid_Daily_1km_LST:LST_Day_1km";
  GDALDataset* ds = GDALDataset::Open(sds.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY);
  ASSERT_NE(ds, nullptr);
  double t[6];
  ds->GetGeoTransform(t);
  OGRSpatialReference utm24, sin;
  utm24.importFromEPSG(32724);
  sin.importFromWkt(ds->GetProjectionRef());
  utm24.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  sin.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&utm24, &sin));
  int checked = 0;
  for (int y = 7; y < 600; y += 37) {
    for (int x = 11; x < 600; x += 41) {
      double mx = 395000 + (x + 0.5) * 30, my = 9598000 - (y + 0.5) * 30;
      ASSERT_TRUE(ct->Transform(1, &mx, &my));
      const double col = (mx - t[0]) / t[1], row = (my - t[3]) / t[5];
      if (std::abs(col - std::round(col)) < 0.2 || std::abs(row - std::round(row)) < 0.2) continue;
      uint16_t dn = 0;
      ASSERT_EQ(CE_None, ds->GetRasterBand(1)->RasterIO(GF_Read, static_cast<int>(col), static_cast<int>(row), 1, 1, &dn, 1, 1,
                                     GDT_UInt16, 0, 0));
      ASSERT_EQ(f.valid(y, x), dn != 0) << x << "," << y;
      if (dn != 0) {
        EXPECT_EQ(f.at(y, x), static_cast<float>(dn * 0.02)) << x << "," << y;
        ++checked;
      }
    }
  }
  GDALClose(GDALDataset::ToHandle(ds));
  EXPECT_GT(checked, 50);
}

TEST(IngestCli, SimulationFolderFollowsItsManifest) {
  test::TempDir tmp;
  const fs::path sim = tmp / "sim";
  fs::create_directories(sim / "landsat");
  fs::create_directories(sim / "modis");
  fs::create_directories(sim / "truth");
  const Grid fine = utm(60, 60, 30.0);
  // Bilinear needs coarse pixel centres beyond every fine pixel centre: 4 x 4 at 900 m does.
  const Grid coarse = utm(4, 4, 900.0, 399100.0, 6200900.0);
  const std::string ls = "landsat/LC08_L2SP_093084_20240117_20240120_02_T1_ST_B10.TIF";
  const std::string lq = "landsat/LC08_L2SP_093084_20240117_20240120_02_T1_QA_PIXEL.TIF";
  write_dn(sim / ls, fine, [](int x, int) { return 44000 + x; }, 0);
  write_dn(sim / lq, fine, [](int x, int y) { return x == 5 && y == 6 ? 1 << 3 : 0x5440; }, 1);
  for (const char* day : {"2024017", "2024033"}) {
    write_dn(sim / fmt_modis(day, "LST_Day_1km"), coarse, [](int, int) { return 15000; }, 0);
    write_dn(sim / fmt_modis(day, "QC_Day"), coarse, [](int, int) { return 0; }, 255);
  }
  Raster truth(fine, 1, 301.25f);
  io::write_raster((sim / "truth/truth_20240202.tif").string(), truth);
  nlohmann::json j = {
      {"format", "lstfuse-simulation"},
      {"version", 1},
      {"seed", 7},
      {"fine_grid", {{"width", 60}, {"height", 60}, {"transform", fine.transform}, {"crs", fine.crs}}},
      {"observations",
       {{{"date", "2024-01-17"}, {"role", "fine"}, {"product", "landsat-c2-st"}, {"path", ls}, {"qa_path", lq}},
        {{"date", "2024-01-17"}, {"role", "coarse"}, {"product", "modis-lst-geotiff"},
         {"path", fmt_modis("2024017", "LST_Day_1km")}, {"qc_path", fmt_modis("2024017", "QC_Day")}},
        {{"date", "2024-02-02"}, {"role", "coarse"}, {"product", "modis-lst-geotiff"},
         {"path", fmt_modis("2024033", "LST_Day_1km")}, {"qc_path", fmt_modis("2024033", "QC_Day")}}}},
      {"truth", {{{"date", "2024-02-02"}, {"path", "truth/truth_20240202.tif"}}}},
      {"landcover", {{"path", "landcover.tif"}}}};
  std::ofstream(sim / "simulation.json") << j.dump(2);

  const auto r = test::run_cli("ingest " + q(sim) + " -o " + q(tmp / "cat"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Catalog cat = Catalog::load(tmp / "cat");
  EXPECT_TRUE(io::same_grid(cat.grid(), fine));
  ASSERT_EQ(cat.pair_dates().size(), 1u);
  EXPECT_EQ(cat.pair_dates()[0].iso(), "2024-01-17");
  ASSERT_EQ(cat.coarse_only_dates().size(), 1u);
  ASSERT_TRUE(cat.find(Date(2024, 2, 2), Role::Truth).has_value());
  const Raster f = io::load_observation(cat, *cat.find(Date(2024, 1, 17), Role::Fine));
  EXPECT_FLOAT_EQ(f.at(0, 3), static_cast<float>(44003 * 0.00341802 + 149.0));
  EXPECT_FALSE(f.valid(6, 5));  // cloud bit
  EXPECT_NEAR(f.valid_fraction(), 1.0 - 1.0 / 3600, 1e-9);
  const Raster c = io::load_observation(cat, *cat.find(Date(2024, 2, 2), Role::Coarse));
  EXPECT_EQ(c.valid_fraction(), 1.0);
  EXPECT_FLOAT_EQ(c.at(30, 30), 300.0f);
  const Raster t = io::load_observation(cat, *cat.find(Date(2024, 2, 2), Role::Truth));
  EXPECT_FLOAT_EQ(t.at(59, 59), 301.25f);
}

TEST(IngestCli, BadInputsNameTheFileAndLeaveNoCatalog) {
  test::TempDir tmp;
  const auto yanco = test::shared_data("yanco");
  const std::string fine = q(yanco / "Landsat_LST_cloudrm_20160205.tif");
  const fs::path cat = tmp / "cat";
  auto fails_naming = [&](const std::string& args, const std::string& name, const std::string& what) {
    const auto r = test::run_cli("ingest " + args + " -o " + q(cat));
    EXPECT_EQ(r.exit_code, what == "unknown option" ? 2 : 1) << r.output;  // 2: a usage error
    EXPECT_NE(r.output.find(name), std::string::npos) << what << ": " << r.output;
    expect_no_output(tmp.path(), cat);
  };
  // Unreadable / non-raster file.
  const fs::path text = tmp / "Landsat_notes_20160205.tif";
  std::ofstream(text) << "not a raster\n";
  fails_naming(q(text), text.string(), "non-raster");
  // Missing CRS.
  const fs::path nocrs = tmp / "MOD11A1_nocrs_20160205.tif";
  Grid g = utm(4, 4, 30.0);
  g.crs.clear();
  io::write_raster(nocrs.string(), Raster(g, 1, 300.0f));
  fails_naming(fine + " " + q(nocrs), nocrs.string(), "no CRS");
  // No overlap with the grid.
  const fs::path far = tmp / "MOD11A1_far_20160205.tif";
  io::write_raster(far.string(), Raster(utm(4, 4, 1000.0), 1, 300.0f));
  fails_naming(fine + " " + q(far), far.string(), "no overlap");
  // Two fine images on one date.
  const fs::path twin = tmp / "Landsat_twin_20160205.tif";
  io::write_raster(twin.string(), io::read_raster((yanco / "Landsat_LST_cloudrm_20160205.tif").string()));
  fails_naming(fine + " " + q(twin), "two fine images on 2016-02-05", "duplicate");
  // Unknown product: the name says nothing about the role...
  const fs::path unknown = tmp / "scene_20160205.tif";
  io::write_raster(unknown.string(), Raster(io::read_grid(yanco.string() + "/Landsat_LST_cloudrm_20160205.tif"), 1, 305.0f));
  fails_naming(fine + " " + q(unknown), unknown.string(), "unknown product");
  // ... unless it is given one.
  const auto ok = test::run_cli("ingest " + fine + " --coarse " + q(unknown) + " -o " + q(cat));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(Catalog::load(cat).pair_dates().size(), 1u);
  fs::remove_all(cat);
  // Unknown option (CLI11 rejects it before anything runs).
  fails_naming(fine + " --bogus 3", "--bogus", "unknown option");
}

// GDAL subdataset names, as gdalinfo lists them, name the granule and the day or night layer.
TEST(IngestCli, Mod11a1SubdatasetNames) {
  test::TempDir tmp;
  const auto hdf = test::shared_data("mod11a1/MOD11A1.A2019305.h14v09.006.hdf");
  const std::string grid = " --qc any --crs EPSG:32724 --res 1000 --extent 322000 9305000 622000 9605000";
  const std::string prefix = "HDF4_EOS:EOS_GRID:\"" + hdf.string() + "\":MODIS_Grid_Daily_1km_LST:";
  auto r = test::run_cli("ingest " + q(hdf) + " -o " + q(tmp / "file") + grid);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli("ingest " + q(prefix + "LST_Day_1km") + " -o " + q(tmp / "day") + grid);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli("ingest " + q(prefix + "LST_Night_1km") + " -o " + q(tmp / "night") + grid);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Catalog file = Catalog::load(tmp / "file"), day = Catalog::load(tmp / "day"), night = Catalog::load(tmp / "night");
  const Raster a = io::load_observation(file, file.observations()[0]);
  const Raster b = io::load_observation(day, day.observations()[0]);
  const Raster n = io::load_observation(night, night.observations()[0]);
  // The day layer is what the file gives by default (nodata pixels hold NaN, so compare masks
  // and then the valid values).
  ASSERT_EQ(a.mask_data(), b.mask_data());
  size_t same = 0, valid = 0;
  for (size_t i = 0; i < a.data().size(); ++i)
    if (a.mask_data()[i]) {
      ++valid;
      same += a.data()[i] == b.data()[i];
    }
  EXPECT_GT(valid, 0u);
  EXPECT_EQ(same, valid);
  EXPECT_EQ(day.observations()[0].date.iso(), "2019-11-01");
  // Night LST in the tropics is well below the day LST.
  EXPECT_LT(band_stats(n).mean, band_stats(a).mean - 5.0);
  // --night naming the day layer contradicts itself (the day LST was catalogued): refused.
  r = test::run_cli("ingest " + q(prefix + "LST_Day_1km") + " --night -o " + q(tmp / "dn") + grid);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("is the day LST layer (LST_Day_1km) but --night asks for night LST"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(tmp / "dn"));
  // A layer that is not LST, and a missing file, are named in the error.
  r = test::run_cli("ingest " + q(prefix + "QC_Day") + " -o " + q(tmp / "qc") + grid);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("QC_Day"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "qc"));
  r = test::run_cli("ingest " + q("HDF4_EOS:EOS_GRID:\"/nowhere/x.hdf\":MODIS_Grid_Daily_1km_LST:LST_Day_1km") +
                    " -o " + q(tmp / "none") + grid);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("/nowhere/x.hdf"), std::string::npos) << r.output;
}

}  // namespace test_ingest_cli
