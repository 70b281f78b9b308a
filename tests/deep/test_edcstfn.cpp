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
