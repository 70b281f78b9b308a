// Writing a simulation to disk: the folder layout and simulation.json that ingest reads.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/sim/simulate.hpp"

namespace lstfuse::sim {
namespace fs = std::filesystem;
namespace {

// Landsat Collection 2 Level-2 surface temperature scaling.
constexpr double kStScale = 0.00341802, kStOffset = 149.0;
constexpr double kModisScale = 0.02;

nlohmann::json grid_json(const Grid& g) {
  return {{"width", g.width}, {"height", g.height},
          {"transform", std::vector<double>(g.transform.begin(), g.transform.end())},
          {"crs", g.crs}};
}

std::vector<std::pair<std::string, std::string>> provenance(const Simulation& sim, const std::string& what) {
  return {{"LSTFUSE_SIMULATED", what}, {"LSTFUSE_SEED", std::to_string(sim.options().seed)}};
}

// Fast compression: the noisy float rasters barely compress better at higher levels, and the
// year of files should take seconds, not minutes, to write.
io::WriteOptions fast(io::WriteOptions wo) {
  wo.creation_options.push_back("ZLEVEL=1");
  wo.creation_options.push_back("NUM_THREADS=ALL_CPUS");
  return wo;
}

Raster all_valid(Raster r) {
  std::fill(r.mask_data().begin(), r.mask_data().end(), uint8_t{1});
  return r;
}

template <typename T>
Raster from_bits(const Grid& g, const std::vector<T>& bits) {
  Raster r(g, 1, 0.0f, true);
  for (size_t i = 0; i < bits.size(); ++i) r.data()[i] = static_cast<float>(bits[i]);
  r.units = "bits";
  return r;
}

}  // namespace

WriteSummary write_simulation(const Simulation& sim, const std::string& dir, const std::string& format,
                              const std::vector<std::string>& creation_options) {
  const auto t0 = std::chrono::steady_clock::now();
  const SimOptions& o = sim.options();
  const bool kelvin = o.encoding == "kelvin";
  std::error_code ec;
  for (const char* sub : {"", "landsat", "modis", "truth"}) {
    fs::create_directories(fs::path(dir) / sub, ec);
    if (ec) throw file_error((fs::path(dir) / sub).string(), "cannot create folder (" + ec.message() + ")");
  }
  const auto path = [&](const std::string& rel) { return (fs::path(dir) / rel).string(); };

  nlohmann::json j;
  j["format"] = "lstfuse-simulation";
  j["version"] = 1;
  j["seed"] = o.seed;
  SimOptions copy = o;
  OptionSet set("simulate");
  copy.bind(set);
  j["options"] = set.to_json();
  j["fine_grid"] = grid_json(sim.fine_grid());
  j["coarse_grid"] = grid_json(sim.coarse_grid());
  j["observations"] = nlohmann::json::array();
  j["truth"] = nlohmann::json::array();

  {
    io::WriteOptions wo;
    wo.format = format;
    wo.user_options = creation_options;
    wo.data_type = "Byte";
    wo.nodata = 0;
    wo.metadata = provenance(sim, "land cover");
    io::write_raster(path("landcover.tif"), sim.landcover_raster(), wo);
    nlohmann::json classes = nlohmann::json::object();
    for (int c = 1; c <= kNumClasses; ++c) classes[std::to_string(c)] = landcover_name(c);
    j["landcover"] = {{"path", "landcover.tif"}, {"classes", classes}};
  }

  WriteSummary summary;
  const auto& ls = sim.landsat_dates();
  const auto& td = sim.truth_dates();
  nlohmann::json fine_obs = nlohmann::json::array(), coarse_obs = nlohmann::json::array();
  for (const Date& d : sim.days()) {
    const Raster truth = sim.truth(d);
    if (std::binary_search(td.begin(), td.end(), d)) {
      const std::string rel = "truth/truth_" + d.compact() + ".tif";
      io::WriteOptions wo;
      wo.format = format;
      wo.user_options = creation_options;
      wo.metadata = provenance(sim, "truth LST (K)");
      io::write_raster(path(rel), truth, fast(wo));
      j["truth"].push_back({{"date", d.iso()}, {"path", rel}});
      ++summary.truth;
    }
    if (std::find(ls.begin(), ls.end(), d) != ls.end()) {
      const FineObservation obs = sim.landsat(d, &truth);
      nlohmann::json e{{"date", d.iso()}, {"role", "fine"}};
      if (kelvin) {
        const std::string rel = "landsat/landsat_" + d.compact() + ".tif";
        io::WriteOptions wo;
        wo.format = format;
        wo.user_options = creation_options;
        wo.metadata = provenance(sim, "Landsat LST (K), clouds and shadows nodata");
        io::write_raster(path(rel), obs.lst, fast(wo));
        e["product"] = "kelvin";
        e["path"] = rel;
      } else {
        const std::string stem = fmt::format("landsat/LC{:02d}_L2SP_000000_{}_{}_02_T1_", obs.satellite,
                                             d.compact(), d.compact());
        io::WriteOptions wo;
        wo.format = format;
        wo.user_options = creation_options;
        wo.data_type = "UInt16";
        wo.scale = kStScale;
        wo.offset = kStOffset;
        wo.nodata = 0;
        wo.metadata = provenance(sim, "Landsat C2 L2 ST_B10");
        io::write_raster(path(stem + "ST_B10.TIF"), all_valid(obs.lst), fast(wo));
        io::WriteOptions qo;
        qo.format = format;
        qo.user_options = creation_options;
        qo.data_type = "UInt16";
        qo.nodata = 1;  // QA_PIXEL fill (bit 0), as in the real product
        qo.metadata = provenance(sim, "Landsat C2 L2 QA_PIXEL");
        io::write_raster(path(stem + "QA_PIXEL.TIF"), from_bits(sim.fine_grid(), obs.qa), fast(qo));
        e["product"] = "landsat-c2-st";
        e["path"] = stem + "ST_B10.TIF";
        e["qa_path"] = stem + "QA_PIXEL.TIF";
      }
      e["cloud_fraction"] = obs.cloud_fraction;
      e["clear_fraction"] = obs.clear_fraction;
      fine_obs.push_back(e);
      ++summary.landsat;
    }
    const CoarseObservation m = sim.modis(d, &truth);
    nlohmann::json e{{"date", d.iso()}, {"role", "coarse"}};
    if (kelvin) {
      const std::string rel = "modis/modis_" + d.compact() + ".tif";
      io::WriteOptions wo;
      wo.format = format;
      wo.user_options = creation_options;
      wo.metadata = provenance(sim, "MODIS LST (K), clouds nodata");
      io::write_raster(path(rel), m.lst, wo);
      e["product"] = "kelvin";
      e["path"] = rel;
    } else {
      const std::string stem = fmt::format("modis/MOD11A1.A{}{:03d}.sim.", d.year(), d.day_of_year());
      io::WriteOptions wo;
      wo.format = format;
      wo.user_options = creation_options;
      wo.data_type = "UInt16";
      wo.scale = kModisScale;
      wo.nodata = 0;
      wo.metadata = provenance(sim, "MOD11A1 LST_Day_1km");
      io::write_raster(path(stem + "LST_Day_1km.tif"), m.lst, wo);
      io::WriteOptions qo;
      qo.format = format;
      qo.user_options = creation_options;
      qo.data_type = "Byte";
      qo.nodata = 255;  // never a QC value written here; 0 means good quality
      qo.metadata = provenance(sim, "MOD11A1 QC_Day");
      io::write_raster(path(stem + "QC_Day.tif"), from_bits(sim.coarse_grid(), m.qc), qo);
      e["product"] = "modis-lst-geotiff";
      e["path"] = stem + "LST_Day_1km.tif";
      e["qc_path"] = stem + "QC_Day.tif";
    }
    e["cloud_fraction"] = m.cloud_fraction;
    e["bias"] = m.bias;
    coarse_obs.push_back(e);
    ++summary.modis;
  }
  for (auto& e : fine_obs) j["observations"].push_back(e);
  for (auto& e : coarse_obs) j["observations"].push_back(e);

  const std::string manifest = path("simulation.json");
  remove_stale_temporaries(manifest);
  const std::string tmp = temporary_name(manifest);
  {
    std::ofstream out(tmp);
    if (!out) throw file_error(manifest, "cannot write");
    out << j.dump(1) << "\n";
    if (!out) throw file_error(manifest, "write failed");
  }
  fs::rename(tmp, manifest, ec);
  if (ec) throw file_error(manifest, "cannot rename into place (" + ec.message() + ")");
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

}  // namespace lstfuse::sim
