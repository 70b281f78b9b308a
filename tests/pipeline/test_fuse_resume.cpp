// `fuse` re-entering an output folder: other options are refused (or redone with overwrite),
// damaged "done" files are redone, foreign folders and the catalog itself are never used.
#include <gtest/gtest.h>

#include <fstream>
#include <chrono>
#include <iterator>
#include <map>

#include <gdal_priv.h>
#include <nlohmann/json.hpp>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/fuse.hpp"
#include "lstfuse/pipeline/fuse_resume.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "test_support.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace test_fuse_resume {  // file-local names stay apart in merged builds (LSTFUSE_UNITY_BUILD)

namespace {

Grid grid16() {
  Grid g;
  g.width = 16;
  g.height = 12;
  g.transform = {300000.0, 30.0, 0.0, 6100000.0, 0.0, -30.0};
  g.crs = io::crs_to_wkt("EPSG:32755");
  return g;
}

// Pairs on days 0 and 16, coarse every 4 days; a gradient so that window sizes matter.
Catalog make_catalog(const fs::path& dir) {
  fs::create_directories(dir);
  Catalog c(dir);
  c.set_grid(grid16());
  const Date start(2024, 1, 1);
  for (int day = 0; day <= 16; day += 4) {
    const Date d = start + day;
    Raster coarse(grid16(), 1, 0.0f);
    for (int y = 0; y < 12; ++y)
      for (int x = 0; x < 16; ++x) coarse.at(y, x) = 290.0f + day + 0.1f * ((x / 4) + (y / 4));
    const std::string cpath = "coarse_" + d.compact() + ".tif";
    io::write_raster((dir / cpath).string(), coarse);
    c.add({d, Role::Coarse, "test", cpath, "", 1.0, "K", cpath});
    if (day % 16 == 0) {
      Raster fine(grid16(), 1, 0.0f);
      for (int y = 0; y < 12; ++y)
        for (int x = 0; x < 16; ++x) fine.at(y, x) = 300.0f + day + 0.3f * x + 0.2f * ((x * 7 + y * 3) % 5);
      const std::string fpath = "fine_" + d.compact() + ".tif";
      io::write_raster((dir / fpath).string(), fine);
      c.add({d, Role::Fine, "test", fpath, "", 1.0, "K", fpath});
    }
  }
  c.save();
  return c;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::unique_ptr<Method> starfm(const std::string& window) {
  auto m = method_registry().create("starfm");
  m->options().set("window", window);
  return m;
}

// A run into `out` without a progress bar: the options every test here starts from.
pipeline::FuseOptions quiet_run(const fs::path& out) {
  pipeline::FuseOptions o;
  o.out_dir = out;
  o.show_progress = false;
  return o;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(FuseResume, OtherOptionsAreRefusedOrRedoneWithOverwrite) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  pipeline::FuseOptions o = quiet_run(tmp / "out");
  auto m3 = starfm("3");
  EXPECT_EQ(pipeline::fuse(cat, *m3, o).done, 3);
  const auto w3 = slurp(tmp / "out" / "lst_starfm_20240105.tif");

  auto m5 = starfm("5");
  const std::string msg = error_of([&] { pipeline::fuse(cat, *m5, o); });
  EXPECT_NE(msg.find("index.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--window 5 (was 3)"), std::string::npos) << msg;
  EXPECT_EQ(slurp(tmp / "out" / "lst_starfm_20240105.tif"), w3);  // untouched
  // The same options resume (all done); other run settings (format) count as well.
  auto again = starfm("3");
  EXPECT_EQ(pipeline::fuse(cat, *again, o).skipped, 3);
  // Each is named by the flag it comes from.
  o.format = "GTiff";
  const std::string fmt_msg = error_of([&] { pipeline::fuse(cat, *again, o); });
  EXPECT_NE(fmt_msg.find("--of \"GTiff\" (was \"COG\")"), std::string::npos) << fmt_msg;
  o.format = "COG";
  o.max_reference_steps = 4;
  const std::string steps_msg = error_of([&] { pipeline::fuse(cat, *again, o); });
  EXPECT_NE(steps_msg.find("--max-reference-steps 4 (was 0)"), std::string::npos) << steps_msg;
  o.max_reference_steps = 0;

  o.overwrite = true;
  const auto s = pipeline::fuse(cat, *m5, o);
  EXPECT_EQ(s.done, 3);
  EXPECT_EQ(s.skipped, 0);
  EXPECT_NE(slurp(tmp / "out" / "lst_starfm_20240105.tif"), w3);
  const auto j = nlohmann::json::parse(slurp(tmp / "out" / "index.json"));
  EXPECT_EQ(j["options"]["window"], 5);
}

// A finished run resumed writes nothing at all (so that it also works in a folder the user may
// only read): every file keeps its time stamp, set back a day so that any rewrite would show.
TEST(FuseResume, AFinishedRunResumedWritesNothing) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  pipeline::FuseOptions o = quiet_run(tmp / "out");
  auto m = starfm("3");
  EXPECT_EQ(pipeline::fuse(cat, *m, o).done, 3);
  std::map<std::string, fs::file_time_type> before;
  for (const auto& f : fs::recursive_directory_iterator(o.out_dir)) {
    const auto old = fs::last_write_time(f.path()) - std::chrono::hours(24);
    fs::last_write_time(f.path(), old);
    before[f.path().string()] = old;
  }
  ASSERT_GE(before.size(), 8u);  // 3 dates x 2 files, the index twice
  auto again = starfm("3");
  EXPECT_EQ(pipeline::fuse(cat, *again, o).skipped, 3);
  std::map<std::string, fs::file_time_type> after;
  for (const auto& f : fs::recursive_directory_iterator(o.out_dir)) after[f.path().string()] = fs::last_write_time(f.path());
  EXPECT_EQ(after, before);
}

TEST(FuseResume, DamagedDoneFilesAreRedone) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  pipeline::FuseOptions o = quiet_run(tmp / "out");
  auto m = starfm("3");
  pipeline::fuse(cat, *m, o);
  const auto good1 = slurp(tmp / "out" / "lst_starfm_20240105.tif");
  const auto good2 = slurp(tmp / "out" / "lst_starfm_20240109.tif");
  const auto j = nlohmann::json::parse(slurp(tmp / "out" / "index.json"));
  EXPECT_EQ(j["entries"][0]["output_bytes"].get<std::uintmax_t>(), good1.size());
  EXPECT_EQ(j["entries"][0]["output_checksum"].get<std::string>().rfind("fnv1a64:", 0), 0u);
  // Truncated, and same-size garbage.
  fs::resize_file(tmp / "out" / "lst_starfm_20240105.tif", good1.size() / 2);
  std::string garbage(good2.size(), 'x');
  std::ofstream(tmp / "out" / "lst_starfm_20240109.tif", std::ios::binary) << garbage;
  auto m2 = starfm("3");
  const auto s = pipeline::fuse(cat, *m2, o);
  EXPECT_EQ(s.done, 2);
  EXPECT_EQ(s.skipped, 1);
  EXPECT_EQ(slurp(tmp / "out" / "lst_starfm_20240105.tif"), good1);
  EXPECT_EQ(slurp(tmp / "out" / "lst_starfm_20240109.tif"), good2);
}

TEST(FuseResume, ForeignFoldersAndTheCatalogAreNeverUsed) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  pipeline::FuseOptions o;
  o.show_progress = false;
  auto m = starfm("3");
  o.out_dir = tmp / "cat";
  EXPECT_NE(error_of([&] { pipeline::fuse(cat, *m, o); }).find("holds the input"), std::string::npos);
  fs::create_directories(tmp / "photos");
  std::ofstream(tmp / "photos" / "a.jpg") << "x";
  o.out_dir = tmp / "photos";
  o.overwrite = true;
  EXPECT_NE(error_of([&] { pipeline::fuse(cat, *m, o); }).find("not a folder made by 'lstfuse fuse'"), std::string::npos);
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp / "photos"), fs::directory_iterator{}), 1);
}

// The write options count as settings: a rerun with other --co is refused (its files would
// not be the recorded run's), redone with --overwrite, and resumed with the same ones.
TEST(FuseResume, OtherCreationOptionsAreRefusedOrRedoneWithOverwrite) {
  test::TempDir tmp;
  make_catalog(tmp / "cat");
  const fs::path out = tmp / "out";
  const std::string base = "fuse -q --no-uncertainty --method starfm --window 3 --catalog '" + (tmp / "cat").string() +
                           "' -o '" + out.string() + "'";
  auto r = test::run_cli(base);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto deflate = slurp(out / "lst_starfm_20240105.tif");
  EXPECT_FALSE(nlohmann::json::parse(slurp(out / "index.json"))["run"].contains("co"));

  r = test::run_cli(base + " --co COMPRESS=LZW");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("index.json"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--co [\"COMPRESS=LZW\"] (was [])"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(out / "lst_starfm_20240105.tif"), deflate);  // untouched

  r = test::run_cli(base + " --co COMPRESS=LZW --overwrite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("3 dates predicted, 0 already done"), std::string::npos) << r.output;
  const auto lzw = slurp(out / "lst_starfm_20240105.tif");
  EXPECT_NE(lzw, deflate);
  EXPECT_EQ(nlohmann::json::parse(slurp(out / "index.json"))["run"]["co"], nlohmann::json::array({"COMPRESS=LZW"}));

  r = test::run_cli(base + " --co COMPRESS=LZW");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 dates predicted, 3 already done"), std::string::npos) << r.output;
  r = test::run_cli(base);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--co [] (was [\"COMPRESS=LZW\"])"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(out / "lst_starfm_20240105.tif"), lzw);
}

// The catalog a run read is part of its settings: the same catalog elsewhere resumes; one
// ingested again from other data is refused (or redone with --overwrite), as are other settings
// of the uncertainty band, which would otherwise band the new dates unlike the old ones.
TEST(FuseResume, AnotherCatalogOrOtherUncertaintySettingsAreRefused) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  pipeline::FuseOptions o = quiet_run(tmp / "out");
  o.uncertainty = false;
  auto m = starfm("3");
  EXPECT_EQ(pipeline::fuse(cat, *m, o).done, 3);
  const auto before = slurp(tmp / "out" / "lst_starfm_20240105.tif");

  // The same catalog copied elsewhere: resumed, every date done.
  fs::copy(tmp / "cat", tmp / "copy", fs::copy_options::recursive);
  EXPECT_EQ(pipeline::fuse(Catalog::load(tmp / "copy"), *m, o).skipped, 3);

  // Ingested again with one coarse date less: refused, nothing written.
  Catalog other = make_catalog(tmp / "other");
  Catalog fewer(tmp / "other");
  fewer.set_grid(other.grid());
  for (const auto& ob : other.observations())
    if (!(ob.role == Role::Coarse && ob.date == Date(2024, 1, 9))) fewer.add(ob);
  fewer.save();
  const Catalog changed = Catalog::load(tmp / "other");
  const std::string msg = error_of([&] { pipeline::fuse(changed, *m, o); });
  EXPECT_NE(msg.find("index.json: the earlier run in this folder used other settings (the catalog (its "
                     "manifest.json or one of its files is not the one the earlier run read))"),
            std::string::npos)
      << msg;
  EXPECT_EQ(slurp(tmp / "out" / "lst_starfm_20240105.tif"), before);

  // The uncertainty's settings: named by their flags.
  o.uncertainty = true;
  const std::string band_msg = error_of([&] { pipeline::fuse(cat, *m, o); });
  EXPECT_NE(band_msg.find("--no-uncertainty false (was true)"), std::string::npos) << band_msg;
  o.uncertainty = false;
  o.fine_noise_sd = 3.0;
  const std::string noise_msg = error_of([&] { pipeline::fuse(cat, *m, o); });
  EXPECT_NE(noise_msg.find("--fine-noise 3.0 (was null)"), std::string::npos) << noise_msg;
  o.fine_noise_sd.reset();
  o.uncertainty_dates = 5;
  const std::string dates_msg = error_of([&] { pipeline::fuse(cat, *m, o); });
  EXPECT_NE(dates_msg.find("--uncertainty-dates 5 (was 0)"), std::string::npos) << dates_msg;
  o.uncertainty_dates = 0;

  o.overwrite = true;
  const auto s = pipeline::fuse(changed, *m, o);
  EXPECT_EQ(s.skipped, 0);
  EXPECT_EQ(s.done, 2);
}

// Inside its own folder fuse writes over only what it wrote for that date and method: a user's
// file of a date's name (a copy of a catalog image, itself written by lstfuse) fails that date,
// named, and stays; the other dates are written.
TEST(FuseResume, AUsersFileOfADatesNameIsKept) {
  test::TempDir tmp;
  const Catalog cat = make_catalog(tmp / "cat");
  pipeline::FuseOptions o = quiet_run(tmp / "out");
  o.to = Date(2024, 1, 5);
  auto m = starfm("3");
  EXPECT_EQ(pipeline::fuse(cat, *m, o).done, 1);
  const fs::path mine = tmp / "out" / "lst_starfm_20240109.tif";
  fs::copy_file(tmp / "cat" / "coarse_20240109.tif", mine);
  const std::string bytes = slurp(mine);
  o.to.reset();
  const auto s = pipeline::fuse(cat, *m, o);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.done, 1);
  EXPECT_EQ(slurp(mine), bytes);
  bool named = false;
  for (const auto& e : s.entries)
    if (e.date == Date(2024, 1, 9))
      named = e.note.find("lst_starfm_20240109.tif: exists and is not what lstfuse fuse wrote for 2024-01-09 with "
                          "starfm") != std::string::npos;
  EXPECT_TRUE(named);
  // A file the index lists (done before), replaced by a raster of someone else's: redone as if
  // damaged, it was written over. A damaged file does not open; this one opens without
  // lstfuse's mark.
  const fs::path listed = tmp / "out" / "lst_starfm_20240105.tif";
  fs::remove(listed);
  {
    io::init_gdal();
    GDALDataset* ds = GetGDALDriverManager()->GetDriverByName("GTiff")->Create(listed.c_str(), 4, 4, 1, GDT_Float32, nullptr);
    ASSERT_NE(ds, nullptr);
    double t[6] = {400000.0, 30.0, 0.0, 6200000.0, 0.0, -30.0};
    ds->SetGeoTransform(t);
    GDALClose(ds);
  }
  const std::string theirs = slurp(listed);
  const auto again = pipeline::fuse(cat, *m, o);
  EXPECT_EQ(slurp(listed), theirs);
  bool said = false;
  for (const auto& e : again.entries)
    if (e.date == Date(2024, 1, 5)) said = e.note.find("lst_starfm_20240105.tif: exists and is not what") != std::string::npos;
  EXPECT_TRUE(said);
}

}  // namespace test_fuse_resume
