#include "lstfuse/deep/losses.hpp"
#include "lstfuse/deep/weighting.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace lstfuse::test {
namespace {

using deep::ms_ssim;
using deep::MsSsimOptions;

torch::Tensor texture(int64_t n, int64_t h, int64_t w, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randn({n, 1, h, w});
}

TEST(MaskedLosses, MeansCountOnlyValidPixels) {
  auto pred = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).view({1, 1, 2, 2});
  auto target = torch::zeros({1, 1, 2, 2});
  auto mask = torch::tensor({1.0f, 0.0f, 1.0f, 0.0f}).view({1, 1, 2, 2});
  EXPECT_NEAR(deep::masked_mse(pred, target, mask).item<double>(), (1.0 + 9.0) / 2, 1e-6);
  EXPECT_NEAR(deep::masked_l1(pred, target, mask).item<double>(), (1.0 + 3.0) / 2, 1e-5);
  EXPECT_NEAR(deep::masked_mse(pred, target, torch::Tensor()).item<double>(), 30.0 / 4, 1e-6);
  EXPECT_EQ(deep::masked_mse(pred, target, torch::zeros_like(mask)).item<double>(), 0.0);
}

TEST(MaskedLosses, CosineSimilarityOfScaledImageIsOne) {
  auto x = texture(2, 8, 8, 1);
  EXPECT_NEAR(deep::masked_cosine_similarity(3.0 * x, x, torch::Tensor()).item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(deep::masked_cosine_similarity(-x, x, torch::Tensor()).item<double>(), -1.0, 1e-5);
}

TEST(MaskedLosses, BlockMeanOfValidPixels) {
  auto x = torch::arange(16, torch::kFloat).view({1, 1, 4, 4});
  auto mask = torch::ones({1, 1, 4, 4});
  mask.index_put_({0, 0, 0, 0}, 0.0);
  auto [mean, weight] = deep::masked_block_mean(x, mask, 2);
  EXPECT_NEAR(mean[0][0][0][0].item<double>(), (1.0 + 4.0 + 5.0) / 3, 1e-5);
  EXPECT_NEAR(weight[0][0][0][0].item<double>(), 0.75, 1e-6);
  EXPECT_NEAR(mean[0][0][1][1].item<double>(), (10.0 + 11.0 + 14.0 + 15.0) / 4, 1e-5);
}

TEST(MsSsim, IdenticalImagesGiveOne) {
  auto x = texture(2, 40, 40, 2);
  EXPECT_NEAR(ms_ssim(x, x, torch::Tensor()).item<double>(), 1.0, 1e-5);
}

TEST(MsSsim, ScalesAdaptToSize) {
  EXPECT_EQ(deep::ms_ssim_scales(40, 40), 3);   // 40, 20, 10 (5 would be below the window)
  EXPECT_EQ(deep::ms_ssim_scales(256, 256), 5);
  EXPECT_EQ(deep::ms_ssim_scales(8, 100), 1);
}

TEST(MsSsim, ConstantImagesGiveLuminanceTermToLastScaleWeight) {
  // Constant a and b: every contrast-structure term is 1 and the luminance term is
  // (2ab + C1) / (a^2 + b^2 + C1) everywhere (normalised convolution keeps borders exact), so
  // MS-SSIM = l^w with w the last scale's renormalised weight.
  const double a = 0.3, b = 0.5, c1 = 1e-4;
  auto x = torch::full({1, 1, 40, 40}, a);
  auto y = torch::full({1, 1, 40, 40}, b);
  const double l = (2 * a * b + c1) / (a * a + b * b + c1);
  const double w = 0.3001 / (0.0448 + 0.2856 + 0.3001);
  EXPECT_NEAR(ms_ssim(x, y, torch::Tensor()).item<double>(), std::pow(l, w), 1e-5);
}

TEST(MsSsim, SymmetricBoundedAndFallsWithNoise) {
  auto x = texture(1, 48, 48, 3);
  torch::manual_seed(4);
  auto noise = torch::randn_like(x);
  double previous = 1.0;
  for (double level : {0.1, 0.3, 0.6, 1.2}) {
    auto y = x + level * noise;
    const double xy = ms_ssim(x, y, torch::Tensor()).item<double>();
    EXPECT_NEAR(xy, ms_ssim(y, x, torch::Tensor()).item<double>(), 1e-6);
    EXPECT_LT(xy, previous);
    EXPECT_GT(xy, 0.0);
    previous = xy;
  }
}

TEST(MsSsim, GradientExistsAndPointsTowardsTheTarget) {
  auto target = texture(1, 32, 32, 5);
  auto pred = (target + 0.5 * texture(1, 32, 32, 6)).requires_grad_(true);
  auto loss = deep::ms_ssim_loss(pred, target, torch::Tensor());
  loss.backward();
  ASSERT_TRUE(pred.grad().defined());
  EXPECT_TRUE(torch::isfinite(pred.grad()).all().item<bool>());
  EXPECT_GT(pred.grad().abs().sum().item<double>(), 0.0);
  // A small step against the gradient lowers the loss.
  auto stepped = (pred - 0.5 * pred.grad() / pred.grad().norm()).detach();
  EXPECT_LT(deep::ms_ssim_loss(stepped, target, torch::Tensor()).item<double>(), loss.item<double>());
}

TEST(MsSsim, MaskedPixelsAreIgnoredInValueAndGradient) {
  auto x = texture(1, 40, 40, 7);
  auto y = x + 0.3 * texture(1, 40, 40, 8);
  auto mask = torch::ones({1, 1, 40, 40});
  mask.index_put_({0, 0, torch::indexing::Slice(5, 20), torch::indexing::Slice(10, 30)}, 0.0);
  const double reference = ms_ssim(x, y, mask).item<double>();
  EXPECT_LT(reference, 0.99);

  auto y_dirty = y.clone();
  auto hole = (mask == 0);
  y_dirty.index_put_({hole}, 1e5);
  y_dirty.index_put_({0, 0, 10, 15}, std::numeric_limits<float>::quiet_NaN());
  auto y_var = y_dirty.clone().requires_grad_(true);
  auto value = ms_ssim(x, y_var, mask);
  EXPECT_NEAR(value.item<double>(), reference, 1e-6);
  value.backward();
  EXPECT_TRUE(torch::isfinite(y_var.grad()).all().item<bool>());
  EXPECT_EQ(y_var.grad().index({hole}).abs().max().item<double>(), 0.0);
  EXPECT_GT(y_var.grad().abs().max().item<double>(), 0.0);
  // Masking only the pixels where x and y differ makes them identical as far as MS-SSIM sees.
  auto diff_mask = torch::ones({1, 1, 40, 40});
  auto y2 = x.clone();
  y2.index_put_({0, 0, torch::indexing::Slice(0, 10), torch::indexing::Slice()}, 7.0);
  diff_mask.index_put_({0, 0, torch::indexing::Slice(0, 10), torch::indexing::Slice()}, 0.0);
  EXPECT_NEAR(ms_ssim(x, y2, diff_mask).item<double>(), 1.0, 1e-5);
}

TEST(MsSsim, AllValidMaskEqualsNoMask) {
  auto x = texture(2, 33, 27, 9);
  auto y = x + 0.2 * texture(2, 33, 27, 10);
  EXPECT_NEAR(ms_ssim(x, y, torch::ones({2, 1, 33, 27})).item<double>(),
              ms_ssim(x, y, torch::Tensor()).item<double>(), 1e-6);
}

TEST(TemporalWeights, InverseOfMeanCoarseChange) {
  auto target = torch::zeros({1, 1, 4, 4});
  auto w = deep::temporal_weights({target + 1.0, target - 3.0}, target);
  EXPECT_NEAR(w[0].item<double>(), 0.75, 1e-5);
  EXPECT_NEAR(w[1].item<double>(), 0.25, 1e-5);
}

}  // namespace
}  // namespace lstfuse::test
