#include "gdal_handles.hpp"
#include "lstfuse/io/cube_io.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <cpl_string.h>
#include <gdal_priv.h>
#include <ogr_spatialref.h>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace lstfuse::io {

using detail::DatasetPtr;
using detail::last_gdal_error;

struct CubeWriter::Impl {
  std::string path, tmp;
  Grid grid;
  size_t steps = 0;
  std::vector<CubeVariable> vars;
  DatasetPtr ds;
  std::vector<std::shared_ptr<GDALMDArray>> arrays;
  bool committed = false;
};

namespace {

void string_attribute(GDALIHasAttribute& obj, const std::string& name, const std::string& value,
                      const std::string& path) {
  auto a = obj.CreateAttribute(name, {}, GDALExtendedDataType::CreateString());
  if (!a || !a->Write(value.c_str())) throw file_error(path, "cannot write attribute " + name + " (" + last_gdal_error() + ")");
}

}  // namespace

CubeWriter::CubeWriter(const std::string& path, const Grid& grid, const std::vector<Date>& dates,
                       const std::vector<CubeVariable>& variables,
                       const std::vector<std::pair<std::string, std::string>>& attributes)
    : impl_(std::make_unique<Impl>()) {
  init_gdal();
  if (dates.empty()) throw file_error(path, "a cube needs at least one date");
  if (!grid.north_up()) throw file_error(path, "a cube needs a north-up grid");
  impl_->path = path;
  remove_stale_temporaries(path);
  impl_->tmp = temporary_name(path, ".nc");
  impl_->grid = grid;
  impl_->steps = dates.size();
  impl_->vars = variables;
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("netCDF");
  if (!drv) throw file_error(path, "this GDAL has no netCDF driver");
  CPLStringList dco;
  dco.SetNameValue("FORMAT", "NC4");
  CPLErrorReset();
  impl_->ds.reset(drv->CreateMultiDimensional(impl_->tmp.c_str(), nullptr, dco.List()));
  if (!impl_->ds) throw file_error(path, "cannot create (" + last_gdal_error() + ")");
  auto root = impl_->ds->GetRootGroup();
  string_attribute(*root, "Conventions", "CF-1.8", path);
  for (const auto& [k, v] : attributes) string_attribute(*root, k, v, path);

  OGRSpatialReference srs;
  const bool has_srs = grid.has_crs() && srs.importFromWkt(grid.crs.c_str()) == OGRERR_NONE;
  if (grid.has_crs() && !has_srs) throw file_error(path, "the grid's CRS cannot be written (not valid WKT)");
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  const bool geographic = has_srs && srs.IsGeographic();

  const auto dbl = GDALExtendedDataType::Create(GDT_Float64);
  auto dim_t = root->CreateDimension("time", GDAL_DIM_TYPE_TEMPORAL, "", dates.size());
  auto dim_y = root->CreateDimension("y", GDAL_DIM_TYPE_HORIZONTAL_Y, "", static_cast<GUInt64>(grid.height));
  auto dim_x = root->CreateDimension("x", GDAL_DIM_TYPE_HORIZONTAL_X, "", static_cast<GUInt64>(grid.width));
  if (!dim_t || !dim_y || !dim_x) throw file_error(path, "cannot create dimensions (" + last_gdal_error() + ")");
  auto coord = [&](const std::shared_ptr<GDALDimension>& dim, const std::vector<double>& values,
                   const std::vector<std::pair<std::string, std::string>>& attrs) {
    auto a = root->CreateMDArray(dim->GetName(), {dim}, dbl);
    if (!a) throw file_error(path, "cannot create variable " + dim->GetName() + " (" + last_gdal_error() + ")");
    const GUInt64 start = 0;
    const size_t count = values.size();
    if (!a->Write(&start, &count, nullptr, nullptr, dbl, values.data())) {
      throw file_error(path, "cannot write " + dim->GetName() + " (" + last_gdal_error() + ")");
    }
    for (const auto& [k, v] : attrs) string_attribute(*a, k, v, path);
    dim->SetIndexingVariable(a);
  };
  std::vector<double> tv, xv, yv;
  for (const Date& d : dates) tv.push_back(static_cast<double>(d.days()));
  for (int x = 0; x < grid.width; ++x) xv.push_back(grid.transform[0] + (x + 0.5) * grid.transform[1]);
  for (int y = 0; y < grid.height; ++y) yv.push_back(grid.transform[3] + (y + 0.5) * grid.transform[5]);
  coord(dim_t, tv, {{"standard_name", "time"}, {"long_name", "time"}, {"units", "days since 1970-01-01"},
                    {"calendar", "standard"}, {"axis", "T"}});
  const std::string xy_units = geographic ? "" : "m";
  coord(dim_x, xv, {{"standard_name", geographic ? "longitude" : "projection_x_coordinate"},
                    {"long_name", "x coordinate of the pixel centre"},
                    {"units", geographic ? "degrees_east" : xy_units}, {"axis", "X"}});
  coord(dim_y, yv, {{"standard_name", geographic ? "latitude" : "projection_y_coordinate"},
                    {"long_name", "y coordinate of the pixel centre"},
                    {"units", geographic ? "degrees_north" : xy_units}, {"axis", "Y"}});

  for (const auto& v : variables) {
    const GDALDataType t = GDALGetDataTypeByName(v.data_type.c_str());
    if (t != GDT_Float32 && t != GDT_Byte) throw file_error(path, "unsupported cube type " + v.data_type);
    CPLStringList ao;
    ao.SetNameValue("COMPRESS", "DEFLATE");
    ao.SetNameValue("ZLEVEL", "4");
    // One date per chunk, in full-width strips of about a million pixels: square chunks that do
    // not divide the grid are several times slower to write through HDF5.
    const int rows = std::clamp((1 << 20) / std::max(1, grid.width), 1, grid.height);
    ao.SetNameValue("BLOCKSIZE", fmt::format("1,{},{}", rows, grid.width).c_str());
    auto a = root->CreateMDArray(v.name, {dim_t, dim_y, dim_x}, GDALExtendedDataType::Create(t), ao.List());
    if (!a) throw file_error(path, "cannot create variable " + v.name + " (" + last_gdal_error() + ")");
    if (!a->SetNoDataValue(v.nodata)) throw file_error(path, "cannot set the fill value of " + v.name);
    if (!v.units.empty()) a->SetUnit(v.units);
    string_attribute(*a, "long_name", v.long_name, path);
    if (!v.standard_name.empty()) string_attribute(*a, "standard_name", v.standard_name, path);
    if (has_srs && !a->SetSpatialRef(&srs)) {
      throw file_error(path, "cannot write the CRS of " + v.name + " (" + last_gdal_error() + ")");
    }
    impl_->arrays.push_back(a);
  }
}

CubeWriter::~CubeWriter() {
  if (impl_ && !impl_->committed) {
    impl_->arrays.clear();
    impl_->ds.reset();
    std::error_code ec;
    std::filesystem::remove(impl_->tmp, ec);
  }
}

void CubeWriter::write(size_t var, size_t t, const Raster& r, int band) {
  const Grid& g = impl_->grid;
  if (var >= impl_->arrays.size() || t >= impl_->steps) {
    throw file_error(impl_->path, fmt::format("no variable {} / time step {} in the cube", var, t));
  }
  if (r.width() != g.width || r.height() != g.height || band >= r.bands()) {
    throw file_error(impl_->path, fmt::format("time step {} of {} does not match the cube grid", t, impl_->vars[var].name));
  }
  const double nd = impl_->vars[var].nodata;
  const GUInt64 start[3] = {t, 0, 0};
  const size_t count[3] = {1, static_cast<size_t>(g.height), static_cast<size_t>(g.width)};
  // The buffer has the variable's own type: GDAL's per-value conversion into a byte array is
  // orders of magnitude slower than the write itself.
  const bool bytes = impl_->vars[var].data_type == "Byte";
  std::vector<float> fbuf;
  std::vector<uint8_t> bbuf;
  if (bytes) {
    bbuf.resize(r.band_size());
    for (size_t i = 0; i < bbuf.size(); ++i) {
      const double v = r.mask(band)[i] ? std::clamp(std::round(static_cast<double>(r.band(band)[i])), 0.0, 255.0) : nd;
      bbuf[i] = static_cast<uint8_t>(v);
    }
  } else {
    fbuf.resize(r.band_size());
    for (size_t i = 0; i < fbuf.size(); ++i) fbuf[i] = r.mask(band)[i] ? r.band(band)[i] : static_cast<float>(nd);
  }
  CPLErrorReset();
  const bool ok = bytes ? impl_->arrays[var]->Write(start, count, nullptr, nullptr,
                                                     GDALExtendedDataType::Create(GDT_Byte), bbuf.data())
                        : impl_->arrays[var]->Write(start, count, nullptr, nullptr,
                                                    GDALExtendedDataType::Create(GDT_Float32), fbuf.data());
  if (!ok) throw file_error(impl_->path, "write failed (" + last_gdal_error() + ")");
}

void CubeWriter::commit() {
  impl_->arrays.clear();
  CPLErrorReset();
  GDALDataset* ds = impl_->ds.release();
  GDALClose(GDALDataset::ToHandle(ds));
  if (CPLGetLastErrorType() == CE_Failure) {
    throw file_error(impl_->path, "write failed (" + last_gdal_error() + ")");
  }
  std::filesystem::rename(impl_->tmp, impl_->path);
  impl_->committed = true;
}

}  // namespace lstfuse::io
