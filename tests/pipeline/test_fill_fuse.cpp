#include <gtest/gtest.h>
#include <gdal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/fill_catalog.hpp"
#include "lstfuse/pipeline/fuse.hpp"
#include "lstfuse/pipeline/fuse_cube.hpp"
#include "lstfuse/pipeline/reference_fill.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_fill_fuse {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

// A simulated 96-day series (64 x 64 pixels, clouds in both sensors), ingested once, and a copy
// of its catalog without the coarse image of one day. Shared by the tests of this file.
struct SimCatalog {
  test::TempDir dir;
  Catalog full, holed;
  Date removed;
  SimCatalog() {
    const auto sim = dir / "sim", cat = dir / "cat";
    const auto r1 = test::run_cli("simulate -o " + sim.string() +
                                  " --size 64 --days 96 --seed 5 --encoding kelvin --truth-dates all");
    if (r1.exit_code != 0) throw std::runtime_error(r1.output);
    const auto r2 = test::run_cli("ingest " + sim.string() + " -o " + cat.string());
    if (r2.exit_code != 0) throw std::runtime_error(r2.output);
    full = Catalog::load(cat);
    removed = full.coarse_only_dates()[40];
    Catalog h(dir / "holed");
    h.set_grid(full.grid());
    for (Observation o : full.observations()) {
      if (o.role == Role::Coarse && o.date == removed) continue;
      // The same files, linked: a catalog's paths stay inside its folder.
      for (const std::string* rel : {&o.path, &o.quality_path}) {
        if (rel->empty()) continue;
        fs::create_directories((dir / "holed" / *rel).parent_path());
        fs::create_hard_link(full.absolute(*rel), dir / "holed" / *rel);
      }
      h.add(o);
    }
    h.save();
    holed = Catalog::load(dir / "holed");
  }
};

const SimCatalog& sim_catalog() {
  static SimCatalog c;
  return c;
}

// fuse --fill into `dir`, GeoTIFF, quiet.
pipeline::FuseOptions filled_fuse(const fs::path& dir) {
  pipeline::FuseOptions o;
  o.out_dir = dir;
  o.fill = true;
  o.show_progress = false;
  o.format = "GTiff";
  return o;
}

Raster band_of(const Raster& r, const std::string& name) {
  const auto it = std::find(r.band_names.begin(), r.band_names.end(), name);
  if (it == r.band_names.end()) throw std::runtime_error("no band " + name);
  return r.band_raster(static_cast<int>(it - r.band_names.begin()));
}

}  // namespace

TEST(FillCatalog, WritesEveryDayWithFlagsAndLeavesObservedPixelsAlone) {
  const auto& s = sim_catalog();
  test::TempDir out;
  pipeline::FillCatalogOptions o;
  o.show_progress = false;
  pipeline::FillSummary sum;
  const Catalog filled = pipeline::fill_catalog(s.holed, out / "filled", o, &sum);
  // Every day of the period has a coarse image, the removed one included.
  const auto coarse = s.holed.dates(Role::Coarse);
  EXPECT_EQ(sum.synthesized, 1);
  EXPECT_EQ(sum.not_fillable, 0);
  for (Date d = coarse.front(); d <= coarse.back(); d = d + 1) {
    const auto obs = filled.find(d, Role::Coarse);
    ASSERT_TRUE(obs) << d.iso();
    EXPECT_DOUBLE_EQ(obs->valid_fraction, 1.0) << d.iso();
  }
  // Observed pixels are unchanged bit for bit and flagged 0; the others are flagged 1.
  for (const Date& d : {coarse[3], coarse[30], coarse[70]}) {
    const Raster src = io::load_observation(s.holed, *s.holed.find(d, Role::Coarse));
    const auto fo = *filled.find(d, Role::Coarse);
    const Raster dst = io::load_observation(filled, fo);
    const Raster flag = io::read_raster(filled.absolute(fo.quality_path).string());
    EXPECT_EQ(flag.band_names, std::vector<std::string>{"coarse_filled"});
    for (size_t i = 0; i < src.band_size(); ++i) {
      if (src.mask(0)[i]) {
        ASSERT_EQ(dst.band(0)[i], src.band(0)[i]);
        ASSERT_EQ(flag.band(0)[i], 0.0f);
      } else {
        ASSERT_EQ(flag.band(0)[i], 1.0f);
      }
    }
  }
  // Fine and truth entries point at the source files.
  const Date p = s.holed.pair_dates().front();
  EXPECT_TRUE(fs::equivalent(filled.absolute(filled.find(p, Role::Fine)->path),
                             s.holed.absolute(s.holed.find(p, Role::Fine)->path)));
  // The folder is not overwritten without --overwrite, and never the source catalog.
  EXPECT_THROW(pipeline::fill_catalog(s.holed, out / "filled", o), Error);
  EXPECT_THROW(pipeline::fill_catalog(s.holed, s.holed.root(), o), Error);
}

TEST(FillCatalog, CarriesTheLandCover) {
  // The uncertainty of `fuse --fill` is learned on the filled catalog: its classes must be there.
  const auto& s = sim_catalog();
  ASSERT_TRUE(s.full.landcover());
  test::TempDir out;
  pipeline::FillCatalogOptions o;
  o.show_progress = false;
  const Catalog filled = pipeline::fill_catalog(s.full, out / "filled", o);
  ASSERT_TRUE(filled.landcover());
  EXPECT_EQ(filled.landcover()->classes, s.full.landcover()->classes);
  const Raster a = io::read_raster(s.full.absolute(s.full.landcover()->path).string());
  const Raster b = io::read_raster(filled.absolute(filled.landcover()->path).string());
  ASSERT_EQ(a.band_size(), b.band_size());
  for (size_t i = 0; i < a.band_size(); ++i) ASSERT_EQ(a.band(0)[i], b.band(0)[i]);
  // Reloaded from its manifest, as fuse reuses it.
  EXPECT_TRUE(Catalog::load(filled.root()).landcover());
  const auto reused = pipeline::reuse_filled_catalog(s.full, out / "filled", o);
  ASSERT_TRUE(reused);
  EXPECT_TRUE(reused->landcover());
  // The source's layer changed since: the filled copy is stale, and the error says why.
  Catalog changed = s.full;
  LandCoverLayer other = *s.full.landcover();
  other.classes.begin()->second += " (renamed)";
  changed.set_landcover(other);
  try {
    pipeline::reuse_filled_catalog(changed, out / "filled", o);
    ADD_FAILURE() << "a stale filled catalog was reused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("land-cover"), std::string::npos) << e.what();
  }
}

TEST(FillCatalog, FilledPixelsAreCloseToTheTruth) {
  // The simulated MODIS has noise, a daily bias and a 1 km PSF: the filled pixels are compared
  // with the observed ones' own error against the PSF-blurred truth, through the same days.
  const auto& s = sim_catalog();
  test::TempDir out;
  pipeline::FillCatalogOptions o;
  o.show_progress = false;
  const Catalog filled = pipeline::fill_catalog(s.full, out / "filled", o);
  double se_f = 0, se_o = 0;
  long n_f = 0, n_o = 0;
  for (const Date& d : s.full.coarse_only_dates()) {
    const auto fo = *filled.find(d, Role::Coarse);
    const Raster v = io::load_observation(filled, fo);
    const Raster flag = io::read_raster(filled.absolute(fo.quality_path).string());
    const Raster t = io::load_observation(s.full, *s.full.find(d, Role::Truth));
    for (size_t i = 0; i < v.band_size(); ++i) {
      const double e = v.band(0)[i] - t.band(0)[i];
      if (flag.band(0)[i] == 1.0f) {
        se_f += e * e;
        ++n_f;
      } else {
        se_o += e * e;
        ++n_o;
      }
    }
  }
  ASSERT_GT(n_f, 10000);
  const double rmse_f = std::sqrt(se_f / n_f), rmse_o = std::sqrt(se_o / n_o);
  // Observed MODIS against the fine truth errs by the sub-pixel contrast (a few K); filled
  // values may be somewhat worse, not much.
  EXPECT_LT(rmse_f, 1.5 * rmse_o) << "filled " << rmse_f << " K, observed " << rmse_o << " K";
}

TEST(FuseFill, EveryDayEveryPixelWithFlagsAndTheirBandNames) {
  const auto& s = sim_catalog();
  test::TempDir out;
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = filled_fuse(out / "fused");
  o.max_reference_steps = 3;
  const auto sum = pipeline::fuse(s.holed, *method, o);
  const auto coarse = s.holed.dates(Role::Coarse);
  int expected = 0;
  for (Date d = coarse.front(); d <= coarse.back(); d = d + 1)
    if (!s.holed.find(d, Role::Fine)) ++expected;
  EXPECT_EQ(sum.done, expected);
  long long ref_filled = 0;
  const Catalog filled = Catalog::load(out / "fused" / "filled-coarse");
  for (const auto& e : sum.entries) {
    ASSERT_EQ(e.status, "done") << e.date.iso() << ": " << e.note;
    EXPECT_DOUBLE_EQ(e.valid_fraction, 1.0) << e.date.iso();
    const Raster q = io::read_raster((out / "fused" / e.quality).string());
    const Raster cf = band_of(q, "coarse_filled");
    const Raster rf = band_of(q, "reference_filled");
    ref_filled += static_cast<long long>(std::count(rf.data().begin(), rf.data().end(), 1.0f));
    // coarse_filled is the fill flag of that day's coarse image; all 1 on the removed day.
    const auto fo = *filled.find(e.date, Role::Coarse);
    const Raster flag = io::read_raster(filled.absolute(fo.quality_path).string());
    for (size_t i = 0; i < cf.band_size(); ++i) ASSERT_EQ(cf.band(0)[i], flag.band(0)[i]);
    if (e.date == s.removed) {
      EXPECT_EQ(std::count(cf.data().begin(), cf.data().end(), 1.0f), static_cast<long>(cf.band_size()));
    }
  }
  // The simulated Landsat clouds leave holes under the nearest pairs that farther ones fill.
  EXPECT_GT(ref_filled, 0);
  // The filler's check of days filled whole, kept with the filled catalog, is what the
  // uncertainty of such days is built on.
  std::ifstream fj(out / "fused" / "filled-coarse" / "fill.json");
  const auto fill = nlohmann::json::parse(fj);
  ASSERT_TRUE(fill.contains("whole_day_check"));
  EXPECT_GT(fill["whole_day_check"]["checks"].get<int>(), 50);
  const double mse = fill["whole_day_check"]["mean_square_error"].get<double>();
  EXPECT_GT(mse, 0.0);
  EXPECT_DOUBLE_EQ(*pipeline::whole_day_fill_mean_square_error(filled), mse);
  std::ifstream mj(out / "fused" / "uncertainty_model.json");
  ASSERT_TRUE(mj.good());
  const auto model = nlohmann::json::parse(mj);
  EXPECT_DOUBLE_EQ(model["whole_day_fill_variance"].get<double>(), mse);
  EXPECT_DOUBLE_EQ(model["day_variance_whole_day_filled"].get<double>(), model["day_variance"].get<double>() + mse);
  EXPECT_FALSE(pipeline::whole_day_fill_mean_square_error(s.holed));  // not a filled catalog
}

TEST(FuseFill, DaysTheFillerCannotFillAreListedAsNoData) {
  // With a window of 0 days the day without a coarse image has nothing to be filled from: it
  // was left out of the index and the summary; it is listed, without data, and counted.
  const auto& s = sim_catalog();
  test::TempDir out;
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = filled_fuse(out / "fused");
  o.fill_options.window = 0;
  o.uncertainty = false;
  o.from = s.removed + (-2);
  o.to = s.removed + 2;
  const auto sum = pipeline::fuse(s.holed, *method, o);
  int expected = 0;
  for (Date d = *o.from; d <= *o.to; d = d + 1) expected += !s.holed.find(d, Role::Fine);
  ASSERT_EQ(static_cast<int>(sum.entries.size()), expected);
  EXPECT_EQ(sum.done + sum.no_data, expected);
  bool listed = false;
  for (const auto& e : sum.entries) {
    if (e.date != s.removed) continue;
    listed = true;
    EXPECT_EQ(e.status, "no-data");
    EXPECT_EQ(e.note, "not filled: no clear coarse data within --fill-window days");
    EXPECT_TRUE(e.output.empty());
  }
  EXPECT_TRUE(listed);
  std::ifstream in(out / "fused" / "index.json");
  const auto index = nlohmann::json::parse(in);
  EXPECT_EQ(static_cast<int>(index["entries"].size()), expected);
  // A period that starts before the coarse series: the days the filler fills from the series'
  // first days are fused, and no day is listed before --from.
  const Date first = s.holed.dates(Role::Coarse).front();
  o.out_dir = out / "early";
  o.fill_options.window = 8;
  o.from = first + (-3);
  o.to = first + 2;
  const auto early = pipeline::fuse(s.holed, *method, o);
  ASSERT_FALSE(early.entries.empty());
  EXPECT_EQ(early.entries.front().date, *o.from);
  for (const auto& e : early.entries) {
    EXPECT_FALSE(e.date < *o.from) << e.date.iso();
    EXPECT_EQ(e.status, "done") << e.date.iso() << ": " << e.note;
  }
}

TEST(FuseFill, WithoutReferenceStepsHolesStayAndAreNotFlagged) {
  const auto& s = sim_catalog();
  test::TempDir out;
  auto method = method_registry().create("estarfm");
  pipeline::FuseOptions o;
  o.out_dir = out / "fused";
  o.show_progress = false;
  o.format = "GTiff";
  const Date d = s.full.coarse_only_dates()[20];
  o.from = d;
  o.to = d + 5;
  const auto plain = pipeline::fuse(s.full, *method, o);
  o.out_dir = out / "fused2";
  o.max_reference_steps = 4;
  const auto more = pipeline::fuse(s.full, *method, o);
  ASSERT_EQ(plain.entries.size(), more.entries.size());
  bool any_hole = false;
  for (size_t k = 0; k < plain.entries.size(); ++k) {
    const auto& a = plain.entries[k];
    const auto& b = more.entries[k];
    if (a.status != "done") continue;
    const Raster pa = io::read_raster((out / "fused" / a.output).string());
    const Raster pb = io::read_raster((out / "fused2" / b.output).string());
    const Raster rf = band_of(io::read_raster((out / "fused2" / b.quality).string()), "reference_filled");
    const Raster rf0 = band_of(io::read_raster((out / "fused" / a.quality).string()), "reference_filled");
    for (size_t i = 0; i < pa.band_size(); ++i) {
      ASSERT_EQ(rf0.band(0)[i], 0.0f);
      if (pa.mask(0)[i]) {
        // Pixels the nearest pairs predicted are the same, unflagged.
        ASSERT_EQ(pb.band(0)[i], pa.band(0)[i]);
        ASSERT_EQ(rf.band(0)[i], 0.0f);
      } else if (pb.mask(0)[i]) {
        any_hole = true;
        ASSERT_EQ(rf.band(0)[i], 1.0f);
      }
    }
    EXPECT_GE(b.valid_fraction, a.valid_fraction);
  }
  EXPECT_TRUE(any_hole) << "the fixture needs an ESTARFM hole under the nearest pairs";
}

TEST(ReferenceFill, CandidatesGoOutwardsInRankOrder) {
  Catalog c("/nonexistent");
  Grid g;
  g.width = g.height = 2;
  c.set_grid(g);
  const Date t(2024, 3, 1);
  for (int off : {-40, -24, -8, 8, 24, 40}) {
    c.add({t + off, Role::Fine, "f", "f", "", 0.5, "K", ""});
    c.add({t + off, Role::Coarse, "c", "c", "", 0.5, "K", ""});
  }
  MethodInfo two{"two", "test", "", 2, 2, true, false};
  const auto c2 = pipeline::reference_candidates(c, t, two, {t + -8, t + 8}, 1);
  // Within one step ({-24, -8} before, {8, 24} after): bracketing sets by the farther date's
  // distance, then the nearer's (ties to the earlier set), then the one-sided sets.
  ASSERT_EQ(c2.size(), 5u);
  EXPECT_EQ(c2[0], (std::vector<Date>{t + -24, t + 8}));
  EXPECT_EQ(c2[1], (std::vector<Date>{t + -8, t + 24}));
  EXPECT_EQ(c2[2], (std::vector<Date>{t + -24, t + 24}));
  EXPECT_EQ(c2[3], (std::vector<Date>{t + -24, t + -8}));
  EXPECT_EQ(c2[4], (std::vector<Date>{t + 8, t + 24}));
  // A method that does not need both sides takes the one-sided {-24, -8} (24 and 8 days away)
  // first, {-24, 24} last.
  MethodInfo any2{"any2", "test", "", 2, 2, false, false};
  const auto c3 = pipeline::reference_candidates(c, t, any2, {t + -8, t + 8}, 1);
  ASSERT_EQ(c3.size(), 5u);
  EXPECT_EQ(c3[0], (std::vector<Date>{t + -24, t + -8}));
  EXPECT_EQ(c3[4], (std::vector<Date>{t + -24, t + 24}));
  MethodInfo one{"one", "test", "", 1, 2, false, false};
  const auto c1 = pipeline::reference_candidates(c, t, one, {t + -8, t + 8}, 2);
  // Single pairs by distance, ties to the earlier: -8, 8, -24, 24, -40, 40.
  ASSERT_EQ(c1.size(), 6u);
  EXPECT_EQ(c1[0], std::vector<Date>{t + -8});
  EXPECT_EQ(c1[3], std::vector<Date>{t + 24});
  EXPECT_TRUE(pipeline::reference_candidates(c, t, one, {t + -8}, 0).empty());
}

TEST(FuseCube, NetCdfHasTheTimeAxisCrsAndValues) {
  const auto& s = sim_catalog();
  test::TempDir out;
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o;
  o.out_dir = out / "fused";
  o.fill = true;
  o.max_reference_steps = 3;
  o.show_progress = false;
  o.format = "netCDF";
  o.from = s.removed + -3;
  o.to = s.removed + 3;
  const auto sum = pipeline::fuse(s.holed, *method, o);
  const fs::path nc = out / "fused" / "lst_additive.nc";
  ASSERT_TRUE(fs::exists(nc));
  std::vector<const pipeline::FuseEntry*> done;
  for (const auto& e : sum.entries)
    if (e.status == "done") done.push_back(&e);
  ASSERT_GE(done.size(), 5u);
  // Read it with xarray (Debian's python3-xarray + python3-netcdf4) and print what we check.
  const fs::path py = out / "read.py";
  std::ofstream(py) << R"(import json, sys
import numpy as np
import xarray as xr
ds = xr.open_dataset(sys.argv[1])
gm = ds[ds.lst.attrs["grid_mapping"]].attrs
out = {
  "times": [str(t)[:10] for t in ds.time.values.astype("datetime64[D]")],
  "dims": list(ds.lst.dims),
  "grid_mapping": ds.lst.attrs["grid_mapping"],
  "vars": sorted(v for v in ds.data_vars if v != ds.lst.attrs["grid_mapping"]),
  "wkt": gm.get("crs_wkt", gm.get("spatial_ref", "")),
  "x0": float(ds.x.values[0]), "y0": float(ds.y.values[0]),
  "units": ds.lst.attrs.get("units", ""),
  "lst": [[float(ds.lst.values[t, y, x]) for (y, x) in [(0, 0), (10, 20), (63, 63)]] for t in range(ds.sizes["time"])],
  "cf": [int(np.nansum(ds.coarse_filled.values[t])) for t in range(ds.sizes["time"])],
  "rf": [int(np.nansum(ds.reference_filled.values[t])) for t in range(ds.sizes["time"])],
  "unbanded": [bool(np.isnan(ds.uncertainty.values[t]).all()) for t in range(ds.sizes["time"])],
}
print(json.dumps(out).replace("NaN", "null"))
)";
  const std::string cmd = "/usr/bin/python3 " + py.string() + " " + nc.string() + " 2>&1";
  auto read_cube = [&cmd] {
    FILE* pipe = popen(cmd.c_str(), "r");
    std::string text;
    if (!pipe) return text;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) text.append(buf, n);
    if (pclose(pipe) != 0) text = "python failed: " + text;
    return text;
  };
  const std::string text = read_cube();
  ASSERT_EQ(text.rfind("python failed", 0), std::string::npos) << text;
  const auto j = nlohmann::json::parse(text);
  ASSERT_EQ(j["times"].size(), done.size());
  for (size_t t = 0; t < done.size(); ++t) EXPECT_EQ(j["times"][t], done[t]->date.iso());
  EXPECT_EQ(j["dims"], (nlohmann::json{"time", "y", "x"}));
  // The CRS is a CF grid-mapping variable that every variable names.
  // The uncertainty joins the flags: fuse learns it whenever the catalog has enough pair dates.
  EXPECT_EQ(j["vars"], (nlohmann::json{"coarse_filled", "lst", "reference_filled", "uncertainty"}));
  EXPECT_EQ(j["grid_mapping"], "transverse_mercator");
  EXPECT_NE(j["wkt"].get<std::string>().find("55S"), std::string::npos) << j["wkt"];
  const Grid& g = s.holed.grid();
  EXPECT_DOUBLE_EQ(j["x0"].get<double>(), g.transform[0] + 0.5 * g.transform[1]);
  EXPECT_DOUBLE_EQ(j["y0"].get<double>(), g.transform[3] + 0.5 * g.transform[5]);
  EXPECT_EQ(j["units"], "K");
  for (size_t t = 0; t < done.size(); ++t) {
    const Raster p = io::read_raster((out / "fused" / done[t]->output).string());
    const Raster q = io::read_raster((out / "fused" / done[t]->quality).string());
    const int px[3][2] = {{0, 0}, {10, 20}, {63, 63}};
    for (int k = 0; k < 3; ++k)
      if (p.valid(px[k][0], px[k][1])) {
        EXPECT_FLOAT_EQ(j["lst"][t][k].get<float>(), p.at(px[k][0], px[k][1])) << t << " " << k;
      } else {
        EXPECT_TRUE(j["lst"][t][k].is_null()) << t << " " << k;
      }
    const Raster cf = band_of(q, "coarse_filled"), rf = band_of(q, "reference_filled");
    EXPECT_EQ(j["cf"][t].get<long>(), std::count(cf.data().begin(), cf.data().end(), 1.0f));
    EXPECT_EQ(j["rf"][t].get<long>(), std::count(rf.data().begin(), rf.data().end(), 1.0f));
    if (done[t]->date == s.removed) {
      EXPECT_EQ(j["cf"][t].get<long>(), 64 * 64);
    }
    EXPECT_FALSE(j["unbanded"][t].get<bool>()) << t;
  }

  // A date whose quality layer has no uncertainty band (a day without a pixel to band): its step
  // of the variable is nodata, the others keep theirs.
  const fs::path q1 = out / "fused" / done[1]->quality;
  const Raster full = io::read_raster(q1.string());
  Raster flags(full.grid(), 2, 0.0f);
  flags.band_names = {"coarse_filled", "reference_filled"};
  for (int b = 0; b < 2; ++b) {
    const Raster one = band_of(full, flags.band_names[b]);
    std::copy(one.band(0), one.band(0) + one.band_size(), flags.band(b));
  }
  fs::remove(q1);
  io::write_raster(q1.string(), flags);
  pipeline::write_fuse_cube(out / "fused", "additive", sum.entries);
  const std::string again = read_cube();
  ASSERT_EQ(again.rfind("python failed", 0), std::string::npos) << again;
  const auto k = nlohmann::json::parse(again);
  for (size_t t = 0; t < done.size(); ++t) EXPECT_EQ(k["unbanded"][t].get<bool>(), t == 1) << t;
  EXPECT_EQ(k["cf"], j["cf"]);
}

TEST(FillCli, WritesAFilledCatalogAndNamesBadOptions) {
  const auto& s = sim_catalog();
  test::TempDir out;
  const auto r = test::run_cli("fill --catalog " + s.holed.root().string() + " -o " + (out / "f").string() + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 for days without one"), std::string::npos) << r.output;
  const Catalog c = Catalog::load(out / "f");
  ASSERT_TRUE(c.find(s.removed, Role::Coarse));
  EXPECT_DOUBLE_EQ(c.find(s.removed, Role::Coarse)->valid_fraction, 1.0);
  const auto bad = test::run_cli("fill --catalog " + s.holed.root().string() + " -o " + (out / "g").string() +
                                 " -q --fill-harmonics 3");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--fill-harmonics must be 1 or 2"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(out / "g"));
}

namespace {

// Options of a quiet GTiff run into OUT_DIR.
pipeline::FuseOptions quiet_run(const fs::path& out_dir) {
  pipeline::FuseOptions o;
  o.out_dir = out_dir;
  o.show_progress = false;
  o.format = "GTiff";
  return o;
}

// A run of `days` days from `from`, without the uncertainty band (learning it is not what these
// tests are about).
void over_days(pipeline::FuseOptions& o, const Date& from, int days) {
  o.uncertainty = false;
  o.from = from;
  o.to = from + (days - 1);
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(FuseFill, OverwriteWithOtherFillOptionsFillsAgainAndRedoesEveryDate) {
  // A run with 8-pixel residual cells, then the same folder with 16-pixel cells: refused without
  // --overwrite (naming the filled folder); with it, the filled catalog, every date and the
  // uncertainty model are made again, byte for byte what a fresh folder gets.
  const auto& s = sim_catalog();
  test::TempDir out;
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = quiet_run(out / "fused");
  o.fill = true;
  const Date d = s.full.coarse_only_dates()[20];
  o.from = d;
  o.to = d + 6;
  o.fill_options.cell = 8;
  pipeline::fuse(s.full, *method, o);
  o.fill_options.cell = 16;
  try {
    pipeline::fuse(s.full, *method, o);
    ADD_FAILURE() << "other fill options accepted without --overwrite";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("filled-coarse"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
  }
  o.overwrite = true;
  const auto again = pipeline::fuse(s.full, *method, o);
  EXPECT_EQ(again.skipped, 0);
  pipeline::FuseOptions f = o;
  f.overwrite = false;
  f.out_dir = out / "fresh";
  const auto fresh = pipeline::fuse(s.full, *method, f);
  ASSERT_EQ(again.entries.size(), fresh.entries.size());
  ASSERT_GT(fresh.done, 0);
  for (size_t k = 0; k < fresh.entries.size(); ++k) {
    if (fresh.entries[k].status != "done") continue;
    for (const std::string* name : {&fresh.entries[k].output, &fresh.entries[k].quality})
      EXPECT_EQ(file_bytes(out / "fused" / *name), file_bytes(out / "fresh" / *name)) << *name;
  }
  EXPECT_EQ(file_bytes(out / "fused" / "uncertainty_model.json"), file_bytes(out / "fresh" / "uncertainty_model.json"));
}


TEST(Fuse, ARunOverPartOfThePeriodKeepsTheOtherFinishedDatesInItsIndex) {
  // A run over ten days, then one over three of them: the index kept only the three, while the
  // other days' files stayed, and the next run over the ten predicted those again.
  const auto& s = sim_catalog();
  test::TempDir out;
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = quiet_run(out / "fused");
  const Date d = s.full.coarse_only_dates()[20];
  over_days(o, d, 10);
  const auto first = pipeline::fuse(s.full, *method, o);
  ASSERT_GT(first.done, 3);
  o.from = d + 3;
  o.to = d + 5;
  pipeline::fuse(s.full, *method, o);
  std::ifstream in(out / "fused" / "index.json");
  const auto index = nlohmann::json::parse(in);
  int done = 0;
  for (const auto& e : index["entries"]) done += e["status"] == "done";
  EXPECT_EQ(done, first.done);
  o.from = d;
  o.to = d + 9;
  const auto again = pipeline::fuse(s.full, *method, o);
  EXPECT_EQ(again.done, 0);
  EXPECT_EQ(again.skipped, first.done);
}

TEST(FuseFill, OverwriteRemovesTheEarlierRunsFilesItDoesNotWriteAgain) {
  // A --fill run writes every day; the same folder without --fill and --overwrite writes only
  // the days with coarse data. The earlier files of the other days stayed under the usual names
  // while the index called those days without data. A file of the user's stays.
  const auto& s = sim_catalog();
  test::TempDir out;
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = filled_fuse(out / "fused");
  const Date d = s.holed.coarse_only_dates()[38];
  over_days(o, d, 7);
  const auto filled = pipeline::fuse(s.holed, *method, o);
  std::ofstream(out / "fused" / "notes.tif") << "mine";
  o.fill = false;
  o.overwrite = true;
  const auto plain = pipeline::fuse(s.holed, *method, o);
  ASSERT_LT(plain.done, filled.done);  // the day without a coarse image
  int rasters = 0;
  for (const auto& f : fs::directory_iterator(out / "fused"))
    rasters += f.path().extension() == ".tif" && f.path().filename() != "notes.tif";
  EXPECT_EQ(rasters, 2 * plain.done);
  for (const auto& e : plain.entries) {
    if (e.status != "done") continue;
    EXPECT_TRUE(fs::exists(out / "fused" / e.output)) << e.output;
  }
  EXPECT_TRUE(fs::exists(out / "fused" / "notes.tif"));
}

TEST(FuseCube, AFileOfTheCubesNameThatFuseDidNotWriteIsKept) {
  // A user's netCDF named as the cube: written over without a word. Refused before any work;
  // the cube fuse wrote is written again on a rerun.
  const auto& s = sim_catalog();
  test::TempDir out;
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = quiet_run(out / "fused");
  o.format = "netCDF";
  const Date d = s.full.coarse_only_dates()[20];
  over_days(o, d, 3);
  pipeline::fuse(s.full, *method, o);
  const fs::path nc = out / "fused" / "lst_additive.nc";
  ASSERT_TRUE(fs::exists(nc));
  o.to = d + 3;
  EXPECT_NO_THROW(pipeline::fuse(s.full, *method, o));
  GDALDatasetH src = GDALOpen(s.full.absolute(s.full.find(d, Role::Coarse)->path).string().c_str(), GA_ReadOnly);
  ASSERT_NE(src, nullptr);
  GDALDatasetH copy = GDALCreateCopy(GDALGetDriverByName("netCDF"), (out / "user.nc").string().c_str(), src, FALSE,
                                     nullptr, nullptr, nullptr);
  ASSERT_NE(copy, nullptr);
  GDALClose(copy);
  GDALClose(src);
  fs::copy_file(out / "user.nc", nc, fs::copy_options::overwrite_existing);
  const std::string before = file_bytes(nc);
  try {
    pipeline::fuse(s.full, *method, o);
    ADD_FAILURE() << "a user's netCDF written over";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), nc.string() + ": exists and is not a cube lstfuse fuse wrote; lstfuse does not "
                                                    "write over it (move it away)");
  }
  EXPECT_EQ(file_bytes(nc), before);
}

namespace {

// Replaces the coarse image of `day` in the catalog at `dir` by that of `other` (of another size).
void replace_coarse_image(const fs::path& dir, const Date& day, const Date& other) {
  const Catalog cat = Catalog::load(dir);
  fs::copy_file(cat.absolute(cat.find(other, Role::Coarse)->path), cat.absolute(cat.find(day, Role::Coarse)->path),
                fs::copy_options::overwrite_existing);
}

// Runs `o` again over OUT/cat into the new folder OUT/fresh: the filled image of `day` and every
// output of OUT/fused must be the fresh folder's.
void expect_as_a_fresh_folder(const fs::path& out, Method& method, pipeline::FuseOptions o, const Date& day) {
  o.overwrite = false;
  o.out_dir = out / "fresh";
  const auto fresh = pipeline::fuse(Catalog::load(out / "cat"), method, o);
  const Catalog filled = Catalog::load(out / "fused" / "filled-coarse"), fresh_filled = Catalog::load(out / "fresh" / "filled-coarse");
  EXPECT_EQ(file_bytes(filled.absolute(filled.find(day, Role::Coarse)->path)),
            file_bytes(fresh_filled.absolute(fresh_filled.find(day, Role::Coarse)->path)));
  for (const auto& e : fresh.entries) {
    if (e.status != "done") continue;
    EXPECT_EQ(file_bytes(out / "fused" / e.output), file_bytes(out / "fresh" / e.output)) << e.output;
  }
}

// `o` run again with --overwrite over OUT/cat into OUT/fused: as a fresh folder gets it.
void overwrite_as_a_fresh_folder(const fs::path& out, Method& method, pipeline::FuseOptions o, const Date& day) {
  o.overwrite = true;
  pipeline::fuse(Catalog::load(out / "cat"), method, o);
  expect_as_a_fresh_folder(out, method, o, day);
}

// A copy of the catalog in OUT/cat fused with --fill into OUT/fused over `days` days from `d`,
// then the copy's coarse image of d + 1 replaced by another day's; returns the run's options.
pipeline::FuseOptions fill_then_replace_an_image(const fs::path& out, Method& method, const Date& d, int days) {
  const auto& s = sim_catalog();
  fs::copy(s.full.root(), out / "cat", fs::copy_options::recursive);
  pipeline::FuseOptions o = quiet_run(out / "fused");
  o.fill = true;
  over_days(o, d, days);
  pipeline::fuse(Catalog::load(out / "cat"), method, o);
  replace_coarse_image(out / "cat", d + 1, s.full.coarse_only_dates()[40]);
  return o;
}

}  // namespace

TEST(FuseFill, OverwriteAfterACatalogFileChangedFillsAgain) {
  // One coarse image of the catalog replaced by another day's after a run: the run is refused
  // (its catalog changed), and --overwrite redid the dates from the old filled copy; the copy is
  // made again, as a fresh folder gets it.
  test::TempDir out;
  auto method = method_registry().create("additive");
  const Date d = sim_catalog().full.coarse_only_dates()[20];
  pipeline::FuseOptions o = fill_then_replace_an_image(out.path(), *method, d, 4);
  EXPECT_THROW(pipeline::fuse(Catalog::load(out / "cat"), *method, o), Error);
  overwrite_as_a_fresh_folder(out.path(), *method, o, d + 1);
}

TEST(FuseFill, ARunWithoutFillInBetweenDoesNotHideAChangedCatalogFromTheFilledCopy) {
  // --fill, a catalog file replaced, --overwrite without --fill (its index takes the changed
  // catalog as its own), then --fill --overwrite again: the old filled copy was taken up, the
  // index no longer telling that the catalog changed. The copy knows what it was filled from.
  test::TempDir out;
  auto method = method_registry().create("additive");
  const Date d = sim_catalog().full.coarse_only_dates()[20];
  pipeline::FuseOptions o = fill_then_replace_an_image(out.path(), *method, d, 3);
  pipeline::FuseOptions plain = o;
  plain.fill = false;
  plain.overwrite = true;
  pipeline::fuse(Catalog::load(out / "cat"), *method, plain);
  overwrite_as_a_fresh_folder(out.path(), *method, o, d + 1);
}

TEST(FuseFill, AFileOfTheFilledCopyChangedSinceIsFilledAgain) {
  // One image of OUT/filled-coarse replaced by another day's (or cut short): the copy was taken
  // up as it was, and a cut file failed its date at every run, --overwrite included. The copy
  // knows its own files' sizes: refused without --overwrite, filled again with it.
  const auto& s = sim_catalog();
  test::TempDir out;
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = filled_fuse(out / "fused");
  const Date d = s.full.coarse_only_dates()[20];
  over_days(o, d, 3);
  pipeline::fuse(s.full, *method, o);
  const Catalog copy = Catalog::load(out / "fused" / "filled-coarse");
  const fs::path victim = copy.absolute(copy.find(d + 1, Role::Coarse)->path);
  const std::string original = file_bytes(victim);
  fs::resize_file(victim, 2000);
  try {
    pipeline::fuse(s.full, *method, o);
    ADD_FAILURE() << "a changed filled copy was taken up";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("changed since it was filled"), std::string::npos) << e.what();
  }
  o.overwrite = true;
  const auto again = pipeline::fuse(s.full, *method, o);
  EXPECT_EQ(again.failed, 0);
  EXPECT_EQ(file_bytes(victim), original);
}

TEST(FuseFill, AMovedCatalogKeepsItsFilledCopy) {
  // The catalog folder moved (another disk, another mount point on a cluster's nodes) after a
  // run with --fill: the filled copy was refused as "filled from another catalog" because it
  // names the source's path. The same manifest and file sizes are the same catalog: the copy
  // is taken up as it is and the run resumes, also when a copy (cp -r) gave its land-cover
  // layer another time. A moved catalog that also changed gets a new copy.
  const auto& s = sim_catalog();
  test::TempDir out;
  fs::copy(s.full.root(), out / "before", fs::copy_options::recursive);
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = filled_fuse(out / "fused");
  const Date d = s.full.coarse_only_dates()[20];
  over_days(o, d, 3);
  pipeline::fuse(Catalog::load(out / "before"), *method, o);
  const Catalog copy = Catalog::load(out / "fused" / "filled-coarse");
  const fs::path image = copy.absolute(copy.find(d + 1, Role::Coarse)->path);
  const auto written = fs::last_write_time(image);
  const std::string fill_json = file_bytes(out / "fused" / "filled-coarse" / "fill.json");
  fs::rename(out / "before", out / "cat");
  // Copied rather than moved (cp -r): the land-cover layer's time changes, not its size.
  const Catalog moved = Catalog::load(out / "cat");
  ASSERT_TRUE(moved.landcover());
  const fs::path layer = moved.absolute(moved.landcover()->path);
  fs::last_write_time(layer, fs::last_write_time(layer) + std::chrono::hours(1));
  const auto again = pipeline::fuse(Catalog::load(out / "cat"), *method, o);
  EXPECT_EQ(again.failed, 0);
  EXPECT_EQ(fs::last_write_time(image), written);
  EXPECT_EQ(file_bytes(out / "fused" / "filled-coarse" / "fill.json"), fill_json);
  replace_coarse_image(out / "cat", d + 1, s.full.coarse_only_dates()[40]);
  overwrite_as_a_fresh_folder(out.path(), *method, o, d + 1);
}

TEST(FuseFill, ARunThatPredictsNothingLeavesNoFolderBehind) {
  // Dates outside the series: the run fails after creating its folder (for the filled catalog).
  // A folder the run created is gone afterwards; an empty folder the user made stays, empty.
  const auto& s = sim_catalog();
  test::TempDir out;
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = quiet_run(out / "new");
  o.fill = true;
  o.from = Date(2019, 1, 1);
  o.to = Date(2019, 2, 1);
  try {
    pipeline::fuse(s.full, *method, o);
    ADD_FAILURE() << "dates outside the catalog accepted";
  } catch (const Error& e) {
    // Named after the catalog the user gave, not the filled copy that is gone.
    EXPECT_NE(std::string(e.what()).find(s.full.root().string() + ":"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(out / "new"));
  fs::create_directories(out / "empty");
  o.out_dir = out / "empty";
  EXPECT_THROW(pipeline::fuse(s.full, *method, o), Error);
  EXPECT_TRUE(fs::is_directory(out / "empty"));
  EXPECT_TRUE(fs::is_empty(out / "empty"));
  // One pair left: ESTARFM (two pairs) is refused before the coarse series is filled. Nothing
  // is written.
  Catalog one(out / "one");
  one.set_grid(s.full.grid());
  const Date kept = s.full.pair_dates().front();
  for (Observation ob : s.full.observations()) {
    if (ob.role == Role::Fine && ob.date != kept) continue;
    for (const std::string* rel : {&ob.path, &ob.quality_path}) {
      if (rel->empty()) continue;
      fs::create_directories((out / "one" / *rel).parent_path());
      fs::create_hard_link(s.full.absolute(*rel), out / "one" / *rel);
    }
    one.add(ob);
  }
  one.save();
  auto estarfm = method_registry().create("estarfm");
  o.from.reset();
  o.to.reset();
  o.out_dir = out / "one_fused";
  EXPECT_THROW(pipeline::fuse(Catalog::load(out / "one"), *estarfm, o), Error);
  EXPECT_FALSE(fs::exists(out / "one_fused"));
}


TEST(FuseFill, AMissingFileOfTheCatalogIsNamedBeforeAnyWork) {
  // One fine image deleted: every date that read it failed with a warning of its own, and the
  // run ended naming a day without coarse data as the problem.
  const auto& s = sim_catalog();
  test::TempDir tmp;
  fs::copy(s.full.root(), tmp / "cat", fs::copy_options::recursive);
  const Catalog cat = Catalog::load(tmp / "cat");
  const fs::path victim = cat.absolute(cat.find(cat.pair_dates()[1], Role::Fine)->path);
  fs::remove(victim);
  auto method = method_registry().create("series");
  for (const bool fill : {false, true}) {
    pipeline::FuseOptions o = quiet_run(tmp / "fused");
    o.fill = fill;
    try {
      pipeline::fuse(cat, *method, o);
      ADD_FAILURE() << "a catalog with a missing file fused";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), victim.string() + ": listed in the catalog but missing");
    }
    EXPECT_FALSE(fs::exists(tmp / "fused"));
  }
}

TEST(FuseFill, AFirstRunKilledWhileFillingCanBeRunAgain) {
  // SIGKILL during the fill of a new folder leaves only the hidden build folder of
  // OUT/filled-coarse; the next run refused the folder as not a fuse folder (no index.json).
  const auto& s = sim_catalog();
  test::TempDir out;
  const auto dead = test::run_shell("sh -c 'echo $$'");  // a process that is gone
  ASSERT_EQ(dead.exit_code, 0);
  const std::string pid = dead.output.substr(0, dead.output.find('\n'));
  fs::create_directories(out / "fused" / (".filled-coarse.fill-" + pid) / "coarse");
  std::ofstream(out / "fused" / (".filled-coarse.fill-" + pid) / "coarse" / "x.tif") << "half";
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = filled_fuse(out / "fused");
  const Date d = s.full.coarse_only_dates()[20];
  over_days(o, d, 2);
  const auto sum = pipeline::fuse(s.full, *method, o);
  EXPECT_GT(sum.done, 0);
  EXPECT_FALSE(fs::exists(out / "fused" / (".filled-coarse.fill-" + pid)));
}

TEST(FillCatalog, AMissingOrBrokenFileOfTheCatalogIsNamedBeforeTheFit) {
  // A copy of the catalog with one fine image deleted, then the same with it cut short: the
  // error names that file of the source catalog, and no filled folder is left.
  const auto& s = sim_catalog();
  test::TempDir tmp;
  fs::copy(s.full.root(), tmp / "cat", fs::copy_options::recursive);
  const Catalog cat = Catalog::load(tmp / "cat");
  const Observation fine = *cat.find(cat.pair_dates()[1], Role::Fine);
  const fs::path victim = cat.absolute(fine.path);
  pipeline::FillCatalogOptions fo;
  fo.show_progress = false;
  fs::remove(victim);
  for (const char* expected : {"listed in the catalog but missing", "not a readable raster"}) {
    try {
      pipeline::fill_catalog(cat, tmp / "filled", fo);
      ADD_FAILURE() << "a broken catalog filled";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(victim.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(tmp / "filled"));
    std::ofstream(victim) << "II*";  // a TIFF's first bytes and nothing more
  }
}


TEST(FillCatalog, AFilledCatalogIsNotFilledAgain) {
  // Its coarse images have no gap left: filling again would mark every pixel observed and lose
  // the flags. Refused, naming the catalog; the period outside the series is refused too.
  const auto& s = sim_catalog();
  test::TempDir tmp;
  pipeline::FillCatalogOptions fo;
  fo.show_progress = false;
  const Catalog filled = pipeline::fill_catalog(s.full, tmp / "filled", fo);
  try {
    pipeline::fill_catalog(filled, tmp / "again", fo);
    ADD_FAILURE() << "a filled catalog filled again";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already a filled catalog"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp / "again"));
  fo.from = Date(2019, 1, 1);
  fo.to = Date(2019, 3, 1);
  EXPECT_THROW(pipeline::fill_catalog(s.full, tmp / "outside", fo), Error);
  EXPECT_FALSE(fs::exists(tmp / "outside"));
}


TEST(FuseFill, OverwriteWithOtherMethodOptionsLearnsTheUncertaintyAgain) {
  // ESTARFM with another window, --overwrite: every date is redone and the uncertainty model is
  // learned again (it was learned from the old window's leave-one-out errors), as in a fresh
  // folder. A change of the output format alone keeps it.
  const auto& s = sim_catalog();
  test::TempDir out;
  pipeline::FuseOptions o = quiet_run(out / "fused");
  o.fill = true;  // the filled catalog has enough pair dates to learn the uncertainty from
  const Date d = s.full.coarse_only_dates()[20];
  o.from = d;
  o.to = d + 3;
  auto a = method_registry().create("estarfm");
  a->options().set("half-window", "10");
  pipeline::fuse(s.full, *a, o);
  const std::string first = file_bytes(out / "fused" / "uncertainty_model.json");
  auto b = method_registry().create("estarfm");
  b->options().set("half-window", "6");
  o.overwrite = true;
  pipeline::fuse(s.full, *b, o);
  pipeline::FuseOptions f = o;
  f.overwrite = false;
  f.out_dir = out / "fresh";
  pipeline::fuse(s.full, *b, f);
  const std::string again = file_bytes(out / "fused" / "uncertainty_model.json");
  EXPECT_NE(again, first);
  EXPECT_EQ(again, file_bytes(out / "fresh" / "uncertainty_model.json"));
  o.format = "COG";
  const auto t = fs::last_write_time(out / "fused" / "uncertainty_model.json");
  pipeline::fuse(s.full, *b, o);
  EXPECT_EQ(fs::last_write_time(out / "fused" / "uncertainty_model.json"), t);
}

TEST(FuseFill, AnOverwriteRefusedLaterLeavesTheEarlierRunWhole) {
  // --overwrite with other method options drops the earlier uncertainty model only once the run
  // has passed its checks: refused for a foreign folder in place of the filled catalog, or for
  // options that contradict each other, it leaves the earlier run as it was.
  const auto& s = sim_catalog();
  test::TempDir out;
  pipeline::FuseOptions o = quiet_run(out / "fused");
  o.fill = true;
  const Date d = s.full.coarse_only_dates()[20];
  o.from = d;
  o.to = d + 1;
  auto a = method_registry().create("estarfm");
  a->options().set("half-window", "10");
  pipeline::fuse(s.full, *a, o);
  const fs::path model = out / "fused" / "uncertainty_model.json";
  const std::string first = file_bytes(model), index = file_bytes(out / "fused" / "index.json");

  // The filled catalog replaced by a folder the user made.
  fs::rename(out / "fused" / "filled-coarse", out / "kept");
  fs::create_directory(out / "fused" / "filled-coarse");
  { std::ofstream(out / "fused" / "filled-coarse" / "notes.txt") << "mine\n"; }
  auto b = method_registry().create("estarfm");
  b->options().set("half-window", "6");
  o.overwrite = true;
  EXPECT_THROW(pipeline::fuse(s.full, *b, o), Error);
  EXPECT_EQ(file_bytes(model), first);
  EXPECT_EQ(file_bytes(out / "fused" / "index.json"), index);
  EXPECT_TRUE(fs::exists(out / "fused" / "filled-coarse" / "notes.txt"));
  fs::remove_all(out / "fused" / "filled-coarse");
  fs::rename(out / "kept", out / "fused" / "filled-coarse");

  // Options that contradict each other: refused at once, naming both.
  auto c = method_registry().create("estarfm");
  c->options().set("dn-min", "400");
  try {
    pipeline::fuse(s.full, *c, o);
    ADD_FAILURE() << "--dn-min above --dn-max was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "estarfm: --dn-min (400) must be below --dn-max (350)");
  }
  EXPECT_EQ(file_bytes(model), first);
  EXPECT_EQ(file_bytes(out / "fused" / "index.json"), index);
}

TEST(FuseFill, ALandCoverLayerOfAnotherCrsIsRefusedBeforeAnyWork) {
  // The layer replaced after ingest by one of the same size in another CRS: it would describe
  // the errors of another place. Refused, naming it, before the folder is made.
  const auto& s = sim_catalog();
  test::TempDir out;
  fs::copy(s.full.root(), out / "cat", fs::copy_options::recursive);
  const Catalog cat = Catalog::load(out / "cat");
  ASSERT_TRUE(cat.landcover());
  const fs::path lc = out / "cat" / cat.landcover()->path;
  Raster layer = io::read_raster(lc.string());
  layer.grid().crs = io::crs_to_wkt("EPSG:32756");
  fs::remove(lc);
  io::write_raster(lc.string(), layer);
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = quiet_run(out / "fused");
  try {
    pipeline::fuse(cat, *method, o);
    ADD_FAILURE() << "a land-cover layer in another CRS was used";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the land-cover layer is not on the catalog grid"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("56S"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(out / "fused"));
}

TEST(FuseFill, ALinkGivenAsTheOutputIsNeverRemoved) {
  // A dangling symbolic link as -o: the run fails (it cannot make the folder) and the link stays.
  const auto& s = sim_catalog();
  test::TempDir out;
  fs::create_directory_symlink(out / "nowhere", out / "link");
  auto method = method_registry().create("additive");
  pipeline::FuseOptions o = quiet_run(out / "link");
  o.fill = true;
  EXPECT_THROW(pipeline::fuse(s.full, *method, o), std::exception);
  EXPECT_TRUE(fs::is_symlink(out / "link"));
}

}  // namespace test_fill_fuse
