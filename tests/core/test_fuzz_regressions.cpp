// Inputs the fuzz targets (fuzz/) found to break a rule, each kept as a seed in
// fuzz/corpus/TARGET/ and checked here on the library call it broke.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "lstfuse/pipeline/registry.hpp"
#include "lstfuse/core/json_number.hpp"
#include "lstfuse/core/date.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/ingest.hpp"
#include "test_support.hpp"

using namespace lstfuse;

namespace {

// Writes `bytes` as a model file and loads it into a fresh stfnet: the error, or "loaded".
std::string load_stfnet_model(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary) << bytes;
  auto m = method_registry().create("stfnet");
  try {
    m->load(file);
  } catch (const Error& e) {
    return e.what();
  }
  return "loaded";
}

// A model archive holding `meta` as its metadata and no weights.
std::string archive_with_meta(const std::string& meta) {
  torch::serialize::OutputArchive archive, weights;
  archive.write("meta", c10::IValue(meta));
  archive.write("model", weights);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

}  // namespace

// fuzz_date: a MODIS-style name with a year past 2200 made Date::from_filename throw instead of
// finding no date (ingest then failed on a file name instead of asking for --date).
TEST(FuzzRegressions, AModisNameWithAYearOutOfRangeHoldsNoDate) {
  const std::string name = "MOD11A1.A2219305.h14v09.006.2019306083024.hdf";
  std::optional<Date> d;
  EXPECT_NO_THROW(d = Date::from_filename(name));
  EXPECT_FALSE(d.has_value());
  EXPECT_EQ(Date::filename_date_problem(name),
            "the file name holds A2219305, which is not a valid year and day of year");
  // The valid neighbours are still found.
  EXPECT_EQ(Date::from_filename("MOD11A1.A2200001.h14v09.hdf")->iso(), "2200-01-01");
  EXPECT_EQ(Date::from_filename("MOD11A1.A2019305.h14v09.hdf")->iso(), "2019-11-01");
}

// fuzz_simulation_manifest: a land-cover class code that is not a number ("x") reached the user
// as std::stoi's "stoi" instead of a line naming the manifest.
TEST(FuzzRegressions, ASimulationLandCoverClassThatIsNoNumberIsNamed) {
  test::TempDir tmp;
  std::ofstream(tmp / "landcover.tif") << "x";
  for (const std::string& code : {std::string("x"), std::string("99999999999")}) {
    nlohmann::json j = {{"format", "lstfuse-simulation"},
                        {"fine_grid", {{"width", 4}, {"height", 4}, {"transform", {0, 30, 0, 0, 0, -30}}, {"crs", "EPSG:32755"}}},
                        {"landcover", {{"path", "landcover.tif"}, {"classes", {{code, "water"}}}}},
                        {"observations", nlohmann::json::array()}};
    std::ofstream(tmp / "simulation.json") << j.dump();
    std::vector<io::ProductFile> products;
    std::optional<Grid> grid;
    std::optional<LandCoverLayer> landcover;
    try {
      pipeline::read_simulation(tmp.path(), products, grid, landcover);
      ADD_FAILURE() << code << " accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("simulation.json"), std::string::npos) << msg;
      EXPECT_NE(msg.find("land-cover class '" + code + "' is not a number"), std::string::npos) << msg;
    }
  }
}

// fuzz_simulation_manifest: a land-cover path longer than the file system allows reached the
// user as "filesystem error: status: File name too long" instead of naming the manifest.
TEST(FuzzRegressions, ASimulationPathTooLongForTheFileSystemIsNamed) {
  test::TempDir tmp;
  const std::string long_name(300, 'a');  // one name past NAME_MAX (255)
  for (const bool as_landcover : {true, false}) {
    nlohmann::json j = {{"format", "lstfuse-simulation"},
                        {"fine_grid", {{"width", 4}, {"height", 4}, {"transform", {0, 30, 0, 0, 0, -30}}, {"crs", "EPSG:32755"}}},
                        {"observations", nlohmann::json::array()}};
    if (as_landcover) {
      j["landcover"] = {{"path", long_name + ".tif"}};
    } else {
      j["observations"].push_back({{"path", long_name + ".tif"}, {"date", "2024-01-05"}, {"role", "fine"}});
    }
    std::ofstream(tmp / "simulation.json") << j.dump();
    std::vector<io::ProductFile> products;
    std::optional<Grid> grid;
    std::optional<LandCoverLayer> landcover;
    try {
      pipeline::read_simulation(tmp.path(), products, grid, landcover);
      // Accepted: the land cover is dropped (it only describes errors); a product fails later,
      // when it is opened, naming its file.
      if (as_landcover) {
        EXPECT_FALSE(landcover.has_value());
      }
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("simulation.json"), std::string::npos) << e.what();
    }
  }
}

// fuzz_catalog_manifest: a grid height of 4.01e64 was converted to an integer with a cast whose
// result is undefined (UBSan: "outside the range of representable values"). Sizes must be whole
// numbers; anything else is named.
TEST(FuzzRegressions, ACatalogGridSizeThatIsNoWholeNumberIsNamed) {
  for (const std::string& height : {std::string("4.01e64"), std::string("40.5"), std::string("1e300"),
                                    std::string("18446744073709551615"), std::string("\"40\"")}) {
    test::TempDir tmp;
    std::ofstream(tmp / "manifest.json")
        << R"({"format":"lstfuse-catalog","grid":{"crs":"EPSG:32755","height":)" << height
        << R"(,"transform":[0,30,0,0,0,-30],"width":40},"observations":[]})";
    try {
      Catalog::load(tmp.path());
      ADD_FAILURE() << height << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("manifest.json"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(json_whole_number(nlohmann::json::parse("40.0"), "h"), 40);
  EXPECT_EQ(json_whole_number(nlohmann::json::parse("-7"), "h"), -7);
  EXPECT_THROW(json_int(nlohmann::json::parse("3000000000"), "h"), Error);
}

// fuzz_model_file: metadata without "train_dates" (or with a wrongly typed baseline) reached the
// user as the JSON library's "key 'train_dates' not found" instead of naming the model file.
TEST(FuzzRegressions, AModelFileWithIncompleteMetadataIsNamedAsDamaged) {
  test::TempDir tmp;
  const std::string meta =
      R"({"bands":1,"format":"lstfuse-deep-model","method":"stfnet","normalisation":{"kind":"std","mean":[300.0],"scale":[5.0]},"options":{"features":4}})";
  for (const char* extra : {"", R"(,"train_dates":["2016-02-05"],"baseline":{"kept":true,"validation_rmse_network":"x"})"}) {
    std::string text = meta;
    text.insert(text.size() - 1, extra);
    const auto file = tmp / "m.lstmodel";
    const std::string msg = load_stfnet_model(file, archive_with_meta(text));
    EXPECT_EQ(msg.find(file.string() + ": damaged model file"), 0u) << msg;
    EXPECT_EQ(msg.find("[json"), std::string::npos) << msg;
  }
}

// Metadata that parses but describes no model this version wrote: an unknown normalisation, a
// normalisation far from any LST (it gave empty or constant images), a newer format. And a file
// too large to be a model (sparse here), refused before it is read into memory.
TEST(FuzzRegressions, AModelFileWithImpossibleMetadataOrSizeIsRefused) {
  test::TempDir tmp;
  const std::string base = R"({"bands":1,"format":"lstfuse-deep-model","method":"stfnet","options":{"features":4},)"
                           R"("train_dates":["2016-02-05"],)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("normalisation":{"kind":"bogus","mean":[300.0],"scale":[5.0]}})", "unknown normalisation 'bogus'"},
      {R"("normalisation":{"kind":"std","mean":[300.0],"scale":[1e-300]}})", "has scale 1e-300 K"},
      {R"("normalisation":{"kind":"std","mean":[1e300],"scale":[5.0]}})", "has mean 1e+300 K"},
      {R"("format_version":999,"normalisation":{"kind":"std","mean":[300.0],"scale":[5.0]}})",
       "model format version 999 is not one this lstfuse reads"},
  };
  const auto file = tmp / "m.lstmodel";
  for (const auto& [tail, expected] : cases) {
    const std::string msg = load_stfnet_model(file, archive_with_meta(base + tail));
    EXPECT_EQ(msg.find(file.string() + ": "), 0u) << msg;
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
  }
  const auto huge = tmp / "huge.lstmodel";
  std::ofstream(huge).close();
  std::filesystem::resize_file(huge, std::uintmax_t{3} << 30);
  auto m = method_registry().create("stfnet");
  try {
    m->load(huge);
    ADD_FAILURE() << "a 3 GiB file was read as a model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is 3.0 GiB, larger than any model file lstfuse writes"), std::string::npos)
        << e.what();
  }
}

// fuzz_model_file: a model file with one class name changed inside its TorchScript code record
// (seed crash-torch-code-record.lstmodel) crashed inside torch's type parser, which reads records
// without checking their CRC-32. Every record is now checked first; a flipped weight, which
// torch loaded silently as another model, is refused the same way.
TEST(FuzzRegressions, AModelFileDamagedInsideItsArchiveIsRefusedBeforeTorchReadsIt) {
  test::TempDir tmp;
  const std::string meta =
      R"({"bands":1,"format":"lstfuse-deep-model","method":"stfnet","normalisation":{"kind":"std","mean":[300.0],"scale":[5.0]},"options":{"features":4}})";
  torch::serialize::OutputArchive archive, weights;
  archive.write("meta", c10::IValue(meta));
  weights.write("w", torch::arange(16, torch::kFloat32));
  archive.write("model", weights);
  std::ostringstream out;
  archive.save_to(out);
  const std::string good = out.str();
  const float seven = 7.0f;
  const std::string seven_bytes(reinterpret_cast<const char*>(&seven), sizeof seven);
  ASSERT_NE(good.find(seven_bytes), std::string::npos);

  auto load = [&](const std::string& bytes) { return load_stfnet_model(tmp / "m.lstmodel", bytes); };
  // The intact archive passes the check and fails later, on its (incomplete) metadata.
  EXPECT_NE(load(good).find("damaged model file: "), std::string::npos);
  EXPECT_EQ(load(good).find("checksum"), std::string::npos);

  std::string flipped = good;
  flipped[flipped.find(seven_bytes) + 3] ^= 0x01;  // 7.0 becomes another number
  const std::string msg = load(flipped);
  EXPECT_NE(msg.find("damaged model file: record '"), std::string::npos) << msg;
  EXPECT_NE(msg.find("' does not match its checksum"), std::string::npos) << msg;

  for (const size_t keep : {size_t{0}, size_t{10}, good.size() / 2, good.size() - 1}) {
    const std::string cut = load(good.substr(0, keep));
    EXPECT_NE(cut.find("model file"), std::string::npos) << keep << ": " << cut;
    EXPECT_EQ(cut.find("loaded"), std::string::npos) << keep;
  }
}

// fuzz_model_file (seed first-record-renamed.lstmodel): the first record's folder renamed in the
// archive's directory ("archive/data/0" -> "archived/ata/0"). Torch takes the first record's
// folder as the archive's, finds no version record there and throws from its reader's
// constructor, leaking the reader's state (LeakSanitizer: 8.5 kB). The check now refuses such a
// file first, and a version record with a number this torch does not read.
TEST(FuzzRegressions, AModelFileWithoutAReadableVersionRecordIsRefusedBeforeTorchReadsIt) {
  test::TempDir tmp;
  torch::serialize::OutputArchive archive, weights;
  archive.write("meta", c10::IValue(std::string(R"({"format":"lstfuse-deep-model","method":"stfnet"})")));
  weights.write("w", torch::arange(4, torch::kFloat32));
  archive.write("model", weights);
  std::ostringstream out;
  archive.save_to(out);
  const std::string good = out.str();
  auto load = [&](const std::string& bytes) { return load_stfnet_model(tmp / "m.lstmodel", bytes); };
  EXPECT_EQ(load(good).find("version"), std::string::npos) << load(good);

  // The central directory's first entry (signature PK\1\2) names the first record at byte 46.
  std::string renamed = good;
  const size_t entry = renamed.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(entry, std::string::npos);
  const size_t slash = renamed.find('/', entry + 46);
  ASSERT_NE(slash, std::string::npos);
  renamed[slash - 1] = 'X';  // "archive/..." -> "archivX/..."
  const std::string msg = load(renamed);
  EXPECT_NE(msg.find("damaged model file: no '"), std::string::npos) << msg;
  EXPECT_NE(msg.find("X/version' record"), std::string::npos) << msg;
}
