// One rule for every deep family: options marked "at prediction" act when a trained model
// predicts, read from the method's options at that call; the others are fixed in the model when
// it is created (by training, or by loading a model file).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "lstfuse/core/error.hpp"
#include "lstfuse/deep/deep_method.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "synthetic.hpp"

using namespace lstfuse;

namespace {

std::set<std::string> marked(const OptionSet& set) {
  std::set<std::string> out;
  for (const auto& o : set.list())
    if (o.at_prediction) out.insert(o.name);
  return out;
}

std::unique_ptr<Method> tiny_trained(const std::string& name, const deep::SyntheticSeries& s) {
  auto m = method_registry().create(name);
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"threads", "1"}, {"device", "cpu"}, {"quiet", "true"}, {"epochs", "1"},
           {"patch", "16"}, {"stride", "16"}, {"batch-size", "4"}, {"seed", "5"},
           {"patches-per-epoch", "32"}})
    m->options().set(k, v);
  FitContext ctx;
  ctx.show_progress = false;
  m->fit(s.pairs, ctx);
  return m;
}

FusionInput two_references(const deep::SyntheticSeries& s) {
  FusionInput in;
  in.pairs = {s.pairs[0], s.pairs[2]};
  in.coarse = s.pairs[1].coarse;
  in.date = s.pairs[1].date;
  return in;
}

bool same(const Raster& a, const Raster& b) {
  for (int y = 0; y < a.height(); ++y)
    for (int x = 0; x < a.width(); ++x)
      if (a.valid(y, x) != b.valid(y, x) || (a.valid(y, x) && a.at(y, x) != b.at(y, x))) return false;
  return true;
}

}  // namespace

TEST(PredictionOptions, EachFamilyMarksWhatActsAtPrediction) {
  const std::set<std::string> engine = {"device", "threads", "tile", "quiet"};
  for (const char* name : {"stfnet", "edcstfn", "mlffgan", "dlstfm"}) {
    auto m = method_registry().create(name);
    EXPECT_EQ(marked(m->options()), engine) << name;
  }
  auto sttfn = method_registry().create("sttfn");
  auto expected = engine;
  expected.insert({"weighting", "tc-window", "stc-window", "fold-bn"});
  EXPECT_EQ(marked(sttfn->options()), expected);
}

// A prediction-time option set after training acts as when it is given before loading the model
// file; a fixed one set after training changes nothing.
TEST(PredictionOptions, SetAfterTrainingActsLikeGivenAtLoad) {
  const auto s = deep::make_synthetic_series(40, 36, 3, 16, 8);
  auto m = tiny_trained("sttfn", s);
  const auto in = two_references(s);
  const auto stc = m->predict(in);

  m->options().set("weighting", "tc");
  const auto tc_after = m->predict(in);
  EXPECT_FALSE(same(stc.fine, tc_after.fine));

  const auto path = std::filesystem::temp_directory_path() / "lstfuse_prediction_options.pt";
  m->options().set("weighting", "stc");
  m->save(path);
  auto loaded = method_registry().create("sttfn");
  loaded->options().set("weighting", "tc");
  loaded->options().set("threads", "1");
  loaded->load(path);
  std::filesystem::remove(path);
  EXPECT_TRUE(same(loaded->predict(in).fine, tc_after.fine));

  // Fixed options: the frame the model was trained in and its initialisation stay the model's.
  m->options().set("frame", "absolute");
  m->options().set("init-std", "0.5");
  EXPECT_TRUE(same(m->predict(in).fine, stc.fine));
}

// The same for a family whose own options are all fixed: DLSTFM's fusion blocks are part of
// its network, so changing them after training leaves the prediction (and the halo) as they were.
TEST(PredictionOptions, FixedFamilyOptionKeepsTheModels) {
  const auto s = deep::make_synthetic_series(40, 36, 3, 16, 8);
  auto m = tiny_trained("dlstfm", s);
  const auto in = two_references(s);
  const auto before = m->predict(in);
  m->options().set("fusion-blocks", "3");
  m->options().set("consistency-block", "4");
  EXPECT_TRUE(same(m->predict(in).fine, before.fine));
  EXPECT_EQ(m->halo(), 40);  // two fusion blocks, as trained (three would need 56)
}

// A fixed option given before loading a model that was trained with another value is refused
// (it was kept and ignored); values an earlier load put into the method are not the user's, so
// a second model of other settings loads into the same method (fuse loads one per interval).
TEST(PredictionOptions, AFixedOptionGivenAtLoadMustBeTheModels) {
  const auto s = deep::make_synthetic_series(40, 36, 3, 16, 8);
  auto a = tiny_trained("stfnet", s);
  const auto dir = std::filesystem::temp_directory_path();
  const auto pa = dir / "lstfuse_fixed_a.pt", pb = dir / "lstfuse_fixed_b.pt";
  a->save(pa);
  a->options().set("seed", "6");
  a->options().set("patch", "20");
  a->save(pb);
  auto loaded = method_registry().create("stfnet");
  loaded->load(pa);
  EXPECT_EQ(loaded->options().get("patch"), "16");
  EXPECT_NO_THROW(loaded->load(pb));
  EXPECT_EQ(loaded->options().get("patch"), "20");
  EXPECT_EQ(loaded->options().get("seed"), "6");
  auto given = method_registry().create("stfnet");
  given->options().set("patch", "24");
  try {
    given->load(pa);
    FAIL() << "a fixed option of another value was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("patch 24 was given, but the model was trained with patch 16"), std::string::npos)
        << e.what();
  }
  std::filesystem::remove(pa);
  std::filesystem::remove(pb);
}
