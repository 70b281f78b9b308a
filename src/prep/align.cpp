#include "../io/gdal_handles.hpp"
#include "lstfuse/prep/align.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal_alg.h>
#include <gdal_priv.h>
#include <gdalwarper.h>
#include <ogr_spatialref.h>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace lstfuse::prep {
namespace {

using io::detail::DatasetPtr;
using io::detail::last_gdal_error;

struct TransformDeleter {
  void operator()(OGRCoordinateTransformation* ct) const { OGRCoordinateTransformation::DestroyCT(ct); }
};
using TransformPtr = std::unique_ptr<OGRCoordinateTransformation, TransformDeleter>;

// x/y always easting/northing (lon/lat), whatever the CRS's official axis order.
OGRSpatialReference srs_from(const std::string& wkt) {
  OGRSpatialReference srs;
  if (srs.importFromWkt(wkt.c_str()) != OGRERR_NONE) throw Error("invalid CRS WKT: " + wkt.substr(0, 80));
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  return srs;
}

// Null when both CRS are the same (identity).
TransformPtr make_transform(const std::string& from_wkt, const std::string& to_wkt) {
  if (io::same_crs(from_wkt, to_wkt)) return nullptr;
  const OGRSpatialReference a = srs_from(from_wkt), b = srs_from(to_wkt);
  CPLErrorReset();
  TransformPtr ct(OGRCreateCoordinateTransformation(&a, &b));
  if (!ct) throw Error("no coordinate transformation between the two CRS (" + last_gdal_error() + ")");
  return ct;
}

// Geo coordinates of an (n+1) x (n+1) lattice over a pixel window of `g` (edges included, so
// the window's outline and interior are both sampled), transformed by `ct`.
void sample_window(const Grid& g, double px0, double py0, double pw, double ph, int n,
                   OGRCoordinateTransformation* ct, std::vector<double>& xs, std::vector<double>& ys,
                   std::vector<int>& ok) {
  xs.clear();
  ys.clear();
  for (int j = 0; j <= n; ++j) {
    for (int i = 0; i <= n; ++i) {
      const double px = px0 + pw * i / n, py = py0 + ph * j / n;
      xs.push_back(g.transform[0] + px * g.transform[1] + py * g.transform[2]);
      ys.push_back(g.transform[3] + px * g.transform[4] + py * g.transform[5]);
    }
  }
  ok.assign(xs.size(), 1);
  if (ct) {
    CPLErrorReset();
    ct->Transform(static_cast<int>(xs.size()), xs.data(), ys.data(), nullptr, ok.data());
  }
}

struct PixelBox {
  double x0, y0, x1, y1;  // source pixel coordinates (fractional)
};

// The part of the source (in its pixel coordinates) that a target window maps onto.
std::optional<PixelBox> source_box(const Grid& source, const Grid& target, int tx0, int ty0, int tw,
                                   int th, OGRCoordinateTransformation* ct) {
  std::vector<double> xs, ys;
  std::vector<int> ok;
  sample_window(target, tx0, ty0, tw, th, 16, ct, xs, ys, ok);
  double inv[6];
  if (!GDALInvGeoTransform(const_cast<double*>(source.transform.data()), inv)) return std::nullopt;
  PixelBox b{INFINITY, INFINITY, -INFINITY, -INFINITY};
  bool any = false;
  for (size_t k = 0; k < xs.size(); ++k) {
    if (!ok[k] || !std::isfinite(xs[k]) || !std::isfinite(ys[k])) continue;
    const double px = inv[0] + xs[k] * inv[1] + ys[k] * inv[2];
    const double py = inv[3] + xs[k] * inv[4] + ys[k] * inv[5];
    b.x0 = std::min(b.x0, px);
    b.x1 = std::max(b.x1, px);
    b.y0 = std::min(b.y0, py);
    b.y1 = std::max(b.y1, py);
    any = true;
  }
  if (!any) return std::nullopt;
  return b;
}

bool box_hits(const PixelBox& b, const Grid& source) {
  return b.x1 > 0 && b.y1 > 0 && b.x0 < source.width && b.y0 < source.height;
}

GDALResampleAlg gdal_alg(Resampling r) {
  switch (r) {
    case Resampling::Nearest: return GRA_NearestNeighbour;
    case Resampling::Bilinear: return GRA_Bilinear;
    case Resampling::Bicubic: return GRA_Cubic;
    case Resampling::Average: return GRA_Average;
  }
  return GRA_Bilinear;
}

DatasetPtr mem_dataset(const Grid& g, int bands) {
  GDALDriver* mem = GetGDALDriverManager()->GetDriverByName("MEM");
  DatasetPtr ds(mem->Create("", g.width, g.height, bands, GDT_Float32, nullptr));
  if (!ds) throw Error("cannot create an in-memory raster (" + last_gdal_error() + ")");
  double t[6];
  std::copy(g.transform.begin(), g.transform.end(), t);
  ds->SetGeoTransform(t);
  const OGRSpatialReference srs = srs_from(g.crs);
  ds->SetSpatialRef(&srs);
  return ds;
}

// Reprojects one source window onto one target tile: values (invalid as 0) and validity warped
// with the same kernel, then the validity rule of the header decides the mask.
Raster warp_tile(const Raster& src, const Grid& tile, Resampling r, const std::string& name) {
  const size_t n_src = src.band_size();
  std::vector<float> value(n_src), valid(n_src);
  for (size_t i = 0; i < n_src; ++i) {
    const bool v = src.mask(0)[i] != 0;
    value[i] = v ? src.band(0)[i] : 0.0f;
    valid[i] = v ? 1.0f : 0.0f;
  }
  DatasetPtr s = mem_dataset(src.grid(), 2);
  CPLErrorReset();
  if (s->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, src.width(), src.height(), value.data(), src.width(),
                                    src.height(), GDT_Float32, 0, 0) != CE_None ||
      s->GetRasterBand(2)->RasterIO(GF_Write, 0, 0, src.width(), src.height(), valid.data(), src.width(),
                                    src.height(), GDT_Float32, 0, 0) != CE_None) {
    throw file_error(name, "cannot stage the source window (" + last_gdal_error() + ")");
  }
  DatasetPtr d = mem_dataset(tile, 2);

  GDALWarpOptions* wo = GDALCreateWarpOptions();
  wo->hSrcDS = GDALDataset::ToHandle(s.get());
  wo->hDstDS = GDALDataset::ToHandle(d.get());
  wo->nBandCount = 2;
  wo->panSrcBands = static_cast<int*>(CPLMalloc(2 * sizeof(int)));
  wo->panDstBands = static_cast<int*>(CPLMalloc(2 * sizeof(int)));
  for (int b = 0; b < 2; ++b) wo->panSrcBands[b] = wo->panDstBands[b] = b + 1;
  wo->eResampleAlg = gdal_alg(r);
  wo->eWorkingDataType = GDT_Float32;
  wo->papszWarpOptions = CSLSetNameValue(wo->papszWarpOptions, "INIT_DEST", "0");
  void* gen = GDALCreateGenImgProjTransformer2(wo->hSrcDS, wo->hDstDS, nullptr);
  if (!gen) {
    GDALDestroyWarpOptions(wo);
    throw file_error(name, "cannot reproject onto the target grid (" + last_gdal_error() + ")");
  }
  // Same tolerance as gdalwarp: 1/8 pixel, far below any resampling effect.
  void* approx = GDALCreateApproxTransformer(GDALGenImgProjTransform, gen, 0.125);
  wo->pfnTransformer = GDALApproxTransform;
  wo->pTransformerArg = approx;
  CPLErr err;
  {
    GDALWarpOperation op;
    err = op.Initialize(wo);
    if (err == CE_None) err = op.ChunkAndWarpImage(0, 0, tile.width, tile.height);
  }
  GDALDestroyApproxTransformer(approx);
  GDALDestroyGenImgProjTransformer(gen);
  GDALDestroyWarpOptions(wo);
  if (err != CE_None) throw file_error(name, "reprojection failed (" + last_gdal_error() + ")");

  const size_t n = static_cast<size_t>(tile.width) * tile.height;
  std::vector<float> out_v(n), out_w(n);
  if (d->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, tile.width, tile.height, out_v.data(), tile.width,
                                    tile.height, GDT_Float32, 0, 0) != CE_None ||
      d->GetRasterBand(2)->RasterIO(GF_Read, 0, 0, tile.width, tile.height, out_w.data(), tile.width,
                                    tile.height, GDT_Float32, 0, 0) != CE_None) {
    throw file_error(name, "reprojection failed (" + last_gdal_error() + ")");
  }
  Raster out(tile, 1, NAN, false);
  const bool average = r == Resampling::Average;
  for (size_t i = 0; i < n; ++i) {
    const float w = out_w[i];
    const bool ok = average ? w >= 0.5f : std::abs(w - 1.0f) < 1e-3f;
    out.band(0)[i] = ok ? (average ? out_v[i] / w : out_v[i]) : NAN;
    out.mask(0)[i] = ok ? 1 : 0;
  }
  return out;
}

// Integer pixel offset of `target` inside `source` when both share CRS, pixel size and
// alignment: then tiles are plain window reads, bit-exact whatever the resampling.
std::optional<std::pair<int, int>> integer_offset(const Grid& source, const Grid& target) {
  if (!source.north_up() || !target.north_up()) return std::nullopt;
  const double rx = source.transform[1], ry = source.transform[5];
  if (std::abs(target.transform[1] - rx) > 1e-9 * std::abs(rx) ||
      std::abs(target.transform[5] - ry) > 1e-9 * std::abs(ry))
    return std::nullopt;
  const double dx = (target.transform[0] - source.transform[0]) / rx;
  const double dy = (target.transform[3] - source.transform[3]) / ry;
  if (std::abs(dx - std::round(dx)) > 1e-3 || std::abs(dy - std::round(dy)) > 1e-3) return std::nullopt;
  if (!io::same_crs(source.crs, target.crs)) return std::nullopt;
  return std::make_pair(static_cast<int>(std::lround(dx)), static_cast<int>(std::lround(dy)));
}

}  // namespace

Resampling resampling_from_string(const std::string& name) {
  if (name == "nearest") return Resampling::Nearest;
  if (name == "bilinear") return Resampling::Bilinear;
  if (name == "bicubic" || name == "cubic") return Resampling::Bicubic;
  if (name == "average") return Resampling::Average;
  throw Error("unknown resampling '" + name + "' (expected nearest, bilinear, bicubic or average)");
}

std::string to_string(Resampling r) {
  switch (r) {
    case Resampling::Nearest: return "nearest";
    case Resampling::Bilinear: return "bilinear";
    case Resampling::Bicubic: return "bicubic";
    case Resampling::Average: return "average";
  }
  return "?";
}

Grid make_grid(const std::string& crs, double res, const Bounds& e) {
  if (!(res > 0)) throw Error(fmt::format("resolution must be positive (got {})", res));
  if (!(e[2] > e[0] && e[3] > e[1])) {
    throw Error(fmt::format("empty extent ({} {} {} {}): expected xmin ymin xmax ymax", e[0], e[1], e[2], e[3]));
  }
  Grid g;
  g.crs = io::crs_to_wkt(crs);
  // A hair of tolerance so that an extent that is an exact multiple of res adds no extra pixel.
  g.width = static_cast<int>(std::ceil((e[2] - e[0]) / res - 1e-6));
  g.height = static_cast<int>(std::ceil((e[3] - e[1]) / res - 1e-6));
  g.transform = {e[0], res, 0.0, e[3], 0.0, -res};
  return g;
}

std::optional<Bounds> bounds_in(const Grid& grid, const std::string& target_crs_wkt) {
  io::init_gdal();
  TransformPtr ct = make_transform(grid.crs, target_crs_wkt);
  std::vector<double> xs, ys;
  std::vector<int> ok;
  sample_window(grid, 0, 0, grid.width, grid.height, 32, ct.get(), xs, ys, ok);
  Bounds b{INFINITY, INFINITY, -INFINITY, -INFINITY};
  bool any = false;
  for (size_t k = 0; k < xs.size(); ++k) {
    if (!ok[k] || !std::isfinite(xs[k]) || !std::isfinite(ys[k])) continue;
    b = {std::min(b[0], xs[k]), std::min(b[1], ys[k]), std::max(b[2], xs[k]), std::max(b[3], ys[k])};
    any = true;
  }
  if (!any) return std::nullopt;
  return b;
}

AlignSource raster_source(const Raster& raster, const std::string& name) {
  AlignSource s;
  s.grid = raster.grid();
  s.name = name;
  s.read = [&raster](int x0, int y0, int w, int h) { return raster.crop(x0, y0, w, h); };
  return s;
}

bool overlaps(const Grid& source, const Grid& target) {
  io::init_gdal();
  TransformPtr ct = make_transform(target.crs, source.crs);
  const auto box = source_box(source, target, 0, 0, target.width, target.height, ct.get());
  return box && box_hits(*box, source);
}

void align_tiles(const AlignSource& src, const Grid& target, const AlignOptions& opts,
                 const TileSink& sink) {
  io::init_gdal();
  if (target.width <= 0 || target.height <= 0) throw Error("the target grid is empty");
  const auto direct = integer_offset(src.grid, target);
  TransformPtr ct = direct ? nullptr : make_transform(target.crs, src.grid.crs);
  const auto whole = source_box(src.grid, target, 0, 0, target.width, target.height, ct.get());
  if (!whole || !box_hits(*whole, src.grid)) {
    throw file_error(src.name, "does not overlap the target grid (" + target.describe() + ")");
  }
  // Source pixels per target pixel: a much finer source gets smaller tiles so that the source
  // window under a tile stays about tile x tile pixels.
  const double ratio = std::max((whole->x1 - whole->x0) / target.width, (whole->y1 - whole->y0) / target.height);
  const int tile = std::clamp(static_cast<int>(opts.tile / std::max(1.0, ratio)), 64, std::max(64, opts.tile));
  const int margin = 3 + (opts.resampling == Resampling::Average ? static_cast<int>(std::ceil(ratio)) : 0);

  for (int ty = 0; ty < target.height; ty += tile) {
    for (int tx = 0; tx < target.width; tx += tile) {
      const int tw = std::min(tile, target.width - tx), th = std::min(tile, target.height - ty);
      const Grid tg = target.window(tx, ty, tw, th);
      if (direct) {
        Raster r = src.read(tx + direct->first, ty + direct->second, tw, th);
        r.grid() = tg;
        sink(r, tx, ty);
        continue;
      }
      const auto box = source_box(src.grid, target, tx, ty, tw, th, ct.get());
      if (!box || !box_hits(*box, src.grid)) {
        sink(Raster(tg, 1, NAN, false), tx, ty);
        continue;
      }
      const int x0 = std::max(-margin, static_cast<int>(std::floor(box->x0)) - margin);
      const int y0 = std::max(-margin, static_cast<int>(std::floor(box->y0)) - margin);
      const int x1 = std::min(src.grid.width + margin, static_cast<int>(std::ceil(box->x1)) + margin);
      const int y1 = std::min(src.grid.height + margin, static_cast<int>(std::ceil(box->y1)) + margin);
      const Raster window = src.read(x0, y0, x1 - x0, y1 - y0);
      sink(warp_tile(window, tg, opts.resampling, src.name), tx, ty);
    }
  }
}

Raster align(const AlignSource& src, const Grid& target, const AlignOptions& opts) {
  Raster out(target, 1, NAN, false);
  align_tiles(src, target, opts, [&out](const Raster& tile, int x0, int y0) { out.paste(tile, x0, y0); });
  return out;
}

}  // namespace lstfuse::prep
