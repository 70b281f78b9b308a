// The simulator's contract: determinism, the physics of the truth, the sensors' geometry and
// noise, clouds, QA/QC bits and the files it writes.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>
#include <omp.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/ingest.hpp"
#include "lstfuse/sim/random.hpp"
#include "lstfuse/sim/simulate.hpp"
#include "test_support.hpp"

using namespace lstfuse;
using namespace lstfuse::sim;
namespace fs = std::filesystem;

namespace {

SimOptions small(int size = 99, int days = 40) {
  SimOptions o;
  o.size = size;
  o.days = days;
  return o;
}

bool same_bytes(const fs::path& a, const fs::path& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  const std::string sa((std::istreambuf_iterator<char>(fa)), {}), sb((std::istreambuf_iterator<char>(fb)), {});
  return !sa.empty() && sa == sb;
}

// Mean over pixels of the spread (sd) of day-to-day changes, for pixels where sel[i] is set.
double day_to_day_sd(const Simulation& sim, const std::vector<uint8_t>& sel, int days) {
  std::vector<double> s(sel.size(), 0.0), s2(sel.size(), 0.0);
  Raster prev = sim.truth(sim.start());
  for (int d = 1; d < days; ++d) {
    Raster cur = sim.truth(sim.start() + d);
    for (size_t i = 0; i < sel.size(); ++i) {
      const double diff = cur.data()[i] - prev.data()[i];
      s[i] += diff;
      s2[i] += diff * diff;
    }
    prev = std::move(cur);
  }
  double sum = 0.0;
  long n = 0;
  for (size_t i = 0; i < sel.size(); ++i) {
    if (!sel[i]) continue;
    const double m = s[i] / (days - 1);
    sum += std::sqrt(std::max(0.0, s2[i] / (days - 1) - m * m));
    ++n;
  }
  EXPECT_GT(n, 20) << "too few selected pixels";
  return sum / n;
}

}  // namespace

TEST(SimRandom, HashNormalsHaveUnitMomentsAndRngIsReproducible) {
  double s = 0, s2 = 0, a = 0, a2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = normal_from_hash(hash2(7, static_cast<uint64_t>(i)));
    const double q = approx_normal_from_hash(hash2(8, static_cast<uint64_t>(i)));
    s += z; s2 += z * z; a += q; a2 += q * q;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.02);
  EXPECT_NEAR(a / n, 0.0, 0.01);
  EXPECT_NEAR(a2 / n, 1.0, 0.02);
  Rng r1(42, 3), r2(42, 3), r3(42, 4);
  const double x1 = r1.normal(), x2 = r2.normal(), x3 = r3.normal();
  EXPECT_EQ(x1, x2);
  EXPECT_NE(x1, x3);
  for (int i = 0; i < 1000; ++i) {
    const double u = r1.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(Simulate, SameSeedSameWorldDifferentSeedDifferentWorld) {
  SimOptions o = small();
  const Simulation a(o), b(o);
  o.seed = 2;
  const Simulation c(o);
  const Date d = a.landsat_dates().front();
  EXPECT_EQ(a.landcover(), b.landcover());
  EXPECT_EQ(a.truth(d).data(), b.truth(d).data());
  const auto la = a.landsat(d), lb = b.landsat(d);
  EXPECT_EQ(la.lst.data(), lb.lst.data());
  EXPECT_EQ(la.qa, lb.qa);
  const auto ma = a.modis(d), mb = b.modis(d);
  EXPECT_EQ(ma.lst.data(), mb.lst.data());
  EXPECT_EQ(ma.qc, mb.qc);
  EXPECT_NE(a.landcover(), c.landcover());
  EXPECT_NE(a.truth(d).data(), c.truth(d).data());
  // Different days differ (the daily noise is per day, not frozen).
  EXPECT_NE(a.truth(d).data(), a.truth(d + 1).data());
}

TEST(Simulate, ThreadCountDoesNotChangeTheDraws) {
  const Simulation sim(small(150, 10));
  const Date d = sim.landsat_dates().front();
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const Raster t1 = sim.truth(d);
  const auto l1 = sim.landsat(d, &t1);
  const auto m1 = sim.modis(d, &t1);
  omp_set_num_threads(std::max(3, threads));
  const Raster t2 = sim.truth(d);
  const auto l2 = sim.landsat(d, &t2);
  const auto m2 = sim.modis(d, &t2);
  omp_set_num_threads(threads);
  EXPECT_EQ(t1.data(), t2.data());
  EXPECT_EQ(l1.lst.data(), l2.lst.data());
  EXPECT_EQ(l1.qa, l2.qa);
  EXPECT_EQ(m1.lst.data(), m2.lst.data());
}

TEST(Simulate, WrittenFolderIsByteIdenticalForTheSameSeed) {
  test::TempDir t1, t2, t3;
  SimOptions o = small(66, 20);
  write_simulation(Simulation(o), t1.path().string());
  write_simulation(Simulation(o), t2.path().string());
  o.seed = 5;
  write_simulation(Simulation(o), t3.path().string());
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(t1.path())) {
    if (!e.is_regular_file()) continue;
    const auto rel = fs::relative(e.path(), t1.path());
    EXPECT_TRUE(same_bytes(e.path(), t2.path() / rel)) << rel;
    ++files;
  }
  // json + landcover + 1 Landsat date x 2 + 20 MODIS x 2 + truth (day 6 and days 0, 4, .., 16).
  EXPECT_EQ(files, 1 + 1 + 2 + 40 + 6);
  EXPECT_FALSE(same_bytes(t1 / "truth/truth_20240107.tif", t3 / "truth/truth_20240107.tif"));
}

TEST(Simulate, LandsatDatesFollowTheRevisit) {
  SimOptions o = small(66, 365);
  const Simulation one(o);
  const auto& d1 = one.landsat_dates();
  ASSERT_EQ(d1.size(), 23u);  // days 6, 22, ..., 358
  EXPECT_EQ(d1.front(), Date(2024, 1, 7));
  for (size_t i = 1; i < d1.size(); ++i) EXPECT_EQ(d1[i] - d1[i - 1], 16);
  o.landsat_satellites = 2;
  const Simulation two(o);
  const auto& d2 = two.landsat_dates();
  ASSERT_EQ(d2.size(), 45u);
  for (size_t i = 1; i < d2.size(); ++i) EXPECT_EQ(d2[i] - d2[i - 1], 8);
  EXPECT_EQ(two.landsat(d2[0]).satellite, 8);
  EXPECT_EQ(two.landsat(d2[1]).satellite, 9);
  // Default truth dates: every Landsat date plus every 4th day.
  const auto& td = one.truth_dates();
  for (const auto& d : d1) EXPECT_TRUE(std::binary_search(td.begin(), td.end(), d));
  EXPECT_TRUE(std::binary_search(td.begin(), td.end(), Date(2024, 1, 5)));
  EXPECT_FALSE(std::binary_search(td.begin(), td.end(), Date(2024, 1, 6)));
  EXPECT_EQ(td.size(), 23u + 92u);  // no Landsat day (6 + 16k) is a multiple of 4
}

TEST(Simulate, ModisIsPsfAggregatedTruthPlusBiasAndNoise) {
  SimOptions o = small(330, 12);  // 10 x 10 coarse pixels of 33 fine pixels over the scene
  o.modis_cloud_cover = 0.0;
  const Simulation sim(o);
  // Plus one coarse pixel on every side, aligned with the scene's corner.
  const Grid& cg = sim.coarse_grid();
  ASSERT_EQ(cg.width, 12);
  ASSERT_EQ(cg.height, 12);
  EXPECT_DOUBLE_EQ(cg.res_x(), 990.0);
  EXPECT_DOUBLE_EQ(cg.min_x(), o.origin_x - 990.0);
  EXPECT_DOUBLE_EQ(cg.max_y(), o.origin_y + 990.0);
  // The world covers the coarse grid plus the PSF's 3-sigma reach (43 fine pixels).
  const Grid& wg = sim.world_grid();
  const int mx = static_cast<int>(std::lround((o.origin_x - wg.min_x()) / 30.0));
  const int my = static_cast<int>(std::lround((wg.max_y() - o.origin_y) / 30.0));
  EXPECT_DOUBLE_EQ(wg.res_x(), 30.0);
  EXPECT_GE(mx, 33 + 43);
  EXPECT_GE(my, 33 + 43);
  EXPECT_GE(wg.width - mx - 330, 33 + 43);
  EXPECT_GE(wg.height - my - 330, 33 + 43);
  const Raster truth = sim.truth(sim.start());
  const Raster world = sim.world_truth(sim.start());
  // The fine truth is the world's window at the scene.
  for (int y : {0, 100, 329})
    for (int x : {0, 200, 329}) ASSERT_EQ(truth.at(y, x), world.at(y + my, x + mx));
  const Raster psf = sim.psf_aggregate(world);
  EXPECT_EQ(psf.valid_count(0), 144);
  // Independent PSF: a direct 2-D Gaussian (FWHM 1000 m) around the coarse pixel centre, the
  // corner pixels (mostly outside the scene) included.
  const double sigma = 1000.0 / 2.354820045 / 30.0;
  for (int k : {0, 11, 66, 78, 143}) {
    const int cx = k % 12, cy = k / 12;
    const double fx = (cx - 0.5) * 33 + mx, fy = (cy - 0.5) * 33 + my;  // world pixel coordinates
    double sum = 0, ws = 0;
    for (int y = 0; y < wg.height; ++y)
      for (int x = 0; x < wg.width; ++x) {
        const double dx = x + 0.5 - fx, dy = y + 0.5 - fy;
        if (std::abs(dx) > 3 * sigma + 1 || std::abs(dy) > 3 * sigma + 1) continue;
        const double wgt = std::exp(-0.5 * (dx * dx + dy * dy) / (sigma * sigma));
        sum += wgt * world.at(y, x);
        ws += wgt;
      }
    ASSERT_TRUE(psf.valid(cy, cx));
    EXPECT_NEAR(psf.at(cy, cx), sum / ws, 0.02) << "coarse pixel " << k;
  }
  // A field known only on the fine scene: the margin ring has no value, the centre is the same.
  const Raster psf_fine = sim.psf_aggregate(truth);
  EXPECT_FALSE(psf_fine.valid(0, 0));
  EXPECT_FALSE(psf_fine.valid(6, 11));
  ASSERT_TRUE(psf_fine.valid(6, 6));
  EXPECT_NEAR(psf_fine.at(6, 6), psf.at(6, 6), 1e-4);
  // Residuals of MODIS against PSF(world truth) + the date's bias: centred, spread as stated.
  double s = 0, s2 = 0;
  long n = 0;
  for (int d = 0; d < 12; ++d) {
    const Date date = sim.start() + d;
    const Raster t = sim.truth(date);
    const auto m = sim.modis(date, &t);
    const Raster p = sim.psf_aggregate(sim.world_truth(date));
    EXPECT_DOUBLE_EQ(m.bias, sim.modis_bias(date));
    EXPECT_GE(m.noise_sd, o.modis_noise);
    EXPECT_LE(m.noise_sd, 1.8 * o.modis_noise + 1e-9);
    for (size_t k = 0; k < m.lst.band_size(); ++k) {
      ASSERT_TRUE(m.lst.mask_data()[k]);
      const double v = m.lst.data()[k];
      EXPECT_NEAR(std::round(v / 0.02) * 0.02, v, 1e-3);  // 0.02 K quantisation
      const double r = (v - p.data()[k] - m.bias) / m.noise_sd;
      s += r;
      s2 += r * r;
      ++n;
    }
  }
  EXPECT_NEAR(s / n, 0.0, 0.15);
  EXPECT_NEAR(std::sqrt(s2 / n), 1.0, 0.15);
  // The bias is a few tenths to ~2 K and changes from date to date.
  EXPECT_NE(sim.modis_bias(sim.start()), sim.modis_bias(sim.start() + 1));
  for (int d = 0; d < 12; ++d) EXPECT_LT(std::abs(sim.modis_bias(sim.start() + d)), 4.0);
}

// Real MODIS always extends beyond a Landsat scene: ingested onto the fine grid (bilinear, a
// fine pixel valid only where all its coarse neighbours are), a cloud-free MODIS day covers the
// whole scene, edges included, on either MODIS grid. On the aligned grid the fine-grid values are
// the PSF of the world truth, interpolated here independently, plus the day's bias and noise.
TEST(SimulateIngest, CloudFreeModisCoversTheWholeFineScene) {
  for (const std::string grid : {"utm", "sinusoidal"}) {
    SCOPED_TRACE(grid);
    test::TempDir dir;
    SimOptions o = small(150, 3);
    o.modis_cloud_cover = 0.0;
    o.modis_grid = grid;
    const Simulation sim(o);
    write_simulation(sim, (dir / "sim").string());
    const pipeline::IngestOptions defaults;
    const Catalog cat = pipeline::ingest({(dir / "sim").string()}, (dir / "cat").string(), defaults);
    const Grid& cg = sim.coarse_grid();
    double s2 = 0.0, worst = 0.0, max_sd = 0.0;
    long n = 0;
    for (const Date& d : sim.days()) {
      const auto obs = cat.find(d, Role::Coarse);
      ASSERT_TRUE(obs) << d.iso();
      const Raster m = io::read_raster(cat.absolute(obs->path).string());
      ASSERT_TRUE(io::same_grid(m.grid(), sim.fine_grid()));
      EXPECT_EQ(m.valid_count(0), sim.fine_grid().pixels()) << d.iso();
      EXPECT_DOUBLE_EQ(obs->valid_fraction, 1.0);
      if (grid != "utm") continue;
      const Raster psf = sim.psf_aggregate(sim.world_truth(d));
      const auto cm = sim.modis(d);
      max_sd = std::max(max_sd, cm.noise_sd);
      for (int y = 0; y < 150; ++y)
        for (int x = 0; x < 150; ++x) {
          // Fine pixel centre in coarse pixel units, coarse centres at integers.
          const double u = ((x + 0.5) * 30.0 + o.origin_x - cg.min_x()) / 990.0 - 0.5;
          const double v = (cg.max_y() - (o.origin_y - (y + 0.5) * 30.0)) / 990.0 - 0.5;
          const int u0 = static_cast<int>(std::floor(u)), v0 = static_cast<int>(std::floor(v));
          ASSERT_GE(u0, 0);
          ASSERT_GE(v0, 0);
          ASSERT_LT(u0 + 1, cg.width);
          ASSERT_LT(v0 + 1, cg.height);
          const double tu = u - u0, tv = v - v0;
          const double top = psf.at(v0, u0) * (1 - tu) + psf.at(v0, u0 + 1) * tu;
          const double bottom = psf.at(v0 + 1, u0) * (1 - tu) + psf.at(v0 + 1, u0 + 1) * tu;
          const double r = m.at(y, x) - (top * (1 - tv) + bottom * tv) - cm.bias;
          s2 += r * r;
          worst = std::max(worst, std::abs(r));
          ++n;
        }
    }
    if (grid != "utm") continue;
    // Interpolated noise never exceeds the coarse noise (weights sum to 1), and its spread is at
    // most the stated sigma; 0.02 K quantisation on top.
    EXPECT_LT(std::sqrt(s2 / n), max_sd);
    EXPECT_LT(worst, 5.0 * max_sd + 0.02);
  }
}

TEST(Simulate, CloudFractionsFollowTheOptions) {
  for (double cc : {0.15, 0.5}) {
    SimOptions o = small(64, 3200);  // 200 Landsat scenes
    o.cloud_cover = cc;
    o.modis_cloud_cover = cc;
    const Simulation sim(o);
    const Raster dummy(sim.fine_grid(), 1, 300.0f, true);  // clouds do not depend on the truth
    double sum = 0;
    int mostly_cloudy = 0, clear_scenes = 0;
    for (const auto& d : sim.landsat_dates()) {
      const auto obs = sim.landsat(d, &dummy);
      long cloud_bits = 0;
      for (auto q : obs.qa) cloud_bits += (q >> 3) & 1;
      ASSERT_NEAR(obs.cloud_fraction, static_cast<double>(cloud_bits) / obs.qa.size(), 1e-12);
      EXPECT_LE(obs.clear_fraction, 1.0 - obs.cloud_fraction + 1e-12);
      sum += obs.cloud_fraction;
      mostly_cloudy += obs.cloud_fraction > 0.7;
      clear_scenes += obs.cloud_fraction < 0.05;
    }
    const double n = static_cast<double>(sim.landsat_dates().size());
    EXPECT_NEAR(sum / n, cc, 0.06) << "cloud cover " << cc;
    EXPECT_GT(mostly_cloudy, 0);
    EXPECT_GT(clear_scenes, 0);
  }
}

TEST(Simulate, ModisCloudFractionFollowsTheOption) {
  SimOptions o = small(99, 400);
  o.modis_cloud_cover = 0.4;
  o.coarse_factor = 3;  // 33 x 33 coarse pixels so fractions are fine-grained
  o.psf_fwhm = 60.0;
  const Simulation sim(o);
  const Raster truth = sim.truth(sim.start());
  double sum = 0;
  for (int d = 0; d < 400; ++d) {
    const auto m = sim.modis(sim.start() + d, &truth);
    long not_produced = 0;
    for (size_t k = 0; k < m.qc.size(); ++k) {
      const bool cloudy = (m.qc[k] & 3) == 2;
      ASSERT_EQ(m.lst.mask_data()[k] == 0, cloudy);  // QC 10 <=> LST fill
      not_produced += cloudy;
    }
    ASSERT_NEAR(m.cloud_fraction, static_cast<double>(not_produced) / m.qc.size(), 1e-12);
    sum += m.cloud_fraction;
  }
  EXPECT_NEAR(sum / 400, 0.4, 0.06);
}

TEST(Simulate, LandsatQaMatchesMaskWaterAndNoise) {
  SimOptions o = small(200, 40);
  o.cloud_cover = 0.4;
  const Simulation sim(o);
  const Date d = sim.landsat_dates()[1];
  const Raster truth = sim.truth(d);
  const auto obs = sim.landsat(d, &truth);
  const auto water = sim.water_mask(d);
  double s2 = 0;
  long clear = 0, n_water = 0, shadow = 0;
  for (size_t i = 0; i < obs.qa.size(); ++i) {
    const uint16_t q = obs.qa[i];
    const bool usable = (q & (1 << 6)) && !(q & ((1 << 1) | (1 << 3) | (1 << 4)));
    ASSERT_EQ(usable, obs.lst.mask_data()[i] != 0) << "pixel " << i << " QA " << q;
    shadow += (q >> 4) & 1;
    if (!usable) continue;
    ++clear;
    ASSERT_EQ(((q >> 7) & 1) != 0, water[i] != 0);
    n_water += water[i];
    const double e = obs.lst.data()[i] - truth.data()[i];
    s2 += e * e;
  }
  ASSERT_GT(clear, 1000);
  EXPECT_GT(n_water, 0);
  EXPECT_GT(shadow, 0);
  EXPECT_NEAR(std::sqrt(s2 / clear), o.landsat_noise, 0.05);
  EXPECT_NEAR(obs.clear_fraction, static_cast<double>(clear) / obs.qa.size(), 1e-12);
}

TEST(Simulate, WaterVariesLessThanRoofsAndStrongMoreThanLow) {
  SimOptions o = small(400, 30);
  const Simulation sim(o);
  std::vector<uint8_t> water(sim.landcover().size(), 0), roofs(water.size(), 0);
  // Water on every day (not the seasonal shore), and the dense urban core.
  auto always = sim.water_mask(sim.start());
  for (int d = 1; d < 30; ++d) {
    const auto wm = sim.water_mask(sim.start() + d);
    for (size_t i = 0; i < always.size(); ++i) always[i] &= wm[i];
  }
  for (size_t i = 0; i < water.size(); ++i) {
    water[i] = always[i] && sim.landcover()[i] == kWater;
    roofs[i] = sim.landcover()[i] == kUrbanCore;
  }
  const double sd_water = day_to_day_sd(sim, water, 30), sd_roofs = day_to_day_sd(sim, roofs, 30);
  EXPECT_LT(sd_water, 0.5 * sd_roofs) << sd_water << " vs " << sd_roofs;

  SimOptions lo = small(100, 30), hi = small(100, 30);
  lo.variability = "low";
  hi.variability = "strong";
  const Simulation sl(lo), sh(hi);
  const std::vector<uint8_t> all(100 * 100, 1);
  const double d_lo = day_to_day_sd(sl, all, 30), d_hi = day_to_day_sd(sh, all, 30);
  EXPECT_GT(d_hi, 2.0 * d_lo) << d_lo << " vs " << d_hi;
}

TEST(Simulate, LandscapeHasEveryClassAndASeasonalLake) {
  const Simulation sim(small(400, 365));
  std::vector<long> count(kNumClasses + 1, 0);
  for (auto c : sim.landcover()) {
    ASSERT_GE(c, 1);
    ASSERT_LE(c, kNumClasses);
    ++count[c];
  }
  for (int c = 1; c <= kNumClasses; ++c)
    EXPECT_GT(count[c], 100) << landcover_name(c) << " has " << count[c] << " pixels";
  auto water_px = [&](const Date& d) {
    const auto m = sim.water_mask(d);
    return std::count(m.begin(), m.end(), uint8_t{1});
  };
  // Southern-hemisphere lake: high water in late winter, low in late summer.
  EXPECT_GT(water_px(Date(2024, 8, 28)), water_px(Date(2024, 2, 28)) * 1.1);
  // Class climatology: in January roofs are hotter than water.
  const Raster t = sim.truth(Date(2024, 1, 15));
  double sw = 0, su = 0;
  long nw = 0, nu = 0;
  for (size_t i = 0; i < sim.landcover().size(); ++i) {
    if (sim.landcover()[i] == kWater) { sw += t.data()[i]; ++nw; }
    if (sim.landcover()[i] == kUrbanCore) { su += t.data()[i]; ++nu; }
  }
  EXPECT_GT(su / nu, sw / nw + 8.0);
}

TEST(Simulate, FilesFollowTheContract) {
  test::TempDir dir;
  SimOptions o = small(66, 20);
  o.truth_dates = "2024-01-03,2024-01-07";
  const Simulation sim(o);
  const auto summary = write_simulation(sim, dir.path().string());
  EXPECT_EQ(summary.landsat, 1);
  EXPECT_EQ(summary.modis, 20);
  EXPECT_EQ(summary.truth, 2);
  std::ifstream in(dir / "simulation.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["format"], "lstfuse-simulation");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["seed"], 1);
  EXPECT_EQ(j["options"]["size"], 66);
  EXPECT_EQ(j["fine_grid"]["width"], 66);
  EXPECT_EQ(j["coarse_grid"]["width"], 4);  // 2 over the scene + 1 on each side
  EXPECT_EQ(j["landcover"]["classes"]["1"], "water");
  ASSERT_EQ(j["truth"].size(), 2u);
  const Date d(2024, 1, 7);
  const Raster truth = sim.truth(d);
  const auto obs = sim.landsat(d, &truth);
  const auto m = sim.modis(d, &truth);
  int fine = 0, coarse = 0;
  for (const auto& e : j["observations"]) {
    if (e["role"] == "fine") {
      ++fine;
      EXPECT_EQ(e["product"], "landsat-c2-st");
      if (e["date"] != "2024-01-07") continue;
      EXPECT_EQ(e["path"], "landsat/LC08_L2SP_000000_20240107_20240107_02_T1_ST_B10.TIF");
      EXPECT_DOUBLE_EQ(e["cloud_fraction"].get<double>(), obs.cloud_fraction);
      // DN = round((K - 149) / 0.00341802), cloud pixels keep the sensor's value.
      const auto dn = io::read_uint_band((dir / e["path"].get<std::string>()).string(), 1, 0, 0, 66, 66);
      const auto qa = io::read_uint_band((dir / e["qa_path"].get<std::string>()).string(), 1, 0, 0, 66, 66);
      for (size_t i = 0; i < dn.size(); ++i) {
        ASSERT_EQ(dn[i], static_cast<uint32_t>(std::lround((obs.lst.data()[i] - 149.0) / 0.00341802)));
        ASSERT_EQ(qa[i], obs.qa[i]);
      }
    } else {
      ++coarse;
      EXPECT_EQ(e["product"], "modis-lst-geotiff");
      if (e["date"] != "2024-01-07") continue;
      EXPECT_EQ(e["path"], "modis/MOD11A1.A2024007.sim.LST_Day_1km.tif");
      EXPECT_DOUBLE_EQ(e["bias"].get<double>(), m.bias);
      const auto dn = io::read_uint_band((dir / e["path"].get<std::string>()).string(), 1, 0, 0, 4, 4);
      const auto qc = io::read_uint_band((dir / e["qc_path"].get<std::string>()).string(), 1, 0, 0, 4, 4);
      for (size_t k = 0; k < dn.size(); ++k) {
        ASSERT_EQ(qc[k], m.qc[k]);
        ASSERT_EQ(dn[k], m.lst.mask_data()[k] ? static_cast<uint32_t>(std::lround(m.lst.data()[k] / 0.02)) : 0u);
      }
    }
  }
  EXPECT_EQ(fine, 1);
  EXPECT_EQ(coarse, 20);
  // The truth file reads back in Kelvin on the fine grid with its CRS.
  const Raster back = io::read_raster((dir / "truth/truth_20240107.tif").string());
  EXPECT_TRUE(io::same_grid(back.grid(), sim.fine_grid()));
  EXPECT_EQ(back.data(), truth.data());
  const Raster lc = io::read_raster((dir / "landcover.tif").string());
  EXPECT_EQ(lc.at(10, 10), sim.landcover()[10 * 66 + 10]);
}

TEST(Simulate, KelvinEncodingAndSinusoidalModisGrid) {
  test::TempDir dir;
  SimOptions o = small(150, 8);
  o.encoding = "kelvin";
  o.modis_grid = "sinusoidal";
  o.truth_dates = "landsat";
  const Simulation sim(o);
  EXPECT_FALSE(io::same_crs(sim.coarse_grid().crs, sim.fine_grid().crs));
  EXPECT_NEAR(sim.coarse_grid().res_x(), 926.625433, 1e-5);
  const Raster truth = sim.truth(sim.landsat_dates()[0]);
  const Raster psf = sim.psf_aggregate(truth);
  EXPECT_GT(psf.valid_count(0), 4);
  // The world truth covers every sinusoidal pixel's PSF.
  EXPECT_EQ(sim.psf_aggregate(sim.world_truth(sim.landsat_dates()[0])).valid_count(0),
            sim.coarse_grid().pixels());
  // Each valid sinusoidal pixel lies within the range of the truth it averages.
  const auto st = band_stats(truth);
  for (size_t k = 0; k < psf.band_size(); ++k)
    if (psf.mask_data()[k]) {
      EXPECT_GT(psf.data()[k], st.min);
      EXPECT_LT(psf.data()[k], st.max);
    }
  write_simulation(sim, dir.path().string());
  std::ifstream in(dir / "simulation.json");
  const auto j = nlohmann::json::parse(in);
  for (const auto& e : j["observations"]) EXPECT_EQ(e["product"], "kelvin");
  const Raster fine = io::read_raster((dir / "landsat/landsat_20240107.tif").string());
  const auto obs = sim.landsat(Date(2024, 1, 7), &truth);
  EXPECT_EQ(fine.mask_data(), obs.lst.mask_data());  // clouds and shadows are nodata
  const Raster coarse = io::read_raster((dir / "modis/modis_20240107.tif").string());
  EXPECT_TRUE(io::same_grid(coarse.grid(), sim.coarse_grid()));
}

TEST(Simulate, RealTextureGivesThePersistentPattern) {
  const auto tex = test::shared_data("yanco/Landsat_LST_cloudrm_20160205.tif").string();
  SimOptions o = small(400, 5);
  o.texture = tex;
  const Simulation sim(o);
  const Raster src = io::read_raster(tex, [] { io::ReadOptions r; r.require_crs = false; return r; }());
  ASSERT_EQ(src.width(), 400);  // same size: the texture is the source pixel for pixel
  const Raster t = sim.truth(sim.start());
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  long n = 0;
  for (size_t i = 0; i < t.band_size(); ++i) {
    if (sim.landcover()[i] != kForest || !src.mask_data()[i]) continue;
    const double x = src.data()[i], y = t.data()[i];
    sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y; ++n;
  }
  ASSERT_GT(n, 1000);
  const double cov = sxy / n - sx / n * sy / n;
  const double r = cov / std::sqrt((sxx / n - sx / n * sx / n) * (syy / n - sy / n * sy / n));
  EXPECT_GT(r, 0.8);
  o.texture = "/nonexistent/texture.tif";
  try {
    Simulation bad(o);
    FAIL() << "missing texture accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/texture.tif"), std::string::npos);
  }
}

TEST(Simulate, BadOptionsAndDatesAreClearErrors) {
  SimOptions o = small();
  o.cloud_cover = 1.5;
  EXPECT_THROW(Simulation{o}, Error);
  o = small();
  o.truth_dates = "2024-01-03,2030-01-01";
  EXPECT_THROW(Simulation{o}, Error);
  const Simulation sim(small());
  try {
    sim.truth(Date(2023, 12, 31));
    FAIL() << "date before the period accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2023-12-31"), std::string::npos);
  }
}

TEST(SimulateCli, WritesAFolderAndRejectsBadOptions) {
  test::TempDir dir;
  const auto ok = test::run_cli("simulate -o " + (dir / "out").string() +
                                " --size 66 --days 10 --seed 3 --variability strong");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  std::ifstream in(dir / "out" / "simulation.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["seed"], 3);
  EXPECT_EQ(j["options"]["variability"], "strong");
  const auto bad = test::run_cli("simulate -o " + (dir / "bad").string() + " --cloud-cover 2");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("cloud-cover"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir / "bad" / "simulation.json"));
}
