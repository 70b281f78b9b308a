// The one TC-weighting function behind STTFN's --weighting tc and StfNet's and MLFF-GAN's
// blends, against weights worked out by hand.
#include "lstfuse/deep/weighting.hpp"

#include <gtest/gtest.h>

namespace lstfuse::test {
namespace {

using deep::TcFloor;

torch::Tensor scalar(double v, torch::ScalarType t = torch::kFloat) { return torch::full({1, 1, 1, 1}, v, t); }

TEST(TcWeights, InverseDistancesNormalised) {
  // d = 1 and 4: inverses 1 and 1/4, sum 5/4 -> 0.8 and 0.2.
  auto w = deep::tc_weights_from({scalar(1.0), scalar(4.0)}, {}, TcFloor::clamp);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_FLOAT_EQ(w[0].item<float>(), 0.8f);
  EXPECT_FLOAT_EQ(w[1].item<float>(), 0.2f);
  // With the offset floor: (1 / (1 + e)) / (1 / (1 + e) + 1 / (4 + e)) = (4 + e) / (5 + 2 e).
  const double e = 1e-6;
  auto o = deep::tc_weights_from({scalar(1.0, torch::kDouble), scalar(4.0, torch::kDouble)}, {}, TcFloor::offset);
  EXPECT_EQ(o[0].scalar_type(), torch::kFloat);
  EXPECT_NEAR(o[0].item<double>(), (4 + e) / (5 + 2 * e), 1e-7);
  EXPECT_NEAR(o[1].item<double>(), (1 + e) / (5 + 2 * e), 1e-7);
}

TEST(TcWeights, UnchangedCoarseImageTakesNearlyAll) {
  // d = 0: the floor (1e-6) stands in, so the weight is 1e6 / (1e6 + 1/2), not NaN.
  for (auto floor : {TcFloor::clamp, TcFloor::offset}) {
    auto w = deep::tc_weights_from({scalar(0.0), scalar(2.0)}, {}, floor);
    EXPECT_NEAR(w[0].item<double>(), 1e6 / (1e6 + 0.5), 1e-7);
    EXPECT_NEAR(w[1].item<double>(), 0.5 / (1e6 + 0.5), 1e-7);
  }
}

TEST(TcWeights, InvalidReferenceWeighsNothing) {
  // Three pixels: both valid, only the second valid, neither valid (equal weights).
  auto v0 = torch::tensor({1.0f, 0.0f, 0.0f}).view({1, 1, 1, 3});
  auto v1 = torch::tensor({1.0f, 1.0f, 0.0f}).view({1, 1, 1, 3});
  auto w = deep::tc_weights_from({scalar(1.0), scalar(4.0)}, {v0, v1}, TcFloor::clamp);
  ASSERT_EQ(w[0].sizes(), (std::vector<int64_t>{1, 1, 1, 3}));
  EXPECT_FLOAT_EQ(w[0][0][0][0][0].item<float>(), 0.8f);
  EXPECT_FLOAT_EQ(w[1][0][0][0][0].item<float>(), 0.2f);
  EXPECT_FLOAT_EQ(w[0][0][0][0][1].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(w[1][0][0][0][1].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(w[0][0][0][0][2].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(w[1][0][0][0][2].item<float>(), 0.5f);
}

TEST(TcWeights, SceneMeansPerBand) {
  // Band 1: |10 - 12| = 2, |18 - 12| = 6 -> 0.75 / 0.25; band 2: |5 - 4| = 1, |8 - 4| = 4 -> 0.8 / 0.2.
  deep::SceneContext sc;
  sc.coarse_ref_mean = {{10.0, 5.0}, {18.0, 8.0}};
  sc.coarse_target_mean = {12.0, 4.0};
  auto d = deep::scene_tc_distances(sc, torch::kDouble);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_DOUBLE_EQ(d[0][0][1][0][0].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(d[1][0][0][0][0].item<double>(), 6.0);
  auto w = deep::scene_temporal_weights(sc, torch::kCPU);
  ASSERT_EQ(w[0].sizes(), (std::vector<int64_t>{1, 2, 1, 1}));
  EXPECT_NEAR(w[0][0][0][0][0].item<double>(), 0.75, 1e-6);
  EXPECT_NEAR(w[1][0][0][0][0].item<double>(), 0.25, 1e-6);
  EXPECT_NEAR(w[0][0][1][0][0].item<double>(), 0.8, 1e-6);
  EXPECT_NEAR(w[1][0][1][0][0].item<double>(), 0.2, 1e-6);
}

}  // namespace
}  // namespace lstfuse::test
