#include "gdal_handles.hpp"
#include "lstfuse/io/products.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>
#include <vector>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal_priv.h>
#include <ogr_spatialref.h>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace fs = std::filesystem;

namespace lstfuse::io {
namespace {

using detail::DatasetPtr;
using detail::last_gdal_error;

// `shown` is the user's file (errors name it); `name` is the GDAL dataset name to open.
DatasetPtr open_layer(const std::string& name, const std::string& shown) {
  init_gdal();
  DatasetPtr ds = detail::open_dataset(name, shown);
  if (!ds) throw file_error(shown, "not a readable raster (" + last_gdal_error() + ")");
  if (ds->GetRasterCount() < 1) throw file_error(shown, "has no raster band");
  detail::check_real_band(*ds->GetRasterBand(1), shown);
  return ds;
}

Grid grid_of(GDALDataset& ds, const std::string& shown) {
  Grid g;
  g.width = ds.GetRasterXSize();
  g.height = ds.GetRasterYSize();
  double t[6];
  if (ds.GetGeoTransform(t) != CE_None) throw file_error(shown, "has no geotransform (not georeferenced)");
  detail::check_geotransform(t, shown);
  std::copy(t, t + 6, g.transform.begin());
  const OGRSpatialReference* srs = ds.GetSpatialRef();
  if (srs && !srs->IsEmpty()) {
    char* wkt = nullptr;
    srs->exportToWkt(&wkt);
    g.crs = wkt ? wkt : "";
    CPLFree(wkt);
  }
  if (g.crs.empty()) {
    throw file_error(shown, "has no coordinate reference system (assign one, e.g. with gdal_edit.py -a_srs)");
  }
  return g;
}

// A window of band 1 as doubles; pixels outside the dataset get `outside`.
std::vector<double> read_block(GDALDataset& ds, int x0, int y0, int w, int h, double outside,
                               const std::string& shown) {
  std::vector<double> out(static_cast<size_t>(w) * h, outside);
  const int W = ds.GetRasterXSize(), H = ds.GetRasterYSize();
  const int xa = std::max(0, x0), xb = std::min(W, x0 + w);
  const int ya = std::max(0, y0), yb = std::min(H, y0 + h);
  if (xa >= xb || ya >= yb) return out;
  const int cw = xb - xa, ch = yb - ya;
  CPLErrorReset();
  // Write straight into the output rows with a line stride.
  double* first = out.data() + static_cast<size_t>(ya - y0) * w + (xa - x0);
  if (ds.GetRasterBand(1)->RasterIO(GF_Read, xa, ya, cw, ch, first, cw, ch, GDT_Float64,
                                    sizeof(double), static_cast<GSpacing>(sizeof(double)) * w) != CE_None) {
    throw file_error(shown, "read failed (" + detail::read_failure_reason(ds.GetDescription(), 1, xa, ya, cw, ch) + ")");
  }
  return out;
}

bool is_nodata(double v, bool has_nd, double nd) {
  if (!has_nd) return false;
  if (std::isnan(nd)) return std::isnan(v);
  // Huge sentinels (-3.4e38) may have been rounded through float32 by the writer.
  return v == nd || (std::abs(nd) > 1e30 && std::abs(v - nd) <= 1e-6 * std::abs(nd));
}

std::string replace_once(std::string s, const std::string& from, const std::string& to) {
  const auto p = s.rfind(from);
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

std::string companion(const std::string& path, const std::string& from, const std::string& to,
                      const std::string& what) {
  const fs::path p(path);
  const fs::path c = p.parent_path() / replace_once(p.filename().string(), from, to);
  if (!fs::exists(c)) throw file_error(path, what + " not found beside it (expected " + c.string() + ")");
  return c.string();
}

const std::regex kModisName(R"(^(MOD|MYD)11A1)", std::regex::icase);
const std::regex kLandsatC2(R"(^L[CO]0([89])_L2S[PR]_)", std::regex::icase);
const std::regex kLandsatGeneric(R"(^(landsat|L[COTEM]0\d))", std::regex::icase);

}  // namespace

std::string to_string(ProductKind k) {
  switch (k) {
    case ProductKind::Modis11A1Hdf: return "mod11a1-hdf";
    case ProductKind::Modis11A1GeoTiff: return "mod11a1-geotiff";
    case ProductKind::LandsatC2St: return "landsat-c2-st";
    case ProductKind::Generic: return "generic";
  }
  return "?";
}

bool is_companion_file(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  static const std::regex modis_extra(R"((QC_Day|QC_Night|view_time|view_angl))", std::regex::icase);
  if (std::regex_search(name, modis_extra)) return true;
  // Every Collection 2 file except the surface temperature itself (SR bands, ST_QA, QA_PIXEL...).
  if (std::regex_search(name, kLandsatC2) && name.find("_ST_B10.") == std::string::npos) return true;
  return false;
}

ProductFile identify_product(const std::string& path, const ProductOptions& opts) {
  if (!fs::exists(path)) throw file_error(path, "no such file");
  if (fs::is_directory(path)) throw file_error(path, "is a folder, not a product file");
  ProductFile p;
  p.path = path;
  p.lst = path;
  p.date = Date::from_filename(fs::path(path).filename().string());
  const std::string name = fs::path(path).filename().string();
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  std::smatch m;
  const bool modis_name = std::regex_search(name, m, kModisName);
  const std::string modis_sensor =
      modis_name ? (std::toupper(static_cast<unsigned char>(name[1])) == 'O' ? "modis-terra" : "modis-aqua")
                 : "modis";
  if (modis_name && (ext == ".hdf" || ext == ".h4")) {
    p.kind = ProductKind::Modis11A1Hdf;
    p.role = Role::Coarse;
    p.sensor = modis_sensor;
    const std::string grid = "MODIS_Grid_Daily_1km_LST";
    const std::string when = opts.night ? "Night" : "Day";
    auto sds = [&](const std::string& layer) {
      return fmt::format("HDF4_EOS:EOS_GRID:\"{}\":{}:{}", path, grid, layer);
    };
    p.lst = sds("LST_" + when + "_1km");
    p.qc = sds("QC_" + when);
    p.view_time = sds(when + "_view_time");
    return p;
  }
  for (const char* when : {"Day", "Night"}) {
    const std::string token = std::string("LST_") + when + "_1km";
    if (name.find(token) != std::string::npos) {
      if (opts.night && std::string(when) == "Day")
        throw file_error(path, "is a day LST file (LST_Day_1km) but --night asks for night LST: give the "
                               "LST_Night_1km files or drop --night");
      p.kind = ProductKind::Modis11A1GeoTiff;
      p.role = Role::Coarse;
      p.sensor = modis_sensor;
      p.qc = companion(path, token, std::string("QC_") + when, "the MODIS QC file");
      return p;
    }
  }
  if (std::regex_search(name, m, kLandsatC2) && name.find("_ST_B10.") != std::string::npos) {
    p.kind = ProductKind::LandsatC2St;
    p.role = Role::Fine;
    p.sensor = std::string("landsat") + m[1].str();
    p.qc = companion(path, "_ST_B10.", "_QA_PIXEL.", "the Landsat QA_PIXEL file");
    return p;
  }
  p.kind = ProductKind::Generic;
  if (std::regex_search(name, kLandsatGeneric)) {
    p.role = Role::Fine;
    p.sensor = "landsat";
  } else if (modis_name) {
    p.role = Role::Coarse;
    p.sensor = modis_sensor;
  } else {
    p.sensor = "generic";
  }
  return p;
}

bool modis_qc_accept(uint32_t qc, const ProductOptions& opts) {
  const uint32_t mandatory = qc & 0x3u;
  if (mandatory > 1u) return false;                      // 10/11: LST not produced
  if (mandatory == 1u && opts.qc != "any") return false;  // "other quality"
  static constexpr double kErrorBound[4] = {1.0, 2.0, 3.0, std::numeric_limits<double>::infinity()};
  return kErrorBound[(qc >> 6) & 0x3u] <= opts.max_lst_error;
}

bool landsat_qa_accept(uint32_t qa, const ProductOptions& opts) {
  // bit 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud shadow
  if (qa & 0x1Fu) return false;
  if (opts.mask_snow && (qa & (1u << 5))) return false;
  if (opts.mask_water && (qa & (1u << 7))) return false;
  return true;
}

struct ProductReader::Impl {
  ProductFile product;
  ProductOptions opts;
  Grid grid;
  DatasetPtr lst, qc, view_time;
  bool has_nd = false;
  double nd = 0.0;
};

ProductReader::ProductReader(const ProductFile& product, const ProductOptions& opts)
    : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.product = product;
  s.opts = opts;
  if (opts.qc != "good" && opts.qc != "any") {
    throw Error("unknown QC policy '" + opts.qc + "' (expected good or any)");
  }
  if (opts.units != "K" && opts.units != "C") {
    throw Error("unknown units '" + opts.units + "' (expected K or C)");
  }
  if (!(opts.scale != 0.0) || !std::isfinite(opts.scale)) {
    throw Error(fmt::format("--scale must be a non-zero finite number, got {}", opts.scale));
  }
  if (!std::isfinite(opts.offset)) throw Error(fmt::format("--offset must be finite, got {}", opts.offset));
  if (product.kelvin) {
    s.opts.units = "K";
    s.opts.scale = 1.0;
    s.opts.offset = 0.0;
  }
  if (!fs::exists(product.path)) throw file_error(product.path, "no such file");
  s.lst = open_layer(product.lst, product.path);
  s.grid = grid_of(*s.lst, product.path);
  auto open_companion = [&](const std::string& name, const std::string& what) {
    DatasetPtr ds = open_layer(name, name);
    if (ds->GetRasterXSize() != s.grid.width || ds->GetRasterYSize() != s.grid.height) {
      throw file_error(name, fmt::format("{} is {} x {} but {} is {} x {}", what, ds->GetRasterXSize(),
                                         ds->GetRasterYSize(), product.path, s.grid.width, s.grid.height));
    }
    return ds;
  };
  if (!product.qc.empty()) s.qc = open_companion(product.qc, "the QC/QA layer");
  if (!product.view_time.empty()) s.view_time = open_companion(product.view_time, "the view-time layer");
  if (product.kind == ProductKind::Generic) {
    if (s.lst->GetRasterCount() != 1) {
      throw file_error(product.path, fmt::format("has {} bands; an LST file must have one", s.lst->GetRasterCount()));
    }
    int has = 0;
    const double file_nd = s.lst->GetRasterBand(1)->GetNoDataValue(&has);
    s.has_nd = opts.nodata.has_value() || has;
    s.nd = opts.nodata.value_or(file_nd);
    // A GeoTIFF that declares its encoding (GDAL's band scale and offset): read with it.
    const detail::Encoding enc = detail::band_encoding(*s.lst->GetRasterBand(1), s.opts.scale, s.opts.offset,
                                                       product.path, "--scale and --offset");
    s.opts.scale = enc.scale;
    s.opts.offset = enc.offset;
  }
}

ProductReader::~ProductReader() = default;

const ProductFile& ProductReader::product() const { return impl_->product; }
const Grid& ProductReader::grid() const { return impl_->grid; }

Raster ProductReader::read(int x0, int y0, int w, int h) {
  auto& s = *impl_;
  Raster out(s.grid.window(x0, y0, w, h), 1, NAN, false);
  out.band_names = {"lst"};
  const auto dn = read_block(*s.lst, x0, y0, w, h, NAN, s.product.path);
  std::vector<double> qa;
  // Outside pixels get a QC/QA value that is always rejected (MODIS 10, Landsat fill bit).
  if (s.qc) qa = read_block(*s.qc, x0, y0, w, h, s.product.kind == ProductKind::LandsatC2St ? 1 : 2, s.product.qc);
  const size_t n = dn.size();
  float* v = out.band(0);
  uint8_t* ok = out.mask(0);
  const ProductOptions& o = s.opts;
  const ProductKind kind = s.product.kind;
  const double to_k = o.units == "C" ? 273.15 : 0.0;
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < static_cast<long long>(n); ++i) {
    const double d = dn[i];
    double k = NAN;
    bool good = std::isfinite(d);
    if (good) {
      switch (kind) {
        case ProductKind::Modis11A1Hdf:
        case ProductKind::Modis11A1GeoTiff:
          // valid_range of the product starts at 7500 (150 K); 0 is the fill value
          good = d >= 7500 && d <= 65535 &&
                 (qa.empty() || modis_qc_accept(static_cast<uint32_t>(qa[i]), o));
          k = d * kModisLstScale;
          break;
        case ProductKind::LandsatC2St:
          good = d != 0 && (qa.empty() || landsat_qa_accept(static_cast<uint32_t>(qa[i]), o));
          k = d * kLandsatStScale + kLandsatStOffset;
          break;
        case ProductKind::Generic:
          good = !is_nodata(d, s.has_nd, s.nd);
          k = d * o.scale + o.offset + to_k;
          good = good && std::isfinite(k);
          break;
      }
    }
    v[i] = good ? static_cast<float>(k) : NAN;
    ok[i] = good ? 1 : 0;
  }
  // One plausibility rule for every decoder: a valid pixel outside 150-380 K means the file's
  // units or scale are not what the decoder assumed; nothing from it may enter a catalog.
  for (size_t i = 0; i < n; ++i) {
    if (ok[i] && !(v[i] >= kPlausibleMinK && v[i] <= kPlausibleMaxK)) {
      const long long px = x0 + static_cast<long long>(i % static_cast<size_t>(w));
      const long long py = y0 + static_cast<long long>(i / static_cast<size_t>(w));
      std::string hint;
      const std::string file = fs::path(s.product.path).filename().string();
      if (kind == ProductKind::Generic && (file.find("QC_") != std::string::npos || file.find("_QA") != std::string::npos)) {
        hint = "; the file looks like a quality (QC/QA) layer, not LST: give the LST file";
      } else if (kind == ProductKind::Generic) {
        hint = v[i] > -100 && v[i] < 100 && o.units == "K"
                   ? "; the file looks like degrees Celsius: give --units C"
                   : "; check --units (K or C), --scale and --offset";
      } else {
        hint = "; the product's values are not LST as its format defines it";
      }
      throw file_error(s.product.path,
                       fmt::format("decoded LST {:.2f} K at pixel ({}, {}) is outside the plausible {:.0f}-{:.0f} K{}",
                                   v[i], px, py, kPlausibleMinK, kPlausibleMaxK, hint));
    }
  }
  return out;
}

void check_plausible_lst(const Raster& lst, const std::string& name, int x0, int y0) {
  const size_t n = static_cast<size_t>(lst.width()) * static_cast<size_t>(lst.height());
  for (int b = 0; b < lst.bands(); ++b) {
    const float* v = lst.band(b);
    const uint8_t* ok = lst.mask(b);
    for (size_t i = 0; i < n; ++i) {
      if (!ok[i] || (v[i] >= kPlausibleMinK && v[i] <= kPlausibleMaxK)) continue;
      const std::string hint = v[i] > -100 && v[i] < 100
                                   ? "; it looks like degrees Celsius: convert to kelvin (--units C for files)"
                                   : "; check the units (K or C) and the scale";
      throw file_error(name, fmt::format("LST {:.2f} K at pixel ({}, {}) is outside the plausible {:.0f}-{:.0f} K{}",
                                         v[i], x0 + static_cast<long long>(i % static_cast<size_t>(lst.width())),
                                         y0 + static_cast<long long>(i / static_cast<size_t>(lst.width())),
                                         kPlausibleMinK, kPlausibleMaxK, hint));
    }
  }
}

std::string ProductReader::quality_name() const { return impl_->view_time ? "view_time" : ""; }

Raster ProductReader::read_quality(int x0, int y0, int w, int h) {
  auto& s = *impl_;
  if (!s.view_time) throw file_error(s.product.path, "has no quality layer");
  Raster out(s.grid.window(x0, y0, w, h), 1, NAN, false);
  out.units = "h";
  out.band_names = {"view_time"};
  const auto dn = read_block(*s.view_time, x0, y0, w, h, 255, s.product.view_time);
  for (size_t i = 0; i < dn.size(); ++i) {
    const bool good = std::isfinite(dn[i]) && dn[i] < 255;  // 255 = fill
    out.band(0)[i] = good ? static_cast<float>(dn[i] * kModisViewTimeScale) : NAN;
    out.mask(0)[i] = good ? 1 : 0;
  }
  return out;
}

}  // namespace lstfuse::io
