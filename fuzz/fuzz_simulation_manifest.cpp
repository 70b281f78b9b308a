// The simulation manifest (simulation.json, read when a simulation folder is ingested):
// pipeline::read_simulation. The scratch folder holds a file, a link inside it and links leading
// out of it. Input: the manifest's bytes. Invariants on a manifest that is accepted: every file
// it names (LST, QA/QC, land cover) lies inside the folder, and the grid is within the limits.
#include <fstream>

#include "fuzz_support.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/pipeline/ingest.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace {

fs::path simulation_folder() {
  static const fs::path sim = [] {
    const fs::path root = fuzz::scratch();
    const fs::path s = root / "sim";
    fs::create_directories(s / "landsat");
    fs::create_directories(root / "outside");
    std::ofstream(s / "landsat" / "a.tif") << "inside";
    std::ofstream(s / "landcover.tif") << "inside";
    std::ofstream(root / "outside" / "secret.tif") << "outside";
    fs::create_symlink("a.tif", s / "landsat" / "same.tif");
    fs::create_symlink(root / "outside" / "secret.tif", s / "landsat" / "out.tif");
    fs::create_directory_symlink(root / "outside", s / "out");
    return s;
  }();
  return sim;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  simulation_folder();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path sim = simulation_folder();
  fuzz::write_file(sim / pipeline::kSimulationManifest, data, size);
  fuzz::expect_clear_errors("read_simulation", [&] {
    std::vector<io::ProductFile> products;
    std::optional<Grid> grid;
    std::optional<LandCoverLayer> landcover;
    pipeline::read_simulation(sim, products, grid, landcover);
    fuzz::require(grid.has_value(), "an accepted manifest has a grid");
    fuzz::require(grid->width > 0 && grid->height > 0, "the grid has pixels");
    for (const auto& p : products) {
      fuzz::require(path_within(p.path, sim), "a product lies inside the simulation folder");
      if (!p.qc.empty()) fuzz::require(path_within(p.qc, sim), "a QA/QC layer lies inside the simulation folder");
      fuzz::require(p.date.has_value() && p.role.has_value(), "a product has a date and a role");
    }
    if (landcover) fuzz::require(path_within(landcover->path, sim), "the land cover lies inside the simulation folder");
  });
  return 0;
}
