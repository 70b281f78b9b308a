#pragma once
// GDAL in and out. Every raster comes in as Kelvin float32 with a mask; every raster goes out
// with its CRS, geotransform and nodata, written under a temporary name and renamed when
// complete, so a failure never leaves a partial file behind.
#include <array>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lstfuse/core/grid.hpp"
#include "lstfuse/core/raster.hpp"

namespace lstfuse::io {

struct ReadOptions {
  // physical = DN * scale + offset (before the unit conversion); a file that declares its own
  // (GDAL's band scale and offset) is read with those, and different ones given here are refused.
  double scale = 1.0;
  double offset = 0.0;
  std::string units = "K";            // "K" or "C" (degC is converted to K)
  std::optional<double> nodata;       // overrides the file's own nodata value
  double valid_min = -std::numeric_limits<double>::infinity();  // in Kelvin, after conversion
  double valid_max = std::numeric_limits<double>::infinity();
  std::vector<int> bands;             // 1-based; empty = all bands
  bool require_crs = true;            // a raster without CRS is an error
  // Codes, not values (land-cover classes, masks): the file's own scale and offset do not apply.
  bool categorical = false;
};

// Removes GDAL's sidecar of a raster lstfuse has replaced or removed (PATH.aux.xml, written by
// gdalinfo -stats or QGIS): it holds the old raster's statistics, histogram and any scale, which
// GDAL would apply to the next raster of that name. Only a regular file of exactly that name.
void remove_stale_sidecar(const std::string& path);

// Grid (size, geotransform, CRS) of a raster file without reading its pixels.
Grid read_grid(const std::string& path, bool require_crs = true);
int read_band_count(const std::string& path);

// Whole raster. Mask = not nodata, finite, within [valid_min, valid_max].
Raster read_raster(const std::string& path, const ReadOptions& opts = {});
// A pixel window; parts outside the file come back invalid. The window's grid is the sub-grid.
Raster read_window(const std::string& path, int x0, int y0, int w, int h,
                   const ReadOptions& opts = {});

// Raw integer band (for QC/QA bit layers), with the same windowing rules. Outside pixels: 0.
std::vector<uint32_t> read_uint_band(const std::string& path, int band, int x0, int y0, int w,
                                     int h);

struct WriteOptions {
  std::string format = "GTiff";  // or "COG": each stage passes its --of explicitly
  std::string data_type = "Float32";  // GDAL type name: Float32, UInt16, Byte, Int16...
  double nodata = -9999.0;        // written where the mask is 0
  bool compress = true;           // DEFLATE with predictor, tiled 256 x 256
  // DEFLATE effort, 1 (fastest) to 9 (smallest); GDAL's default is 6. Quality layers use 1: their
  // noisy diagnostic bands took five times as long as the prediction to compress, for 15 % less.
  int deflate_level = 6;
  std::vector<std::string> creation_options;  // extra KEY=VALUE (the writer's own choices)
  // The user's --co NAME=VALUE, applied after everything else so that they win (COMPRESS=LZW
  // replaces the default DEFLATE); for a COG they go to the COG driver, which writes the file.
  std::vector<std::string> user_options;
  // Raw integer output (UInt16 DN): values are written as round((v - offset) / scale).
  double scale = 1.0;
  double offset = 0.0;
  std::vector<std::pair<std::string, std::string>> metadata;  // dataset metadata items
  // Band descriptions (GDAL SetDescription), e.g. the names of quality bands; write_raster takes
  // the raster's band_names when this is empty. read_raster/read_window return them as
  // Raster::band_names.
  std::vector<std::string> band_names;
};

void write_raster(const std::string& path, const Raster& raster, const WriteOptions& opts = {});

// Throws Error naming the option when it is not NAME=VALUE or when the driver of `format` does
// not know the name or refuses the value (GDAL's own list of the driver's creation options).
void check_creation_options(const std::string& format, const std::vector<std::string>& options);

// Block-wise writer for scenes that do not fit in memory: tiles are written as they are
// produced; commit() finishes the file (COG conversion included) and renames it into place.
// Destroying an uncommitted writer removes the temporary file.
class RasterWriter {
 public:
  RasterWriter(const std::string& path, const Grid& grid, int bands, const WriteOptions& opts = {});
  ~RasterWriter();
  RasterWriter(const RasterWriter&) = delete;
  RasterWriter& operator=(const RasterWriter&) = delete;
  // Writes `tile` (all bands) with its top-left pixel at (x0, y0) of the output grid.
  void write(const Raster& tile, int x0, int y0);
  void commit();
  const std::string& path() const { return path_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

// Semantic CRS comparison (OGRSpatialReference::IsSame); two empty CRS are equal.
bool same_crs(const std::string& wkt_a, const std::string& wkt_b);
// Same size, geotransform (within a thousandth of a pixel) and an equivalent CRS.
bool same_grid(const Grid& a, const Grid& b);
// WKT of an EPSG code or any user CRS string ("EPSG:32755", PROJ string, WKT). GDAL would also
// read a file or a URL named there; `from_a_file` (a CRS written in a manifest) forbids both, so
// that a manifest cannot make lstfuse read a file outside its folder or reach the network.
std::string crs_to_wkt(const std::string& user_crs, bool from_a_file = false);
// A projected CRS whose linear unit is the metre (UTM and the like; not geographic degrees).
bool crs_is_projected(const std::string& wkt);
// What a CRS given by the user (as crs_to_wkt reads it) is for: whether it places points on a
// map (projected or geographic, not geocentric, vertical or compound), and the area it is meant
// for in degrees (west, south, east, north; west > east across the antimeridian), where its
// definition gives one (the EPSG registry's do).
struct CrsScope {
  bool horizontal = true;
  bool geographic = false;
  std::optional<std::array<double, 4>> area;
};
CrsScope crs_scope(const std::string& user_crs);

// Dataset metadata item that every raster lstfuse writes carries (its version): the mark by which
// an existing file is known as an lstfuse output that may be replaced.
inline constexpr const char* kRasterMarkerItem = "LSTFUSE_VERSION";
// True when `path` opens as a raster carrying an LSTFUSE_* metadata item or an lstfuse
// TIFFTAG_SOFTWARE; false for anything else (not a raster, another program's raster).
bool is_lstfuse_raster(const std::string& path);
// The entries of `own` (paths relative to `dir`, as a folder's manifest lists its files) that
// lstfuse may replace: the names in `keep` (the manifest itself), entries absent from the disk,
// and rasters carrying its mark. A listed file without the mark is not lstfuse's, whatever the
// manifest says (one written or edited by hand), so it is left out: the folder then counts as
// holding someone else's file (foreign_entry), and --overwrite refuses it.
std::vector<std::string> marked_own_files(const std::filesystem::path& dir, const std::vector<std::string>& own,
                                          const std::vector<std::string>& keep);
// A dataset metadata item of the raster at `path`; empty when it has none or does not open.
std::string raster_metadata_item(const std::string& path, const std::string& key);

// Registers GDAL drivers once; quiet error handler so messages come through our exceptions.
void init_gdal();

}  // namespace lstfuse::io
