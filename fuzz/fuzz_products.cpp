// The product decoders (io::ProductReader): GeoTIFF bytes through GDAL's /vsimem/ as a generic
// GeoTIFF, a MODIS LST GeoTIFF (with its QC layer) or a Landsat C2 ST_B10 (with its QA_PIXEL),
// and HDF4 bytes as a MOD11A1 granule (HDF4 reads real files only, so those bytes go to a file
// named like a granule and io::identify_product names its subdatasets, as ingest does).
// Input: the file's bytes; HDF4 is recognised by its signature, otherwise the last byte picks
// the kind and the decoding options. Invariant: every pixel marked valid is a plausible LST.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <vector>

#include <cpl_vsi.h>
#include <gdal_priv.h>

#include "fuzz_support.hpp"
#include "lstfuse/io/products.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace {

constexpr const char* kLst = "/vsimem/fuzz_lst.tif";
constexpr const char* kCompanion = "/vsimem/fuzz_qc.tif";

// A companion QC/QA layer of the LST's size, every pixel `value`; false when the LST does not open.
bool write_companion(uint16_t value) {
  GDALDatasetH src = GDALOpen(kLst, GA_ReadOnly);
  if (!src) return false;
  const int w = GDALGetRasterXSize(src), h = GDALGetRasterYSize(src);
  GDALClose(src);
  if (w < 1 || h < 1 || static_cast<long long>(w) * h > (1 << 20)) return false;
  GDALDriverH gtiff = GDALGetDriverByName("GTiff");
  GDALDatasetH qc = GDALCreate(gtiff, kCompanion, w, h, 1, GDT_UInt16, nullptr);
  if (!qc) return false;
  std::vector<uint16_t> row(static_cast<size_t>(w), value);
  for (int y = 0; y < h; ++y)
    if (GDALRasterIO(GDALGetRasterBand(qc, 1), GF_Write, 0, y, w, 1, row.data(), w, 1, GDT_UInt16, 0, 0) != CE_None) break;
  GDALClose(qc);
  return true;
}

void decode(const io::ProductFile& product, const io::ProductOptions& opts) {
  io::ProductReader reader(product, opts);
  const Grid& g = reader.grid();
  // A bounded window (a header may claim any size), and one reaching past the top-left corner.
  const int w = std::min(g.width, 64), h = std::min(g.height, 64);
  for (const Raster& r : {reader.read(0, 0, w, h), reader.read(-3, -2, std::min(w, 8), std::min(h, 8))}) {
    for (size_t i = 0; i < r.band_size(); ++i) {
      if (!r.mask(0)[i]) continue;
      const double v = r.band(0)[i];
      fuzz::require(v >= io::kPlausibleMinK && v <= io::kPlausibleMaxK, "a valid pixel is a plausible LST");
    }
  }
  if (!reader.quality_name().empty()) reader.read_quality(0, 0, w, h);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  // Only the named file is looked at: no sibling scans, no sidecar .aux.xml written.
  CPLSetConfigOption("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
  CPLSetConfigOption("GDAL_PAM_ENABLED", "NO");
  std::ofstream(fuzz::scratch() / "user.tif") << "the file the user named";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const uint8_t kHdf4[4] = {0x0e, 0x03, 0x13, 0x01};
  io::ProductOptions opts;
  const uint8_t sel = data[size - 1];
  opts.qc = (sel & 0x04) ? "any" : "good";
  opts.max_lst_error = (sel & 0x08) ? 2.0 : INFINITY;

  if (size >= 4 && std::memcmp(data, kHdf4, 4) == 0) {
    const fs::path granule = fuzz::scratch() / "MOD11A1.A2019305.h14v09.006.2019306000000.hdf";
    fuzz::write_file(granule, data, size);
    opts.night = (sel & 0x10) != 0;
    fuzz::expect_clear_errors("MOD11A1 HDF", [&] { decode(io::identify_product(granule.string(), opts), opts); });
    return 0;
  }

  // The bytes stay owned by libFuzzer; /vsimem/ reads them in place.
  VSILFILE* f = VSIFileFromMemBuffer(kLst, const_cast<GByte*>(data), static_cast<vsi_l_offset>(size), FALSE);
  if (!f) return 0;
  VSIFCloseL(f);
  io::ProductFile p;
  p.path = (fuzz::scratch() / "user.tif").string();
  p.lst = kLst;
  switch (sel % 3) {
    case 0:
      p.kind = io::ProductKind::Generic;
      opts.units = (sel & 0x10) ? "C" : "K";
      if (sel & 0x20) opts.nodata = 0.0;
      if (sel & 0x40) opts.scale = 0.01;
      p.kelvin = (sel & 0x80) != 0;
      break;
    case 1:
      p.kind = io::ProductKind::Modis11A1GeoTiff;
      if (write_companion((sel & 0x10) ? 0x41 : 0)) p.qc = kCompanion;
      break;
    default:
      p.kind = io::ProductKind::LandsatC2St;
      opts.mask_snow = (sel & 0x40) != 0;
      if (write_companion((sel & 0x10) ? 0x5440 : 0x5480)) p.qc = kCompanion;
      break;
  }
  fuzz::expect_clear_errors("product decoder", [&] { decode(p, opts); });
  VSIUnlink(kCompanion);
  VSIUnlink(kLst);
  return 0;
}
