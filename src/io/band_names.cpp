#include "lstfuse/io/band_names.hpp"

#include "gdal_handles.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace lstfuse::io {

std::vector<std::string> read_band_names(const std::string& path) {
  init_gdal();
  detail::DatasetPtr ds = detail::open_dataset(path, path);
  if (!ds) throw file_error(path, "cannot open (" + detail::last_gdal_error() + ")");
  std::vector<std::string> names(static_cast<size_t>(ds->GetRasterCount()));
  for (int b = 0; b < ds->GetRasterCount(); ++b) {
    const char* d = ds->GetRasterBand(b + 1)->GetDescription();
    if (d) names[static_cast<size_t>(b)] = d;
  }
  if (const char* meta = ds->GetMetadataItem("LSTFUSE_QUALITY_BANDS")) {
    std::string s = meta, cur;
    size_t b = 0;
    for (size_t i = 0; i <= s.size(); ++i) {
      if (i == s.size() || s[i] == ',') {
        if (b < names.size() && names[b].empty()) names[b] = cur;
        ++b;
        cur.clear();
      } else {
        cur += s[i];
      }
    }
  }
  return names;
}

}  // namespace lstfuse::io
