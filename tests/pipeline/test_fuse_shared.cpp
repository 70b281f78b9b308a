// `fuse` shared between processes: `mpirun -n 2` and `--shard 1/2 + 2/2 + --assemble` write the
// same files as one process, a killed rank or shard loses only its unfinished dates, and a bad
// date is recorded while the others finish. Two tiny simulated scenes, through the CLI.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/band_names.hpp"
#include "lstfuse/pipeline/fuse_tiles.hpp"
#include "lstfuse/pipeline/fuse_work.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_fuse_shared {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Two scenes (64 x 64, 72 days, five clear pairs each), made once.
struct Scenes {
  fs::path north, south;
};
const Scenes& scenes() {
  static const test::TempDir dir;
  static const Scenes s = [] {
    Scenes out;
    for (const auto& [name, seed] : {std::pair<std::string, int>{"north", 5}, {"south", 6}}) {
      const auto sim = dir.path() / ("sim_" + name);
      const auto r1 = test::run_cli("simulate -o " + q(sim) + " --size 64 --days 72 --seed " + std::to_string(seed) +
                                    " --cloud-cover 0 --modis-cloud-cover 0.3");
      if (r1.exit_code != 0) throw std::runtime_error(r1.output);
      const auto cat = dir.path() / name;
      const auto r2 = test::run_cli("ingest " + q(sim) + " -o " + q(cat));
      if (r2.exit_code != 0) throw std::runtime_error(r2.output);
      (name == "north" ? out.north : out.south) = cat;
    }
    return out;
  }();
  return s;
}

#ifdef LSTFUSE_MPIEXEC
// Open MPI refuses root unless told (CI containers run as root); more ranks than cores are fine.
const std::string kMpirun = std::string("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 ") +
                            LSTFUSE_MPIEXEC + " --oversubscribe -n 2 \"$L\"";
#endif

// Every raster and cube under `a` (outputs, quality layers, filled coarse images), by path.
std::map<std::string, std::string> output_files(const fs::path& a) {
  std::map<std::string, std::string> out;
  for (const auto& f : fs::recursive_directory_iterator(a)) {
    const auto ext = f.path().extension();
    if (ext == ".tif" || ext == ".nc") out[fs::relative(f.path(), a).string()] = slurp(f.path());
  }
  return out;
}

// The index without what depends on the machine's speed.
nlohmann::json index_without_times(const fs::path& dir) {
  auto j = nlohmann::json::parse(slurp(dir / "index.json"));
  for (auto& e : j["entries"]) e.erase("seconds");
  return j;
}

void expect_same_outputs(const fs::path& a, const fs::path& b, bool compare_index = true) {
  const auto fa = output_files(a), fb = output_files(b);
  ASSERT_FALSE(fa.empty()) << a;
  ASSERT_EQ(fa.size(), fb.size()) << a << " vs " << b;
  for (const auto& [name, bytes] : fa) {
    const auto it = fb.find(name);
    ASSERT_NE(it, fb.end()) << name << " missing in " << b;
    EXPECT_TRUE(it->second == bytes) << name << " differs between " << a << " and " << b;
  }
  if (compare_index) {
    auto ja = index_without_times(a), jb = index_without_times(b);
    ASSERT_EQ(ja["entries"].size(), jb["entries"].size()) << a << " vs " << b;
    for (size_t i = 0; i < ja["entries"].size(); ++i) {
      // One line per differing entry (a whole index would bury the message).
      EXPECT_TRUE(ja["entries"][i] == jb["entries"][i]) << "index entry " << ja["entries"][i]["date"] << " differs: "
                                                        << a << " vs " << b;
    }
    EXPECT_EQ(ja["run"], jb["run"]);
  }
}

int count_records(const fs::path& dir, const char* status = nullptr) {
  int n = 0;
  if (!fs::exists(dir / pipeline::kItemsFolder)) return 0;
  for (const auto& f : fs::directory_iterator(dir / pipeline::kItemsFolder)) {
    if (f.path().extension() != ".json") continue;
    if (!status || nlohmann::json::parse(slurp(f.path())).value("status", "") == status) ++n;
  }
  return n;
}

// The run learned the uncertainty and wrote it as the last band of every quality layer.
void has_uncertainty_band(const fs::path& dir) {
  ASSERT_TRUE(fs::exists(dir / "uncertainty_model.json")) << dir;
  int layers = 0;
  for (const auto& f : fs::directory_iterator(dir)) {
    const std::string name = f.path().filename().string();
    if (name.size() < 12 || name.compare(name.size() - 12, 12, "_quality.tif") != 0) continue;
    ++layers;
    const auto names = io::read_band_names(f.path().string());
    EXPECT_TRUE(!names.empty() && names.back() == "uncertainty") << f.path();
  }
  EXPECT_GT(layers, 5) << dir;
}

long long mtime_ns(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return -1;
  return static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
}

}  // namespace

TEST(FuseShared, ShardsTakeDisjointPartsCoveringTheList) {
  for (int n : {1, 2, 3, 7}) {
    for (int cat : {0, 1, 2}) {
      std::vector<int> owner(23, 0);
      for (int k = 1; k <= n; ++k) {
        auto w = pipeline::shard_work({k, n}, cat);
        w->begin(23);
        for (long i; (i = w->next()) >= 0;) {
          ASSERT_LT(i, 23);
          EXPECT_EQ(owner[i], 0) << "item " << i << " in two shards";
          owner[i] = k;
        }
      }
      for (int i = 0; i < 23; ++i) EXPECT_EQ(owner[i], (i + cat) % n + 1) << i;
    }
  }
  EXPECT_EQ(pipeline::Shard::parse("3/8").k, 3);
  EXPECT_EQ(pipeline::Shard::parse("3/8").n, 8);
  for (const char* bad : {"0/2", "3/2", "2", "a/b", "1/0", "1/2x", "-1/2"}) {
    try {
      pipeline::Shard::parse(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--shard"), std::string::npos) << e.what();
    }
  }
}

TEST(FuseShared, ThreadsPerProcessShareTheCoresWithoutOversubscribing) {
  // Open MPI binds 2 ranks on 2 cores to one core each.
  EXPECT_EQ(pipeline::default_process_threads(1, 2, 2), 1);
  // Unbound ranks divide the node: 4 ranks on 64 cores get 16 threads each.
  EXPECT_EQ(pipeline::default_process_threads(64, 64, 4), 16);
  // A Slurm task with 8 CPUs (cgroup) among 4 tasks on a 64-core node uses its 8.
  EXPECT_EQ(pipeline::default_process_threads(8, 64, 4), 8);
  // More ranks than cores: one thread each, never zero.
  EXPECT_EQ(pipeline::default_process_threads(2, 2, 5), 1);
  // A plain process uses what it may.
  EXPECT_EQ(pipeline::default_process_threads(6, 8, 0), 6);
}

// A classic method with the uncertainty band and the netCDF cube, and a deep one whose models are
// trained during the run: MPI and shards write the single process's files byte for byte.
// (STARFM, not ESTARFM: it predicts every pair date of these scenes leave-one-out, so the band is
// learned; ESTARFM's two-pair rule leaves fewer than the three dates the band needs.)
TEST(FuseShared, MpiAndShardsWriteTheSingleProcessFiles) {
  const Scenes& s = scenes();
  const std::string cats = " --catalog " + q(s.north) + " --catalog " + q(s.south);
  const std::vector<std::string> runs = {
      "--method starfm --of netCDF --rank-threads 1 --to 2024-02-20",
      "--method sttfn --no-uncertainty --to 2024-01-31 --rank-threads 1 --epochs 1 --patches-per-epoch 16 "
      "--patch 24 --stride 12 --threads 1"};
  for (const auto& run : runs) {
    SCOPED_TRACE(run);
    test::TempDir tmp;
    const std::string base = "\"$L\" fuse -q" + cats + " " + run + " -o ";
    auto r = test::run_shell(base + q(tmp / "single"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const char* c : {"north", "south"}) {
      ASSERT_TRUE(fs::exists(tmp / "single" / c / "index.json")) << c;
      if (run.find("starfm") != std::string::npos) has_uncertainty_band(tmp / "single" / c);
    }

    // Nothing to assemble before any shard; half of the dates after one shard: both refused.
    r = test::run_shell(base + q(tmp / "shard") + " --assemble");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("holds no fuse run yet"), std::string::npos) << r.output;
    r = test::run_shell(base + q(tmp / "shard") + " --shard 1/2");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = test::run_shell(base + q(tmp / "shard") + " --assemble");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("dates are not done yet"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "shard" / "north" / "lst_estarfm.nc"));
    r = test::run_shell(base + q(tmp / "shard") + " --shard 2/2");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("(shard 2/2)"), std::string::npos) << r.output;
    r = test::run_shell(base + q(tmp / "shard") + " --assemble");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const char* c : {"north", "south"}) expect_same_outputs(tmp / "single" / c, tmp / "shard" / c);

#ifdef LSTFUSE_MPIEXEC
    r = test::run_shell(kMpirun + " fuse -q" + cats + " " + run + " -o " + q(tmp / "mpi"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("(rank 1/2)"), std::string::npos) << r.output;
    for (const char* c : {"north", "south"}) expect_same_outputs(tmp / "single" / c, tmp / "mpi" / c);
#endif
  }
#ifndef LSTFUSE_MPIEXEC
  GTEST_SKIP() << "built without MPI: the shards were checked, the mpirun half needs libopenmpi-dev";
#endif
}

// `fuse --overwrite` with a narrower period, killed midway (SIGKILL, LSTFUSE_KILL_AT), then the
// same run without --overwrite: the earlier run's files of the dates outside the new period, and
// its netCDF cube, stayed under the usual names, unlisted (the killed run's index had replaced
// the list that said to remove them). The files to remove wait in the index until a run ends.
TEST(FuseShared, AKilledOverwriteLeavesTheEarlierRunsFilesToTheNextRun) {
  const Scenes& s = scenes();
  test::TempDir tmp;
  const std::string base = "\"$L\" fuse -q --catalog " + q(s.north) + " --method additive --no-uncertainty -o ";
  auto r = test::run_shell(base + q(tmp / "out") + " --of netCDF");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(tmp / "out" / "lst_additive.nc"));
  const auto all = nlohmann::json::parse(slurp(tmp / "out" / "index.json"))["entries"];
  ASSERT_GT(all.size(), 20u);
  const std::string period = " --from " + all[4]["date"].get<std::string>() + " --to " + all[12]["date"].get<std::string>();
  r = test::run_shell("LSTFUSE_KILL_AT=date-indexed:3 " + base + q(tmp / "out") + period + " --overwrite; echo rc=$?");
  ASSERT_EQ(r.output.find("rc=0"), std::string::npos) << "the run ended before the kill: " << r.output;
  r = test::run_shell(base + q(tmp / "out") + period);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_shell(base + q(tmp / "fresh") + period);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto names = [](const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& f : fs::directory_iterator(dir))
      if (f.path().extension() == ".tif" || f.path().extension() == ".nc") out.insert(f.path().filename().string());
    return out;
  };
  EXPECT_EQ(names(tmp / "out"), names(tmp / "fresh"));
  EXPECT_FALSE(nlohmann::json::parse(slurp(tmp / "out" / "index.json")).contains("pending_removal"));
}

// A shard takes the output folder (creating it) to lock it before the run's checks: a refused
// shard left empty folders behind, inside the catalog for an -o there; and an out-of-range
// series option was met only by the first prediction, so the shard recorded every date failed.
TEST(FuseShared, ARefusedShardLeavesNoFolder) {
  const Scenes& s = scenes();
  test::TempDir tmp;
  fs::copy(s.north, tmp / "cat", fs::copy_options::recursive);
  const std::string base = "\"$L\" fuse -q --catalog " + q(tmp / "cat") + " --no-uncertainty --shard 1/2 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--method additive -o " + q(tmp / "cat" / "a" / "b"), "-o lies inside"},
      {"--method additive --from 2030-01-01 -o " + q(tmp / "new" / "x"), "no coarse-only date"},
      {"--method series --series.denoise-radius 99999 -o " + q(tmp / "new"), "--denoise-radius must be within 0..50"},
  };
  for (const auto& [args, message] : cases) {
    const auto r = test::run_shell(base + args + " 2>&1");
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(tmp / "cat" / "a"));
  EXPECT_FALSE(fs::exists(tmp / "new"));
  // A link to nothing as -o, shard or not: "File exists", from the folder's creation.
  fs::create_symlink(tmp / "nowhere", tmp / "dangling");
  for (const std::string& command : {base, "\"$L\" fuse -q --catalog " + q(tmp / "cat") + " "}) {
    const auto r = test::run_shell(command + "--method additive -o " + q(tmp / "dangling") + " 2>&1");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("dangling: -o is a symbolic link to nothing"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "nowhere"));
  }
}

// SIGTERM while the first run of a new folder fills the coarse series (LSTFUSE_KILL_AT with
// TERM: the signal at that step): the cleanup removed the filled copy's build folder and left
// the output folder, empty, behind. A folder the run made and that holds nothing goes too; a
// folder the user made stays, as it was.
TEST(FuseShared, AnInterruptedFillOfANewFolderLeavesNoFolder) {
  const Scenes& s = scenes();
  test::TempDir tmp;
  const std::string run = "LSTFUSE_KILL_AT=day-filled:5:TERM \"$L\" fuse -q --catalog " + q(s.north) +
                          " --method additive --no-uncertainty --fill -o ";
  auto r = test::run_shell(run + q(tmp / "new") + " 2>&1; echo rc=$?");
  EXPECT_NE(r.output.find("interrupted"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rc=143"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "new"));
  fs::create_directory(tmp / "mine");
  r = test::run_shell(run + q(tmp / "mine") + " 2>&1; echo rc=$?");
  EXPECT_NE(r.output.find("rc=143"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_directory(tmp / "mine"));
  EXPECT_TRUE(fs::is_empty(tmp / "mine"));
}

// SIGKILL to one process in the middle of a run: the same command again does only the dates
// that were not finished, and the final files equal an uninterrupted run's.
TEST(FuseShared, AKilledRankOrShardLosesOnlyItsUnfinishedDates) {
  const Scenes& s = scenes();
  test::TempDir tmp;
  const std::string args = " fuse -q --catalog " + q(s.north) + " --method estarfm --no-uncertainty --half-window 12 -o ";
  auto r = test::run_shell("\"$L\"" + args + q(tmp / "single"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const int dates = static_cast<int>(nlohmann::json::parse(slurp(tmp / "single" / "index.json"))["entries"].size());
  ASSERT_GT(dates, 20);

  // Runs until a process has recorded its third finished date, where it kills itself with
  // SIGKILL (LSTFUSE_KILL_AT): the launched lstfuse itself, or one rank under mpirun.
  auto kill_midway = [&](const std::string& command, const fs::path&) {
    return test::run_shell("LSTFUSE_KILL_AT=item-recorded:3 " + command + " > " + q(tmp / "log") + " 2>&1; echo rc=$?");
  };
  std::vector<std::pair<std::string, std::string>> cases = {{"shard", "\"$L\""}};
#ifdef LSTFUSE_MPIEXEC
  cases.push_back({"mpi", kMpirun});
#endif
  for (const auto& [name, launcher] : cases) {
    SCOPED_TRACE(name);
    const fs::path out = tmp / name;
    const std::string shard = name == "shard" ? " --shard 1/1" : "";
    const std::string command = launcher + args + q(out) + shard;
    r = kill_midway(command, out);
    ASSERT_EQ(r.output.find("rc=0"), std::string::npos) << "the run ended before the kill: " << r.output;
    const int recorded = count_records(out), recorded_done = count_records(out, "done");
    ASSERT_GE(recorded, 3);
    ASSERT_LT(recorded, dates) << "every date finished before the kill";
    // Files of the dates recorded as finished before the re-run: never written again. (Others,
    // the kill's half-written .part.tif files and dates finished but not yet recorded, are
    // written again.)
    std::map<fs::path, long long> before;
    for (const auto& f : fs::directory_iterator(out)) {
      const std::string file = f.path().filename().string();
      if (f.path().extension() != ".tif" || file.find(".part") != std::string::npos) continue;
      const std::string date = file.substr(12, 8);  // lst_estarfm_YYYYMMDD...
      const std::string iso = date.substr(0, 4) + "-" + date.substr(4, 2) + "-" + date.substr(6, 2);
      if (fs::exists(out / "items" / (iso + ".json"))) before[f.path()] = mtime_ns(f.path());
    }
    ASSERT_FALSE(before.empty());
    EXPECT_FALSE(fs::exists(out / "index.json") &&
                 nlohmann::json::parse(slurp(out / "index.json"))["entries"].size() == static_cast<size_t>(dates));

    r = test::run_shell(command);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    if (name == "shard") {
      EXPECT_NE(r.output.find(std::to_string(recorded_done) + " already done"), std::string::npos) << r.output;
      r = test::run_shell("\"$L\"" + args + q(out) + " --assemble");
      ASSERT_EQ(r.exit_code, 0) << r.output;
    } else {
      EXPECT_NE(r.output.find(std::to_string(recorded_done) + " already done"), std::string::npos) << r.output;
    }
    for (const auto& [p, t] : before) EXPECT_EQ(mtime_ns(p), t) << p << " was written again";
    expect_same_outputs(tmp / "single", out, false);
  }
}

// A date whose coarse file is damaged fails with the file named in the index; the other dates
// of the run finish, on every rank.
TEST(FuseShared, ABadDateIsRecordedAndTheOthersFinish) {
  const Scenes& s = scenes();
  test::TempDir tmp;
  fs::copy(s.north, tmp / "cat", fs::copy_options::recursive);
  const auto idx = nlohmann::json::parse(slurp(s.north / "manifest.json"));
  // The first coarse-only date with clear pixels after the first pair: break its coarse file.
  std::string bad_date, bad_file;
  std::set<std::string> fine_dates;
  for (const auto& o : idx["observations"])
    if (o.value("role", "") == "fine") fine_dates.insert(o.value("date", ""));
  for (const auto& o : idx["observations"]) {
    if (o.value("role", "") == "coarse" && !fine_dates.count(o.value("date", "")) && o.value("date", "") > "2024-01-10" && o.value("valid_fraction", 0.0) > 0.5) {
      bad_date = o["date"];
      bad_file = o["path"];
      break;
    }
  }
  ASSERT_FALSE(bad_date.empty()) << idx.dump();
  {
    std::ofstream garbage(tmp / "cat" / bad_file, std::ios::binary | std::ios::trunc);
    garbage << "this is not a GeoTIFF";
  }
  const std::string args = " fuse -q --catalog " + q(tmp / "cat") + " --method starfm --no-uncertainty -o ";
  std::vector<std::pair<std::string, std::string>> runs = {{"single", "\"$L\""}};
#ifdef LSTFUSE_MPIEXEC
  runs.push_back({"mpi", kMpirun});
#endif
  for (const auto& [name, launcher] : runs) {
    SCOPED_TRACE(name);
    const auto r = test::run_shell(launcher + args + q(tmp / name));
    // The run goes on past the bad date, but its exit status says that the series has a hole.
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("1 failed"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("1 date failed, the others are written"), std::string::npos) << r.output;
    const auto j = nlohmann::json::parse(slurp(tmp / name / "index.json"));
    int done = 0;
    bool found = false;
    for (const auto& e : j["entries"]) {
      if (e["date"] == bad_date) {
        found = true;
        EXPECT_EQ(e["status"], "failed");
        EXPECT_NE(e["note"].get<std::string>().find(bad_file), std::string::npos) << e["note"];
        // It names no file: none was written.
        EXPECT_EQ(e.value("output", ""), "") << e.dump();
        EXPECT_EQ(e.value("quality", ""), "") << e.dump();
      } else {
        EXPECT_NE(e["status"], "failed") << e.dump();
        done += e["status"] == "done";
      }
    }
    EXPECT_TRUE(found);
    EXPECT_GT(done, 20);
  }
#ifdef LSTFUSE_MPIEXEC
  expect_same_outputs(tmp / "single", tmp / "mpi");
#endif
}

// Spatial tiles as items (--work-tile): the plain run, two shards plus --assemble and two MPI
// ranks write the whole-scene run's files byte for byte, for a classic method (with the
// uncertainty band and the cube, two catalogs) and a deep one, and leave no tile behind.
TEST(FuseShared, WorkTilesWriteTheWholeSceneFiles) {
  const Scenes& s = scenes();
  const std::vector<std::pair<std::string, std::string>> runs = {
      {" --catalog " + q(s.north) + " --catalog " + q(s.south), "--method starfm --of netCDF --rank-threads 1 --to 2024-02-05"},
      {" --catalog " + q(s.north),
       "--method sttfn --no-uncertainty --to 2024-01-31 --rank-threads 1 --epochs 1 --patches-per-epoch 16 "
       "--patch 24 --stride 12 --threads 1"}};
  for (const auto& [cats, run] : runs) {
    SCOPED_TRACE(run);
    test::TempDir tmp;
    const std::string base = "\"$L\" fuse -q" + cats + " " + run + " -o ";
    auto r = test::run_shell(base + q(tmp / "whole"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    if (run.find("starfm") != std::string::npos) has_uncertainty_band(tmp / "whole" / "north");
    // 64 x 64 in tiles of 40: 4 tiles a date, of 40 and 24 pixels a side.
    const std::string tiled = " --work-tile 40";
    r = test::run_shell(base + q(tmp / "plain") + tiled);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("tiles: "), std::string::npos) << r.output;
    r = test::run_shell(base + q(tmp / "shard") + tiled + " --shard 1/2");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = test::run_shell(base + q(tmp / "shard") + tiled + " --shard 2/2");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = test::run_shell(base + q(tmp / "shard") + tiled + " --assemble");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::vector<std::string> ways = {"plain", "shard"};
#ifdef LSTFUSE_MPIEXEC
    r = test::run_shell(kMpirun + " fuse -q" + cats + " " + run + tiled + " -o " + q(tmp / "mpi"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ways.push_back("mpi");
#endif
    const bool two = cats.find("south") != std::string::npos;
    for (const auto& way : ways) {
      SCOPED_TRACE(way);
      for (const char* c : {"north", "south"}) {
        if (!two && std::string(c) == "south") continue;
        const fs::path a = two ? tmp / "whole" / c : tmp / "whole", b = two ? tmp / way / c : tmp / way;
        expect_same_outputs(a, b);
        EXPECT_FALSE(fs::exists(b / pipeline::kTilesFolder)) << b;
      }
    }
  }
#ifndef LSTFUSE_MPIEXEC
  GTEST_SKIP() << "built without MPI: the plain and shard runs were checked, the mpirun half needs libopenmpi-dev";
#endif
}

// Under mpirun every rank reads the same command line: a refusal of it is said once, by the
// first rank, not once per rank.
TEST(FuseShared, AnMpiRunRefusesShardsInOneLine) {
#ifdef LSTFUSE_MPIEXEC
  const Scenes& s = scenes();
  test::TempDir tmp;
  for (const char* flag : {" --shard 1/2", " --assemble"}) {
    SCOPED_TRACE(flag);
    const auto r = test::run_shell(kMpirun + " fuse --catalog " + q(s.north) + " -o " + q(tmp / "out") + flag);
    EXPECT_NE(r.exit_code, 0) << r.output;
    const std::string line = "--shard and --assemble are for runs without mpirun";
    const auto first = r.output.find(line);
    ASSERT_NE(first, std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(line, first + 1), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "out"));
  }
#else
  GTEST_SKIP() << "built without MPI (libopenmpi-dev)";
#endif
}

// Under mpirun every rank met a bad option alike and printed it (three ranks, three lines, some
// run together); a run that predicted nothing left its new folder behind (index, records,
// uncertainty model), which a single process removes.
TEST(FuseShared, AnMpiRunSaysARefusalOnceAndLeavesNoFolderWhenNothingIsPredicted) {
#ifdef LSTFUSE_MPIEXEC
  const Scenes& s = scenes();
  test::TempDir tmp;
  for (const auto& [extra, line] : std::vector<std::pair<std::string, std::string>>{
           {" --catalog " + q(s.north) + " --method starfm --starfm.window 4",
            "option --window must be odd and between 3 and 1001, got 4"},
           {" --catalog " + q(s.north) + " --from 2024-13-45", "--from: bad date '2024-13-45'"},
           {" --catalog " + q(s.north) + " --of xyz", "--of: xyz not in"}}) {
    SCOPED_TRACE(extra);
    const auto r = test::run_shell(kMpirun + " fuse -o " + q(tmp / "out") + extra);
    EXPECT_NE(r.exit_code, 0) << r.output;
    const auto first = r.output.find(line);
    ASSERT_NE(first, std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(line, first + 1), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "out"));
  }
  // Files may differ between nodes: a catalog another rank cannot read is named with its rank.
  {
    const auto r = test::run_shell(kMpirun + " fuse -o " + q(tmp / "out") + " --catalog " + q(tmp / "nosuch"));
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("cannot open the catalog manifest"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("lstfuse: error: lstfuse: error:"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(tmp / "out"));
  }
  // A day whose coarse image has no valid pixel: nothing to predict, and no folder left.
  const Catalog cat = Catalog::load(s.north.string());
  std::string day;
  for (const Date& d : cat.coarse_only_dates())
    if (cat.find(d, Role::Coarse)->valid_fraction == 0) {
      day = d.iso();
      break;
    }
  ASSERT_FALSE(day.empty());
  const auto r = test::run_shell(kMpirun + " fuse --catalog " + q(s.north) + " --method starfm --from " + day +
                                 " --to " + day + " -o " + q(tmp / "none"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("no date could be predicted with starfm"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "none")) << r.output;
#else
  GTEST_SKIP() << "built without MPI (libopenmpi-dev)";
#endif
}

// Shards given different --work-tile store their tiles under the same names and take each
// other's for not done. The second one says so when it starts, --assemble names the cause
// instead of only "not done", and the shards run again with one tiling finish the run.
TEST(FuseShared, ShardsWithAnotherWorkTileAreNamedAsTheCause) {
  const Scenes& s = scenes();
  test::TempDir tmp;
  const std::string base = "\"$L\" fuse --catalog " + q(s.north) +
                           " --method starfm --no-uncertainty --to 2024-01-31 --rank-threads 1 -o " + q(tmp / "out");
  // 64 x 64 px: tiles of 32 (4 a date, each 32 x 32) against tiles of 48 (48 and 16 px a side).
  auto r = test::run_shell(base + " --work-tile 32 --shard 1/2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("another --work-tile"), std::string::npos) << r.output;
  r = test::run_shell(base + " --work-tile 48 --shard 2/2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("holds tiles of up to 32 x 32 px, cut with another --work-tile than this run's tiles of "
                          "48 x 48 px"),
            std::string::npos)
      << r.output;
  for (const std::string& assemble : {std::string(" --assemble"), std::string(" --assemble --work-tile 32")}) {
    SCOPED_TRACE(assemble);
    r = test::run_shell(base + assemble);
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("dates are not done yet"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("cut with another --work-tile than this run's " +
                            std::string(assemble.find("32") != std::string::npos ? "tiles of 32 x 32 px"
                                                                                 : "whole dates (no --work-tile)")),
              std::string::npos)
        << r.output;
  }
  for (const char* k : {"1/2", "2/2"}) {
    r = test::run_shell(base + " --work-tile 32 --shard " + k);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  r = test::run_shell(base + " --work-tile 32 --assemble");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("another --work-tile"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "out" / pipeline::kTilesFolder));
}

// SIGKILL in the middle of a tiled run: the same command again predicts only the tiles that were
// not stored (of the dates not finished), and the final files equal the whole-scene run's.
TEST(FuseShared, AKilledTiledRunRedoesOnlyItsMissingTiles) {
  const Scenes& s = scenes();
  test::TempDir tmp;
  const std::string args = " fuse --catalog " + q(s.north) + " --method estarfm --no-uncertainty --half-window 12 -o ";
  auto r = test::run_shell("\"$L\"" + args + q(tmp / "whole") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int predictable = 0;
  const auto whole_index = nlohmann::json::parse(slurp(tmp / "whole" / "index.json"));
  for (const auto& e : whole_index["entries"]) predictable += e["status"] == "done";
  ASSERT_GT(predictable, 20);
  // 64 x 64 in tiles of 16: many tiles a date, so that a date is still in progress when the
  // kill arrives, however loaded the machine.
  constexpr int kTiles = 16;
  // Dates recorded as done: the index of a plain run (rewritten after every date), the item
  // records of a shared one.
  auto done_dates = [&](const fs::path& out) {
    std::set<std::string> done;
    if (fs::exists(out / "index.json")) {
      const auto index = nlohmann::json::parse(slurp(out / "index.json"));
      for (const auto& e : index["entries"])
        if (e["status"] == "done") done.insert(e["date"].get<std::string>());
    }
    if (fs::exists(out / pipeline::kItemsFolder))
      for (const auto& f : fs::directory_iterator(out / pipeline::kItemsFolder))
        if (f.path().extension() == ".json") {
          const auto j = nlohmann::json::parse(slurp(f.path()));
          if (j["status"] == "done") done.insert(j["date"].get<std::string>());
        }
    return done;
  };
  std::vector<std::pair<std::string, std::string>> cases = {{"plain", "\"$L\""}};
#ifdef LSTFUSE_MPIEXEC
  cases.push_back({"mpi", kMpirun});
#endif
  for (const auto& [name, launcher] : cases) {
    SCOPED_TRACE(name);
    const fs::path out = tmp / name;
    const std::string command = launcher + args + q(out) + " --work-tile 16";
    // The run kills itself (SIGKILL, LSTFUSE_KILL_AT) when it has stored the third tile of its
    // third date: two dates written, tiles of a later one stored and not yet assembled. (A kill
    // from outside, timed by polling the folder, missed that window on a loaded machine.)
    r = test::run_shell("LSTFUSE_KILL_AT=tile-stored:" + std::to_string(2 * kTiles + 3) + " " + command + " > " +
                        q(tmp / "log") + " 2>&1; echo rc=$?");
    ASSERT_EQ(r.output.find("rc=0"), std::string::npos) << "the run ended before the kill: " << r.output;
    const std::set<std::string> done = done_dates(out);
    ASSERT_LT(static_cast<int>(done.size()), predictable);
    // Tiles stored for the dates not done: found, not predicted, by the rerun.
    int stored = 0;
    std::string listing;  // for the failure message
    ASSERT_TRUE(fs::exists(out / pipeline::kTilesFolder));
    for (const auto& d : fs::directory_iterator(out / pipeline::kTilesFolder)) {
      for (const auto& f : fs::directory_iterator(d.path())) listing += " " + fs::relative(f.path(), out).string();
      if (done.count(d.path().filename().string())) continue;
      for (const auto& f : fs::directory_iterator(d.path())) stored += f.path().extension() == ".tile";
    }
    // A plain run dies right after storing a tile of an unfinished date. Under mpirun the rank
    // that dies first takes the others down at a moment of mpirun's choosing, which may fall
    // between two dates of theirs: then no tile is left stored, and the rerun must find none.
    if (name == "plain") {
      ASSERT_GE(stored, 1);
    }
    std::map<fs::path, long long> before;
    for (const auto& f : fs::directory_iterator(out)) {
      const std::string file = f.path().filename().string();
      if (f.path().extension() != ".tif" || file.find(".part") != std::string::npos) continue;
      const std::string date = file.substr(12, 8);  // lst_estarfm_YYYYMMDD...
      if (done.count(date.substr(0, 4) + "-" + date.substr(4, 2) + "-" + date.substr(6, 2))) before[f.path()] = mtime_ns(f.path());
    }

    r = test::run_shell(command);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const int missing = kTiles * (predictable - static_cast<int>(done.size())) - stored;
    EXPECT_NE(r.output.find(fmt::format("tiles: {} predicted, {} found stored", missing, stored)), std::string::npos)
        << "dates done " << done.size() << " of " << predictable << ", tile files at the kill:" << listing << "\n"
        << r.output;
    EXPECT_NE(r.output.find(std::to_string(done.size()) + " already done"), std::string::npos) << r.output;
    for (const auto& [p, t] : before) EXPECT_EQ(mtime_ns(p), t) << p << " was written again";
    expect_same_outputs(tmp / "whole", out, false);
    EXPECT_FALSE(fs::exists(out / pipeline::kTilesFolder));
  }
}

// A shared run cannot learn the uncertainty or the filled catalog again (its processes start
// at different times): --overwrite with other settings is refused there while the earlier run's
// learned products exist, the folder untouched, instead of banding the new dates with them. A
// single process with --overwrite redoes them.
TEST(FuseShared, OverwriteWithOtherSettingsIsRefusedWhileTheEarlierRunLearnedSomething) {
  const Scenes& s = scenes();
  test::TempDir tmp;
  const fs::path out = tmp / "out";
  const std::string base = "\"$L\" fuse -q --catalog " + q(s.north) + " --method starfm --to 2024-01-31 -o " + q(out);
  auto r = test::run_shell(base + " --starfm.window 21 --shard 1/1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(out / "uncertainty_model.json"));
  const std::string model = slurp(out / "uncertainty_model.json"), index = slurp(out / "index.json");

  r = test::run_shell(base + " --starfm.window 15 --shard 1/1 --overwrite");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("index.json: the earlier run in this folder learned its models or uncertainty with other "
                          "settings (--window 15 (was 21))"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("a shared run (MPI, --shard) cannot learn them again"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(out / "uncertainty_model.json"), model);
  EXPECT_EQ(slurp(out / "index.json"), index);

  // One process relearns it under the new settings.
  r = test::run_shell(base + " --starfm.window 15 --overwrite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(slurp(out / "uncertainty_model.json"), model);

  // The filled catalog likewise: other fill options under --shard are refused, naming it.
  const fs::path filled = tmp / "filled";
  const std::string fbase = "\"$L\" fuse -q --catalog " + q(s.north) + " --method starfm --no-uncertainty --fill "
                            "--to 2024-01-20 -o " + q(filled);
  r = test::run_shell(fbase + " --shard 1/1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string fill_json = slurp(filled / "filled-coarse" / "fill.json");
  r = test::run_shell(fbase + " --fill-window 4 --shard 1/1 --overwrite");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find((filled / "filled-coarse").string() + ": holds coarse images filled with other settings; "
                          "a shared run (MPI, --shard) cannot fill them again"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(slurp(filled / "filled-coarse" / "fill.json"), fill_json);
}

}  // namespace test_fuse_shared
