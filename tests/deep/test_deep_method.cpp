// The engine's rules that hold for every deep family alike.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "lstfuse/core/error.hpp"
#include "lstfuse/deep/deep_method.hpp"
#include "synthetic.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/methods/tiling.hpp"
#include "lstfuse/pipeline/registry.hpp"

using namespace lstfuse;

namespace {

std::unique_ptr<Method> tiny_trained(const std::string& name, int width = 40, int height = 36) {
  auto m = method_registry().create(name);
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"threads", "1"}, {"device", "cpu"}, {"quiet", "true"}, {"epochs", "1"},
           {"patch", "16"}, {"stride", "16"}, {"batch-size", "4"}, {"seed", "5"},
           {"patches-per-epoch", "32"}})
    m->options().set(k, v);
  const auto s = deep::make_synthetic_series(width, height, 3, 16, 8);
  FitContext ctx;
  ctx.show_progress = false;
  m->fit(s.pairs, ctx);
  return m;
}

}  // namespace

// Where one of the two references is cloudy, the prediction is the other reference's alone:
// the neutral fill under a cloud must not leak into any family's combination.
TEST(DeepMethod, ACloudInOneReferenceLeavesTheOtherAlone) {
  const auto s = deep::make_synthetic_series(40, 36, 3, 16, 8);
  for (const char* name : {"sttfn", "stfnet", "edcstfn", "mlffgan", "dlstfm"}) {
    SCOPED_TRACE(name);
    auto m = tiny_trained(name);
    FusionInput both;
    both.pairs = {s.pairs[0], s.pairs[2]};
    both.coarse = s.pairs[1].coarse;
    both.date = s.pairs[1].date;
    for (int y = 10; y < 20; ++y)
      for (int x = 12; x < 24; ++x) both.pairs[1].fine.set_valid(0, y, x, false);  // a cloud
    FusionInput first_only = both;
    first_only.pairs = {s.pairs[0]};
    const auto a = m->predict(both);
    const auto b = m->predict(first_only);
    for (int y = 10; y < 20; ++y)
      for (int x = 12; x < 24; ++x) {
        ASSERT_TRUE(a.fine.valid(y, x));
        EXPECT_FLOAT_EQ(a.fine.at(y, x), b.fine.at(y, x)) << y << "," << x;
        EXPECT_EQ(a.quality.at(0, y, x), 1.0f);  // one reference used
      }
    // Outside the cloud both references count, so the result differs from the first alone.
    EXPECT_NE(a.fine.at(30, 5), b.fine.at(30, 5));
  }
}

// "Tile size does not change the result", for every family and for tile sizes off the
// networks' pooling/stride grids (the engine rounds them up to it).
TEST(DeepMethod, TileSizeDoesNotChangeThePrediction) {
  const auto s = deep::make_synthetic_series(150, 132, 3, 16, 8);
  FusionInput in;
  in.pairs = {s.pairs[0], s.pairs[2]};
  in.coarse = s.pairs[1].coarse;
  in.date = s.pairs[1].date;
  for (const std::string variant : {"sttfn", "sttfn:tc", "stfnet", "edcstfn", "mlffgan", "dlstfm"}) {
    SCOPED_TRACE(variant);
    const std::string name = variant.substr(0, variant.find(':'));
    auto m = tiny_trained(name, 150, 132);
    if (variant == "sttfn:tc") m->options().set("weighting", "tc");  // scene means, not tile means
    // The scene fits in one window of most networks' tiles: the engine would predict it whole.
    dynamic_cast<deep::DeepMethod&>(*m).common().merge_small_scenes = false;
    m->options().set("tile", "0");
    const auto whole = m->predict(in);
    auto expect_same = [&](const FusionResult& tiled, const std::string& how) {
      double worst = 0;
      for (size_t i = 0; i < whole.fine.data().size(); ++i)
        worst = std::max(worst, double(std::abs(whole.fine.data()[i] - tiled.fine.data()[i])));
      EXPECT_LT(worst, 1e-4) << how;
      EXPECT_EQ(whole.fine.mask_data(), tiled.fine.mask_data()) << how;
    };
    for (const char* tile : {"20", "37"}) {
      m->options().set("tile", tile);
      expect_same(m->predict(in), std::string("engine tile ") + tile);
    }
    // The drivers of `lstfuse predict` cut their own tiles (clipped to the scene, on the
    // network's grid) and give the whole scene's statistics.
    m->options().set("tile", "0");
    for (int tile : {37, 64}) expect_same(predict_tiled(*m, in, {tile, 1}), "predict_tiled " + std::to_string(tile));
  }
}

// A loaded model and images with another band count: the model file is named, since the
// catalog's images are what the user fuses and the model is the one that does not fit them.
TEST(DeepMethod, AModelOfAnotherBandCountIsNamedByItsFile) {
  const auto s = deep::make_synthetic_series(40, 36, 3, 16, 8);
  auto trained = tiny_trained("stfnet");
  const auto path = std::filesystem::temp_directory_path() / "lstfuse_band_count_model.pt";
  trained->save(path);
  auto loaded = method_registry().create("stfnet");
  loaded->load(path);
  std::filesystem::remove(path);
  const auto two_bands = [](const Raster& r) {
    Raster out(r.grid(), 2);
    for (int b = 0; b < 2; ++b)
      for (int y = 0; y < r.height(); ++y)
        for (int x = 0; x < r.width(); ++x) out.at(b, y, x) = r.at(y, x);
    return out;
  };
  FusionInput in;
  in.pairs = {s.pairs[0]};
  in.pairs[0].fine = two_bands(s.pairs[0].fine);
  in.pairs[0].coarse = two_bands(s.pairs[0].coarse);
  in.coarse = two_bands(s.pairs[1].coarse);
  in.date = s.pairs[1].date;
  for (Method* m : {loaded.get(), trained.get()}) {
    try {
      m->predict(in);
      ADD_FAILURE() << "a 1-band model predicted 2-band images";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("the model has 1 band(s), the images 2"), std::string::npos) << what;
      // Named by its file when loaded from one, by the method when trained here.
      EXPECT_EQ(what.find(path.string()) != std::string::npos, m == loaded.get()) << what;
    }
  }
}
