#include "lstfuse/deep/edcstfn.hpp"

#include "lstfuse/core/options.hpp"
#include "net_fixtures.hpp"

namespace lstfuse::test {
namespace {

deep::EdcstfnFamily small_family(int ae_steps) {
  deep::EdcstfnFamily family;
  family.options.ae_steps = ae_steps;
  return family;
}

TEST(Edcstfn, ShapesOddSizeOneAndTwoReferencesOneAndTwoBands) {
  auto family = small_family(2);
  check_shapes(family, 1);
  check_shapes(family, 2);
}

TEST(Edcstfn, OverfitsATinyBatchWithFeatureLossOn) {
  auto family = small_family(20);
  auto model = make_model(family, 1, 1e-3);
  auto batch = synthetic_batch(2, 1, 20, 20, 31);
  // Pretraining first, so the monitored loss compared below has the feature term throughout.
  for (int i = 0; i < 20; ++i) model->train_step(batch);
  auto& edc = dynamic_cast<deep::EdcstfnModel&>(*model);
  ASSERT_TRUE(edc.encoder_pretrained());
  EXPECT_GT(model->train_step(batch).count("feature"), 0u);
  check_overfit(*model, batch, 400);
}

TEST(Edcstfn, PretrainedEncoderIsFrozenAndSaved) {
  auto family = small_family(3);
  auto model = make_model(family, 1, 1e-3);
  auto& edc = dynamic_cast<deep::EdcstfnModel&>(*model);
  auto batch = synthetic_batch(2, 1, 16, 16, 32);
  auto r1 = model->train_step(batch);
  EXPECT_EQ(r1.count("ae_loss"), 1u);
  for (int i = 0; i < 2; ++i) model->train_step(batch);
  ASSERT_TRUE(edc.encoder_pretrained());
  auto weights = edc.auto_encoder()->encoder->parameters()[0].clone();
  auto r2 = model->train_step(batch);
  EXPECT_EQ(r2.count("ae_loss"), 0u);
  EXPECT_TRUE(torch::equal(weights, edc.auto_encoder()->encoder->parameters()[0]));

  torch::serialize::OutputArchive out;
  model->save(out);
  std::stringstream stream;
  out.save_to(stream);
  auto loaded = make_model(family, 1, 1e-3, 5);
  torch::serialize::InputArchive in;
  in.load_from(stream);
  loaded->load(in);
  auto& edc2 = dynamic_cast<deep::EdcstfnModel&>(*loaded);
  EXPECT_TRUE(edc2.encoder_pretrained());
  EXPECT_TRUE(torch::equal(weights, edc2.auto_encoder()->encoder->parameters()[0]));
  EXPECT_EQ(loaded->train_step(batch).count("ae_loss"), 0u);  // no retraining after load
}

TEST(Edcstfn, SaveLoadGivesIdenticalPredictions) { check_save_load(small_family(1), 1, 20); }

TEST(Edcstfn, MaskedPixelsContributeNothing) {
  check_mask_ignored(small_family(1), 1, 20);  // steps 2 and 3 use the feature loss
}

// Prediction runs without autograd through its own padding, in-place ReLUs, one-pass blend and
// a decoder on the cloud's bounding box only; it must give what the modules' tensor form gives:
// the blend everywhere, and each reference's single prediction where it alone is valid.
TEST(Edcstfn, PredictionWithoutAutogradMatchesTheTensorForm) {
  auto model = make_model(small_family(1), 1, 1e-3);
  auto* net = dynamic_cast<deep::EdcstfnNetImpl*>(model->networks().at(0));
  ASSERT_NE(net, nullptr);
  auto a = synthetic_batch(1, 1, 37, 41, 5), b = synthetic_batch(1, 1, 37, 41, 6, -16);
  // A cloud inside the second reference and one on the first's top left corner: the decoder's
  // box is then clipped at the tile's edges, where replication must match the whole tile's.
  b.mask.narrow(2, 9, 11).narrow(3, 20, 15).zero_();
  a.mask.narrow(2, 0, 4).narrow(3, 0, 6).zero_();
  // Autograd on: LibTorch's replication padding (the weights need gradients) and the tensor blend.
  auto [fa, ra] = net->features(a.fine_ref, a.coarse_ref, a.coarse_target);
  auto [fb, rb] = net->features(b.fine_ref, b.coarse_ref, b.coarse_target);
  auto wa = 1.0 / (ra.abs() + 1e-6), wb = 1.0 / (rb.abs() + 1e-6);
  const auto blend = net->decoder((wa * fa + wb * fb) / (wa + wb)).detach();
  const auto single_a = net->decoder(fa).detach(), single_b = net->decoder(fb).detach();
  const auto inputs = torch::cat({a.fine_ref, a.coarse_ref, a.coarse_target, b.fine_ref, b.coarse_ref, b.coarse_target});
  std::vector<torch::Tensor> singles;
  const auto out = model->predict_with_singles({a, b}, {true, true}, singles);
  EXPECT_LT((out - blend).abs().max().item<float>(), 1e-5f);
  ASSERT_EQ(singles.size(), 2u);
  const auto only_a = a.mask * (1 - b.mask), only_b = b.mask * (1 - a.mask);
  ASSERT_EQ(only_a.sum().item<float>(), 11.0f * 15.0f);
  ASSERT_EQ(only_b.sum().item<float>(), 4.0f * 6.0f);
  EXPECT_LT(((singles[0] - single_a).abs() * only_a).max().item<float>(), 1e-5f);
  EXPECT_LT(((singles[1] - single_b).abs() * only_b).max().item<float>(), 1e-5f);
  // The references are left as they were.
  EXPECT_TRUE(torch::equal(
      inputs, torch::cat({a.fine_ref, a.coarse_ref, a.coarse_target, b.fine_ref, b.coarse_ref, b.coarse_target})));
  // A cloud over most of the tile decodes the whole tile, and batches without masks too.
  auto c = b;
  c.mask = torch::zeros_like(b.mask);
  model->predict_with_singles({a, c}, {true, false}, singles);
  EXPECT_LT(((singles[0] - single_a).abs() * a.mask).max().item<float>(), 1e-5f);
  auto d = b;
  d.mask = torch::Tensor();
  model->predict_with_singles({a, d}, {false, true}, singles);
  EXPECT_LT((singles[1] - single_b).abs().max().item<float>(), 1e-5f);
}

// A batch of two images, each with its own cloud: the decoder's box covers both, and each
// image's single prediction is right where its reference alone is valid.
TEST(Edcstfn, SinglePredictionsOfABatchOfTwoImages) {
  auto model = make_model(small_family(1), 1, 1e-3);
  auto* net = dynamic_cast<deep::EdcstfnNetImpl*>(model->networks().at(0));
  ASSERT_NE(net, nullptr);
  auto a = synthetic_batch(2, 1, 33, 35, 7), b = synthetic_batch(2, 1, 33, 35, 8, -16);
  b.mask[0].narrow(1, 3, 5).narrow(2, 4, 6).zero_();
  b.mask[1].narrow(1, 20, 7).narrow(2, 25, 9).zero_();
  const auto single_a = net->decoder(net->features(a.fine_ref, a.coarse_ref, a.coarse_target).first).detach();
  std::vector<torch::Tensor> singles;
  model->predict_with_singles({a, b}, {true, false}, singles);
  const auto only_a = a.mask * (1 - b.mask);
  ASSERT_EQ(only_a.sum().item<float>(), 5.0f * 6.0f + 7.0f * 9.0f);
  EXPECT_LT(((singles[0] - single_a).abs() * only_a).max().item<float>(), 1e-5f);
}

TEST(Edcstfn, PaperTrainingDefaults) {
  deep::EdcstfnFamily family;
  auto d = family.train_defaults();
  EXPECT_DOUBLE_EQ(d.lr, 1e-3);
  EXPECT_EQ(d.lr_schedule, "plateau");
  EXPECT_EQ(d.plateau_patience, 5);
  OptionSet set("edcstfn");
  family.bind(set);
  set.set("ae-steps", "7");
  EXPECT_EQ(family.options.ae_steps, 7);
}

}  // namespace
}  // namespace lstfuse::test
