#pragma once
// Product decoders: from the files users download (MOD11A1/MYD11A1 HDF4-EOS, the simulator's
// MODIS GeoTIFF pair, Landsat 8/9 Collection 2 ST_B10 + QA_PIXEL, plain GeoTIFFs in K or degC)
// to Kelvin float32 with a validity mask on the product's own grid. Reads are windowed so that
// only the part of a granule under the target grid is ever decoded.
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/date.hpp"
#include "lstfuse/core/grid.hpp"
#include "lstfuse/core/raster.hpp"

namespace lstfuse::io {

enum class ProductKind {
  Modis11A1Hdf,      // MOD11A1/MYD11A1 HDF4-EOS granule
  Modis11A1GeoTiff,  // LST_Day_1km/LST_Night_1km UInt16 GeoTIFF + QC GeoTIFF (simulator, exports)
  LandsatC2St,       // Landsat 8/9 Collection 2 Level-2 ST_B10 + QA_PIXEL
  Generic,           // single-band GeoTIFF in K or degC with scale/offset/nodata
};
std::string to_string(ProductKind k);

struct ProductOptions {
  // MOD11A1: QC bits 0-1: "good" keeps 00 only, "any" keeps 00 and 01 (10/11 carry no LST).
  std::string qc = "good";
  // MOD11A1: keep a pixel only when the upper bound of its QC LST-error class (bits 6-7: 1, 2,
  // 3 K, or unbounded) is <= this many kelvin. Infinity keeps every class.
  double max_lst_error = std::numeric_limits<double>::infinity();
  bool night = false;  // MOD11A1 HDF: LST_Night_1km / QC_Night / Night_view_time
  // Landsat C2 QA_PIXEL: fill, dilated cloud, cirrus, cloud and shadow are always masked.
  bool mask_snow = false;
  bool mask_water = false;
  // Generic GeoTIFFs: physical = DN * scale + offset in `units` (K or C).
  std::string units = "K";
  double scale = 1.0;
  double offset = 0.0;
  std::optional<double> nodata;  // overrides the file's own nodata
};

// Scale factors of the products (from the product user guides).
constexpr double kModisLstScale = 0.02;        // K per DN, fill 0
constexpr double kModisViewTimeScale = 0.1;    // hours per DN, fill 255
constexpr double kLandsatStScale = 0.00341802; // K per DN
constexpr double kLandsatStOffset = 149.0;     // K, fill 0

// One product as found on disk: what it is, where its layers are, and what its name says.
struct ProductFile {
  ProductKind kind = ProductKind::Generic;
  std::string path;        // the file the user named (used in every error message)
  std::string lst;         // GDAL dataset name of the LST layer
  std::string qc;          // QC (MODIS) or QA_PIXEL (Landsat); empty = none
  std::string view_time;   // MODIS view time; empty = none
  std::optional<Role> role;
  std::optional<Date> date;
  std::string sensor;      // "modis-terra", "modis-aqua", "landsat8", "landsat9", "landsat", ...
  // Known to be Float32 Kelvin already (a simulation's "kelvin" files): --units, --scale and
  // --offset, which describe the user's generic GeoTIFFs, do not apply to it.
  bool kelvin = false;
};

// Plausible land surface temperatures: decoded values outside this range mean the units or
// the scale are wrong (degrees Celsius read as Kelvin, a DN without its scale factor).
constexpr double kPlausibleMinK = 150.0;
constexpr double kPlausibleMaxK = 380.0;

// The same rule for LST that reaches lstfuse already decoded (predict's and metrics' files,
// numpy arrays): throws Error naming `name` at the first valid pixel outside 150-380 K, with a
// hint about the units (degrees Celsius read as Kelvin) or the scale.
// (x0, y0): where `lst` lies in the file, for a window's message to name the file's pixel.
void check_plausible_lst(const Raster& lst, const std::string& name, int x0 = 0, int y0 = 0);

// Detects a product from its file name: MOD11A1.AYYYYDDD...hdf, MYD11A1..., names with
// LST_Day_1km / LST_Night_1km (QC file beside it), L[CO]0[89]_L2SP_..._ST_B10.TIF (QA_PIXEL
// beside it), other Landsat* / LC0x* names (generic fine) and MOD11A1* / MYD11A1* names
// (generic coarse). Anything else is Generic without a role. The date comes from the name.
// Throws Error naming the file when it does not exist or a required companion is missing.
ProductFile identify_product(const std::string& path, const ProductOptions& opts = {});

// True for files that only accompany another product (QA_PIXEL, ST_QA, QC_Day, ... ): a folder
// scan skips them because identify_product finds them from the main file.
bool is_companion_file(const std::string& path);

// QC decisions, one pixel at a time (exposed for tests).
bool modis_qc_accept(uint32_t qc, const ProductOptions& opts);
bool landsat_qa_accept(uint32_t qa, const ProductOptions& opts);

// Windowed decoder of one product. Keeps its GDAL datasets open between windows.
class ProductReader {
 public:
  ProductReader(const ProductFile& product, const ProductOptions& opts);
  ~ProductReader();
  ProductReader(const ProductReader&) = delete;
  ProductReader& operator=(const ProductReader&) = delete;

  const ProductFile& product() const;
  const Grid& grid() const;  // the product's own grid (CRS required)
  // LST in Kelvin with the QC/QA mask applied; pixels outside the product are invalid.
  Raster read(int x0, int y0, int w, int h);
  Raster read_all() { return read(0, 0, grid().width, grid().height); }
  // Extra quality layer kept beside the LST (MODIS view time, hours); empty name = none.
  std::string quality_name() const;
  Raster read_quality(int x0, int y0, int w, int h);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lstfuse::io
