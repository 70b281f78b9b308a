#include "lstfuse/pipeline/fuse_cube.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/band_names.hpp"
#include "lstfuse/io/cube_io.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace lstfuse::pipeline {
namespace fs = std::filesystem;

const std::vector<std::string>& cube_quality_bands() {
  static const std::vector<std::string> names{"coarse_filled", "reference_filled", "uncertainty"};
  return names;
}

fs::path write_fuse_cube(const fs::path& out_dir, const std::string& method,
                         const std::vector<FuseEntry>& entries) {
  std::vector<const FuseEntry*> done;
  for (const auto& e : entries)
    if (e.status == "done" && !e.output.empty()) done.push_back(&e);
  std::sort(done.begin(), done.end(), [](const FuseEntry* a, const FuseEntry* b) { return a->date < b->date; });
  const fs::path path = out_dir / fmt::format("lst_{}.nc", method);
  if (done.empty()) throw file_error(path.string(), "no fused date to put in the cube");
  const Grid grid = io::read_grid((out_dir / done.front()->output).string());
  // Quality variables: those the cube carries that any date's quality layer has. A date may lack
  // one (no uncertainty band where the day had no valid pixel to band): its step stays nodata.
  std::vector<std::string> qnames;
  for (const auto& n : cube_quality_bands()) {
    for (const auto* e : done) {
      if (e->quality.empty()) continue;
      const auto names = io::read_band_names((out_dir / e->quality).string());
      if (std::find(names.begin(), names.end(), n) != names.end()) {
        qnames.push_back(n);
        break;
      }
    }
  }
  std::vector<io::CubeVariable> vars;
  vars.push_back({"lst", fmt::format("land surface temperature fused by {}", method), "K",
                  "surface_temperature", "Float32", -9999.0});
  for (const auto& n : qnames) {
    if (n == "uncertainty") {
      vars.push_back({n, "estimated error of lst (1 sigma)", "K", "", "Float32", -9999.0});
    } else {
      vars.push_back({n, n == "coarse_filled" ? "1 where the coarse input was gap-filled"
                                              : "1 where the prediction used farther reference pairs",
                      "1", "", "Byte", 255.0});
    }
  }
  std::vector<Date> dates;
  for (const auto* e : done) dates.push_back(e->date);
  io::CubeWriter w(path.string(), grid, dates, vars,
                   {{"title", fmt::format("daily fine-resolution LST fused by lstfuse ({})", method)},
                    {"source", fmt::format("lstfuse {}", LSTFUSE_VERSION)}});
  for (size_t t = 0; t < done.size(); ++t) {
    const Raster lst = io::read_raster((out_dir / done[t]->output).string());
    w.write(0, t, lst);
    if (qnames.empty()) continue;
    const Raster q = done[t]->quality.empty() ? Raster() : io::read_raster((out_dir / done[t]->quality).string());
    for (size_t k = 0; k < qnames.size(); ++k) {
      const auto it = std::find(q.band_names.begin(), q.band_names.end(), qnames[k]);
      if (it == q.band_names.end()) {
        w.write(k + 1, t, Raster(grid, 1, 0.0f, false));
      } else {
        w.write(k + 1, t, q, static_cast<int>(it - q.band_names.begin()));
      }
    }
  }
  w.commit();
  spdlog::info("cube of {} dates: {}", done.size(), path.string());
  return path;
}

}  // namespace lstfuse::pipeline
