// Real Landsat 8 / MODIS LST (Yanco, 2016): the classic methods on real data, scored against
// the real Landsat image of 2016-03-08. The figures are printed for the record.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/methods/tiling.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "test_support.hpp"

using namespace lstfuse;

namespace {

std::string yanco(const std::string& name) { return test::shared_data("yanco/" + name).string(); }

struct Scores {
  double rmse, bias, cc;
  long n;
};

Scores score(const Raster& pred, const Raster& truth) {
  double sp = 0, st = 0;
  long n = 0;
  for (int y = 0; y < pred.height(); ++y)
    for (int x = 0; x < pred.width(); ++x)
      if (pred.valid(y, x) && truth.valid(y, x)) {
        sp += pred.at(y, x);
        st += truth.at(y, x);
        ++n;
      }
  const double mp = sp / n, mt = st / n;
  double se = 0, cpp = 0, ctt = 0, cpt = 0;
  for (int y = 0; y < pred.height(); ++y)
    for (int x = 0; x < pred.width(); ++x)
      if (pred.valid(y, x) && truth.valid(y, x)) {
        const double p = pred.at(y, x) - mp, t = truth.at(y, x) - mt;
        se += (pred.at(y, x) - truth.at(y, x)) * (pred.at(y, x) - truth.at(y, x));
        cpp += p * p;
        ctt += t * t;
        cpt += p * t;
      }
  return {std::sqrt(se / n), mp - mt, cpt / std::sqrt(cpp * ctt), n};
}

}  // namespace

TEST(Yanco, SinglePairMethodsPredictMarch8AgainstRealLandsat) {
  FusionInput in;
  in.date = Date(2016, 3, 8);
  in.coarse = io::read_raster(yanco("MOD11A1_LST_cloudrm_20160308.tif"));
  in.pairs.push_back({Date(2016, 2, 5), io::read_raster(yanco("Landsat_LST_cloudrm_20160205.tif")),
                      io::read_raster(yanco("MOD11A1_LST_cloudrm_20160205.tif"))});
  const Raster truth = io::read_raster(yanco("Landsat_LST_cloudrm_20160308.tif"));
  // The sensors disagree on 2016-03-08: Landsat is warmer than MODIS by about 4.5 K.
  const double sensor_bias = band_stats(truth).mean - band_stats(in.coarse).mean;
  std::printf("[yanco] Landsat - MODIS mean on 2016-03-08: %.2f K\n", sensor_bias);
  EXPECT_NEAR(sensor_bias, 4.5, 0.7);
  Scores s_bil{}, s_add{}, s_star{};
  for (const char* name : {"bilinear", "additive", "starfm"}) {
    auto m = method_registry().create(name);
    const FusionResult r = predict_tiled(*m, in, {256, 0});
    const Scores s = score(r.fine, truth);
    std::printf("[yanco] %-8s 2016-03-08 from 2016-02-05: RMSE %.3f K, bias %+.3f K, CC %.4f (n=%ld)\n",
                name, s.rmse, s.bias, s.cc, s.n);
    EXPECT_GT(s.n, 0.99 * truth.valid_count(0)) << name;
    // Every method here inherits the MODIS level of the target date, hence about -4.5 K bias.
    EXPECT_NEAR(s.bias, -sensor_bias, 1.0) << name;
    if (std::string(name) == "bilinear") s_bil = s;
    if (std::string(name) == "additive") s_add = s;
    if (std::string(name) == "starfm") s_star = s;
  }
  // Fine detail from the pair: both fusion methods correlate better than the coarse image.
  EXPECT_GT(s_add.cc, s_bil.cc);
  EXPECT_GT(s_star.cc, s_bil.cc);
}

TEST(Yanco, EstarfmPredictsFebruary18FromTwoPairs) {
  FusionInput in;
  in.date = Date(2016, 2, 18);
  in.coarse = io::read_raster(yanco("MOD11A1_LST_cloudrm_20160218.tif"));
  for (const char* d : {"20160205", "20160308"}) {
    in.pairs.push_back({Date::parse(d), io::read_raster(yanco(std::string("Landsat_LST_cloudrm_") + d + ".tif")),
                        io::read_raster(yanco(std::string("MOD11A1_LST_cloudrm_") + d + ".tif"))});
  }
  auto m = method_registry().create("estarfm");
  m->options().set("dn-min", "250");
  m->options().set("dn-max", "350");
  const FusionResult r = predict_tiled(*m, in, {200, 0});
  const BandStats p = band_stats(r.fine), c = band_stats(in.coarse);
  long rules[4] = {};
  for (float v : std::vector<float>(r.quality.band(1), r.quality.band(1) + r.quality.band_size()))
    ++rules[static_cast<int>(v)];
  std::printf("[yanco] estarfm 2016-02-18: mean %.2f K (MODIS %.2f K), std %.2f K (MODIS %.2f K), "
              "rules: similar %ld, range fallback %ld, few similar %ld, none %ld\n",
              p.mean, c.mean, p.stddev, c.stddev, rules[1], rules[2], rules[3], rules[0]);
  EXPECT_GT(p.count, 0.99 * in.coarse.valid_count(0));
  // No truth on that date: the prediction must stay in the valid range, come mostly from the
  // similar-pixel rule and carry fine detail (more spatial variance than the 1 km image).
  EXPECT_GT(p.min, 250.0);
  EXPECT_LT(p.max, 350.0);
  EXPECT_GT(p.stddev, c.stddev);
  EXPECT_GT(rules[1], 0.9 * p.count);
}
