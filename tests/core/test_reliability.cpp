// Reliability rules of the core layer: option ranges and 64-bit parsing, output paths that are
// never inputs, catalog paths inside the catalog, one-line messages for library exceptions,
// dates that are not dates, CRS-only grid differences.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <new>
#include <tuple>

#include <nlohmann/json.hpp>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/cleanup.hpp"
#include "lstfuse/core/date.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/core/grid.hpp"
#include "lstfuse/core/options.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/core/threads.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(OptionRanges, IntegersThatDoNotFitAreRefusedNotWrapped) {
  int window = 31;
  OptionSet o("starfm");
  o.add("window", window, "");
  // 2^32 + 1 used to become 1 through a cast of the 64-bit value.
  EXPECT_NE(error_of([&] { o.set("window", "4294967297"); }).find("out of range"), std::string::npos);
  EXPECT_NE(error_of([&] { o.set("window", "99999999999999999999999"); }).find("out of range"), std::string::npos);
  EXPECT_NE(error_of([&] { o.set("window", "12abc"); }).find("expects an integer"), std::string::npos);
  EXPECT_EQ(window, 31);
  o.set("window", "-2147483648");
  EXPECT_EQ(window, -2147483648LL);
  // From an options file: 2^63 was read as a signed integer and named as -9223372036854775808.
  EXPECT_NE(error_of([&] { o.from_json(nlohmann::json::parse(R"({"window": 9223372036854775808})")); })
                .find("out of range: '9223372036854775808'"),
            std::string::npos);
  o.from_json(nlohmann::json::parse(R"({"window": 7})"));
  EXPECT_EQ(window, 7);
}

TEST(OptionRanges, LimitsAreCheckedWhenSetAndNameTheRange) {
  int epochs = 30;
  double lr = 1e-4, frac = 0.1;
  OptionSet o("sttfn");
  o.add("epochs", epochs, "");
  o.add("lr", lr, "");
  o.add("val-fraction", frac, "");
  o.limit("epochs", 1, 1000000);
  o.limit("lr", 0, 10, true);
  o.limit("val-fraction", 0, 0.9);
  EXPECT_EQ(error_of([&] { o.set("epochs", "0"); }), "sttfn: option --epochs must be between 1 and 1000000, got 0");
  EXPECT_NE(error_of([&] { o.set("epochs", "-1"); }), "");
  EXPECT_EQ(error_of([&] { o.set("lr", "0"); }), "sttfn: option --lr must be > 0 and <= 10, got 0");
  EXPECT_NE(error_of([&] { o.set("lr", "-1"); }), "");
  EXPECT_NE(error_of([&] { o.set("val-fraction", "2"); }), "");
  EXPECT_EQ(epochs, 30);
  EXPECT_EQ(lr, 1e-4);
  o.set("epochs", "1");
  o.set("val-fraction", "0");
  EXPECT_EQ(epochs, 1);
  // JSON config files go through the same check.
  EXPECT_THROW(o.from_json(nlohmann::json{{"epochs", 4294967297LL}}), Error);
  EXPECT_THROW(o.from_json(nlohmann::json{{"lr", -0.5}}), Error);
}

TEST(Threads, CappedToTheMachine) {
  const int hw = hardware_threads();
  EXPECT_GE(hw, 1);
  EXPECT_EQ(usable_threads(0), hw);
  EXPECT_EQ(usable_threads(100000), hw);
  EXPECT_EQ(usable_threads(1), 1);
}

TEST(OutputPaths, AnOutputIsNeverAnInputWhateverItsSpelling) {
  test::TempDir tmp;
  const fs::path a = tmp / "A.tif";
  std::ofstream(a) << "x";
  fs::create_directories(tmp / "sub");
  const std::string other_spelling = (tmp / "sub" / ".." / "A.tif").string();
  EXPECT_NE(error_of([&] { check_not_an_input(other_spelling, "-o", {"", a.string()}); }).find("names one of the inputs"),
            std::string::npos);
  fs::create_symlink(a, tmp / "link.tif");
  EXPECT_THROW(check_not_an_input((tmp / "link.tif").string(), "-o", {a.string()}), Error);
  EXPECT_NO_THROW(check_not_an_input((tmp / "B.tif").string(), "-o", {a.string()}));
}

TEST(OutputPaths, OnlyOurOwnFoldersAreReplacedOrReused) {
  test::TempDir tmp;
  const OutputFolderKind kind{"manifest.json", "lstfuse-catalog", "catalog"};
  // A user's folder: refused even with overwrite.
  fs::create_directories(tmp / "mine");
  std::ofstream(tmp / "mine" / "thesis.tex") << "x";
  EXPECT_NE(error_of([&] { check_output_folder(tmp / "mine", "-o", {}, kind, FolderUse::Replace, true); })
                .find("is not a catalog"),
            std::string::npos);
  // Only the build folder a killed run left (a shard killed while filling): named, with the way
  // on; a user's folder that happens to hold a hidden one of that shape beside a file is not.
  fs::create_directories(tmp / "killed" / ".filled-coarse.fill-4242");
  EXPECT_NE(error_of([&] { check_output_folder(tmp / "killed", "-o", {}, kind, FolderUse::Reuse, false); })
                .find("holds only .filled-coarse.fill-4242, the build folder of a run killed"),
            std::string::npos);
  std::ofstream(tmp / "killed" / "thesis.tex") << "x";
  EXPECT_NE(error_of([&] { check_output_folder(tmp / "killed", "-o", {}, kind, FolderUse::Reuse, false); })
                .find("is not a catalog"),
            std::string::npos);
  // A previous output of the same kind: only with overwrite.
  fs::create_directories(tmp / "cat");
  std::ofstream(tmp / "cat" / "manifest.json") << R"({"format":"lstfuse-catalog"})";
  EXPECT_THROW(check_output_folder(tmp / "cat", "-o", {}, kind, FolderUse::Replace, false), Error);
  EXPECT_NO_THROW(check_output_folder(tmp / "cat", "-o", {}, kind, FolderUse::Replace, true));
  EXPECT_NO_THROW(check_output_folder(tmp / "cat", "-o", {}, kind, FolderUse::Reuse, false));
  // A folder holding an input, or the current folder: never.
  EXPECT_NE(error_of([&] {
              check_output_folder(tmp / "cat", "-o", {(tmp / "cat" / "x.tif").string()}, kind, FolderUse::Replace, true);
            }).find("holds the input"),
            std::string::npos);
  const fs::path cwd = fs::current_path();
  fs::current_path(tmp / "cat");
  const std::string here = error_of([&] { check_output_folder(".", "-o", {}, kind, FolderUse::Replace, true); });
  const std::string parent = error_of([&] { check_output_folder("..", "-o", {}, kind, FolderUse::Replace, true); });
  fs::current_path(cwd);
  EXPECT_NE(here.find("current folder"), std::string::npos) << here;
  EXPECT_NE(parent.find("current folder"), std::string::npos) << parent;
  // New and empty folders are fine; a file is not a folder.
  EXPECT_NO_THROW(check_output_folder(tmp / "new" / "deeper", "-o", {}, kind, FolderUse::Replace, false));
  std::ofstream(tmp / "file") << "x";
  EXPECT_THROW(check_output_folder(tmp / "file", "-o", {}, kind, FolderUse::Replace, true), Error);
  EXPECT_EQ(strip_trailing_separators("yanco//").string(), "yanco");
  EXPECT_EQ(strip_trailing_separators("/").string(), "/");
}

TEST(OutputPaths, ASingleFileIsReplacedOnlyWhenLstfuseMadeIt) {
  test::TempDir tmp;
  // The mark of this test's "lstfuse files": the text "ours".
  const OutputFileKind kind{"test file", [](const fs::path& p) {
                              std::ifstream in(p);
                              std::string s;
                              return std::getline(in, s) && s == "ours";
                            }};
  std::ofstream(tmp / "ours.tif") << "ours";
  std::ofstream(tmp / "theirs.tif") << "theirs";
  EXPECT_NO_THROW(check_output_file(tmp / "ours.tif", "-o", {}, kind));
  EXPECT_NO_THROW(check_output_file(tmp / "new.tif", "-o", {}, kind));
  EXPECT_NE(error_of([&] { check_output_file(tmp / "theirs.tif", "-o", {}, kind); }).find("exists and is not a test file"),
            std::string::npos);
  // An input, even one lstfuse made; a folder.
  EXPECT_NE(error_of([&] { check_output_file(tmp / "ours.tif", "-o", {(tmp / "ours.tif").string()}, kind); })
                .find("names one of the inputs"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_output_file(tmp.path(), "-o", {}, kind); }).find("must name a file"), std::string::npos);
  // A symbolic link, to one of our files or to nowhere: writing would replace the link itself.
  fs::create_symlink(tmp / "ours.tif", tmp / "link_ours.tif");
  fs::create_symlink(tmp / "nowhere.tif", tmp / "dangling.tif");
  for (const char* link : {"link_ours.tif", "dangling.tif"})
    EXPECT_NE(error_of([&] { check_output_file(tmp / link, "-o", {}, kind); }).find("-o is a symbolic link"),
              std::string::npos)
        << link;
  // Inside a catalog, a simulation, a fuse or a benchmark folder, at any depth: never, even a
  // new name or a file lstfuse made.
  const std::vector<std::pair<std::string, std::string>> folders{{"manifest.json", "lstfuse-catalog"},
                                                                 {"simulation.json", "lstfuse-simulation"},
                                                                 {"index.json", "lstfuse-fuse-index"},
                                                                 {"results.json", "lstfuse-benchmark"}};
  for (const auto& [marker, format] : folders) {
    const fs::path d = tmp / format;
    fs::create_directories(d / "sub");
    std::ofstream(d / marker) << nlohmann::json{{"format", format}}.dump();
    std::ofstream(d / "sub" / "x.tif") << "ours";
    for (const fs::path& p : {d / "new.tif", d / "sub" / "x.tif"}) {
      const std::string e = error_of([&] { check_output_file(p, "--quality", {}, kind); });
      EXPECT_NE(e.find("--quality lies inside"), std::string::npos) << p << ": " << e;
      EXPECT_NE(e.find(marker), std::string::npos) << e;
    }
    // And no output folder inside one either (fuse -o CATALOG/fused).
    EXPECT_NE(error_of([&] {
                check_output_folder(d / "fused", "-o", {}, fuse_kind(), FolderUse::Reuse, false);
              }).find("lies inside"),
              std::string::npos);
  }
  // A marker with another format is not a folder of that kind.
  fs::create_directories(tmp / "plain");
  std::ofstream(tmp / "plain" / "manifest.json") << R"({"format":"something else"})";
  EXPECT_NO_THROW(check_output_file(tmp / "plain" / "x.tif", "-o", {}, kind));
  EXPECT_FALSE(enclosing_output_folder(tmp / "plain" / "x.tif").has_value());
  ASSERT_TRUE(enclosing_output_folder(tmp / "lstfuse-catalog" / "sub" / "x.tif").has_value());
  EXPECT_TRUE(same_path(enclosing_output_folder(tmp / "lstfuse-catalog" / "sub" / "x.tif")->dir, tmp / "lstfuse-catalog"));
}

TEST(OutputPaths, ModelFilesAreKnownByTheirFormatRecord) {
  test::TempDir tmp;
  // A zip archive (what torch writes, records stored uncompressed) with the meta record.
  std::ofstream(tmp / "model.pt", std::ios::binary)
      << std::string("PK\x03\x04", 4) << "....archive/data.pkl...{\"bands\":1,\"format\":\"lstfuse-deep-model\",\"method\":\"stfnet\"}";
  std::ofstream(tmp / "other.zip", std::ios::binary) << std::string("PK\x03\x04", 4) << "{\"format\":\"something\"}";
  std::ofstream(tmp / "text.pt") << "{\"format\":\"lstfuse-deep-model\"}";  // not an archive
  EXPECT_TRUE(is_lstfuse_model_file(tmp / "model.pt"));
  EXPECT_FALSE(is_lstfuse_model_file(tmp / "other.zip"));
  EXPECT_FALSE(is_lstfuse_model_file(tmp / "text.pt"));
  EXPECT_FALSE(is_lstfuse_model_file(tmp / "missing.pt"));
}

TEST(OutputPaths, ACatalogsOwnFilesAreToldApartFromTheUsers) {
  test::TempDir tmp;
  const fs::path cat = tmp / "cat";
  fs::create_directories(cat / "sub");
  nlohmann::json j = {{"format", "lstfuse-catalog"},
                      {"observations", {{{"path", "a.tif"}, {"quality_path", "a_qc.tif"}}, {{"path", "sub/b.tif"}}}},
                      {"landcover", {{"path", "landcover.tif"}}}};
  std::ofstream(cat / "manifest.json") << j.dump();
  for (const char* f : {"a.tif", "a_qc.tif", "sub/b.tif", "landcover.tif", "a.tif.aux.xml"}) std::ofstream(cat / f) << "x";
  const auto own = catalog_own_files(cat);
  EXPECT_EQ(own, (std::vector<std::string>{"manifest.json", "a.tif", "a_qc.tif", "sub/b.tif", "landcover.tif"}));
  EXPECT_FALSE(foreign_entry(cat, own).has_value());
  // The user's file, folder (with its contents) and link are each foreign.
  std::ofstream(cat / "sub" / "NOTES.txt") << "x";
  ASSERT_TRUE(foreign_entry(cat, own).has_value());
  EXPECT_EQ(foreign_entry(cat, own)->string(), "sub/NOTES.txt");
  fs::create_directories(cat / "fused" / "deeper");
  EXPECT_EQ(foreign_entry(cat, own)->string(), "fused");
  fs::remove_all(cat / "fused");
  fs::remove(cat / "sub" / "NOTES.txt");
  fs::create_directory_symlink(tmp.path(), cat / "a_link");
  EXPECT_EQ(foreign_entry(cat, own)->string(), "a_link");
  fs::remove(cat / "a_link");
  // GDAL's sidecar is a raster's: one beside the manifest is the user's.
  std::ofstream(cat / "manifest.json.aux.xml") << "x";
  EXPECT_EQ(foreign_entry(cat, own)->string(), "manifest.json.aux.xml");
  fs::remove(cat / "manifest.json.aux.xml");
  // A hand-edited manifest naming its file by an absolute path (this looped forever) or by a
  // path leading out owns nothing: the file it meant counts as foreign.
  for (const std::string& listed : {(cat / "a.tif").string(), std::string("../cat/a.tif")}) {
    auto edited = own;
    edited[1] = listed;
    ASSERT_TRUE(foreign_entry(cat, edited).has_value()) << listed;
    EXPECT_EQ(foreign_entry(cat, edited)->string(), "a.tif") << listed;
  }
}

TEST(CatalogManifest, PathsMustStayInsideTheCatalog) {
  test::TempDir tmp;
  auto write = [&](const std::string& path, int width) {
    nlohmann::json j = {{"format", "lstfuse-catalog"},
                        {"grid", {{"width", width}, {"height", 4}, {"transform", {0, 30, 0, 0, 0, -30}}, {"crs", ""}}},
                        {"observations", {{{"date", "2020-01-01"}, {"role", "fine"}, {"path", path}}}}};
    std::ofstream(tmp / "manifest.json") << j.dump();
  };
  for (const std::string bad : {"/etc/shadow", "../../etc/passwd", "sub/../../x.tif"}) {
    write(bad, 4);
    const std::string msg = error_of([&] { Catalog::load(tmp.path()); });
    EXPECT_NE(msg.find("manifest.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not a file inside the catalog folder"), std::string::npos) << msg;
  }
  write("sub/x.tif", -4);
  EXPECT_NE(error_of([&] { Catalog::load(tmp.path()); }).find("-4 x 4"), std::string::npos);
  write("sub/x.tif", 4);
  EXPECT_NO_THROW(Catalog::load(tmp.path()));
  // A share of valid pixels outside 0..1 (a hand-edited manifest) was listed and chose pairs.
  for (const double bad : {-5.0, 1e308, 1.5}) {
    nlohmann::json j = nlohmann::json::parse(std::ifstream(tmp / "manifest.json"));
    j["observations"][0]["valid_fraction"] = bad;
    std::ofstream(tmp / "manifest.json") << j.dump();
    const std::string msg = error_of([&] { Catalog::load(tmp.path()); });
    EXPECT_NE(msg.find("the fine image of 2020-01-01 has valid_fraction"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not a share between 0 and 1"), std::string::npos) << msg;
  }
}

TEST(CatalogManifest, AnotherFolderOfLstfusesIsNamedForWhatItIs) {
  // A fuse, simulation, benchmark or demo folder given where a catalog goes said only "cannot
  // open the catalog manifest".
  test::TempDir tmp;
  const std::vector<std::tuple<std::string, std::string, std::string>> kinds{
      {"index.json", "lstfuse-fuse-index", "is a folder made by 'lstfuse fuse', not a catalog: give the catalog it was fused from"},
      {"simulation.json", "lstfuse-simulation", "is a simulation made by 'lstfuse simulate', not a catalog: ingest it first"},
      {"results.json", "lstfuse-benchmark", "is a folder made by 'lstfuse benchmark', not a catalog"},
      {"demo.json", "lstfuse-demo", "is a folder made by 'lstfuse demo', not a catalog: its catalog is its folder 'catalog'"}};
  for (const auto& [marker, format, says] : kinds) {
    const fs::path dir = tmp / format;
    fs::create_directories(dir);
    std::ofstream(dir / marker) << nlohmann::json{{"format", format}}.dump();
    const std::string msg = error_of([&] { Catalog::load(dir); });
    EXPECT_NE(msg.find(dir.string() + ": " + says), std::string::npos) << msg;
  }
  fs::create_directories(tmp / "plain");
  EXPECT_NE(error_of([&] { Catalog::load(tmp / "plain"); }).find("cannot open the catalog manifest"), std::string::npos);
}

TEST(Messages, LibraryExceptionsBecomeOneLine) {
  EXPECT_EQ(user_message(std::bad_alloc()).find("out of memory"), 0u);
  const std::filesystem::filesystem_error fe("cannot rename", "/a/b", "/c", std::make_error_code(std::errc::is_a_directory));
  const std::string m = user_message(fe);
  EXPECT_EQ(m.find("/a/b: "), 0u) << m;
  EXPECT_EQ(m.find("filesystem error"), std::string::npos) << m;
  try {
    const auto j = nlohmann::json::parse("{\"a\": ");
    ADD_FAILURE() << "parsed " << j.dump();
  } catch (const nlohmann::json::exception& e) {
    const std::string msg = user_message(e);
    EXPECT_EQ(msg.find("[json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
  }
  const Error wrapped("cat/manifest.json: malformed catalog manifest: [json.exception.out_of_range.403] key 'grid' not found");
  EXPECT_EQ(user_message(wrapped), "cat/manifest.json: malformed catalog manifest: missing field 'grid'");
  const std::runtime_error torch_like("Expected a positive learning rate\nException raised from step at x.cpp:12\nframe #0");
  EXPECT_EQ(user_message(torch_like), "Expected a positive learning rate");
}

TEST(Messages, AnImpossibleDateInAFileNameIsNamed) {
  EXPECT_FALSE(Date::from_filename("MOD11A1_LST_20160230.tif"));
  EXPECT_EQ(Date::filename_date_problem("MOD11A1_LST_20160230.tif"),
            "the file name holds 20160230, which is not a valid date (YYYYMMDD)");
  EXPECT_EQ(Date::filename_date_problem("scene.tif"), "no date in the file name");
}

TEST(Messages, ACrsOnlyDifferenceIsVisible) {
  Grid a;
  a.width = a.height = 4;
  a.crs = R"(PROJCS["WGS 84 / UTM zone 55S",GEOGCS["WGS 84"]])";
  Grid b = a;
  b.crs = R"(PROJCS["GDA94 / MGA zone 55",GEOGCS["GDA94"]])";
  const std::string s = a.describe_vs(b);
  EXPECT_NE(s.find("WGS 84 / UTM zone 55S"), std::string::npos) << s;
  EXPECT_NE(s.find("GDA94 / MGA zone 55"), std::string::npos) << s;
}

TEST(Temporaries, WriteBytesLeavesNoPartFileOnFailure) {
  test::TempDir tmp;
  // A folder where the file should be: the rename fails, the .part goes.
  fs::create_directories(tmp / "model.pt");
  std::ofstream(tmp / "model.pt" / "x") << "x";
  const std::string msg = error_of([&] { write_bytes_atomic(tmp / "model.pt", "abc"); });
  EXPECT_NE(msg.find("model.pt"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(temporary_name((tmp / "model.pt").string())));
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".part"), std::string::npos) << e.path();
  write_bytes_atomic(tmp / "ok.pt", "abc");
  std::ifstream in(tmp / "ok.pt");
  std::string got;
  in >> got;
  EXPECT_EQ(got, "abc");
}

TEST(Temporaries, RegisteredPathsAreRemovedOnRequest) {
  test::TempDir tmp;
  fs::create_directories(tmp / ".cat.ingest-1" / "x");
  register_temporary(tmp / ".cat.ingest-1");
  remove_registered_temporaries();
  unregister_temporary(tmp / ".cat.ingest-1");
  EXPECT_FALSE(fs::exists(tmp / ".cat.ingest-1"));
}

TEST(Temporaries, AFolderIsSweptOfAKilledRunsTemporaries) {
  // A resumed fuse run does not write a finished date again, so it sweeps its folder: every
  // NAME.part-HOST-PID... file of a gone process of this machine goes; live processes', other
  // machines', files without the pattern and subfolders stay.
  test::TempDir tmp;
  const std::string mine = temporary_name((tmp / "a.tif").string(), ".cog.tif");
  const std::string host_and_pid = mine.substr((tmp / "a.tif").string().size() + 6);
  const std::string host = host_and_pid.substr(0, host_and_pid.rfind('-'));
  const fs::path dead1 = tmp / ("b_quality.tif.part-" + host + "-999999999.tif");
  const fs::path dead2 = tmp / ("b_quality.tif.part-" + host + "-999999999.cog.tif");
  const fs::path other = tmp / "b.tif.part-elsewhere-999999999.tif";
  const fs::path plain = tmp / "b.tif";
  const fs::path sub = tmp / ("sub.part-" + host + "-999999999");
  for (const fs::path& f : {fs::path(mine), dead1, dead2, other, plain}) std::ofstream(f) << "x";
  fs::create_directories(sub);
  remove_stale_temporaries_in(tmp.path());
  EXPECT_TRUE(fs::exists(mine));
  EXPECT_FALSE(fs::exists(dead1));
  EXPECT_FALSE(fs::exists(dead2));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(plain));
  EXPECT_TRUE(fs::is_directory(sub));
  remove_stale_temporaries_in(tmp / "missing");  // no folder: nothing to do, no error
}

TEST(Temporaries, AKilledProcessNotYetReapedCountsAsGone) {
  // A process killed with SIGKILL stays a zombie until its parent reaps it (seconds where PID 1
  // reaps slowly); kill(pid, 0) still finds it, so its run's build folder was kept and the next
  // run refused as "killed before it finished" until the zombie went.
  test::TempDir tmp;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  // The child has ended and is not reaped: /proc says Z.
  for (int i = 0; i < 200; ++i) {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string line;
    std::getline(stat, line);
    if (line.rfind(')') != std::string::npos && line[line.rfind(')') + 2] == 'Z') break;
    ::usleep(10000);
  }
  const fs::path zombie = tmp / (".out.fill-" + std::to_string(child));
  const fs::path mine = tmp / (".out.fill-" + std::to_string(::getpid()));
  fs::create_directories(zombie);
  fs::create_directories(mine);
  remove_stale_build_folders(tmp / "out", "fill");
  EXPECT_FALSE(fs::exists(zombie));
  EXPECT_TRUE(fs::exists(mine));
  ::waitpid(child, nullptr, 0);
}

TEST(Temporaries, AKilledRunsTemporaryIsRemovedByTheNextWrite) {
  // A run killed with SIGKILL leaves its OUT.part-HOST-PID file; the next write of OUT removes
  // it once that process is gone, and leaves alone those of live processes and of other machines.
  test::TempDir tmp;
  const std::string out = (tmp / "x.tif").string();
  const std::string mine = temporary_name(out, ".tif");  // this process: alive
  const std::string host_and_pid = mine.substr(out.size() + 6);  // after ".part-"
  const std::string host = host_and_pid.substr(0, host_and_pid.rfind('-'));
  const std::string dead = out + ".part-" + host + "-999999999.tif";  // beyond any pid_max
  const std::string other = out + ".part-elsewhere-999999999.tif";
  for (const auto& f : {mine, dead, other}) std::ofstream(f) << "half";
  remove_stale_temporaries(out);
  EXPECT_TRUE(fs::exists(mine));
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(other));
  std::ofstream(dead) << "half";
  write_text_atomic(out, "done");
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(mine));
}
