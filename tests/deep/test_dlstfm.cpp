#include "lstfuse/deep/dlstfm.hpp"

#include "lstfuse/core/error.hpp"
#include "lstfuse/deep/losses.hpp"
#include "net_fixtures.hpp"

namespace lstfuse::test {
namespace {

TEST(Dlstfm, ShapesOddSizeOneAndTwoReferencesOneAndTwoBands) {
  deep::DlstfmFamily family;
  check_shapes(family, 1);
  check_shapes(family, 2);
}

TEST(Dlstfm, OverfitsATinyBatch) {
  deep::DlstfmFamily family;
  family.options.consistency_block = 4;
  family.options.features = 16;  // half width: the same design, a quicker test
  auto model = make_model(family, 1, 3e-3);
  // Block-constant coarse images (exact 4 x 4 means): the consistency term can then reach 0 at
  // the truth, as it could not with bilinear coarse images (their block means differ).
  auto batch = synthetic_batch(1, 1, 16, 16, 51);
  auto blocks = [](const torch::Tensor& x) {
    namespace F = torch::nn::functional;
    auto low = F::avg_pool2d(x, F::AvgPool2dFuncOptions(4).stride(4));
    return low.repeat_interleave(4, 2).repeat_interleave(4, 3);
  };
  batch.coarse_ref = blocks(batch.fine_ref);
  batch.coarse_target = blocks(batch.fine_target);
  check_overfit(*model, batch, 400);
}

TEST(Dlstfm, SaveLoadGivesIdenticalPredictions) { check_save_load(deep::DlstfmFamily{}, 1, 24); }

TEST(Dlstfm, MaskedPixelsContributeNothing) { check_mask_ignored(deep::DlstfmFamily{}, 1, 24); }

TEST(Dlstfm, UntrainedCorrectionIsIdentityOnBaseEstimate) {
  // TCM starts with gain 1 and offset 0: output = L_ref + (M_0 - M_ref) + residual conv.
  deep::DlstfmFamily family;
  auto model = make_model(family, 1, 1e-3);
  auto& net = dynamic_cast<deep::DlstfmModel&>(*model).net();
  auto r = synthetic_batch(1, 1, 24, 24, 52);
  torch::NoGradGuard no_grad;
  {
    torch::NoGradGuard guard;
    net->residual->weight.zero_();
    net->residual->bias.zero_();
  }
  auto out = model->predict({r});
  EXPECT_TRUE(torch::allclose(out, r.fine_ref + r.coarse_target - r.coarse_ref, 1e-5, 1e-5));
}

// Without autograd the network runs its GELUs and sums in place and pools without indices; it
// must give what the training form gives, and leave its inputs as they were.
TEST(Dlstfm, WithoutAutogradMatchesTheTrainingForm) {
  deep::DlstfmFamily family;
  auto model = make_model(family, 1, 1e-3);
  auto& net = dynamic_cast<deep::DlstfmModel&>(*model).net();
  net->train(false);
  {
    // Non-zero TCM weights, so its head counts too (it starts as the identity).
    torch::NoGradGuard guard;
    net->tcm->conv2->weight.normal_(0.0, 0.05);
  }
  auto r = synthetic_batch(1, 1, 37, 29, 54);
  const auto inputs = torch::cat({r.fine_ref, r.coarse_ref, r.coarse_target});
  const auto training_form = net->forward(r.fine_ref, r.coarse_ref, r.coarse_target, torch::Tensor()).detach();
  torch::NoGradGuard no_grad;
  const auto inference_form = net->forward(r.fine_ref, r.coarse_ref, r.coarse_target, torch::Tensor());
  EXPECT_LT((inference_form - training_form).abs().max().item<float>(), 1e-5f);
  EXPECT_GT((training_form - (r.fine_ref + r.coarse_target - r.coarse_ref)).abs().max().item<float>(), 1e-3f);
  EXPECT_TRUE(torch::equal(torch::cat({r.fine_ref, r.coarse_ref, r.coarse_target}), inputs));
}

TEST(Dlstfm, SafmIsTranslationEquivariantOnItsGrid) {
  // A shift by a multiple of 8 shifts the output; this is what makes halo tiles seamless.
  // A crop starting at (8, 16) gives the crop of the output, away from the borders (zero
  // padding there) by the module's reach of 15 px.
  torch::manual_seed(53);
  deep::Safm safm(8);
  auto x = torch::randn({1, 8, 64, 64});
  using torch::indexing::Slice;
  auto whole = safm->forward(x);
  auto part = safm->forward(x.index({"...", Slice(8, 56), Slice(16, 64)}));
  auto a = whole.index({"...", Slice(24, 40), Slice(32, 48)});
  auto b = part.index({"...", Slice(16, 32), Slice(16, 32)});
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6)) << (a - b).abs().max().item<double>();
  // A crop off the 8-pixel grid generally differs (max pooling windows move).
  auto off = safm->forward(x.index({"...", Slice(3, 51), Slice(16, 64)}));
  auto c = whole.index({"...", Slice(19, 35), Slice(32, 48)});
  EXPECT_FALSE(torch::allclose(c, off.index({"...", Slice(16, 32), Slice(16, 32)}), 1e-5, 1e-6));
}

TEST(Dlstfm, TiledPredictionMatchesWholeSceneInsideHalo) {
  deep::DlstfmFamily family;
  auto model = make_model(family, 1, 1e-3);
  const int halo = model->halo();
  EXPECT_EQ(halo % 8, 0);
  auto scene = synthetic_batch(1, 1, 64 + 2 * halo, 40 + halo, 54);
  // A tile starting at a multiple of 8, with a full halo above and below.
  EXPECT_LT(tile_vs_whole(*model, scene, 8, 48, halo), 1e-4);
}

TEST(Dlstfm, FeaturesMustSplitIntoFourGroups) {
  deep::DlstfmFamily family;
  family.options.features = 30;
  EXPECT_THROW(family.create_model(1, 1e-3), Error);
}

}  // namespace
}  // namespace lstfuse::test
