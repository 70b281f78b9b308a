// Series context (--series-context): per-pixel features of the training series as network
// inputs, computed from the training pairs only and saved with the model.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "lstfuse/core/error.hpp"
#include "lstfuse/deep/deep_method.hpp"
#include "lstfuse/deep/engine.hpp"
#include "lstfuse/deep/series_context.hpp"
#include "synthetic.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/registry.hpp"

using namespace lstfuse;
using namespace lstfuse::deep;

namespace {

Normaliser kelvin() {  // network units = kelvin, so expectations are plain numbers
  Normaliser n;
  n.kind = "none";
  n.mean = {0.0};
  n.scale = {1.0};
  return n;
}

ImagePair pair_of(const Grid& g, int day, std::vector<float> fine, std::vector<float> coarse) {
  ImagePair p;
  p.date = Date(2024, 1, 1) + day;
  p.fine = Raster(g, 1);
  p.coarse = Raster(g, 1);
  for (size_t i = 0; i < fine.size(); ++i) {
    p.fine.data()[i] = fine[i];
    p.coarse.data()[i] = coarse[i];
  }
  return p;
}

// The ridge fit the features use, in double, from (x, y) lists.
double fitted_anomaly(const std::vector<double>& x, const std::vector<double>& y, double x0) {
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) mx += x[i] / n, my += y[i] / n;
  double vx = 0, cxy = 0;
  for (size_t i = 0; i < x.size(); ++i) vx += (x[i] - mx) * (x[i] - mx) / n, cxy += (x[i] - mx) * (y[i] - my) / n;
  const double gain = (cxy + 0.05) / (vx + 0.05);
  return my - gain * mx + (gain - 1.0) * x0;
}

std::unique_ptr<Method> small_deep(const std::string& name, const std::string& context) {
  auto m = method_registry().create(name);
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"threads", "1"}, {"device", "cpu"}, {"quiet", "true"}, {"epochs", "1"}, {"patch", "16"},
           {"stride", "16"}, {"batch-size", "4"}, {"seed", "5"}, {"patches-per-epoch", "16"},
           {"series-context", context}})
    m->options().set(k, v);
  return m;
}

}  // namespace

// Three pairs, two pixels; the second pixel is cloudy in the third fine image. Mean and spread
// of fine - coarse and the fitted anomaly at the target's coarse value, by hand.
TEST(SeriesContext, FeaturesAreTheMeanSpreadAndFitOfTheTrainingPairs) {
  Grid g;
  g.width = 2;
  g.height = 1;
  std::vector<ImagePair> pairs = {pair_of(g, 0, {302, 301}, {300, 300}), pair_of(g, 16, {314, 303}, {310, 305}),
                                  pair_of(g, 32, {326, 0}, {320, 315})};
  pairs[2].fine.set_valid(0, 0, 1, false);
  const auto ctx = SeriesContext::build("fit", pairs, kelvin());
  ASSERT_TRUE(ctx.enabled());
  EXPECT_EQ(ctx.channels(), 3);
  const auto target = torch::tensor({330.0f, 330.0f}).view({1, 1, 1, 2});
  const auto f = ctx.features(ctx.window(0, 0, 2, 1), target, torch::ones({1, 1, 1, 2}));
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{1, 3, 1, 2}));
  // Pixel 0: d = 2, 4, 6; pixel 1: d = 1, -2 (two clear pairs).
  EXPECT_NEAR(f[0][0][0][0].item<double>(), 4.0, 1e-5);
  EXPECT_NEAR(f[0][1][0][0].item<double>(), std::sqrt(8.0 / 3.0), 1e-5);
  EXPECT_NEAR(f[0][0][0][1].item<double>(), -0.5, 1e-5);
  EXPECT_NEAR(f[0][1][0][1].item<double>(), 1.5, 1e-5);
  // Pixel 0 follows fine = -58 + 1.2 coarse exactly: about 8 K at 330 K (the ridge pulls a little).
  EXPECT_NEAR(f[0][2][0][0].item<double>(), fitted_anomaly({300, 310, 320}, {302, 314, 326}, 330), 1e-4);
  EXPECT_NEAR(f[0][2][0][0].item<double>(), 8.0, 0.01);
  EXPECT_NEAR(f[0][2][0][1].item<double>(), fitted_anomaly({300, 305}, {301, 303}, 330), 1e-4);
  // Leaving the first pair out: pixel 0 has d = 4, 6 left.
  const auto lf = torch::tensor({302.0f, 301.0f}).view({1, 1, 1, 2});
  const auto lc = torch::tensor({300.0f, 300.0f}).view({1, 1, 1, 2});
  const auto l = ctx.features(ctx.window(0, 0, 2, 1), target, torch::ones({1, 1, 1, 2}), lf, lc, torch::ones({1, 1, 1, 2}));
  EXPECT_NEAR(l[0][0][0][0].item<double>(), 5.0, 1e-5);
  EXPECT_NEAR(l[0][1][0][0].item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(l[0][0][0][1].item<double>(), -2.0, 1e-5);  // one pair left: its d, no spread
  EXPECT_NEAR(l[0][1][0][1].item<double>(), 0.0, 1e-6);
  // A pixel that was never clear has neutral features.
  pairs[0].fine.set_valid(0, 0, 1, false);
  pairs[1].fine.set_valid(0, 0, 1, false);
  const auto none = SeriesContext::build("mean", pairs, kelvin());
  const auto fn = none.features(none.window(0, 0, 2, 1), target, torch::ones({1, 1, 1, 2}));
  EXPECT_EQ(fn.size(1), 2);
  EXPECT_EQ(fn[0][0][0][1].item<double>(), 0.0);
  EXPECT_EQ(fn[0][1][0][1].item<double>(), 0.0);
}

// In training, each sample's features leave its own target pair out: they equal features
// built from the other pairs alone.
TEST(SeriesContext, TrainingFeaturesLeaveTheTargetPairOut) {
  const auto s = make_synthetic_series(32, 32, 4, 16, 8);
  const auto norm = Normaliser::fit("std", s.pairs);
  const auto ctx = SeriesContext::build("fit", s.pairs, norm);
  const auto samples = make_samples(s.pairs, 1, 0);
  PatchSet data(s.pairs, norm, samples, 16, 16, 0.5, true, &ctx);
  const auto& p = data.patches().front();
  const auto batch = data.batch({p}, torch::kCPU);
  ASSERT_TRUE(batch.context.defined());
  const int target = data.samples()[static_cast<size_t>(p.sample)].target;
  std::vector<ImagePair> others;
  for (int i = 0; i < 4; ++i)
    if (i != target) others.push_back(s.pairs[static_cast<size_t>(i)]);
  const auto ref = SeriesContext::build("fit", others, norm);
  const auto tc = to_tensor(s.pairs[static_cast<size_t>(target)].coarse, norm, p.x, p.y, 16, 16);
  const auto want = ref.features(ref.window(p.x, p.y, 16, 16), tc.values, tc.valid);
  EXPECT_LT((batch.context - want).abs().max().item<double>(), 1e-4);
}

// The features travel with the model; predictions need the training grid (or a window of it).
TEST(SeriesContext, SavedWithTheModelAndTiedToTheTrainingGrid) {
  const auto s = make_synthetic_series(48, 40, 4, 16, 8);
  auto m = small_deep("sttfn", "fit");
  FitContext ctx;
  ctx.show_progress = false;
  m->fit(s.pairs, ctx);
  FusionInput in;
  in.pairs = {s.pairs[0], s.pairs[2]};
  in.coarse = s.pairs[1].coarse;
  in.date = s.pairs[1].date;
  const auto a = m->predict(in);
  const auto path = std::filesystem::temp_directory_path() / "lstfuse_test_context.lstmodel";
  m->save(path);
  auto loaded = method_registry().create("sttfn");
  loaded->options().set("device", "cpu");
  loaded->load(path);
  std::filesystem::remove(path);
  const auto b = loaded->predict(in);
  double worst = 0;
  for (size_t i = 0; i < a.fine.data().size(); ++i)
    worst = std::max(worst, double(std::abs(a.fine.data()[i] - b.fine.data()[i])));
  EXPECT_LT(worst, 1e-5);
  // Tiles read the features of their own window.
  auto* dm = dynamic_cast<DeepMethod*>(loaded.get());
  dm->common().merge_small_scenes = false;
  loaded->options().set("tile", "16");
  const auto tiled = loaded->predict(in);
  worst = 0;
  for (size_t i = 0; i < a.fine.data().size(); ++i)
    worst = std::max(worst, double(std::abs(a.fine.data()[i] - tiled.fine.data()[i])));
  EXPECT_LT(worst, 1e-4);
  // Another grid (shifted by half a pixel): one clear error.
  FusionInput moved = in;
  auto g = in.coarse.grid();
  g.transform[0] += 15.0;
  for (auto* r : {&moved.coarse, &moved.pairs[0].fine, &moved.pairs[0].coarse, &moved.pairs[1].fine, &moved.pairs[1].coarse}) {
    Raster copy(g, 1);
    copy.data() = r->data();
    copy.mask_data() = r->mask_data();
    *r = copy;
  }
  EXPECT_NO_THROW(loaded->check_grid(in.coarse.grid()));
  EXPECT_THROW(loaded->check_grid(g), Error);  // what the drivers ask before any work
  try {
    loaded->predict(moved);
    FAIL() << "a prediction off the training grid must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("series context"), std::string::npos) << e.what();
  }
}

TEST(SeriesContext, FamiliesWithoutItSaySo) {
  const auto s = make_synthetic_series(32, 32, 3, 16, 8);
  auto m = small_deep("mlffgan", "mean");
  FitContext ctx;
  ctx.show_progress = false;
  EXPECT_THROW(m->fit(s.pairs, ctx), Error);
  for (const char* name : {"stfnet", "dlstfm"}) {
    auto d = small_deep(name, "mean");
    EXPECT_NO_THROW(d->fit(s.pairs, ctx)) << name;
  }
}
