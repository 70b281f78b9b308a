#include "lstfuse/deep/stfnet.hpp"

#include "net_fixtures.hpp"

namespace lstfuse::test {
namespace {

TEST(StfNet, ShapesOddSizeOneAndTwoReferencesOneAndTwoBands) {
  deep::StfNetFamily family;
  check_shapes(family, 1);
  check_shapes(family, 2);
}

TEST(StfNet, OverfitsATinyBatch) {
  deep::StfNetFamily family;
  auto model = make_model(family, 1, 3e-3);
  check_overfit(*model, synthetic_batch(2, 1, 24, 24, 21), 300);
}

TEST(StfNet, SaveLoadGivesIdenticalPredictions) { check_save_load(deep::StfNetFamily{}, 1, 24); }

TEST(StfNet, MaskedPixelsContributeNothing) { check_mask_ignored(deep::StfNetFamily{}, 1, 24); }

TEST(StfNet, UntrainedSideFallsBackToTrainedStream) {
  deep::StfNetFamily family;
  auto model = make_model(family, 1, 1e-3);
  model->train_step(synthetic_batch(2, 1, 16, 16, 22, 8));  // forward samples only
  auto probe_fwd = synthetic_batch(1, 1, 16, 16, 23, 8);
  auto probe_bwd = probe_fwd;
  probe_bwd.dt = -probe_fwd.dt;
  EXPECT_TRUE(torch::equal(model->predict({probe_fwd}), model->predict({probe_bwd})));
}

TEST(StfNet, TwoReferencesBlendWithTemporalWeights) {
  // With a trained forward stream only, both references go through it; the blend must be the
  // TC-weighted mean of the two single-reference predictions.
  deep::StfNetFamily family;
  auto model = make_model(family, 1, 1e-3);
  model->train_step(synthetic_batch(2, 1, 16, 16, 24, 8));
  auto a = synthetic_batch(1, 1, 16, 16, 25, 8);
  auto b = synthetic_batch(1, 1, 16, 16, 26, -8);
  b.coarse_target = a.coarse_target;
  b.coarse_ref = a.coarse_target + 3.0;     // mean offset 3 from the target
  a.coarse_ref = a.coarse_target - 1.0;     // mean offset 1: three times the weight
  auto pa = model->predict({a});
  auto b_fwd = b;
  b_fwd.dt = -b.dt;
  auto pb = model->predict({b_fwd});
  auto blend = model->predict({a, b});
  EXPECT_TRUE(torch::allclose(blend, 0.75 * pa + 0.25 * pb, 1e-4, 1e-5));
}

}  // namespace
}  // namespace lstfuse::test
