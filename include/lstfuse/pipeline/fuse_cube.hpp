#pragma once
// `fuse --format netCDF`: every fused date of a fuse folder in one CF netCDF cube,
// OUT/lst_METHOD.nc, with the LST and the quality bands coarse_filled, reference_filled and
// uncertainty (those the quality layers carry) as variables over (time, y, x).
#include <filesystem>
#include <string>
#include <vector>

#include "lstfuse/pipeline/fuse.hpp"

namespace lstfuse::pipeline {

// The quality bands that become cube variables, in this order, when present.
const std::vector<std::string>& cube_quality_bands();

// Writes the cube of the entries with status "done" (sorted by date) and returns its path.
std::filesystem::path write_fuse_cube(const std::filesystem::path& out_dir, const std::string& method,
                                      const std::vector<FuseEntry>& entries);

}  // namespace lstfuse::pipeline
