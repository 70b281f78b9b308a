#include "lstfuse/deep/batch_norm.hpp"

#include <cmath>

#include <gtest/gtest.h>

namespace lstfuse::test {
namespace {

float max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<float>(); }

// A hand-computed case: one channel, two samples of 1 x 2 values, [1 3] and [5 7]: mean 4,
// biased variance 5, unbiased 20/3; weight 2, bias 1, momentum 0.5.
TEST(BatchNorm, TrainingModeByHand) {
  const auto x = torch::tensor({1.0f, 3.0f, 5.0f, 7.0f}).view({2, 1, 1, 2});
  const auto w = torch::tensor({2.0f}), b = torch::tensor({1.0f});
  auto rm = torch::tensor({0.0f}), rv = torch::tensor({1.0f});
  const double eps = 1e-5;
  const auto y = deep::batch_norm_train(x, w, b, rm, rv, 0.5, eps, false);
  const double s = 1.0 / std::sqrt(5.0 + eps);
  const float want[] = {static_cast<float>(-3 * s * 2 + 1), static_cast<float>(-1 * s * 2 + 1),
                        static_cast<float>(1 * s * 2 + 1), static_cast<float>(3 * s * 2 + 1)};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y.view({-1})[i].item<float>(), want[i], 1e-6) << i;
  EXPECT_NEAR(rm.item<float>(), 2.0, 1e-6);                    // 0.5 * 0 + 0.5 * 4
  EXPECT_NEAR(rv.item<float>(), 0.5 + 0.5 * 20.0 / 3.0, 1e-5);  // unbiased variance
  // With the ReLU the two values below the mean's image go to 0 (-3 s 2 + 1 < 0, -1 s 2 + 1 > 0).
  auto rm2 = torch::tensor({0.0f}), rv2 = torch::tensor({1.0f});
  const auto yr = deep::batch_norm_train(x, w, b, rm2, rv2, 0.5, eps, true);
  EXPECT_EQ(yr.view({-1})[0].item<float>(), 0.0f);
  EXPECT_NEAR(yr.view({-1})[1].item<float>(), want[1], 1e-6);
}

// Against torch::nn::BatchNorm2d (+ ReLU) in training: outputs, running statistics and the
// gradients of the input, weight and bias, over several steps, with and without the ReLU and
// for an input that is not contiguous.
TEST(BatchNorm, TrainingModeMatchesLibTorch) {
  for (const bool relu : {true, false})
    for (const bool contiguous : {true, false}) {
      torch::manual_seed(11);
      const int C = 5;
      torch::nn::BatchNorm2d ref(C);
      ref->train();
      {
        torch::NoGradGuard ng;
        ref->weight.uniform_(0.5, 1.5);
        ref->bias.normal_(0, 0.3);
      }
      auto w = ref->weight.detach().clone().requires_grad_();
      auto b = ref->bias.detach().clone().requires_grad_();
      auto rm = ref->running_mean.clone(), rv = ref->running_var.clone();
      for (int step = 0; step < 3; ++step) {
        // Leaves a1 and a2 hold the same values; the input is a1 itself or its transposed view.
        const auto base = torch::randn({3, C, 9, 7}) * 2.0 + 0.5;
        auto a1 = base.clone().requires_grad_(), a2 = base.clone().requires_grad_();
        const auto x1 = contiguous ? a1 : a1.transpose(2, 3);
        const auto x2 = contiguous ? a2 : a2.transpose(2, 3);
        const auto xin = x1;
        const auto g = torch::randn(xin.sizes());
        auto want = ref(x2);
        if (relu) want = torch::relu(want);
        want.backward(g);
        auto got = deep::batch_norm_train(x1, w, b, rm, rv, 0.1, 1e-5, relu);
        got.backward(g);
        const std::string at = std::string(relu ? "relu " : "") + (contiguous ? "contiguous" : "view");
        EXPECT_LT(max_diff(got, want), 1e-5) << at;
        EXPECT_LT(max_diff(rm, ref->running_mean), 1e-6) << at;
        EXPECT_LT(max_diff(rv, ref->running_var), 1e-5) << at;
        EXPECT_LT(max_diff(a1.grad(), a2.grad()), 1e-5) << at;
        EXPECT_LT(max_diff(w.grad(), ref->weight.grad()), 1e-3) << at;  // sums over 189 values
        EXPECT_LT(max_diff(b.grad(), ref->bias.grad()), 1e-3) << at;
        w.mutable_grad() = torch::Tensor();
        b.mutable_grad() = torch::Tensor();
        ref->weight.mutable_grad() = torch::Tensor();
        ref->bias.mutable_grad() = torch::Tensor();
      }
    }
}

TEST(BatchNorm, SupportedInputs) {
  EXPECT_TRUE(deep::batch_norm_train_supported(torch::zeros({2, 3, 4, 5})));
  EXPECT_FALSE(deep::batch_norm_train_supported(torch::zeros({2, 3, 4, 5}, torch::kDouble)));
  EXPECT_FALSE(deep::batch_norm_train_supported(torch::zeros({2, 3, 4})));
  EXPECT_FALSE(deep::batch_norm_train_supported(torch::zeros({0, 3, 4, 5})));
  EXPECT_FALSE(deep::batch_norm_train_supported(torch::zeros({1, 3, 1, 1})));  // one value per channel
}

}  // namespace
}  // namespace lstfuse::test
