#pragma once
// A CF-conventions netCDF data cube (time, y, x) written through GDAL's multidimensional API:
// coordinate variables x, y (pixel centres) and time (days since 1970-01-01), one variable per
// quantity with its units and fill value, and the grid's CRS as a CF grid mapping. Written under
// a temporary name and renamed when complete.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lstfuse/core/date.hpp"
#include "lstfuse/core/grid.hpp"
#include "lstfuse/core/raster.hpp"

namespace lstfuse::io {

struct CubeVariable {
  std::string name;            // netCDF variable name
  std::string long_name;
  std::string units;           // "" for flags
  std::string standard_name;   // CF standard name, or ""
  std::string data_type = "Float32";  // Float32 or Byte
  double nodata = -9999.0;     // _FillValue, written where the raster is invalid
};

class CubeWriter {
 public:
  CubeWriter(const std::string& path, const Grid& grid, const std::vector<Date>& dates,
             const std::vector<CubeVariable>& variables,
             const std::vector<std::pair<std::string, std::string>>& attributes = {});
  ~CubeWriter();
  CubeWriter(const CubeWriter&) = delete;
  CubeWriter& operator=(const CubeWriter&) = delete;
  // Band `band` of `raster` as time step `t` of variable `var`.
  void write(size_t var, size_t t, const Raster& raster, int band = 0);
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lstfuse::io
