#pragma once
// Names of the bands of a raster file lstfuse wrote: GDAL band descriptions where set, else the
// comma-separated LSTFUSE_QUALITY_BANDS metadata item of fuse's quality layers.
#include <string>
#include <vector>

namespace lstfuse::io {

// One name per band ("" where unknown); throws Error naming the file when it cannot be opened.
std::vector<std::string> read_band_names(const std::string& path);

}  // namespace lstfuse::io
