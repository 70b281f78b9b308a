#pragma once
// GDAL handles and messages shared by the io and prep sources (internal: GDAL types never leave
// these layers).
#include <memory>
#include <string>

#include <cpl_error.h>
#include <gdal_priv.h>

namespace lstfuse::io::detail {

struct DatasetCloser {
  void operator()(GDALDataset* ds) const {
    if (ds) GDALClose(GDALDataset::ToHandle(ds));
  }
};
using DatasetPtr = std::unique_ptr<GDALDataset, DatasetCloser>;

// The last GDAL error message, for our own exception texts.
inline std::string last_gdal_error() {
  const char* msg = CPLGetLastErrorMsg();
  return msg && *msg ? std::string(msg) : std::string("GDAL gave no reason");
}

// Why a read of window (x0, y0, w, h) of `band` of dataset `name` failed: this thread's GDAL
// message, or, where GDAL's worker threads decoded the block and this thread has none, the
// message of the same read done again on this thread alone. A read that came short of the bytes
// the file's header promised says the file is truncated or damaged.
std::string read_failure_reason(const std::string& name, int band, int x0, int y0, int w, int h);

// GDALDataset::Open(name) for reading a raster, with one guard. Debian's HDF4 library crashes on
// some damaged files (fuzz/corpus/products/crash-hdf4-*), so a dataset the HDF4 driver would read is first
// opened and read once in a child process; if the child dies, the error names `shown` instead
// of the crash ending lstfuse. Null where GDAL cannot open it (last_gdal_error() says why).
DatasetPtr open_dataset(const std::string& name, const std::string& shown);

// Refuses a geotransform that is not a number, or whose pixel has no area (every pixel on one
// point), naming `shown`: said here rather than later as a grid that overlaps nothing.
void check_geotransform(const double t[6], const std::string& shown);

// Refuses a band of complex numbers, naming `shown`: read as real, its imaginary part was
// dropped without a word.
void check_real_band(GDALRasterBand& band, const std::string& shown);

// How a band's stored numbers become values: value = stored * scale + offset, the file's own
// (GDAL's band scale and offset, which GDAL's reads do not apply) where the caller gives none,
// the caller's where the file has none. Both, and different, is refused naming `shown`: which one
// holds cannot be told, and the other would be applied to the values silently.
struct Encoding {
  double scale = 1.0, offset = 0.0;
};
Encoding band_encoding(GDALRasterBand& band, double given_scale, double given_offset, const std::string& shown,
                       const std::string& given_names);

}  // namespace lstfuse::io::detail
