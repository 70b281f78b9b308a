// The engine's time budget (the whole fit, validation included), the baseline candidate every
// family keeps, prediction tiles and the single-reference predictions families hand over.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "lstfuse/deep/deep_method.hpp"
#include "lstfuse/deep/engine.hpp"
#include "lstfuse/deep/sttfn.hpp"
#include "synthetic.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "net_fixtures.hpp"

using namespace lstfuse;
using namespace lstfuse::deep;

namespace {

// A model whose work moves a clock: a training step costs 1 s, predicting costs 0.1 s per
// sample. It predicts the additive estimate plus a constant offset of 0.5 units (worse than
// the baseline), or, as an "oracle", the target itself where a batch carries it.
struct ClockModel : DeepModel {
  double* clock;
  bool oracle;
  torch::Tensor offset = torch::full({1}, 0.5);
  long long train_steps = 0, predicted_samples = 0;
  ClockModel(double* c, bool o) : clock(c), oracle(o) {}
  std::string name() const override { return "clock"; }
  void to(torch::Device) override {}
  void set_training(bool) override {}
  std::map<std::string, double> train_step(const Batch&) override {
    *clock += 1.0;
    ++train_steps;
    return {{"loss", offset.item<double>()}};
  }
  double evaluate_loss(const Batch&) override { return offset.item<double>(); }
  torch::Tensor predict(const std::vector<Batch>& refs) override {
    const auto& r = refs.front();
    *clock += 0.1 * r.fine_ref.size(0);
    predicted_samples += r.fine_ref.size(0);
    if (oracle && r.fine_target.defined()) return r.fine_target;
    torch::Tensor out;
    for (const auto& b : refs) {
      auto p = b.fine_ref + b.coarse_target - b.coarse_ref + offset.item<float>();
      out = out.defined() ? 0.5 * (out + p) : p;
    }
    return out;
  }
  double learning_rate() const override { return 1e-3; }
  void set_learning_rate(double) override {}
  void save(torch::serialize::OutputArchive& a) const override { a.write("offset", offset, true); }
  void load(torch::serialize::InputArchive& a) override { a.read("offset", offset, true); }
  int halo() const override { return 0; }
};

struct ClockFamily : DeepFamily {
  double* clock;
  bool oracle;
  ClockFamily(double* c, bool o) : clock(c), oracle(o) {}
  MethodInfo info() const override { return deep_method_info("clock", "test model"); }
  TrainDefaults train_defaults() const override { return TrainDefaults{}; }
  void bind(OptionSet&) override {}
  std::unique_ptr<DeepModel> create_model(int, double) const override {
    return std::make_unique<ClockModel>(clock, oracle);
  }
};

CommonOptions budget_options() {
  CommonOptions o;
  o.epochs = 100;
  o.batch_size = 4;
  o.patches_per_epoch = 8;  // two steps per epoch
  o.val_fraction = 0.2;
  o.val_patches = 20;       // validation: 20 samples = 2 s
  o.patience = 0;
  o.augment = false;
  o.time_budget = 10;
  o.quiet = true;
  return o;
}

std::unique_ptr<DeepMethod> clock_method(double* clock, bool oracle) {
  auto m = std::make_unique<DeepMethod>(std::make_unique<ClockFamily>(clock, oracle));
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"threads", "1"}, {"device", "cpu"}, {"quiet", "true"}, {"epochs", "3"}, {"patch", "16"},
           {"stride", "8"}, {"batch-size", "4"}, {"seed", "3"}, {"val-fraction", "0.3"}})
    m->options().set(k, v);
  return m;
}

}  // namespace

// Budget 10 s, epochs of 2 steps (2 s) plus a validation of 20 samples (2 s). By hand: the
// untrained network's validation ends at 2; epoch 1 at 4 + 2 = 6, epoch 2 at 10 (not past the
// budget); epoch 3 passes it with its first step (11), validates (13) and is the last.
TEST(EngineBudget, TheBudgetBoundsTheWholeFitValidationIncluded) {
  const auto s = make_synthetic_series(48, 48, 6, 16, 8);
  const auto norm = Normaliser::fit("std", s.pairs);
  PatchSet data(s.pairs, norm, make_samples(s.pairs, 1, 0), 16, 8, 0.5, true);
  double clock = 0;
  ClockModel model(&clock, false);
  FitContext ctx;
  ctx.show_progress = false;
  const auto opt = budget_options();
  const auto rep = train(model, data, opt, ctx, torch::kCPU, "meta", [&] { return clock; });
  EXPECT_EQ(rep.val_patches, 20);
  EXPECT_EQ(rep.epochs_run, 3);
  EXPECT_EQ(model.train_steps, 5);
  EXPECT_TRUE(rep.out_of_time);
  EXPECT_DOUBLE_EQ(clock, 13.0);
  EXPECT_LE(clock, opt.time_budget + 2.0 + 2.0);  // the budget plus one epoch (2 steps + validation)
  // Validation: before training and after each of the 3 epochs, 20 samples each time.
  EXPECT_EQ(model.predicted_samples, 4 * 20);
}

// A budget spent before training starts (a slow validation) still ends within one epoch.
TEST(EngineBudget, ABudgetSpentByTheFirstValidationStopsAfterOneEpoch) {
  const auto s = make_synthetic_series(48, 48, 6, 16, 8);
  const auto norm = Normaliser::fit("std", s.pairs);
  PatchSet data(s.pairs, norm, make_samples(s.pairs, 1, 0), 16, 8, 0.5, true);
  double clock = 0;
  ClockModel model(&clock, false);
  FitContext ctx;
  ctx.show_progress = false;
  auto opt = budget_options();
  opt.time_budget = 1.0;  // the first validation alone takes 2 s
  const auto rep = train(model, data, opt, ctx, torch::kCPU, "meta", [&] { return clock; });
  EXPECT_EQ(rep.epochs_run, 1);
  EXPECT_EQ(model.train_steps, 1);
  EXPECT_DOUBLE_EQ(clock, 2.0 + 1.0 + 2.0);
}

// Validation uses at most --val-patches patches, the same ones every epoch.
TEST(EngineBudget, ValidationIsCappedToValPatches) {
  const auto s = make_synthetic_series(48, 48, 6, 16, 8);
  const auto norm = Normaliser::fit("std", s.pairs);
  PatchSet data(s.pairs, norm, make_samples(s.pairs, 1, 0), 16, 8, 0.5, true);
  double clock = 0;
  FitContext ctx;
  ctx.show_progress = false;
  auto opt = budget_options();
  opt.time_budget = 0;
  opt.epochs = 2;
  opt.val_patches = 0;
  ClockModel all(&clock, false);
  const auto rep_all = train(all, data, opt, ctx, torch::kCPU, "meta", [&] { return clock; });
  ASSERT_GT(rep_all.val_patches, 20);
  EXPECT_EQ(all.predicted_samples, 3 * rep_all.val_patches);
  opt.val_patches = 12;
  ClockModel capped(&clock, false);
  const auto rep = train(capped, data, opt, ctx, torch::kCPU, "meta", [&] { return clock; });
  EXPECT_EQ(rep.val_patches, 12);
  EXPECT_EQ(capped.predicted_samples, 3 * 12);
}

// A network worse than its additive baseline on validation: the model keeps the baseline, says
// so (fit_note, model file), and predicts exactly what the `additive` method predicts.
TEST(EngineBaseline, ANetworkWorseThanTheBaselineKeepsTheBaselineAndSaysSo) {
  const auto s = make_synthetic_series(40, 36, 5, 16, 8);
  double clock = 0;
  auto m = clock_method(&clock, false);
  FitContext ctx;
  ctx.show_progress = false;
  m->fit(s.pairs, ctx);
  ASSERT_TRUE(m->last_report().has_value());
  const auto& rep = *m->last_report();
  EXPECT_TRUE(rep.kept_baseline);
  EXPECT_LT(rep.baseline_rmse, rep.network_rmse);
  EXPECT_TRUE(m->keeps_baseline());
  EXPECT_NE(m->fit_note().find("baseline"), std::string::npos);

  const auto path = std::filesystem::temp_directory_path() / "lstfuse_test_baseline.lstmodel";
  m->save(path);
  torch::serialize::InputArchive a;
  a.load_from(path.string());
  c10::IValue v;
  a.read("meta", v);
  const auto meta = nlohmann::json::parse(v.toStringRef());
  EXPECT_TRUE(meta.at("baseline").at("kept").get<bool>());
  EXPECT_NEAR(meta.at("baseline").at("validation_rmse_baseline").get<double>(), rep.baseline_rmse, 1e-9);

  auto loaded = clock_method(&clock, false);
  loaded->load(path);
  std::filesystem::remove(path);
  EXPECT_TRUE(loaded->keeps_baseline());
  EXPECT_EQ(loaded->fit_note(), m->fit_note());

  FusionInput in;
  in.pairs = {s.pairs[1], s.pairs[3]};
  in.coarse = s.pairs[2].coarse;
  in.date = s.pairs[2].date;
  for (int y = 5; y < 15; ++y)
    for (int x = 5; x < 20; ++x) in.pairs[0].fine.set_valid(0, y, x, false);  // a cloud in one reference
  const auto got = loaded->predict(in);
  const auto want = method_registry().create("additive")->predict(in);
  double worst = 0;
  for (int y = 0; y < 36; ++y)
    for (int x = 0; x < 40; ++x) {
      ASSERT_EQ(got.fine.valid(y, x), want.fine.valid(y, x));
      if (want.fine.valid(y, x)) worst = std::max(worst, double(std::abs(got.fine.at(y, x) - want.fine.at(y, x))));
    }
  EXPECT_LT(worst, 1e-4);
}

// A network better than the baseline (here one that reads the answer) keeps the network.
TEST(EngineBaseline, ABetterNetworkIsKept) {
  const auto s = make_synthetic_series(40, 36, 5, 16, 8);
  double clock = 0;
  auto m = clock_method(&clock, true);
  FitContext ctx;
  ctx.show_progress = false;
  m->fit(s.pairs, ctx);
  const auto& rep = *m->last_report();
  EXPECT_FALSE(rep.kept_baseline);
  EXPECT_NEAR(rep.network_rmse, 0.0, 1e-9);
  EXPECT_GT(rep.baseline_rmse, 0.1);  // the synthetic coarse images carry a per-date bias
  EXPECT_FALSE(m->keeps_baseline());
  EXPECT_TRUE(m->fit_note().empty());
}

// STTFN's baseline is the additive estimate through its own weighting: what its untrained
// networks (weights of std 1e-3) predict.
TEST(EngineBaseline, SttfnBaselineIsItsUntrainedNetwork) {
  torch::manual_seed(2);
  SttfnFamily family;
  family.options.stc_window = 3;
  auto model = family.create_model(1, 1e-4);
  model->set_training(false);
  auto before = test::synthetic_batch(1, 1, 30, 26, 3, 10);
  auto after = test::synthetic_batch(1, 1, 30, 26, 4, -6);
  after.coarse_target = before.coarse_target;
  torch::NoGradGuard ng;
  const auto net = model->predict({before, after});
  const auto base = model->predict_baseline({before, after});
  EXPECT_LT((net - base).abs().max().item<double>(), 1e-3);
  const auto additive = before.fine_ref + before.coarse_target - before.coarse_ref;
  EXPECT_LT((model->predict_baseline({before}) - additive).abs().max().item<double>(), 1e-6);
}

// Tiles: the fewest whose windows stay within tile + 2 halo, equal and on the network's grid.
TEST(EngineTiles, TilesAreTheFewestWithinTheWindowBound) {
  EXPECT_EQ(prediction_tile(512, 16, 240, 640), 640);         // MLFF-GAN: one window of 992 holds it
  EXPECT_EQ(prediction_tile(512, 16, 240, 640, false), 512);
  EXPECT_EQ(prediction_tile(512, 16, 240, 1300), 656);        // two tiles, windows 896 and 884 <= 992
  EXPECT_EQ(prediction_tile(256, 1, 6, 268), 268);            // STTFN: 256 + 12
  EXPECT_EQ(prediction_tile(256, 1, 6, 269), 135);            // two windows of 141 and 140
  EXPECT_EQ(prediction_tile(256, 1, 6, 640), 214);            // three: the middle window 226 <= 268
  EXPECT_EQ(prediction_tile(20, 8, 40, 150, false), 24);      // rounded up to the grid
  EXPECT_EQ(prediction_tile(0, 8, 40, 150), 150);
  // Every window of the plan within the bound, whatever the side.
  for (int length : {100, 333, 641, 1000, 1299}) {
    const int t = prediction_tile(100, 8, 24, length);
    EXPECT_EQ(t % 8 == 0 || t == length, true) << length;
    for (int x = 0; x < length; x += t) {
      const int w = std::min(length, x + t + 24) - std::max(0, x - 24);
      EXPECT_LE(w, 104 + 48) << length << " tile " << t << " at " << x;
    }
  }
}

// The separable window mean equals the clipped k x k mean (avg_pool2d without padded pixels).
TEST(EngineTiles, SeparableWindowMeanMatchesTheSquareWindow) {
  torch::manual_seed(5);
  const auto x = torch::rand({2, 3, 23, 31});
  for (int r : {1, 4, 12}) {
    const auto want = torch::avg_pool2d(x, 2 * r + 1, 1, r, false, false);
    EXPECT_LT((window_mean(x, r) - want).abs().max().item<double>(), 1e-5) << r;
  }
}

// Two references: what each family hands over as a reference's single prediction is what
// predicting from that reference alone gives (EDCSTFN's only where that reference alone is
// valid, the only pixels the engine reads it at), and the combination is unchanged.
TEST(EngineSingles, FamiliesHandOverTheirSinglePredictions) {
  for (const char* name : {"sttfn", "stfnet", "edcstfn", "mlffgan", "dlstfm"}) {
    SCOPED_TRACE(name);
    auto m = method_registry().create(name);
    auto* dm = dynamic_cast<DeepMethod*>(m.get());
    ASSERT_NE(dm, nullptr);
    const auto s = make_synthetic_series(40, 36, 3, 16, 8);
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"threads", "1"}, {"device", "cpu"}, {"quiet", "true"}, {"epochs", "1"}, {"patch", "16"},
             {"stride", "16"}, {"batch-size", "4"}, {"patches-per-epoch", "8"}, {"val-fraction", "0"}})
      m->options().set(k, v);
    FitContext ctx;
    ctx.show_progress = false;
    m->fit(s.pairs, ctx);
    auto before = test::synthetic_batch(1, 1, 37, 29, 3, 10);
    auto after = test::synthetic_batch(1, 1, 37, 29, 4, -6);
    after.coarse_target = before.coarse_target;
    before.mask.narrow(2, 20, 9).narrow(3, 3, 10).zero_();  // a cloud in each reference
    after.mask.narrow(2, 4, 7).narrow(3, 15, 11).zero_();
    const auto only_before = before.mask * (1 - after.mask), only_after = after.mask * (1 - before.mask);
    ASSERT_EQ(only_before.sum().item<float>(), 77.0f);
    ASSERT_EQ(only_after.sum().item<float>(), 90.0f);
    torch::NoGradGuard ng;
    auto& model = *dm->model();
    model.set_training(false);
    std::vector<torch::Tensor> singles;
    const auto both = model.predict_with_singles({before, after}, {true, true}, singles);
    ASSERT_EQ(singles.size(), 2u);
    EXPECT_LT((both - model.predict({before, after})).abs().max().item<double>(), 1e-5);
    // EDCSTFN decodes a single prediction on the part of the tile where it is read; the others
    // hand over a whole one.
    const bool partial = std::string(name) == "edcstfn";
    const auto read_before = partial ? only_before : torch::ones_like(only_before);
    const auto read_after = partial ? only_after : torch::ones_like(only_after);
    EXPECT_LT(((singles[0] - model.predict({before})).abs() * read_before).max().item<double>(), 1e-5);
    EXPECT_LT(((singles[1] - model.predict({after})).abs() * read_after).max().item<double>(), 1e-5);
    model.predict_with_singles({before, after}, {false, true}, singles);
    EXPECT_FALSE(singles[0].defined());
    EXPECT_TRUE(singles[1].defined());
  }
}
