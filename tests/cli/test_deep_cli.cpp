// End to end through the CLI on a small simulated series: train -> predict with the model,
// streamed vs in-memory prediction, fuse resume, and the demo on a tiny budget.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/eval/metrics.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_deep_cli {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

// One small simulated catalog for every test here (built once).
const fs::path& series() {
  static const test::TempDir dir;
  static const fs::path cat = [] {
    const auto sim = dir.path() / "sim";
    const auto r1 = test::run_cli("simulate -o " + sim.string() +
                                  " --size 96 --days 70 --seed 3 --cloud-cover 0.1 --modis-cloud-cover 0.1");
    if (r1.exit_code != 0) throw std::runtime_error(r1.output);
    const auto c = dir.path() / "cat";
    const auto r2 = test::run_cli("ingest " + sim.string() + " -o " + c.string());
    if (r2.exit_code != 0) throw std::runtime_error(r2.output);
    return c;
  }();
  return cat;
}

const char* kTinyBudget = " --epochs 2 --patches-per-epoch 64 --patch 24 --stride 12 --threads 2";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The first coarse-only date strictly between the first two pair dates.
Date inner_date(const Catalog& cat) {
  const auto pairs = cat.pair_dates();
  for (const Date& d : cat.coarse_only_dates())
    if (pairs[0] < d && d < pairs[1]) return d;
  throw std::runtime_error("no coarse-only date between the first pairs");
}

}  // namespace

TEST(DeepCli, TrainThenPredictWithTheModel) {
  const Catalog cat = Catalog::load(series());
  ASSERT_GE(cat.pair_dates().size(), 3u);
  const Date target = cat.pair_dates()[1];  // has truth: score the prediction
  test::TempDir tmp;
  const auto model = tmp / "sttfn.lstmodel";
  // An --exclude date that is not a pair date (a typo) would exclude nothing: refused.
  const auto typo = test::run_cli("train --method sttfn --catalog " + series().string() + " --series --exclude 2030-01-01 -o " +
                                  model.string() + kTinyBudget);
  EXPECT_EQ(typo.exit_code, 1) << typo.output;
  EXPECT_NE(typo.output.find("--exclude 2030-01-01 is not a pair date"), std::string::npos) << typo.output;
  EXPECT_FALSE(fs::exists(model));
  const auto t = test::run_cli("train --method sttfn --catalog " + series().string() + " --date " +
                               target.iso() + " --exclude " + target.iso() + " -o " + model.string() +
                               kTinyBudget);
  ASSERT_EQ(t.exit_code, 0) << t.output;
  ASSERT_TRUE(fs::exists(model));

  // Without the model a trainable method refuses to predict and says what to do.
  const auto bad = test::run_cli("predict --method sttfn --catalog " + series().string() +
                                 " --date " + target.iso() + " -o " + (tmp / "x.tif").string());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("lstfuse train"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(tmp / "x.tif"));

  const auto out = tmp / "pred.tif";
  const auto p = test::run_cli("predict --method sttfn --model " + model.string() + " --catalog " +
                               series().string() + " --date " + target.iso() + " --pairs " +
                               cat.pair_dates()[0].iso() + "," + cat.pair_dates()[2].iso() +
                               " -o " + out.string());
  ASSERT_EQ(p.exit_code, 0) << p.output;
  const Raster pred = io::read_raster(out.string());
  const Raster truth = io::load_observation(cat, *cat.find(target, Role::Truth));
  const Raster coarse = io::load_observation(cat, *cat.find(target, Role::Coarse));
  const double rmse = eval::compute_metrics(pred, truth).overall.rmse;
  const double rmse_bilinear = eval::compute_metrics(coarse, truth).overall.rmse;
  EXPECT_LT(rmse, rmse_bilinear);  // the global residual starts STTFN at the additive baseline
  EXPECT_GT(pred.valid_fraction(), 0.5);
  // An option fixed in training, given at prediction with another value, was kept and ignored:
  // refused, naming the model file and both values.
  const auto fixed = test::run_cli("predict --method sttfn --model " + model.string() + " --catalog " + series().string() +
                                   " --date " + target.iso() + " --sttfn.normalise none -o " + (tmp / "n.tif").string());
  EXPECT_EQ(fixed.exit_code, 1) << fixed.output;
  EXPECT_NE(fixed.output.find(model.string() + ": normalise \"none\" was given, but the model was trained with normalise"),
            std::string::npos) << fixed.output;
  EXPECT_FALSE(fs::exists(tmp / "n.tif"));
  // Also when the value given is the option's default (the model was trained with --patch 24).
  const auto same_as_default = test::run_cli("predict --method sttfn --model " + model.string() + " --catalog " +
                                             series().string() + " --date " + target.iso() + " --sttfn.patch 40 -o " +
                                             (tmp / "n.tif").string());
  EXPECT_EQ(same_as_default.exit_code, 1) << same_as_default.output;
  EXPECT_NE(same_as_default.output.find("patch 40 was given, but the model was trained with patch 24"), std::string::npos)
      << same_as_default.output;
}

TEST(DeepCli, StreamedPredictionEqualsInMemory) {
  const Catalog cat = Catalog::load(series());
  test::TempDir tmp;
  const auto model = tmp / "m.lstmodel";
  const Date target = inner_date(cat);
  ASSERT_EQ(test::run_cli("train --method sttfn --catalog " + series().string() + " --date " +
                          target.iso() + " -o " + model.string() + kTinyBudget).exit_code, 0);
  const std::string common = "predict --method sttfn --model " + model.string() + " --catalog " +
                             series().string() + " --date " + target.iso();
  // TC weighting too: its coarse means must be the scene's, not each streamed tile's.
  for (const std::string weighting : {"stc", "tc"}) {
    const std::string cmd = common + " --weighting " + weighting;
    const auto in_memory = tmp / (weighting + "_a.tif"), streamed = tmp / (weighting + "_b.tif");
    ASSERT_EQ(test::run_cli(cmd + " -o " + in_memory.string()).exit_code, 0);
    const auto s = test::run_cli(cmd + " --stream --tile 40 -o " + streamed.string());
    ASSERT_EQ(s.exit_code, 0) << s.output;
    const Raster a = io::read_raster(in_memory.string());
    const Raster b = io::read_raster(streamed.string());
    ASSERT_EQ(a.mask_data(), b.mask_data()) << weighting;
    double worst = 0;
    for (size_t i = 0; i < a.band_size(); ++i)
      if (a.mask(0)[i]) worst = std::max(worst, std::abs(double(a.band(0)[i]) - b.band(0)[i]));
    EXPECT_LT(worst, 1e-4) << weighting;
  }
}

TEST(DeepCli, FuseResumesWithIdenticalFiles) {
  const Catalog cat = Catalog::load(series());
  test::TempDir tmp;
  const Date from = cat.pair_dates()[0] + 1;
  const Date to = from + 5;
  const std::string cmd = "fuse --catalog " + series().string() + " --method sttfn --from " +
                          from.iso() + " --to " + to.iso() + " -o " + (tmp / "f").string() +
                          " -q" + kTinyBudget;
  const auto r1 = test::run_cli(cmd);
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  std::vector<fs::path> outputs;
  for (const auto& e : fs::directory_iterator(tmp / "f"))
    if (e.path().extension() == ".tif" && e.path().string().find("quality") == std::string::npos)
      outputs.push_back(e.path());
  ASSERT_GE(outputs.size(), 2u);
  const auto kept = slurp(outputs.front());
  const auto lost = slurp(outputs.back());
  // Interrupted: the last output and the trained model are gone.
  fs::remove(outputs.back());
  fs::remove_all(tmp / "f" / "models");
  const auto r2 = test::run_cli(cmd);
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  EXPECT_NE(r2.output.find("1 dates predicted"), std::string::npos) << r2.output;
  EXPECT_EQ(slurp(outputs.front()), kept);
  EXPECT_EQ(slurp(outputs.back()), lost);  // same seed, same training, same bytes
}

TEST(DemoCli, TinyDemoWritesAReportWithItsMaps) {
  test::TempDir tmp;
  const auto r = test::run_cli("demo -q -o " + (tmp / "demo").string() +
                               " --size 96 --days 100 --cloud-cover 0.1 --fuse-days 6 --epochs 1 --patches-per-epoch 32"
                               " --methods bilinear,additive,starfm,estarfm,sttfn,dlstfm");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto report = tmp / "demo" / "report" / "report.html";
  ASSERT_TRUE(fs::exists(report)) << r.output;
  EXPECT_NE(r.output.find(report.string()), std::string::npos);
  const std::string html = slurp(report);
  for (const char* m : {"estarfm", "sttfn", "dlstfm", "Daily fusion of a month (series)", "every pair of the series (",
                        "Coarse-only dates"})
    EXPECT_NE(html.find(m), std::string::npos) << m;
  EXPECT_TRUE(fs::exists(tmp / "demo" / "report" / "results.csv"));
  EXPECT_TRUE(fs::exists(tmp / "demo" / "fused" / "index.json"));
}

// `fuse` without --method predicts with `series` (the most accurate classic method on the
// README's benchmarks): the same rasters as --method series, and the index names it.
TEST(FuseCli, SeriesIsTheDefaultMethod) {
  const Catalog cat = Catalog::load(series());
  test::TempDir tmp;
  const Date from = cat.pair_dates()[0] + 1;
  const std::string span = " --from " + from.iso() + " --to " + (from + 2).iso() + " --no-uncertainty -q -o ";
  const auto plain = test::run_cli("fuse --catalog " + series().string() + span + (tmp / "plain").string());
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  const auto named =
      test::run_cli("fuse --catalog " + series().string() + " --method series" + span + (tmp / "named").string());
  ASSERT_EQ(named.exit_code, 0) << named.output;
  std::ifstream in(tmp / "plain" / "index.json");
  EXPECT_EQ(nlohmann::json::parse(in).at("method"), "series");
  auto rasters = [](const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".tif") names.insert(e.path().filename().string());
    return names;
  };
  const auto names = rasters(tmp / "named");
  ASSERT_EQ(rasters(tmp / "plain"), names);
  ASSERT_GE(names.size(), 2u);  // at least one day with coarse data: its LST file and quality layer
  for (const auto& name : names) {
    const Raster a = io::read_raster((tmp / "named" / name).string());
    const Raster b = io::read_raster((tmp / "plain" / name).string());
    EXPECT_EQ(a.data(), b.data()) << name;
    EXPECT_EQ(a.mask_data(), b.mask_data()) << name;
  }
  // A folder of another method's run (one made before the default changed, say) is refused with
  // the flag that goes on with it; nothing in it changes.
  std::map<std::string, std::string> before;
  for (const auto& e : fs::directory_iterator(tmp / "plain"))
    if (e.is_regular_file()) before[e.path().filename().string()] = slurp(e.path());
  const auto other =
      test::run_cli("fuse --catalog " + series().string() + " --method additive" + span + (tmp / "plain").string());
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_NE(other.output.find("this folder holds a fuse run of method 'series', not 'additive'; give --method "
                              "series to go on with it, or use another output folder"),
            std::string::npos)
      << other.output;
  std::map<std::string, std::string> after;
  for (const auto& e : fs::directory_iterator(tmp / "plain"))
    if (e.is_regular_file()) after[e.path().filename().string()] = slurp(e.path());
  EXPECT_TRUE(after == before) << "a file of the folder changed or went";
}

TEST(FuseCli, BilinearNeedsNoPair) {
  // A catalog without a Landsat date: bilinear (0 pairs) fuses it; a method of pairs says why not.
  test::TempDir tmp;
  auto r = test::run_cli("simulate -q --size 32 --days 4 --coarse-factor 4 --landsat-first-day 3000 -o " +
                         (tmp / "sim").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli("ingest -q " + (tmp / "sim").string() + " -o " + (tmp / "cat").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli("fuse -q --catalog " + (tmp / "cat").string() + " --method bilinear -o " + (tmp / "f").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(tmp / "f" / "index.json");
  const auto index = nlohmann::json::parse(in);
  ASSERT_EQ(index["entries"].size(), 4u);
  int done = 0;
  for (const auto& e : index["entries"]) {
    EXPECT_NE(e["status"], "failed") << e.dump();
    done += e["status"] == "done";
  }
  EXPECT_GE(done, 3);  // the simulated clouds may cover one day's whole coarse image
  r = test::run_cli("fuse -q --catalog " + (tmp / "cat").string() + " --method additive -o " + (tmp / "g").string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("additive needs at least 1 usable pair date(s)"), std::string::npos) << r.output;
}

// --series (one model for the whole series) and --model are the deep methods' flags: with a
// method that does not train, the default `series` above all, they are refused before any work.
TEST(FuseCli, TrainingFlagsOfAMethodThatDoesNotTrainAreRefused) {
  test::TempDir tmp;
  const std::string base = "fuse --catalog " + series().string() + " -o " + (tmp / "f").string();
  for (const auto& [extra, message] : std::vector<std::pair<std::string, std::string>>{
           {" --series", "--series: series does not train (it is for the deep methods); leave it out"},
           {" --method estarfm --series", "--series: estarfm does not train (it is for the deep methods); leave it out"},
           {" --method additive --model m.lstmodel", "--model: additive does not train (it is for the deep methods); leave it out"}}) {
    const auto r = test::run_cli(base + extra);
    EXPECT_EQ(r.exit_code, 1) << extra << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << extra << "\n" << r.output;
    EXPECT_FALSE(fs::exists(tmp / "f")) << extra;
  }
}

// A demo run again over an earlier demo that fused with another method (another --fuse-method,
// or an earlier version's default) makes its daily folder again instead of stopping at step 4.
TEST(DemoCli, RunAgainWithAnotherFuseMethodRedoesItsDailyFolder) {
  test::TempDir tmp;
  const std::string cmd = "demo -q -o " + (tmp / "demo").string() +
                          " --size 96 --days 100 --cloud-cover 0.1 --fuse-days 3 --methods additive --fuse-method ";
  const auto first = test::run_cli(cmd + "additive");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto second = test::run_cli(cmd + "series");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  std::ifstream in(tmp / "demo" / "fused" / "index.json");
  EXPECT_EQ(nlohmann::json::parse(in).at("method"), "series");
  int series_files = 0;
  for (const auto& e : fs::directory_iterator(tmp / "demo" / "fused")) {
    EXPECT_EQ(e.path().filename().string().find("lst_additive"), std::string::npos) << e.path();
    series_files += e.path().filename().string().rfind("lst_series_", 0) == 0;
  }
  EXPECT_GT(series_files, 0);
}

// A daily series lists hundreds of coarse-only dates: `info` writes consecutive days as runs.
TEST(InfoCli, CoarseOnlyDatesAsRunsOfDays) {
  const Catalog cat = Catalog::load(series());
  const auto co = cat.coarse_only_dates();
  const Date first_pair = cat.pair_dates().front();
  ASSERT_GE(first_pair - co.front(), 3);  // the series starts with days before the first pair
  const auto r = test::run_cli("info " + series().string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Every day from the start to the day before the first pair is coarse-only: one run.
  const std::string run = co.front().iso() + ".." + (first_pair + (-1)).iso() + ", ";
  EXPECT_NE(r.output.find("coarse-only dates: " + run), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(" + std::to_string(co.size()) + " dates)"), std::string::npos) << r.output;
}

}  // namespace test_deep_cli
