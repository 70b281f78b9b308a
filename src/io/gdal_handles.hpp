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

}  // namespace lstfuse::io::detail
