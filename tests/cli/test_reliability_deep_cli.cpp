// Reliability of training, deep models and fuse through the CLI: option ranges, damaged model
// files, a full disk (file-size limit) during training and fuse.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/deep/deep_method.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_reliability_deep_cli {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

test::CliResult sh(const std::string& script) { return test::run_shell(script); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::string> leftovers(const fs::path& dir, const std::string& part) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(part) != std::string::npos) out.push_back(e.path().string());
  return out;
}

// A small simulated catalog (built once).
const fs::path& series() {
  static const test::TempDir dir;
  static const fs::path cat = [] {
    const auto sim = dir.path() / "sim";
    const auto r1 = test::run_cli("simulate -o " + q(sim) + " --size 64 --days 40 --seed 5 --cloud-cover 0 --modis-cloud-cover 0");
    if (r1.exit_code != 0) throw std::runtime_error(r1.output);
    const auto c = dir.path() / "cat";
    const auto r2 = test::run_cli("ingest " + q(sim) + " -o " + q(c));
    if (r2.exit_code != 0) throw std::runtime_error(r2.output);
    return c;
  }();
  return cat;
}

const char* kTiny = " --epochs 1 --patches-per-epoch 16 --patch 24 --stride 12 --threads 2";

std::string train_cmd(const fs::path& out, int patch = 24) {
  std::string tiny = kTiny;
  if (patch != 24) tiny.replace(tiny.find("--patch 24"), 10, "--patch " + std::to_string(patch));
  return "train --method sttfn --catalog " + q(series()) + " --series -o " + q(out) + tiny;
}

}  // namespace

TEST(ReliabilityDeepCli, TrainingOptionsOutOfRangeAreRefusedAtOnce) {
  test::TempDir tmp;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--epochs 0", "--epochs"},          {"--epochs -1", "--epochs"},    {"--epochs 4294967297", "--epochs"},
      {"--batch-size 0", "--batch-size"},  {"--val-fraction 2", "--val-fraction"},
      {"--lr 0", "--lr"},                  {"--lr -1", "--lr"},           {"--stride 0", "--stride"},
      {"--tile -5", "--tile"},
  };
  for (const auto& [flag, option] : cases) {
    const auto r = test::run_cli("train --method sttfn --catalog " + q(tmp / "none") + " --series -o " +
                                 q(tmp / "m.lstmodel") + " " + flag);
    EXPECT_EQ(r.exit_code, 1) << flag << "\n" << r.output;
    EXPECT_NE(r.output.find(option), std::string::npos) << flag << "\n" << r.output;
    EXPECT_EQ(r.output.find("Exception raised"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(tmp / "m.lstmodel"));
}

TEST(ReliabilityDeepCli, NetworkSizesOutOfRangeAreRefusedAtOnce) {
  // Network widths and loss settings reached torch unchecked: raw "negative dimension" or
  // "index out of range" text, or a 400 GB allocation.
  test::TempDir tmp;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"stfnet --features 0", "--features"},       {"stfnet --features 2000000000", "--features"},
      {"dlstfm --features -4", "--features"},      {"mlffgan --width 0", "--width"},
      {"mlffgan --dropout 1", "--dropout"},        {"edcstfn --ssim-weight -1", "--ssim-weight"},
      {"sttfn --huber-delta 0", "--huber-delta"},  {"sttfn --stc-window -1", "--stc-window"},
  };
  for (const auto& [args, option] : cases) {
    const auto r = test::run_cli("train --method " + args + " --catalog " + q(tmp / "none") + " --series -o " +
                                 q(tmp / "m.lstmodel"));
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(option), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("Exception raised"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(tmp / "m.lstmodel"));
}

TEST(ReliabilityDeepCli, AModelWithAnImpossibleNormalisationIsRefusedAtLoad) {
  test::TempDir tmp;
  const auto good = tmp / "good.lstmodel";
  const auto t = test::run_cli(train_cmd(good));
  ASSERT_EQ(t.exit_code, 0) << t.output;
  // The same model with its normalisation edited (a damaged or hand-edited file): a zero scale,
  // and finite ones far from any LST (which gave an empty or a constant image with exit 0).
  const Catalog cat = Catalog::load(series());
  const Date d = cat.coarse_only_dates()[cat.coarse_only_dates().size() / 2];
  const std::vector<std::pair<std::string, double>> edits = {
      {"scale", 0.0}, {"scale", 1e-300}, {"scale", 1e300}, {"mean", 1e300}};
  for (const auto& [field, value] : edits) {
    SCOPED_TRACE(field + " " + std::to_string(value));
    auto m = method_registry().create("sttfn");
    m->load(good);
    auto& norm = const_cast<deep::Normaliser&>(dynamic_cast<deep::DeepMethod&>(*m).normaliser());
    (field == "scale" ? norm.scale : norm.mean).assign(norm.scale.size(), value);
    const auto bad = tmp / "bad.lstmodel";
    m->save(bad);
    const auto r = test::run_cli("predict --method sttfn --model " + q(bad) + " --catalog " + q(series()) +
                                 " --date " + d.iso() + " -o " + q(tmp / "p.tif"));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("bad.lstmodel"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(field), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "p.tif"));
  }
  // The good one predicts, and no valid pixel is NaN.
  const auto ok = test::run_cli("predict --method sttfn --model " + q(good) + " --catalog " + q(series()) +
                                " --date " + d.iso() + " -o " + q(tmp / "p.tif"));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  const Raster p = io::read_raster((tmp / "p.tif").string());
  for (size_t i = 0; i < p.band_size(); ++i) {
    if (p.mask(0)[i]) {
      ASSERT_TRUE(std::isfinite(p.band(0)[i]));
    }
  }
}

// A device or a pipe given as the model: it was read whole into memory, endlessly (/dev/zero
// grew by gigabytes a second) or blocking for ever (a FIFO nobody writes).
TEST(ReliabilityDeepCli, AModelThatIsADeviceOrAPipeIsRefused) {
  test::TempDir tmp;
  ASSERT_EQ(test::run_shell("mkfifo " + q(tmp / "fifo")).exit_code, 0);
  for (const fs::path& model : {fs::path("/dev/zero"), tmp / "fifo"}) {
    const auto r = test::run_shell("timeout 60 \"$L\" predict --method sttfn --model " + q(model) + " --catalog " +
                                   q(series()) + " --date 2024-06-01 -o " + q(tmp / "p.tif") + " 2>&1");
    EXPECT_EQ(r.exit_code, 1) << model << ": " << r.output;
    EXPECT_NE(r.output.find(model.string() + ": is not a regular file"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "p.tif"));
  }
}

// A model with series context fused over a catalog on another grid failed every date, each
// with its own warning (after the coarse series was filled, with --fill), then the run: one
// line naming the model, before any work, and no folder.
TEST(ReliabilityDeepCli, AModelTiedToItsTrainingGridIsRefusedByFuseBeforeAnyWork) {
  test::TempDir tmp;
  auto r = test::run_cli(train_cmd(tmp / "sc.lstmodel") + " --series-context mean");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli("simulate -q -o " + q(tmp / "sim") + " --size 48 --days 70 --seed 6 --origin-x 500000");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli("ingest -q " + q(tmp / "sim") + " -o " + q(tmp / "other"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli("fuse --catalog " + q(tmp / "other") + " --method sttfn --model " + q(tmp / "sc.lstmodel") +
                    " --fill --no-uncertainty -o " + q(tmp / "fused"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("sc.lstmodel: sttfn: the model's series context belongs to its training grid"),
            std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "fused"));
}

// OUTPUT.ckpt/ is where train keeps its checkpoints and what it removes when done: a folder of
// that name holding the user's files, or a file of that name, is refused before any training
// and stays as it was; train's own folder is gone after a finished run.
TEST(ReliabilityDeepCli, ACheckpointFolderTrainDidNotMakeIsNeverUsedOrRemoved) {
  test::TempDir tmp;
  const auto model = tmp / "m.lstmodel";
  fs::create_directories(tmp / "m.lstmodel.ckpt");
  std::ofstream(tmp / "m.lstmodel.ckpt" / "notes.txt") << "mine";
  auto r = test::run_cli(train_cmd(model));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("m.lstmodel.ckpt: holds notes.txt, which train did not write"), std::string::npos)
      << r.output;
  EXPECT_EQ(slurp(tmp / "m.lstmodel.ckpt" / "notes.txt"), "mine");
  EXPECT_FALSE(fs::exists(model));
  fs::remove_all(tmp / "m.lstmodel.ckpt");
  std::ofstream(tmp / "m.lstmodel.ckpt") << "a file";
  r = test::run_cli(train_cmd(model));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("exists and is not a checkpoint folder"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(tmp / "m.lstmodel.ckpt"), "a file");
  fs::remove(tmp / "m.lstmodel.ckpt");
  r = test::run_cli(train_cmd(model));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(model));
  EXPECT_FALSE(fs::exists(tmp / "m.lstmodel.ckpt"));
  // An empty -o is refused before the catalog is read or anything trained.
  r = test::run_cli("train --method sttfn --catalog " + q(tmp / "none") + " --series -o ''" + kTiny);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("-o needs a file name"), std::string::npos) << r.output;
}

TEST(ReliabilityDeepCli, AFullDiskDuringTrainingGivesAnErrorAndKeepsTheEarlierModel) {
  test::TempDir tmp;
  const auto model = tmp / "m.lstmodel";
  ASSERT_EQ(test::run_cli(train_cmd(model)).exit_code, 0);
  const auto before = slurp(model);
  ASSERT_GT(before.size(), 8u * 1024);
  // RLIMIT_FSIZE in KiB: the checkpoint (about as large as the model) cannot be written.
  const auto r = sh("ulimit -f 8 && $L " + train_cmd(model));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("File too large"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  EXPECT_TRUE(leftovers(tmp.path(), ".part").empty());
  EXPECT_EQ(slurp(model), before);
}

TEST(ReliabilityDeepCli, AFullDiskDuringFuseLeavesNoPartFileAndKeepsDoneDates) {
  test::TempDir tmp;
  const Catalog cat = Catalog::load(series());
  const auto dates = cat.coarse_only_dates();
  ASSERT_GE(dates.size(), 4u);
  const std::string base = "fuse -q --method starfm --window 5 --catalog " + q(series()) + " -o " + q(tmp / "f");
  ASSERT_EQ(test::run_cli(base + " --to " + dates[1].iso()).exit_code, 0);
  std::vector<std::pair<fs::path, std::string>> done;
  for (const auto& e : fs::directory_iterator(tmp / "f"))
    if (e.path().extension() == ".tif") done.emplace_back(e.path(), slurp(e.path()));
  ASSERT_EQ(done.size(), 4u);  // two dates, each with its quality layer
  const auto r = sh("ulimit -f 4 && $L " + base);
  EXPECT_NE(r.output.find("failed"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  EXPECT_TRUE(leftovers(tmp.path(), ".part").empty());
  for (const auto& [p, bytes] : done) EXPECT_EQ(slurp(p), bytes) << p;
  // Without the limit the run completes what was missing, keeping the earlier dates.
  const auto r2 = test::run_cli(base);
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  EXPECT_NE(r2.output.find("2 already done"), std::string::npos) << r2.output;
}

TEST(ReliabilityDeepCli, APatchLargerThanTheImagesIsClippedAndSaid) {
  // The patch was clipped to the image without a word: the model then trained on other patches
  // than the command asked for.
  test::TempDir tmp;
  const auto r = test::run_cli(train_cmd(tmp / "m.lstmodel", 100));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("training patches are 64 x 64 px: --patch 100 is larger than the 64 x 64 px images"),
            std::string::npos) << r.output;
  const auto small = test::run_cli(train_cmd(tmp / "n.lstmodel"));
  ASSERT_EQ(small.exit_code, 0) << small.output;
  EXPECT_EQ(small.output.find("training patches are"), std::string::npos) << small.output;
}

}  // namespace test_reliability_deep_cli
