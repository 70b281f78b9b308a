// The engine's relative frame, date-wise validation, untrained fallback and augmentation.
#include <gtest/gtest.h>

#include <set>

#include "lstfuse/deep/deep_method.hpp"
#include "lstfuse/deep/engine.hpp"
#include "lstfuse/deep/sttfn.hpp"
#include "synthetic.hpp"

using namespace lstfuse;
using namespace lstfuse::deep;

namespace {

std::unique_ptr<DeepMethod> make_sttfn(const std::vector<std::pair<std::string, std::string>>& opts) {
  auto m = std::make_unique<DeepMethod>(std::make_unique<SttfnFamily>());
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"threads", "1"}, {"device", "cpu"}, {"quiet", "true"}, {"patch", "16"}, {"stride", "8"},
           {"batch-size", "8"}, {"seed", "4"}})
    m->options().set(k, v);
  for (const auto& [k, v] : opts) m->options().set(k, v);
  return m;
}

// A quiet fit of a fresh STTFN on `pairs`.
std::unique_ptr<DeepMethod> fitted_sttfn(const std::vector<ImagePair>& pairs,
                                         const std::vector<std::pair<std::string, std::string>>& opts) {
  auto m = make_sttfn(opts);
  FitContext ctx;
  ctx.show_progress = false;
  m->fit(pairs, ctx);
  return m;
}

}  // namespace

// In the relative frame every image is the difference to the target's coarse image, and the
// target's coarse image itself is zero; masked pixels stay at the neutral 0.
TEST(EngineFrame, RelativeBatchesAreDifferencesToTheTargetCoarse) {
  auto s = make_synthetic_series(32, 32, 2, 16, 8);
  s.pairs[0].fine.set_valid(0, 3, 4, false);
  const auto norm = Normaliser::fit("std", s.pairs);
  const auto samples = make_samples(s.pairs, 1, 0);  // (0 -> 1) and (1 -> 0)
  PatchSet abs_set(s.pairs, norm, samples, 16, 16, 0.0, false);
  PatchSet rel_set(s.pairs, norm, samples, 16, 16, 0.0, true);
  const std::vector<PatchRef> refs{{0, 0, 0}};  // sample 0: reference pair 0, target pair 1
  const auto a = abs_set.batch(refs, torch::kCPU);
  const auto r = rel_set.batch(refs, torch::kCPU);
  EXPECT_FALSE(a.relative);
  EXPECT_TRUE(r.relative);
  EXPECT_EQ(r.coarse_target.abs().max().item<float>(), 0.0f);
  // A valid pixel, by hand: (x - m)/s - (c - m)/s = (x - c)/s.
  const float x = s.pairs[0].fine.at(7, 9), c = s.pairs[1].coarse.at(7, 9);
  EXPECT_NEAR(r.fine_ref[0][0][7][9].item<float>(), (x - c) / norm.scale[0], 1e-5);
  EXPECT_NEAR(r.fine_ref[0][0][7][9].item<float>(),
              (a.fine_ref - a.coarse_target)[0][0][7][9].item<float>(), 1e-6);
  EXPECT_NEAR(r.fine_target[0][0][7][9].item<float>(),
              (s.pairs[1].fine.at(7, 9) - c) / norm.scale[0], 1e-5);
  // The change the networks see is the same in both frames.
  EXPECT_TRUE(torch::allclose(r.coarse_target - r.coarse_ref, a.coarse_target - a.coarse_ref, 1e-5, 1e-5));
  EXPECT_EQ(r.fine_ref[0][0][3][4].item<float>(), 0.0f);  // the masked reference pixel
  EXPECT_EQ(r.mask[0][0][3][4].item<float>(), 0.0f);
}

// Adding a constant to every image (another season's level) moves a relative-frame prediction
// by exactly that constant: the networks cannot see the absolute level.
TEST(EngineFrame, RelativePredictionsFollowALevelShift) {
  auto s = make_synthetic_series(40, 36, 3, 16, 8);
  auto m = fitted_sttfn(s.pairs, {{"epochs", "2"}, {"lr", "1e-3"}, {"val-fraction", "0"}});
  FusionInput in;
  in.pairs = {s.pairs[0], s.pairs[2]};
  in.coarse = s.pairs[1].coarse;
  in.date = s.pairs[1].date;
  FusionInput shifted = in;
  for (auto* r : {&shifted.pairs[0].fine, &shifted.pairs[0].coarse, &shifted.pairs[1].fine,
                  &shifted.pairs[1].coarse, &shifted.coarse})
    for (auto& v : r->data()) v += 7.0f;
  const auto a = m->predict(in), b = m->predict(shifted);
  double worst = 0;
  for (size_t i = 0; i < a.fine.data().size(); ++i)
    worst = std::max(worst, std::abs(double(b.fine.data()[i]) - a.fine.data()[i] - 7.0));
  EXPECT_LT(worst, 2e-3);  // float rounding of values near 300 K
}

// With three or more target dates, validation holds out whole dates; the share stays near the
// wanted one and at least one date always trains.
TEST(EngineFrame, ValidationHoldsOutWholeTargetDates) {
  auto s = make_synthetic_series(40, 40, 6, 16, 8);
  auto m = fitted_sttfn(s.pairs, {{"epochs", "1"}, {"val-fraction", "0.2"}, {"lr", "1e-3"}});
  const auto& rep = *m->last_report();
  // 6 dates, neighbours 1: 10 samples over 6 targets; each sample has the same patch count.
  const auto norm = Normaliser::fit("std", s.pairs);
  PatchSet ps(s.pairs, norm, make_samples(s.pairs, 1, 0), 16, 8, 0.5);
  const long long per_sample = static_cast<long long>(ps.patches().size()) / 10;
  EXPECT_EQ(rep.train_patches + rep.val_patches, static_cast<long long>(ps.patches().size()));
  EXPECT_EQ(rep.val_patches % per_sample, 0);  // whole samples, so whole dates
  EXPECT_GT(rep.val_patches, 0);
  EXPECT_LE(rep.val_patches, static_cast<long long>(0.4 * ps.patches().size()));
}

// When no epoch improves the validation score enough (a vanishing learning rate, min-delta
// 50 %), the untrained network is kept and reported as epoch 0.
TEST(EngineFrame, UntrainedNetworkIsKeptWhenTrainingDoesNotHelp) {
  auto s = make_synthetic_series(40, 40, 4, 16, 8);
  auto m = fitted_sttfn(s.pairs, {{"epochs", "2"}, {"lr", "1e-12"}, {"val-fraction", "0.3"}, {"patience", "0"},
                                  {"min-delta", "0.5"}});
  EXPECT_EQ(m->last_report()->best_epoch, 0);
  EXPECT_EQ(m->last_report()->epochs_run, 2);
}

// Validation ranks epochs by the RMSE in kelvin. Fine images alternate between +0 and +2 K
// over a common pattern while the coarse images carry only the level, so every single-reference
// additive estimate (what the untrained STTFN predicts) is off by exactly 2 K, whatever the
// normalisation scale; monitoring the loss instead gives a value in network units.
TEST(EngineFrame, ValidationRmseIsInKelvin) {
  auto s = make_synthetic_series(40, 40, 6, 16, 8);
  const Raster pattern = s.pairs[0].fine;
  for (size_t k = 0; k < s.pairs.size(); ++k) {
    const float level = 290.0f + 3.0f * static_cast<float>(k);
    for (size_t i = 0; i < pattern.data().size(); ++i) {
      s.pairs[k].fine.data()[i] = pattern.data()[i] + level + (k % 2 ? 2.0f : 0.0f) - 300.0f;
      s.pairs[k].coarse.data()[i] = level;
    }
  }
  auto by_rmse = fitted_sttfn(s.pairs, {{"epochs", "1"}, {"lr", "1e-12"}, {"val-fraction", "0.4"}});
  EXPECT_EQ(by_rmse->last_report()->monitored, "validation RMSE");
  EXPECT_NEAR(by_rmse->last_report()->best_loss, 2.0, 0.02);

  auto by_loss =
      fitted_sttfn(s.pairs, {{"epochs", "1"}, {"lr", "1e-12"}, {"val-fraction", "0.4"}, {"monitor", "loss"}, {"loss", "mse"}});
  EXPECT_EQ(by_loss->last_report()->monitored, "validation loss");
  const double scale = Normaliser::fit("std", s.pairs).scale[0];
  EXPECT_NEAR(by_loss->last_report()->best_loss, 4.0 / (scale * scale), 0.02 * 4.0 / (scale * scale));
}

// Orientation k of a patch is the flips/transposition of orientation 0, applied alike to every
// image and to the mask.
TEST(EngineFrame, AugmentedPatchesAreFlipsAndRotations) {
  auto s = make_synthetic_series(32, 32, 2, 16, 8);
  s.pairs[1].fine.set_valid(0, 2, 5, false);
  const auto norm = Normaliser::fit("std", s.pairs);
  PatchSet ps(s.pairs, norm, make_samples(s.pairs, 1, 0), 16, 16, 0.0, true);
  const auto plain = ps.batch({{0, 0, 0, 0}}, torch::kCPU);
  std::set<double> distinct;
  for (int k = 0; k < 8; ++k) {
    const auto b = ps.batch({{0, 0, 0, k}}, torch::kCPU);
    auto expect = [k](torch::Tensor t) {
      if (k & 1) t = t.flip({3});
      if (k & 2) t = t.flip({2});
      if (k & 4) t = t.transpose(2, 3);
      return t;
    };
    EXPECT_TRUE(torch::equal(b.fine_ref, expect(plain.fine_ref)));
    EXPECT_TRUE(torch::equal(b.fine_target, expect(plain.fine_target)));
    EXPECT_TRUE(torch::equal(b.coarse_ref, expect(plain.coarse_ref)));
    EXPECT_TRUE(torch::equal(b.mask, expect(plain.mask)));
    distinct.insert(b.fine_ref[0][0][0][1].item<double>());
  }
  EXPECT_GE(distinct.size(), 4u);  // the orientations really differ
}
