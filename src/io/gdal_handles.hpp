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

// Why a raster read failed. GDAL's multi-threaded block decoding reports a damaged block from
// its worker threads, not the calling one: the failures counted there since `failures_before`
// (a worker_failure_count() taken before the read) are used when this thread has no message.
// A read that came short of the bytes the file's header promised says the file is truncated.
long worker_failure_count();
std::string read_failure_reason(long failures_before);

// GDALDataset::Open(name) for reading a raster, with one guard. Debian's HDF4 library crashes on
// some damaged files (fuzz/corpus/products/crash-hdf4-*), so a dataset the HDF4 driver would read is first
// opened and read once in a child process; if the child dies, the error names `shown` instead
// of the crash ending lstfuse. Null where GDAL cannot open it (last_gdal_error() says why).
DatasetPtr open_dataset(const std::string& name, const std::string& shown);

}  // namespace lstfuse::io::detail
