#include "lstfuse/deep/padding.hpp"

#include <gtest/gtest.h>

namespace lstfuse::test {
namespace {

namespace F = torch::nn::functional;

// The one-pass form against LibTorch's replication padding, to the bit (it only copies).
TEST(Padding, ReplicatePadWithoutAutogradIsLibTorchsReplication) {
  torch::manual_seed(3);
  const auto x = torch::randn({2, 3, 5, 7});
  for (const auto& p : std::vector<std::vector<int>>{{1, 1, 1, 1}, {0, 2, 3, 0}, {4, 0, 0, 6}, {0, 0, 0, 0}}) {
    torch::NoGradGuard no_grad;
    const auto got = deep::replicate_pad(x, p[0], p[1], p[2], p[3]);
    const auto want = F::pad(x, F::PadFuncOptions({p[0], p[1], p[2], p[3]}).mode(torch::kReplicate));
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_TRUE(torch::equal(got, want)) << p[0] << p[1] << p[2] << p[3];
  }
  // A hand-computed case: a 1 x 2 plane [1 2] padded by one all round.
  torch::NoGradGuard no_grad;
  const auto small = deep::replicate_pad(torch::tensor({1.0f, 2.0f}).view({1, 1, 1, 2}), 1, 1, 1, 1);
  const auto expected = torch::tensor({1.0f, 1.0f, 2.0f, 2.0f, 1.0f, 1.0f, 2.0f, 2.0f, 1.0f, 1.0f, 2.0f, 2.0f}).view({1, 1, 3, 4});
  EXPECT_TRUE(torch::equal(small, expected));
  // A non-contiguous view pads as LibTorch pads it.
  const auto view = x.transpose(2, 3);
  EXPECT_TRUE(torch::equal(deep::replicate_pad(view, 1, 2, 0, 1),
                           F::pad(view, F::PadFuncOptions({1, 2, 0, 1}).mode(torch::kReplicate))));
}

// With autograd on, an input that needs no gradient (a training batch) takes the one-pass form.
TEST(Padding, ReplicatePadOfAnInputWithoutGradientWhileTraining) {
  ASSERT_TRUE(torch::GradMode::is_enabled());
  const auto x = torch::randn({1, 2, 6, 5});
  EXPECT_TRUE(torch::equal(deep::replicate_pad(x, 2, 0, 1, 3),
                           F::pad(x, F::PadFuncOptions({2, 0, 1, 3}).mode(torch::kReplicate))));
}

// While training, the padding stays LibTorch's, with its gradient.
TEST(Padding, ReplicatePadKeepsTheGradientWhileTraining) {
  auto x = torch::randn({1, 2, 4, 4}, torch::requires_grad());
  auto y = deep::replicate_pad(x, 1, 1, 1, 1);
  ASSERT_TRUE(y.requires_grad());
  y.sum().backward();
  // A corner pixel is copied into a 2 x 2 block of the output: its gradient is 4.
  EXPECT_FLOAT_EQ(x.grad()[0][0][0][0].item<float>(), 4.0f);
  EXPECT_FLOAT_EQ(x.grad()[0][0][1][1].item<float>(), 1.0f);
}

}  // namespace
}  // namespace lstfuse::test
