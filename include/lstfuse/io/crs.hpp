#pragma once
// What the layers above io/ need to know about a CRS or a raster file's bands, without seeing
// GDAL/OGR types: the name of a CRS, its unit, coordinate transformation, band types and nodata.
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lstfuse/core/grid.hpp"

namespace lstfuse::io {

// "WGS 84 / UTM zone 55S (EPSG:32755)"; "none" for an empty CRS, "unparsable WKT" when it is not.
std::string crs_name(const std::string& wkt);

// The unit of a CRS's coordinates: geographic (degrees) or linear with its size in metres.
struct CrsUnit {
  bool geographic = false;
  double metres = 1.0;  // one linear unit in metres (projected CRS)
};
// Throws Error naming `what` when the WKT cannot be interpreted.
CrsUnit crs_unit(const std::string& wkt, const std::string& what);

// Transforms points between two CRS (each given as WKT or a PROJ string), traditional GIS axis
// order (x = easting/longitude).
class CrsTransform {
 public:
  // Throws Error naming `what` when either CRS cannot be read or no transformation exists.
  CrsTransform(const std::string& from, const std::string& to, const std::string& what);
  ~CrsTransform();
  CrsTransform(const CrsTransform&) = delete;
  CrsTransform& operator=(const CrsTransform&) = delete;
  // False when the point cannot be transformed.
  bool apply(double& x, double& y) const;
  // Bounding box (min x, min y, max x, max y) of a grid's outline in the target CRS; the outline
  // is sampled densely (straight edges become curves). Throws Error naming `what` on failure.
  std::array<double, 4> outline_bounds(const Grid& g, const std::string& what) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A band's storage type (GDAL's name: Float32, UInt16, ...) and its declared nodata value.
struct BandInfo {
  std::string type;
  std::optional<double> nodata;
};
// One per band; throws Error naming the file when it is not a readable raster.
std::vector<BandInfo> read_band_info(const std::string& path);

}  // namespace lstfuse::io
