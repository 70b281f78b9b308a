// The command line's options: every method option a real, typed flag in --help with its default
// and range; bad values refused before any work, naming the option; the GDAL spellings (-o, --of,
// --co, -q) and the old ones that still work with a warning.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gdal_priv.h>
#include <nlohmann/json.hpp>

#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "test_support.hpp"
#include "../methods/method_fixtures.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_options_cli {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

// Two pairs (2020-01-01: fine 300, coarse 298; 2020-01-21: fine 304, coarse 303) and the target
// coarse image of 2020-01-11 (310 K), textured so that compression has something to do.
struct Files {
  test::TempDir dir;
  std::string l1, m1, l2, m2, m0;
  Files() {
    l1 = (dir / "L_20200101.tif").string();
    m1 = (dir / "M_20200101.tif").string();
    l2 = (dir / "L_20200121.tif").string();
    m2 = (dir / "M_20200121.tif").string();
    m0 = (dir / "M_20200111.tif").string();
    auto textured = [](float base) {
      Raster r(test::utm_grid(40, 30), 1, base);
      for (int y = 0; y < 30; ++y)
        for (int x = 0; x < 40; ++x) r.at(y, x) = base + 0.1f * static_cast<float>((x * 7 + y * 3) % 11);
      return r;
    };
    io::write_raster(l1, textured(300.0f));
    io::write_raster(m1, textured(298.0f));
    io::write_raster(l2, textured(304.0f));
    io::write_raster(m2, textured(303.0f));
    io::write_raster(m0, textured(310.0f));
  }
  std::string args(const std::string& method) const {
    return "predict --method " + method + " --fine1 " + l1 + " --coarse1 " + m1 + " --fine2 " + l2 +
           " --coarse2 " + m2 + " --coarse0 " + m0;
  }
};

std::string metadata_item(const std::string& path, const char* key, const char* domain) {
  io::init_gdal();
  GDALDataset* ds = static_cast<GDALDataset*>(GDALOpen(path.c_str(), GA_ReadOnly));
  if (!ds) return "cannot open";
  const char* v = ds->GetMetadataItem(key, domain);
  std::string out = v ? v : "";
  GDALClose(ds);
  return out;
}

// The line of `help` that starts (after blanks) with `flag` followed by a blank, and the line
// after it (CLI11 puts the description there when the flag column is full).
std::string help_entry(const std::string& help, const std::string& flag) {
  std::istringstream in(help);
  std::string line;
  while (std::getline(in, line)) {
    const auto start = line.find_first_not_of(' ');
    if (start == std::string::npos || line.compare(start, flag.size() + 1, flag + " ") != 0) continue;
    std::string next;
    std::getline(in, next);
    return line + "\n" + next;
  }
  return "";
}

// Runs of blanks and line breaks as one blank (the footer is wrapped).
std::string flat(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool blank = c == ' ' || c == '\n';
    if (blank && !out.empty() && out.back() == ' ') continue;
    out += blank ? ' ' : c;
  }
  return out;
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(OptionsCli, EveryMethodOptionIsAFlagInHelpWithTypeDefaultAndRange) {
  const auto help = test::run_cli("predict --help");
  ASSERT_EQ(help.exit_code, 0) << help.output;
  const auto methods = test::run_cli("methods");
  ASSERT_EQ(methods.exit_code, 0) << methods.output;
  auto& reg = method_registry();
  int checked = 0;
  for (const auto& name : reg.names()) {
    auto m = reg.create(name);
    if (!m->options().list().empty()) {  // bilinear and additive have none
      EXPECT_NE(help.output.find("Options of " + name + ":"), std::string::npos) << name;
    }
    for (const auto& o : m->options().list()) {
      SCOPED_TRACE(name + "." + o.name);
      const std::string entry = help_entry(help.output, "--" + name + "." + o.name);
      ASSERT_FALSE(entry.empty()) << "--" << name << "." << o.name << " missing from predict --help";
      const std::string type = o.type == "int" ? "INT" : o.type == "double" ? "FLOAT" : o.type == "bool" ? "BOOL"
                               : o.type == "choice" ? "{" + OptionSet::type_text(o) + "}" : "TEXT";
      EXPECT_NE(entry.find(type + (o.default_value.empty() ? "" : "=" + o.default_value)), std::string::npos) << entry;
      const std::string range = OptionSet::range_text(o);
      if (!range.empty()) {
        EXPECT_NE(entry.find("[" + range + "]"), std::string::npos) << entry;
      }
      // `lstfuse methods` lists the same declaration.
      EXPECT_NE(methods.output.find("--" + o.name), std::string::npos);
      EXPECT_NE(methods.output.find("(default " + o.default_value + ")"), std::string::npos);
      ++checked;
    }
  }
  EXPECT_GT(checked, 50);
  // The shadowed names are said: predict's --tile and --threads are its own.
  const std::string footer = flat(help.output);
  const auto own = footer.find("are predict's own");
  ASSERT_NE(own, std::string::npos) << help.output;
  const std::string sentence = footer.substr(footer.rfind('.', own), own - footer.rfind('.', own));
  EXPECT_NE(sentence.find("--tile"), std::string::npos) << sentence;
  EXPECT_NE(sentence.find("--threads"), std::string::npos) << sentence;
  // The plain spelling of a shared name, once.
  EXPECT_EQ(count(help.output, "\n  --window "), 1) << help.output;
  // starfm's window: INT, default and range as starfm.cpp declares them.
  EXPECT_NE(help_entry(help.output, "--starfm.window").find("[odd and between 3 and 1001]"), std::string::npos);
}

TEST(OptionsCli, TrainAndBenchmarkAndFuseBindTheSameFlags) {
  const auto train = test::run_cli("train --help");
  ASSERT_EQ(train.exit_code, 0);
  EXPECT_FALSE(help_entry(train.output, "--sttfn.epochs").empty()) << train.output;
  EXPECT_TRUE(help_entry(train.output, "--starfm.window").empty());  // starfm is not trained
  for (const char* cmd : {"fuse", "benchmark"}) {
    const auto r = test::run_cli(std::string(cmd) + " --help");
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_FALSE(help_entry(r.output, "--starfm.window").empty()) << cmd;
    EXPECT_FALSE(help_entry(r.output, "--sttfn.epochs").empty()) << cmd;
    EXPECT_FALSE(help_entry(r.output, "--co").empty()) << cmd;
    EXPECT_FALSE(help_entry(r.output, "--of").empty()) << cmd;
    // -q/--quiet is the subcommand's; the deep methods' own quiet option is --METHOD.quiet.
    EXPECT_NE(flat(r.output).find("--quiet are " + std::string(cmd) + "'s own"), std::string::npos) << r.output;
    EXPECT_FALSE(help_entry(r.output, "--sttfn.quiet").empty()) << cmd;
  }
}

TEST(OptionsCli, BadValuesAreRefusedBeforeAnyWorkNamingTheOption) {
  Files f;
  const std::string out = (f.dir / "out.tif").string();
  const std::string missing = (f.dir / "missing.tif").string();
  // The target file does not exist: an option error must come first.
  const std::string no_input = "predict --method starfm --fine1 " + f.l1 + " --coarse1 " + f.m1 + " --coarse0 " +
                               missing + " -o " + out;
  auto expect_refused = [&](const std::string& args, const std::string& words) {
    const auto r = test::run_cli(args);
    // An unknown flag is a usage error (2); a bad value of a known one, 1.
    EXPECT_EQ(r.exit_code, words.rfind("unknown option", 0) == 0 ? 2 : 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(words), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("missing.tif"), std::string::npos) << args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(out));
  };
  expect_refused(no_input + " --window 2", "option --window must be odd and between 3 and 1001, got 2");
  expect_refused(no_input + " --starfm.window 1002", "option --window must be odd and between 3 and 1001, got 1002");
  expect_refused(no_input + " --window 4", "option --window must be odd and between 3 and 1001, got 4");
  expect_refused(no_input + " --window five", "option --window expects an integer, got 'five'");
  expect_refused(no_input + " --fine-uncertainty -1", "option --fine-uncertainty must be between 0 and 100");
  expect_refused(no_input + " --search-distance x", "option --search-distance expects a finite number");
  // An option of another method, in either spelling.
  expect_refused(no_input + " --half-window 3", "starfm has no option --half-window");
  expect_refused(no_input + " --estarfm.half-window 3", "--estarfm.half-window is an option of estarfm, but --method is starfm");
  // Unknown flags name themselves.
  expect_refused(no_input + " --no-such-thing 3", "unknown option --no-such-thing");
  expect_refused(no_input + " --no-such-thing=3", "unknown option --no-such-thing");
  // Deep methods: checked before the model is asked for.
  expect_refused("predict --method sttfn --coarse0 " + missing + " -o " + out + " --sttfn.lr 0",
                 "option --lr must be");
  // A choice.
  auto sttfn = method_registry().create("sttfn");
  for (const auto& o : sttfn->options().list()) {
    if (o.type != "choice") continue;
    expect_refused("predict --method sttfn --coarse0 " + missing + " -o " + out + " --sttfn." + o.name + " nonsense",
                   "option --" + o.name + " must be one of");
    break;
  }
  // train, fuse and benchmark: before the catalog is read.
  const std::string nocat = (f.dir / "nocat").string();
  for (const std::string& args :
       {"train --method sttfn --series --catalog " + nocat + " -o " + (f.dir / "m.pt").string() + " --epochs 0",
        "fuse --method estarfm --catalog " + nocat + " -o " + (f.dir / "fused").string() + " --half-window 0",
        "benchmark --methods starfm,estarfm --catalog " + nocat + " -o " + (f.dir / "b").string() + " --classes 0"}) {
    const auto r = test::run_cli(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("must be"), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("nocat"), std::string::npos) << args << "\n" << r.output;
  }
  const auto b = test::run_cli("benchmark --methods starfm --catalog " + nocat + " -o " + (f.dir / "b").string() +
                               " --half-window 9");
  EXPECT_NE(b.output.find("option --half-window is known to none of the methods benchmarked"), std::string::npos)
      << b.output;
}

TEST(OptionsCli, PlainAndMethodSpellingsAndOptionFilesGiveTheSameResult) {
  Files f;
  auto predict = [&](const std::string& name, const std::string& extra) {
    const std::string out = (f.dir / name).string();
    const auto r = test::run_cli(f.args("starfm") + " -o " + out + extra);
    EXPECT_EQ(r.exit_code, 0) << extra << "\n" << r.output;
    return io::read_raster(out);
  };
  const Raster plain = predict("a.tif", " --window 5 --classes 2");
  const Raster spelled = predict("b.tif", " --starfm.window 5 --starfm.classes=2");
  // `methods NAME --json` is an options file; flags given as well win over it.
  const auto json = test::run_cli("methods starfm --json");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  auto j = nlohmann::json::parse(json.output);
  EXPECT_EQ(j["method"], "starfm");
  j["options"]["window"] = 5;
  j["options"]["classes"] = 7;
  std::ofstream(f.dir / "starfm.json") << j.dump();
  const Raster from_file = predict("c.tif", " --options " + (f.dir / "starfm.json").string() + " --classes 2");
  const Raster defaults = predict("d.tif", "");
  ASSERT_EQ(plain.width(), spelled.width());
  double diff_spelled = 0, diff_file = 0, diff_default = 0;
  for (int y = 0; y < plain.height(); ++y)
    for (int x = 0; x < plain.width(); ++x) {
      diff_spelled = std::max(diff_spelled, std::abs(double(plain.at(y, x)) - spelled.at(y, x)));
      diff_file = std::max(diff_file, std::abs(double(plain.at(y, x)) - from_file.at(y, x)));
      diff_default = std::max(diff_default, std::abs(double(plain.at(y, x)) - defaults.at(y, x)));
    }
  EXPECT_EQ(diff_spelled, 0.0);
  EXPECT_EQ(diff_file, 0.0);
  EXPECT_GT(diff_default, 0.0);  // the options did change something
  // In that form an option beside "options" was dropped, and another method's file configured
  // this one: both refused, naming the file.
  auto refused = [&](const nlohmann::json& file, const std::string& words) {
    std::ofstream(f.dir / "bad.json") << file.dump();
    const std::string out = (f.dir / "bad.tif").string();
    const auto r = test::run_cli(f.args("starfm") + " -o " + out + " --options " + (f.dir / "bad.json").string());
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find((f.dir / "bad.json").string() + ": " + words), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
  };
  refused({{"options", {{"window", 5}}}, {"window", 9}}, "\"window\" stands beside \"options\"");
  refused({{"method", "estarfm"}, {"options", {{"classes", 4}}}}, "holds options of estarfm (its \"method\"), but --method is starfm");
  refused({{"method", 5}, {"window", 5}}, "\"method\" must be a method's name");
  // The plain form may name its method too: it is not taken for an option.
  std::ofstream(f.dir / "plain.json") << nlohmann::json{{"method", "starfm"}, {"window", 5}, {"classes", 2}}.dump();
  const Raster named = predict("e.tif", " --options " + (f.dir / "plain.json").string());
  double diff_named = 0;
  for (int y = 0; y < plain.height(); ++y)
    for (int x = 0; x < plain.width(); ++x) diff_named = std::max(diff_named, std::abs(double(plain.at(y, x)) - named.at(y, x)));
  EXPECT_EQ(diff_named, 0.0);
  // A key given twice kept its last value without a word; now refused, at any depth.
  for (const std::string text : {R"({"window": 5, "classes": 2, "window": 9})",
                                 R"({"method": "starfm", "options": {"window": 5, "window": 9}})"}) {
    std::ofstream(f.dir / "twice.json") << text;
    const std::string out = (f.dir / "twice.tif").string();
    const auto r = test::run_cli(f.args("starfm") + " -o " + out + " --options " + (f.dir / "twice.json").string());
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find((f.dir / "twice.json").string() + ": \"window\" is given twice in one object"),
              std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
  }
  // So on the command line: one spelling twice, or both spellings, kept the last value given.
  for (const auto& [extra, words] : std::vector<std::pair<std::string, std::string>>{
           {" --starfm.window 5 --starfm.window 7", "--starfm.window: At Most 1 required but received 2"},
           {" --window 5 --window 7", "--window: At Most 1 required but received 2"},
           {" --window 7 --starfm.window 5", "--window and --starfm.window both set option window of starfm: give it once"}}) {
    const std::string out = (f.dir / "twice.tif").string();
    const auto r = test::run_cli(f.args("starfm") + " -o " + out + extra);
    EXPECT_NE(r.exit_code, 0) << extra << "\n" << r.output;
    EXPECT_NE(r.output.find(words), std::string::npos) << extra << "\n" << r.output;
    EXPECT_FALSE(fs::exists(out));
  }
}

TEST(OptionsCli, CreationOptionsReachTheFile) {
  Files f;
  for (const std::string format : {"GTiff", "COG"}) {
    SCOPED_TRACE(format);
    const std::string lzw = (f.dir / ("lzw_" + format + ".tif")).string();
    const std::string plain = (f.dir / ("plain_" + format + ".tif")).string();
    auto r = test::run_cli(f.args("estarfm") + " --of " + format + " --co COMPRESS=LZW -o " + lzw);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = test::run_cli(f.args("estarfm") + " --of " + format + " -o " + plain);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(metadata_item(lzw, "COMPRESSION", "IMAGE_STRUCTURE"), "LZW");
    EXPECT_EQ(metadata_item(plain, "COMPRESSION", "IMAGE_STRUCTURE"), "DEFLATE");
    // The quality layer is written with the same options.
    EXPECT_EQ(metadata_item((f.dir / ("lzw_" + format + "_quality.tif")).string(), "COMPRESSION", "IMAGE_STRUCTURE"),
              "LZW");
    EXPECT_EQ(metadata_item(lzw, "LAYOUT", "IMAGE_STRUCTURE"), format == "COG" ? "COG" : "");
    // Same pixels whatever the compression.
    EXPECT_EQ(io::read_raster(lzw).at(7, 9), io::read_raster(plain).at(7, 9));
  }
  // ingest: --co takes one value, the inputs after it stay inputs; every catalog raster has it.
  const std::string cat = (f.dir / "cat").string();
  auto ing = test::run_cli("ingest --co COMPRESS=LZW " + f.l1 + " " + f.m1 + " --fine " + f.l1 + " --coarse " + f.m1 +
                           " --of COG -o " + cat);
  ASSERT_EQ(ing.exit_code, 0) << ing.output;
  int rasters = 0;
  for (const auto& e : fs::directory_iterator(cat)) {
    if (e.path().extension() != ".tif") continue;
    EXPECT_EQ(metadata_item(e.path().string(), "COMPRESSION", "IMAGE_STRUCTURE"), "LZW") << e.path();
    EXPECT_EQ(metadata_item(e.path().string(), "LAYOUT", "IMAGE_STRUCTURE"), "COG") << e.path();
    ++rasters;
  }
  EXPECT_EQ(rasters, 2);
  // simulate: every raster of the simulation in the format and with the options asked for.
  const fs::path sim = f.dir / "sim";
  auto sr = test::run_cli("simulate -q --size 48 --days 60 --of COG --co COMPRESS=LZW -o " + sim.string());
  ASSERT_EQ(sr.exit_code, 0) << sr.output;
  int sim_rasters = 0;
  for (const auto& e : fs::recursive_directory_iterator(sim)) {
    if (e.path().extension() != ".tif" && e.path().extension() != ".TIF") continue;
    EXPECT_EQ(metadata_item(e.path().string(), "COMPRESSION", "IMAGE_STRUCTURE"), "LZW") << e.path();
    EXPECT_EQ(metadata_item(e.path().string(), "LAYOUT", "IMAGE_STRUCTURE"), "COG") << e.path();
    ++sim_rasters;
  }
  EXPECT_GT(sim_rasters, 60);
  // Several --co; a bad name, a bad value and a missing '=' are refused before any work.
  const std::string two = (f.dir / "two.tif").string();
  auto r = test::run_cli(f.args("estarfm") + " --co COMPRESS=ZSTD --co ZSTD_LEVEL=3 -o " + two);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(metadata_item(two, "COMPRESSION", "IMAGE_STRUCTURE"), "ZSTD");
  for (const auto& [co, words] : std::vector<std::pair<std::string, std::string>>{
           {"NO_SUCH_OPTION=1", "--co NO_SUCH_OPTION=1"}, {"COMPRESS=NOPE", "--co COMPRESS=NOPE"},
           {"COMPRESS", "--co COMPRESS: expected NAME=VALUE"}}) {
    const std::string out = (f.dir / "bad.tif").string();
    r = test::run_cli(f.args("estarfm") + " --co " + co + " -o " + out);
    EXPECT_EQ(r.exit_code, 1) << co << "\n" << r.output;
    EXPECT_NE(r.output.find(words), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
  }
}

TEST(OptionsCli, OldSpellingsStillWorkWithOneWarningLine) {
  Files f;
  std::ofstream(f.dir / "opts.json") << R"({"window": 5})";
  const std::string out = (f.dir / "old.tif").string();
  auto r = test::run_cli(f.args("starfm") + " --out " + out + " --format COG --config " +
                         (f.dir / "opts.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(metadata_item(out, "LAYOUT", "IMAGE_STRUCTURE"), "COG");
  for (const char* w : {"warning: --out is deprecated, use -o/--output",
                        "warning: --format is deprecated, use --of",
                        "warning: --config is deprecated, use --options"}) {
    EXPECT_EQ(count(r.output, w), 1) << w << "\n" << r.output;
  }
  // The same run in the new spellings: same pixels, no warning.
  const std::string now = (f.dir / "new.tif").string();
  r = test::run_cli(f.args("starfm") + " -o " + now + " --of COG --options " + (f.dir / "opts.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
  EXPECT_EQ(io::read_raster(now).at(3, 4), io::read_raster(out).at(3, 4));
  // The folder outputs' --out counts as -o/--output (the run then stops at the missing catalog).
  const std::string nocat = (f.dir / "nocat").string();
  for (const std::string cmd : {"fuse", "fill", "benchmark"}) {
    r = test::run_cli(cmd + " --catalog " + nocat + " --out " + (f.dir / cmd).string());
    EXPECT_EQ(r.exit_code, 1) << cmd << "\n" << r.output;
    EXPECT_EQ(count(r.output, "warning: --out is deprecated, use -o/--output"), 1) << r.output;
    EXPECT_NE(r.output.find("nocat"), std::string::npos) << r.output;
    r = test::run_cli(cmd + " --catalog " + nocat);
    EXPECT_NE(r.output.find("--output is required"), std::string::npos) << r.output;
  }
  // A wrong old spelling is still checked.
  r = test::run_cli(f.args("starfm") + " -o " + now + " --format PNG");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("PNG"), std::string::npos) << r.output;
}

TEST(OptionsCli, UsageErrorsExitWithTwoAndNameTheWord) {
  // CLI11 exits with its own codes (105, 106, 109, ...) and said "A subcommand is required" for
  // a misspelt command.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"simulat -o x", "lstfuse: error: unknown command 'simulat' (one of: "},
      {"--bogus", "lstfuse: error: unknown option '--bogus' before the command (one of: "},
      {"", "lstfuse: error: no command given (one of: "},
      {"simulate -o x --bogus", "--bogus"},
      {"predict --tile -1", "--tile"},
      {"simulate", "-o"},
      // The commands that take every method's flags refuse the rest themselves: they exited 1,
      // and predict without --method named the missing method before the misspelt flag.
      {"predict --catalog nocat -o p.tif --bogus", "predict: unknown option --bogus"},
      {"fuse --catalog nocat -o f --bogus", "fuse: unknown option --bogus"},
      {"benchmark --catalog nocat -o b --bogus 3", "benchmark: unknown option --bogus"},
      {"train --method sttfn --catalog nocat -o m.lstmodel --bogus", "train: unknown option --bogus"},
      {"fuse --catalog nocat -o f stray", "fuse: unexpected argument 'stray'"},
  };
  for (const auto& [args, text] : cases) {
    const auto r = test::run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
    EXPECT_NE(r.output.find(text), std::string::npos) << args << ": " << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
  EXPECT_NE(test::run_cli("simulat").output.find("simulate"), std::string::npos);
}

TEST(OptionsCli, DateListsAreParsedByOneFunctionThatNamesTheFlag) {
  test::TempDir tmp;
  const std::string nocat = (tmp / "nocat").string();
  auto r = test::run_cli("predict --method starfm --catalog " + nocat + " --date 2020-01-05 --pairs 2020-01-01,"
                         "2020-13-01 -o " + (tmp / "p.tif").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--pairs: bad date '2020-13-01'"), std::string::npos) << r.output;
  r = test::run_cli("train --method sttfn --series --catalog " + nocat + " --exclude 2020-01-01,x -o " +
                    (tmp / "m.pt").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--exclude: bad date 'x'"), std::string::npos) << r.output;
  // A single date too names its flag, before the catalog is read.
  for (const auto& [cmd, flag] : std::vector<std::pair<std::string, std::string>>{
           {"predict --method additive --catalog " + nocat + " --date 2024-02-30 -o " + (tmp / "p.tif").string(), "--date"},
           {"fill --catalog " + nocat + " --from 2024-02-30 -o " + (tmp / "f").string(), "--from"},
           {"fill --catalog " + nocat + " --to 20241 -o " + (tmp / "f").string(), "--to"},
           {"fuse --catalog " + nocat + " --to 2024-02-30 -o " + (tmp / "f").string(), "--to"},
           {"train --method sttfn --catalog " + nocat + " --date 2024-02-30 -o " + (tmp / "m.pt").string(), "--date"}}) {
    r = test::run_cli(cmd);
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_NE(r.output.find(flag + ": bad date"), std::string::npos) << cmd << ": " << r.output;
  }
  // A date twice, or a list naming none, is said rather than used twice or taken as no list.
  r = test::run_cli("predict --method starfm --catalog " + nocat + " --date 2020-01-05 --pairs 2020-01-01,2020-01-01"
                    " -o " + (tmp / "p.tif").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--pairs: 2020-01-01 is given twice"), std::string::npos) << r.output;
  r = test::run_cli("predict --method starfm --catalog " + nocat + " --date 2020-01-05 --pairs , -o " +
                    (tmp / "p.tif").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--pairs: ',' names no date"), std::string::npos) << r.output;
  // Flags that describe input files do nothing with --catalog, and --date/--pairs nothing with
  // files: said at once rather than ignored.
  for (const std::string extra : {" --units C", " --nodata -1", " --date0 2020-01-05"}) {
    r = test::run_cli("predict --method starfm --catalog " + nocat + " --date 2020-01-05 -o " +
                      (tmp / "p.tif").string() + extra);
    EXPECT_EQ(r.exit_code, 1) << extra;
    EXPECT_NE(r.output.find("applies to input files, not to --catalog"), std::string::npos) << r.output;
  }
  r = test::run_cli("predict --method bilinear --coarse0 " + (tmp / "M_20200111.tif").string() + " --date 2020-01-11 -o " +
                    (tmp / "p.tif").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--date and --pairs go with --catalog"), std::string::npos) << r.output;
  // The bias step measures the bias on a catalog's pairs: with files --coarse-bias did nothing.
  for (const std::string setting : {"on", "off"}) {
    r = test::run_cli("predict --method series --coarse0 " + (tmp / "M_20200111.tif").string() + " --coarse-bias " +
                      setting + " -o " + (tmp / "p.tif").string());
    EXPECT_EQ(r.exit_code, 1) << setting;
    EXPECT_NE(r.output.find("--coarse-bias goes with --catalog"), std::string::npos) << r.output;
  }
}

// `lstfuse methods NAME` says which options act when a trained model predicts.
TEST(OptionsCli, MethodsMarksTheOptionsThatActAtPrediction) {
  const auto out = test::run_cli("methods sttfn");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  auto line_of = [&](const std::string& flag) {
    std::istringstream in(out.output);
    std::string line;
    while (std::getline(in, line))
      if (line.find("  " + flag + " ") == 0) return line;
    return std::string();
  };
  for (const char* at : {"--weighting", "--stc-window", "--tc-window", "--fold-bn", "--tile", "--device"}) {
    const auto line = line_of(at);
    ASSERT_FALSE(line.empty()) << at;
    EXPECT_NE(line.find("(at prediction)"), std::string::npos) << line;
  }
  for (const char* fixed : {"--loss", "--huber-delta", "--epochs", "--frame"}) {
    const auto line = line_of(fixed);
    ASSERT_FALSE(line.empty()) << fixed;
    EXPECT_EQ(line.find("(at prediction)"), std::string::npos) << line;
  }
  // A classic method's options all act when it predicts: no mark.
  const auto starfm = test::run_cli("methods starfm");
  EXPECT_EQ(starfm.output.find("(at prediction)"), std::string::npos);
}

}  // namespace test_options_cli
