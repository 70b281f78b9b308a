// The catalog manifest (manifest.json of every catalog): Catalog::load, as `info`, `predict
// --catalog`, `fuse` and `benchmark` call it. The scratch catalog folder holds a file, a link
// inside it and links leading out of it, so that manifests naming them reach the link checks.
// Input: the manifest's bytes. Invariants on a manifest that loads: every path it names lies
// inside the folder; the manifest lstfuse would write back describes the same catalog.
#include <fstream>

#include "fuzz_support.hpp"
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/outputs.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace {

fs::path catalog_folder() {
  static const fs::path cat = [] {
    const fs::path root = fuzz::scratch();
    const fs::path c = root / "cat";
    fs::create_directories(c / "fine");
    fs::create_directories(root / "outside");
    std::ofstream(c / "fine" / "20200101_fine.tif") << "inside";
    std::ofstream(root / "outside" / "secret.tif") << "outside";
    fs::create_symlink("20200101_fine.tif", c / "fine" / "same.tif");
    fs::create_symlink(root / "outside" / "secret.tif", c / "fine" / "out.tif");
    fs::create_directory_symlink(root / "outside", c / "out");
    return c;
  }();
  return cat;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  catalog_folder();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path cat = catalog_folder();
  fuzz::write_file(cat / Catalog::kManifest, data, size);
  fuzz::expect_clear_errors("Catalog::load", [&] {
    const Catalog c = Catalog::load(cat);
    for (const auto& o : c.observations()) {
      fuzz::require(path_within(c.absolute(o.path), cat), "an observation lies inside the catalog");
      if (!o.quality_path.empty())
        fuzz::require(path_within(c.absolute(o.quality_path), cat), "a quality layer lies inside the catalog");
    }
    if (c.landcover()) fuzz::require(path_within(c.absolute(c.landcover()->path), cat), "the land cover lies inside");
    const auto pairs = c.pair_dates();
    const auto coarse_only = c.coarse_only_dates();
    fuzz::require(pairs.size() + coarse_only.size() == c.dates(Role::Coarse).size(),
                  "every coarse date is a pair date or a coarse-only date");
    const auto j = c.to_json();
    const Catalog again = Catalog::from_json(j, cat);
    fuzz::require(again.to_json() == j, "the manifest written back describes the same catalog");
  });
  return 0;
}
