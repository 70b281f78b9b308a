#include "lstfuse/io/crs.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <ogr_spatialref.h>

#include "gdal_handles.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace lstfuse::io {
namespace {

// WKT or any user CRS string (PROJ, EPSG:n) into `srs`.
bool import_crs(OGRSpatialReference& srs, const std::string& crs) {
  if (srs.importFromWkt(crs.c_str()) == OGRERR_NONE) return true;
  return srs.SetFromUserInput(crs.c_str()) == OGRERR_NONE;
}

}  // namespace

std::string crs_name(const std::string& wkt) {
  if (wkt.empty()) return "none";
  init_gdal();
  OGRSpatialReference srs;
  if (srs.importFromWkt(wkt.c_str()) != OGRERR_NONE) return "unparsable WKT";
  std::string name = srs.GetName() ? srs.GetName() : "unnamed";
  const char* auth = srs.GetAuthorityName(nullptr);
  const char* code = srs.GetAuthorityCode(nullptr);
  if (auth && code) name += fmt::format(" ({}:{})", auth, code);
  return name;
}

CrsUnit crs_unit(const std::string& wkt, const std::string& what) {
  init_gdal();
  OGRSpatialReference srs;
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  if (srs.importFromWkt(wkt.c_str()) != OGRERR_NONE) throw Error(what);
  CrsUnit u;
  u.geographic = srs.IsGeographic();
  if (!u.geographic) u.metres = srs.GetLinearUnits();
  return u;
}

struct CrsTransform::Impl {
  OGRSpatialReference from, to;
  std::unique_ptr<OGRCoordinateTransformation> t;
};

CrsTransform::CrsTransform(const std::string& from, const std::string& to, const std::string& what)
    : impl_(std::make_unique<Impl>()) {
  init_gdal();
  if (!import_crs(impl_->from, from) || !import_crs(impl_->to, to)) throw Error(what);
  impl_->from.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  impl_->to.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  impl_->t.reset(OGRCreateCoordinateTransformation(&impl_->from, &impl_->to));
  if (!impl_->t) throw Error(what);
}

CrsTransform::~CrsTransform() = default;

bool CrsTransform::apply(double& x, double& y) const { return impl_->t->Transform(1, &x, &y) != 0; }

std::array<double, 4> CrsTransform::outline_bounds(const Grid& g, const std::string& what) const {
  std::array<double, 4> b{1e300, 1e300, -1e300, -1e300};
  const int steps = 32;
  for (int k = 0; k <= steps; ++k) {
    const double u = static_cast<double>(k) / steps;
    const double xa = g.min_x() + u * (g.max_x() - g.min_x());
    const double ya = g.min_y() + u * (g.max_y() - g.min_y());
    const double xs[4] = {xa, xa, g.min_x(), g.max_x()};
    const double ys[4] = {g.min_y(), g.max_y(), ya, ya};
    for (int e = 0; e < 4; ++e) {
      double x = xs[e], y = ys[e];
      if (!apply(x, y)) throw Error(what);
      b[0] = std::min(b[0], x);
      b[1] = std::min(b[1], y);
      b[2] = std::max(b[2], x);
      b[3] = std::max(b[3], y);
    }
  }
  return b;
}

std::vector<BandInfo> read_band_info(const std::string& path) {
  init_gdal();
  detail::DatasetPtr ds = detail::open_dataset(path, path);
  if (!ds) throw file_error(path, "not a readable raster");
  std::vector<BandInfo> out;
  for (int b = 1; b <= ds->GetRasterCount(); ++b) {
    GDALRasterBand* band = ds->GetRasterBand(b);
    int has_nd = 0;
    const double nd = band->GetNoDataValue(&has_nd);
    BandInfo info;
    info.type = GDALGetDataTypeName(band->GetRasterDataType());
    if (has_nd) info.nodata = nd;
    out.push_back(info);
  }
  return out;
}

}  // namespace lstfuse::io
