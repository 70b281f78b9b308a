// STTFN and the deep engine: shapes, learning, persistence, weighting, masks, tiling, seeds.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "lstfuse/core/error.hpp"
#include "lstfuse/deep/deep_method.hpp"
#include "lstfuse/deep/engine.hpp"
#include "lstfuse/deep/sttfn.hpp"
#include "synthetic.hpp"
#include "test_support.hpp"

using namespace lstfuse;
using namespace lstfuse::deep;

namespace {

std::unique_ptr<DeepMethod> make_sttfn() {
  auto m = std::make_unique<DeepMethod>(std::make_unique<SttfnFamily>());
  m->options().set("threads", "1");
  m->options().set("device", "cpu");
  m->options().set("quiet", "true");
  return m;
}

// A trained tiny model: a few epochs on a 48 x 44 series of three dates.
std::unique_ptr<DeepMethod> tiny_trained(int seed = 3, int epochs = 2) {
  auto s = make_synthetic_series(48, 44, 3, 16, 8);
  auto m = make_sttfn();
  m->options().set("epochs", std::to_string(epochs));
  m->options().set("patch", "16");
  m->options().set("stride", "8");
  m->options().set("batch-size", "8");
  m->options().set("lr", "1e-3");
  m->options().set("seed", std::to_string(seed));
  FitContext ctx;
  ctx.show_progress = false;
  m->fit(s.pairs, ctx);
  return m;
}

FusionInput middle_input(int w = 48, int h = 44) {
  auto s = make_synthetic_series(w, h, 3, 16, 8);
  FusionInput in;
  in.pairs = {s.pairs[0], s.pairs[2]};
  in.coarse = s.pairs[1].coarse;
  in.date = s.pairs[1].date;
  return in;
}

double max_abs_diff(const Raster& a, const Raster& b) {
  double m = 0;
  for (size_t i = 0; i < a.data().size(); ++i) m = std::max(m, double(std::abs(a.data()[i] - b.data()[i])));
  return m;
}

}  // namespace

TEST(SttfnNet, OutputKeepsOddSizesAndBands) {
  torch::manual_seed(0);
  for (int bands : {1, 2}) {
    SttfnNet net(bands);
    auto x = torch::randn({2, bands, 37, 23});
    auto y = net->forward(x, x * 0.5, x * 0.25);
    EXPECT_EQ(y.sizes(), x.sizes());
  }
}

TEST(SttfnNet, StartsNearTheGlobalResidual) {
  // Weights ~ N(0, 1e-3): the untrained net is almost exactly L_a + (M_b - M_a).
  torch::manual_seed(0);
  SttfnNet net(1);
  net->init_weights(1e-3);
  net->eval();
  auto l = torch::randn({1, 1, 20, 20}), ma = torch::randn({1, 1, 20, 20}), mb = torch::randn({1, 1, 20, 20});
  auto y = net->forward(l, ma, mb);
  EXPECT_LT((y - (l + mb - ma)).abs().max().item<double>(), 1e-3);
}

TEST(SttfnNet, FoldedBatchNormMatchesEvalMode) {
  torch::manual_seed(1);
  SttfnNet net(1);
  net->init_weights(0.1);
  // Give the BN layers non-trivial running statistics.
  net->train();
  for (int i = 0; i < 5; ++i) net->forward(torch::randn({4, 1, 16, 16}) * 3 + 1, torch::randn({4, 1, 16, 16}), torch::randn({4, 1, 16, 16}));
  net->eval();
  torch::NoGradGuard ng;
  auto l = torch::randn({1, 1, 31, 29}), ma = torch::randn({1, 1, 31, 29}), mb = torch::randn({1, 1, 31, 29});
  auto ref = net->forward(l, ma, mb);
  auto folded = folded_copy(net);
  EXPECT_LT((folded->forward(l, ma, mb) - ref).abs().max().item<double>(), 1e-4);
}

TEST(SttfnNet, OptimizedForCpuMatchesFoldedNet) {
  torch::manual_seed(2);
  for (const int context : {0, 2}) {
    SttfnNet net(1, context);
    net->init_weights(0.1);
    net->train();
    auto x = [&](int64_t c, int64_t h, int64_t w) { return torch::randn({2, c, h, w}); };
    for (int i = 0; i < 3; ++i) net->forward(x(1, 16, 16) * 3 + 1, x(1, 16, 16), x(1, 16, 16), context ? x(context, 16, 16) : torch::Tensor());
    net->eval();
    torch::NoGradGuard ng;
    auto folded = folded_copy(net);
    auto script = optimized_for_cpu(folded);
    // Odd sizes (edge tiles) and a second size after the first: the module is not shape-bound.
    for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{31, 29}, {40, 40}, {7, 12}}) {
      auto l = x(1, h, w), ma = x(1, h, w), mb = x(1, h, w), c = context ? x(context, h, w) : torch::Tensor();
      std::vector<torch::jit::IValue> in = {l, ma, mb};
      if (context) in.emplace_back(c);
      const auto ref = folded->forward(l, ma, mb, c);
      const auto got = script.forward(in).toTensor();
      ASSERT_EQ(got.sizes(), ref.sizes());
      EXPECT_LT((got - ref).abs().max().item<double>(), 1e-4 * (1.0 + ref.abs().max().item<double>()));
    }
  }
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LSTFUSE_SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LSTFUSE_SANITIZER_ALLOCATOR 1
#endif
#endif

TEST(DeepEngine, AllocatorKeepsActivationBlocks) {
#ifdef LSTFUSE_SANITIZER_ALLOCATOR
  // The sanitizer's allocator replaces glibc's malloc, and its mallopt does nothing.
  GTEST_SKIP() << "built with a sanitizer: glibc's allocator is not in use";
#endif
  // glibc accepted the raised mmap and trim thresholds at load time (see data.cpp).
  EXPECT_TRUE(allocator_tuned_for_networks());
}

TEST(SttfnWeights, StcMatchesHandComputedWeights) {
  // |L1 - M2| = 1, |L3 - M2| = 3 -> p1 = (1/1) / (1/1 + 1/3) = 0.75, p3 = 0.25.
  auto m2 = torch::full({1, 1, 2, 2}, 300.0);
  auto l1 = m2 + 1.0, l3 = m2 - 3.0;
  auto ones = torch::ones({1, 1, 2, 2});
  auto w = stc_weights({l1, l3}, m2, {ones, ones});
  EXPECT_NEAR(w[0][0][0][0][0].item<double>(), 0.75, 1e-6);
  EXPECT_NEAR(w[1][0][0][1][1].item<double>(), 0.25, 1e-6);
  // A perfect match dominates instead of dividing by zero; an invalid reference gets 0.
  auto w2 = stc_weights({m2, l3}, m2, {ones, ones});
  EXPECT_GT(w2[0][0][0][0][0].item<double>(), 0.999);
  auto w3 = stc_weights({l1, l3}, m2, {torch::zeros({1, 1, 2, 2}), ones});
  EXPECT_DOUBLE_EQ(w3[1][0][0][0][0].item<double>(), 1.0);
}

TEST(SttfnWeights, WindowedStcAveragesTheMismatchOverValidPixels) {
  // 1 x 3 image, half-window 1. Reference 1 misses M2 by |1|, |3|, |5| (pixel 2 invalid),
  // reference 3 by 2 everywhere. Centre pixel: mean over the valid pixels of reference 1 =
  // (1 + 3) / 2 = 2 -> p1 = (1/2) / (1/2 + 1/2) = 0.5; per pixel it would be 1/3 / (1/3 + 1/2).
  // Left pixel (window = pixels 0, 1): (1 + 3) / 2 = 2 -> 0.5 too; right pixel is invalid for
  // reference 1 -> p3 = 1.
  auto m2 = torch::zeros({1, 1, 1, 3});
  auto l1 = torch::tensor({1.0f, -3.0f, 5.0f}).view({1, 1, 1, 3});
  auto l3 = torch::full({1, 1, 1, 3}, 2.0);
  auto v1 = torch::tensor({1.0f, 1.0f, 0.0f}).view({1, 1, 1, 3});
  auto ones = torch::ones({1, 1, 1, 3});
  auto w = stc_weights({l1, l3}, m2, {v1, ones}, 1);
  EXPECT_NEAR(w[0][0][0][0][1].item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(w[0][0][0][0][0].item<double>(), 0.5, 1e-6);
  EXPECT_DOUBLE_EQ(w[1][0][0][0][2].item<double>(), 1.0);
  auto px = stc_weights({l1, l3}, m2, {v1, ones}, 0);
  EXPECT_NEAR(px[0][0][0][0][1].item<double>(), (1.0 / 3) / (1.0 / 3 + 0.5), 1e-6);
}

TEST(SttfnWeights, TcMatchesHandComputedWeights) {
  // Scene means: |mean(M1) - mean(M2)| = 2, |mean(M3) - mean(M2)| = 6 -> p1 = 0.5/(0.5+1/6) = 0.75.
  auto m2 = torch::zeros({1, 1, 3, 3});
  auto ones = torch::ones({1, 1, 3, 3});
  SceneContext sc;
  sc.coarse_ref_mean = {{10.0}, {18.0}};
  sc.coarse_target_mean = {12.0};
  auto w = tc_weights({m2, m2}, m2, {ones, ones}, 0, &sc);
  EXPECT_NEAR(w[0][0][0][1][1].item<double>(), 0.75, 1e-6);
  EXPECT_NEAR(w[1][0][0][2][0].item<double>(), 0.25, 1e-6);
  // Without scene context: the tensors' own means (M1 = M2 + 1, M3 = M2 - 4 -> 0.8 / 0.2).
  auto w2 = tc_weights({m2 + 1.0, m2 - 4.0}, m2, {ones, ones}, 0, nullptr);
  EXPECT_NEAR(w2[0][0][0][0][0].item<double>(), 0.8, 1e-6);
}

TEST(Engine, SamplesAreForwardAndBackward) {
  auto s = make_synthetic_series(20, 20, 4, 10, 5);
  auto two = make_samples({s.pairs[0], s.pairs[1]}, 1, 0);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].ref, 0);
  EXPECT_EQ(two[0].target, 1);
  EXPECT_DOUBLE_EQ(two[0].dt, 10.0);
  EXPECT_DOUBLE_EQ(two[1].dt, -10.0);
  EXPECT_EQ(make_samples(s.pairs, 1, 0).size(), 6u);   // 3 neighbour links x 2 directions
  EXPECT_EQ(make_samples(s.pairs, 2, 0).size(), 10u);  // + 2 links at distance 2
  EXPECT_EQ(make_samples(s.pairs, 2, 15).size(), 6u);  // the 20-day links exceed max-gap
}

TEST(Engine, PatchesSkipMostlyInvalidAreasAndNeutraliseInputs) {
  auto s = make_synthetic_series(40, 40, 2, 16, 8);
  // Invalidate the left half of the second fine image.
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 20; ++x) s.pairs[1].fine.set_valid(0, y, x, false);
  auto norm = Normaliser::fit("std", s.pairs);
  PatchSet ps(s.pairs, norm, make_samples(s.pairs, 1, 0), 20, 10, 0.9);
  // Positions 0, 10, 20 per axis: x = 0 and x = 10 fail (0 % and 50 % valid), x = 20 passes.
  EXPECT_EQ(ps.patches().size(), 2u * 3u);
  EXPECT_EQ(ps.skipped(), 2 * 6);
  auto t = to_tensor(s.pairs[1].fine, norm);
  EXPECT_EQ(t.valid[0][0][5][5].item<float>(), 0.0f);
  EXPECT_EQ(t.values[0][0][5][5].item<float>(), 0.0f);
  EXPECT_EQ(t.valid[0][0][5][25].item<float>(), 1.0f);
}

TEST(Engine, MaskedPixelsContributeNothingToLossOrGradient) {
  auto s = make_synthetic_series(32, 32, 2, 16, 8);
  for (int y = 4; y < 20; ++y)
    for (int x = 6; x < 18; ++x) {
      s.pairs[0].fine.set_valid(0, y, x, false);
      s.pairs[1].coarse.set_valid(0, y + 5, x, false);
    }
  auto changed = s;
  for (int y = 4; y < 20; ++y)
    for (int x = 6; x < 18; ++x) {
      changed.pairs[0].fine.at(y, x) = 1e6f;  // absurd values under the mask
      changed.pairs[1].coarse.at(y + 5, x) = std::nanf("");
    }
  auto run = [](const SyntheticSeries& series, std::vector<torch::Tensor>& grads) {
    SttfnOptions opts;
    torch::manual_seed(7);
    SttfnModel model(1, 1e-3, opts);
    auto norm = Normaliser::fit("std", {series.pairs[1]});  // same stats: pair 1 fine is unchanged
    PatchSet ps(series.pairs, norm, make_samples(series.pairs, 1, 0), 32, 32, 0.0);
    auto batch = ps.batch({ps.patches()[0]}, torch::kCPU);
    auto l = model.loss(model.forward_net(), batch);
    l.backward();
    for (auto& p : model.forward_net()->parameters()) grads.push_back(p.grad().clone());
    return l.item<double>();
  };
  std::vector<torch::Tensor> g1, g2;
  const double l1 = run(s, g1), l2 = run(changed, g2);
  EXPECT_EQ(l1, l2);
  ASSERT_EQ(g1.size(), g2.size());
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_TRUE(torch::equal(g1[i], g2[i])) << "parameter " << i;
  // And the masked mean ignores the masked pixels exactly.
  auto lm = torch::tensor({1.0f, 100.0f, 3.0f}).view({1, 1, 1, 3});
  auto mk = torch::tensor({1.0f, 0.0f, 1.0f}).view({1, 1, 1, 3});
  EXPECT_FLOAT_EQ(masked_mean(lm, mk).item<float>(), 2.0f);
}

// The paper's Huber delta (1.0) is on LST in kelvin; the network sees (K - mean) / scale, so the
// delta it uses is 1 / scale. A fresh network outputs its global residual L_a + (M_b - M_a) = 0
// here (up to its N(0, 1e-3) weights), 0.5 units = 2 K below the target at 4 K per unit:
// Huber = delta (|r| - delta / 2) = 0.25 (0.5 - 0.125) = 0.09375; with a 1-unit delta it
// would be 0.5 x 0.25 = 0.125.
TEST(SttfnModel, HuberDeltaIsInKelvin) {
  torch::manual_seed(2);
  SttfnModel model(1, 1e-3, SttfnOptions{});
  model.set_training(false);
  Batch b;
  b.fine_ref = b.coarse_ref = b.coarse_target = torch::zeros({2, 1, 12, 12});
  b.fine_target = torch::full({2, 1, 12, 12}, 0.5);
  b.mask = torch::ones({2, 1, 12, 12});
  b.dt = torch::full({2}, 16.0);
  EXPECT_NEAR(model.loss(model.forward_net(), b).item<double>(), 0.125, 2e-3);
  model.set_kelvin_per_unit({4.0});
  EXPECT_DOUBLE_EQ(model.huber_delta_units(), 0.25);
  EXPECT_NEAR(model.loss(model.forward_net(), b).item<double>(), 0.09375, 2e-3);
}

TEST(SttfnModel, OverfitsOneBatch) {
  auto s = make_synthetic_series(32, 32, 2, 48, 8);
  auto norm = Normaliser::fit("std", s.pairs);
  PatchSet ps(s.pairs, norm, make_samples(s.pairs, 1, 0), 16, 16, 0.5);
  std::vector<PatchRef> refs;
  for (const auto& p : ps.patches())
    if (p.sample == 0 && refs.size() < 4) refs.push_back(p);
  auto batch = ps.batch(refs, torch::kCPU);
  torch::manual_seed(0);
  SttfnOptions opts;
  opts.loss = "mse";
  SttfnModel model(1, 3e-3, opts);
  model.set_training(true);
  const double first = model.train_step(batch).at("loss");
  double last = first;
  for (int i = 0; i < 300; ++i) last = model.train_step(batch).at("loss");
  model.set_training(false);
  EXPECT_LT(last, 0.1 * first) << "first " << first << " last " << last;
}

TEST(DeepMethod, SaveThenLoadPredictsIdentically) {
  auto m = tiny_trained();
  test::TempDir dir;
  m->save(dir / "sttfn.pt");
  auto in = middle_input();
  auto a = m->predict(in);
  auto loaded = make_sttfn();
  loaded->load(dir / "sttfn.pt");
  EXPECT_EQ(loaded->options().get("patch"), "16");  // options travel with the model
  auto b = loaded->predict(in);
  EXPECT_EQ(max_abs_diff(a.fine, b.fine), 0.0);
  EXPECT_EQ(a.fine.mask_data(), b.fine.mask_data());
  // Wrong method or a non-model file: clear errors naming the file.
  std::ofstream(dir / "junk.pt") << "not a model";
  EXPECT_THROW(loaded->load(dir / "junk.pt"), lstfuse::Error);
  EXPECT_THROW(loaded->load(dir / "missing.pt"), lstfuse::Error);
}

TEST(DeepMethod, TiledAndUntiledPredictionsAgree) {
  auto m = tiny_trained();
  auto in = middle_input(53, 47);
  in.coarse.set_valid(0, 10, 10, false);  // nodata where the target coarse is invalid
  m->options().set("tile", "0");
  auto whole = m->predict(in);
  m->options().set("tile", "16");
  auto tiled = m->predict(in);
  EXPECT_LT(max_abs_diff(whole.fine, tiled.fine), 1e-4);
  EXPECT_FALSE(tiled.fine.valid(10, 10));
  EXPECT_TRUE(tiled.fine.valid(11, 10));
  EXPECT_EQ(tiled.quality.at(0, 20, 20), 2.0f);  // two references used
  const float w = tiled.quality.at(1, 20, 20);
  EXPECT_GT(w, 0.0f);
  EXPECT_LT(w, 1.0f);
  // Both weightings give a combination between the two single-reference predictions.
  m->options().set("weighting", "tc");
  auto tc = m->predict(in);
  EXPECT_LT(max_abs_diff(tc.fine, tiled.fine), 20.0);
  // Window weightings reach beyond the tile: the halo grows with them, so tiles still agree.
  m->options().set("weighting", "stc");
  m->options().set("stc-window", "7");
  m->options().set("tile", "0");
  auto win_whole = m->predict(in);
  m->options().set("tile", "16");
  auto win_tiled = m->predict(in);
  EXPECT_LT(max_abs_diff(win_whole.fine, win_tiled.fine), 1e-4);
  EXPECT_GT(max_abs_diff(win_whole.fine, tiled.fine), 1e-3);  // and the window does change the weights
  // A negative half-window is refused by the option itself, before any prediction.
  EXPECT_THROW(m->options().set("stc-window", "-1"), lstfuse::Error);
}

TEST(DeepMethod, SameSeedSameWeights) {
  auto a = tiny_trained(5, 1), b = tiny_trained(5, 1), c = tiny_trained(6, 1);
  auto pa = dynamic_cast<SttfnModel*>(a->model())->forward_net()->parameters();
  auto pb = dynamic_cast<SttfnModel*>(b->model())->forward_net()->parameters();
  auto pc = dynamic_cast<SttfnModel*>(c->model())->forward_net()->parameters();
  bool any_diff = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
    any_diff = any_diff || !torch::equal(pa[i], pc[i]);
  }
  EXPECT_TRUE(any_diff);
}

TEST(DeepMethod, ResumeContinuesFromCheckpoint) {
  auto s = make_synthetic_series(40, 40, 3, 16, 8);
  test::TempDir dir;
  auto make = [&](int epochs) {
    auto m = make_sttfn();
    for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"epochs", std::to_string(epochs)}, {"patch", "16"}, {"stride", "12"}, {"patience", "0"}, {"seed", "9"}})
      m->options().set(k, v);
    return m;
  };
  FitContext ctx;
  ctx.show_progress = false;
  ctx.checkpoint_dir = dir / "ckpt";
  auto full = make(2);
  full->fit(s.pairs, ctx);
  std::filesystem::remove_all(dir / "ckpt");
  // One epoch ("interrupted"), then a two-epoch run with --resume does epoch 2 only and ends
  // where the uninterrupted run ended.
  make(1)->fit(s.pairs, ctx);
  ASSERT_TRUE(std::filesystem::exists(dir / "ckpt" / "checkpoint.pt"));
  auto resumed = make(2);
  ctx.resume = true;
  resumed->fit(s.pairs, ctx);
  EXPECT_EQ(resumed->last_report()->epochs_run, 2);
  auto pa = dynamic_cast<SttfnModel*>(full->model())->backward_net()->parameters();
  auto pb = dynamic_cast<SttfnModel*>(resumed->model())->backward_net()->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  // A checkpoint of other training data is refused.
  auto other = make(2);
  other->options().set("patch", "20");
  EXPECT_THROW(other->fit(s.pairs, ctx), lstfuse::Error);
}
