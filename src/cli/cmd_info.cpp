// `lstfuse info PATH`: what a catalog holds (grid, dates, pairs, coarse-only dates, valid
// fractions) or what a raster file is (grid, CRS, bands, nodata, statistics). Text or --json.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/grid.hpp"
#include "lstfuse/io/crs.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace fs = std::filesystem;

namespace cmd_info {

namespace {

nlohmann::json grid_json(const lstfuse::Grid& g) {
  return {{"width", g.width}, {"height", g.height}, {"transform", g.transform}, {"crs_name", lstfuse::io::crs_name(g.crs)},
          {"bounds", {g.min_x(), g.min_y(), g.max_x(), g.max_y()}}};
}

nlohmann::json catalog_info(const fs::path& dir) {
  const auto cat = lstfuse::Catalog::load(dir);
  nlohmann::json j;
  j["kind"] = "catalog";
  j["path"] = dir.string();
  j["grid"] = grid_json(cat.grid());
  nlohmann::json obs = nlohmann::json::array(), missing = nlohmann::json::array();
  for (const auto& o : cat.observations()) {
    // The manifest's figures describe files as ingest wrote them: a file since removed is said.
    std::error_code ec;
    const bool there = fs::is_regular_file(cat.absolute(o.path), ec);
    obs.push_back({{"date", o.date.iso()}, {"role", lstfuse::to_string(o.role)}, {"sensor", o.sensor},
                   {"path", o.path}, {"valid_fraction", o.valid_fraction}, {"source", o.source}, {"missing", !there}});
    if (!there) missing.push_back(o.path);
  }
  j["observations"] = obs;
  j["missing_files"] = missing;
  nlohmann::json pairs = nlohmann::json::array(), coarse_only = nlohmann::json::array();
  for (const auto& d : cat.pair_dates()) pairs.push_back(d.iso());
  for (const auto& d : cat.coarse_only_dates()) coarse_only.push_back(d.iso());
  j["pairs"] = pairs;
  j["coarse_only"] = coarse_only;
  return j;
}

nlohmann::json raster_info(const std::string& path) {
  const lstfuse::Grid g = lstfuse::io::read_grid(path, false);
  nlohmann::json j;
  j["kind"] = "raster";
  j["path"] = path;
  j["grid"] = grid_json(g);
  const std::vector<lstfuse::io::BandInfo> info = lstfuse::io::read_band_info(path);
  // The bands are read together in strips of about kStripPixels values, whole blocks of rows (a
  // file's bands usually share its blocks: one read decodes each block once), so that a full
  // scene or a mosaic is described in bounded memory.
  constexpr long long kStripPixels = 1 << 24;
  const int nb = static_cast<int>(info.size());
  const double pixels = static_cast<double>(g.width) * g.height;
  // Beyond lstfuse's read limit the statistics would take a scan of billions of pixels: the
  // bands are described without them, and the limit is said.
  const bool scan = pixels <= static_cast<double>(lstfuse::kMaxGridPixels);
  std::vector<lstfuse::BandStatsSum> sums(static_cast<size_t>(nb));
  if (scan && nb > 0) {
    long long rows = kStripPixels / (static_cast<long long>(std::max(1, g.width)) * nb);
    if (rows >= 256) rows -= rows % 256;
    rows = std::clamp<long long>(rows, 1, std::max(1, g.height));
    lstfuse::io::ReadOptions ro;
    ro.require_crs = false;
    for (int y = 0; y < g.height; y += static_cast<int>(rows)) {
      const lstfuse::Raster strip =
          lstfuse::io::read_window(path, 0, y, g.width, static_cast<int>(std::min<long long>(rows, g.height - y)), ro);
      for (int b = 0; b < nb; ++b) sums[static_cast<size_t>(b)].add(strip, b);
    }
  }
  nlohmann::json bands = nlohmann::json::array();
  for (int b = 1; b <= nb; ++b) {
    const lstfuse::io::BandInfo& band = info[static_cast<size_t>(b - 1)];
    if (!scan) {
      bands.push_back({{"band", b}, {"type", band.type},
                       {"nodata", band.nodata ? nlohmann::json(*band.nodata) : nlohmann::json(nullptr)},
                       {"statistics", fmt::format("not computed: {:.0f} pixels, beyond lstfuse's limit of {}", pixels,
                                                  lstfuse::kMaxGridPixels)}});
      continue;
    }
    const lstfuse::BandStats s = sums[static_cast<size_t>(b - 1)].result();
    nlohmann::json bj = {{"band", b}, {"type", band.type},
                         {"valid_fraction", pixels > 0 ? static_cast<double>(s.count) / pixels : 0.0}, {"count", s.count}};
    bj["nodata"] = band.nodata ? nlohmann::json(*band.nodata) : nlohmann::json(nullptr);
    if (s.count > 0) {
      bj["min"] = s.min;
      bj["max"] = s.max;
      bj["mean"] = s.mean;
      bj["stddev"] = s.count > 1 ? nlohmann::json(s.stddev) : nlohmann::json(nullptr);
    }
    bands.push_back(bj);
  }
  j["bands"] = bands;
  return j;
}

void print_grid(const nlohmann::json& g) {
  const auto& t = g["transform"];
  std::cout << fmt::format("grid: {} x {} pixels, pixel {:.6g} x {:.6g}, origin ({:.10g}, {:.10g})\n",
                           g["width"].get<int>(), g["height"].get<int>(), t[1].get<double>(),
                           -t[5].get<double>(), t[0].get<double>(), t[3].get<double>());
  const auto& b = g["bounds"];
  std::cout << fmt::format("bounds: {:.10g} {:.10g} {:.10g} {:.10g}\n", b[0].get<double>(), b[1].get<double>(),
                           b[2].get<double>(), b[3].get<double>());
  std::cout << "crs: " << g["crs_name"].get<std::string>() << "\n";
}

std::string join_dates(const nlohmann::json& a) {
  std::string s;
  for (const auto& d : a) s += (s.empty() ? "" : ", ") + d.get<std::string>();
  return s.empty() ? "none" : s;
}

// Daily series have hundreds of coarse-only dates: runs of three or more consecutive days are
// written first..last, and the count follows.
std::string join_date_runs(const nlohmann::json& a) {
  std::vector<lstfuse::Date> d;
  for (const auto& x : a) d.push_back(lstfuse::Date::parse(x.get<std::string>()));
  std::string s;
  for (size_t i = 0; i < d.size();) {
    size_t k = i;
    while (k + 1 < d.size() && d[k + 1] - d[k] == 1) ++k;
    const bool run = k - i >= 2;
    const size_t last = run ? k : i;
    s += (s.empty() ? "" : ", ") + d[i].iso() + (run ? ".." + d[k].iso() : "");
    i = last + 1;
  }
  if (s.empty()) return "none";
  return d.size() > 1 ? fmt::format("{} ({} dates)", s, d.size()) : s;
}

void print(const nlohmann::json& j) {
  if (j["kind"] == "catalog") {
    std::cout << "catalog " << j["path"].get<std::string>() << "\n";
    print_grid(j["grid"]);
    std::cout << fmt::format("observations ({}):\n", j["observations"].size());
    for (const auto& o : j["observations"]) {
      std::cout << fmt::format("  {}  {:<6}  {:<16}  valid {:5.1f} %  {}{}\n", o["date"].get<std::string>(),
                               o["role"].get<std::string>(), o["sensor"].get<std::string>(),
                               100.0 * o["valid_fraction"].get<double>(), o["path"].get<std::string>(),
                               o.value("missing", false) ? "  (MISSING)" : "");
    }
    std::cout << "pairs (fine + coarse): " << join_dates(j["pairs"]) << "\n";
    std::cout << "coarse-only dates: " << join_date_runs(j["coarse_only"]) << "\n";
    if (!j["missing_files"].empty())
      std::cout << fmt::format("warning: {} file(s) the manifest lists are missing, e.g. {}: re-run 'lstfuse ingest'\n",
                               j["missing_files"].size(), j["missing_files"][0].get<std::string>());
    return;
  }
  std::cout << "raster " << j["path"].get<std::string>() << "\n";
  print_grid(j["grid"]);
  for (const auto& b : j["bands"]) {
    std::cout << fmt::format("band {}: {}, nodata {}", b["band"].get<int>(), b["type"].get<std::string>(),
                             b["nodata"].is_null() ? "none" : b["nodata"].dump());
    if (b.contains("statistics")) {
      std::cout << ", statistics " << b["statistics"].get<std::string>() << "\n";
      continue;
    }
    std::cout << fmt::format(", valid {:.1f} %", 100.0 * b["valid_fraction"].get<double>());
    if (b.contains("min")) {
      std::cout << fmt::format(", min {:.4g} max {:.4g} mean {:.4g}", b["min"].get<double>(),
                               b["max"].get<double>(), b["mean"].get<double>());
      if (!b["stddev"].is_null()) std::cout << fmt::format(" std {:.4g}", b["stddev"].get<double>());
    }
    std::cout << "\n";
  }
}

void setup(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("info", "Describe a catalog folder (dates, pairs, coverage) or a raster file");
  cmd->add_option("path", *path, "Catalog folder or raster file")->required();
  cmd->add_flag("--json", *json, "Machine-readable output");
  cmd->callback([path, json] {
    lstfuse::io::init_gdal();
    if (!fs::exists(*path)) throw lstfuse::file_error(*path, "no such file or folder");
    const nlohmann::json j = fs::is_directory(*path) ? catalog_info(*path) : raster_info(*path);
    if (*json) {
      std::cout << j.dump(2) << "\n";
    } else {
      print(j);
    }
  });
}

}  // namespace

LSTFUSE_COMMAND(15, setup);

}  // namespace cmd_info
