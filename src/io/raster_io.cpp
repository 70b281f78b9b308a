#include "gdal_handles.hpp"
#include "lstfuse/io/raster_io.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal_priv.h>
#include <ogr_spatialref.h>
#include <omp.h>

#include <fmt/format.h>

#include "lstfuse/core/cleanup.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/core/threads.hpp"

namespace lstfuse::io {
namespace {

using detail::DatasetPtr;
using detail::last_gdal_error;

// True when the file starts as a TIFF or BigTIFF does: one that GDAL then cannot open was cut
// short or damaged, which says more than GDAL's "failed to read directory".
bool starts_as_tiff(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char m[4] = {0, 0, 0, 0};
  if (!in.read(m, 4)) return false;
  const std::string s(m, 4);
  return s == std::string("II*\0", 4) || s == std::string("MM\0*", 4) || s == std::string("II+\0", 4) ||
         s == std::string("MM\0+", 4);
}

// libtiff warns, and goes on without the tag, when a tag's data lies past the end of the file:
// a GeoTIFF cut inside its header then opens without its georeferencing or nodata.
void CPL_STDCALL note_tag_read_error(CPLErr cls, CPLErrorNum, const char* msg) {
  auto* first = static_cast<std::string*>(CPLGetErrorHandlerUserData());
  if (first && first->empty() && cls == CE_Warning && msg && std::strstr(msg, "IO error during reading")) *first = msg;
}

DatasetPtr open_raster(const std::string& path) {
  init_gdal();
  if (!std::filesystem::exists(path)) throw file_error(path, "no such file");
  // A pipe or a device would make GDAL wait for bytes forever; a folder is not one raster.
  if (!std::filesystem::is_regular_file(path)) throw file_error(path, "is not a regular file (a folder, pipe or device)");
  // Compressed GeoTIFF blocks are decoded on the threads this process may use (GDAL reads
  // GDAL_NUM_THREADS when the file is opened), unless the user set GDAL_NUM_THREADS.
  const std::string threads = std::to_string(usable_threads(omp_get_max_threads()));
  CPLConfigOptionSetter decode_threads("GDAL_NUM_THREADS", threads.c_str(), true);
  std::string tag_error;
  DatasetPtr ds;
  {
    CPLErrorHandlerPusher watch(note_tag_read_error, &tag_error);
    ds = detail::open_dataset(path, path);
  }
  if (ds && !tag_error.empty())
    throw file_error(path, "not a readable raster (the TIFF file is truncated or damaged: " + tag_error + ")");
  if (!ds) {
    const std::string why = last_gdal_error();
    if (starts_as_tiff(path)) throw file_error(path, "not a readable raster (the TIFF file is truncated or damaged: " + why + ")");
    throw file_error(path, "not a readable raster (" + why + ")");
  }
  if (ds->GetRasterCount() < 1) {
    // A container (HDF, netCDF): name what it holds; MODIS products go through ingest.
    std::vector<std::string> names;
    if (char** md = ds->GetMetadata("SUBDATASETS")) {
      for (char** p = md; *p; ++p) {
        const std::string item = *p;
        const auto eq = item.find('=');
        if (eq == std::string::npos || eq < 5 || item.compare(eq - 5, 5, "_NAME") != 0) continue;
        const std::string name = item.substr(eq + 1);
        names.push_back(name.substr(name.find_last_of(':') + 1));
      }
    }
    if (names.empty()) throw file_error(path, "has no raster band (a container? open one of its subdatasets)");
    std::string list;
    for (size_t i = 0; i < names.size() && i < 6; ++i) list += (i ? ", " : "") + names[i];
    if (names.size() > 6) list += ", ...";
    const bool modis_lst = std::find(names.begin(), names.end(), "LST_Day_1km") != names.end();
    throw file_error(path, fmt::format("has no raster band: a container of {} subdataset(s) ({}){}", names.size(), list,
                                       modis_lst ? "; a MODIS LST product is read by 'lstfuse ingest'" : ""));
  }
  return ds;
}

Grid grid_of(GDALDataset& ds, const std::string& path, bool require_crs) {
  Grid g;
  g.width = ds.GetRasterXSize();
  g.height = ds.GetRasterYSize();
  double t[6];
  if (ds.GetGeoTransform(t) != CE_None) {
    if (require_crs) throw file_error(path, "has no geotransform (not georeferenced)");
    t[0] = 0; t[1] = 1; t[2] = 0; t[3] = 0; t[4] = 0; t[5] = -1;
  }
  for (int i = 0; i < 6; ++i) g.transform[i] = t[i];
  detail::check_geotransform(t, path);
  const OGRSpatialReference* srs = ds.GetSpatialRef();
  if (srs && !srs->IsEmpty()) {
    char* wkt = nullptr;
    srs->exportToWkt(&wkt);
    g.crs = wkt ? wkt : "";
    CPLFree(wkt);
  }
  if (require_crs && g.crs.empty()) {
    throw file_error(path, "has no coordinate reference system (assign one, e.g. with gdal_edit.py -a_srs)");
  }
  return g;
}

GDALDataType parse_type(const std::string& name, const std::string& path) {
  const GDALDataType t = GDALGetDataTypeByName(name.c_str());
  if (t == GDT_Unknown) throw file_error(path, "unknown output data type '" + name + "'");
  return t;
}

}  // namespace

namespace {

// KEY=VALUE items set by name, so that a later one replaces an earlier one of the same key
// (GDAL reads the first of two equal keys).
void set_options(CPLStringList& co, const std::vector<std::string>& items) {
  for (const auto& kv : items) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;  // check_creation_options refuses these
    co.SetNameValue(kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str());
  }
}

}  // namespace

void check_creation_options(const std::string& format, const std::vector<std::string>& options) {
  init_gdal();
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName(format == "COG" ? "COG" : "GTiff");
  if (!drv) throw Error("--of " + format + ": GDAL has no such driver");
  for (const auto& kv : options) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw Error(fmt::format("--co {}: expected NAME=VALUE (e.g. COMPRESS=LZW)", kv));
    }
    CPLStringList one;
    one.AddString(kv.c_str());
    CPLErrorReset();
    if (!GDALValidateCreationOptions(drv, one.List())) {
      throw Error(fmt::format("--co {}: {}", kv, last_gdal_error()));
    }
    // Options GDAL accepts but that cannot hold what lstfuse writes (32-bit float LST with a
    // -9999 nodata, 8-bit quality layers): the write would fail in GDAL's worker threads, or
    // round the values and the nodata silently.
    std::string name = kv.substr(0, eq), value = kv.substr(eq + 1);
    for (auto* t : {&name, &value})
      std::transform(t->begin(), t->end(), t->begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (name == "COMPRESS" && (value == "JPEG" || value == "WEBP" || value == "JXL")) {
      throw Error(fmt::format("--co {}: that compression takes 8-bit images only (or loses precision); lstfuse "
                              "writes 32-bit float LST: use DEFLATE, LZW, ZSTD or LERC", kv));
    }
    // Lossy settings of lossless codecs: LERC's error bound and the low-bit discarding both
    // round every LST value (MAX_Z_ERROR=20 wrote 7.9 K of error without a word).
    if ((name == "MAX_Z_ERROR" && std::strtod(value.c_str(), nullptr) != 0.0) || name == "DISCARD_LSB") {
      throw Error(fmt::format("--co {}: that rounds the LST values it writes; lstfuse writes them at full "
                              "precision (LERC is lossless with MAX_Z_ERROR=0, its default)", kv));
    }
    if (name == "NBITS") {
      throw Error(fmt::format("--co {}: fewer bits would round the LST and its nodata value; lstfuse writes "
                              "them at full precision", kv));
    }
  }
}

bool is_lstfuse_raster(const std::string& path) {
  init_gdal();
  DatasetPtr ds = detail::open_dataset(path, path);
  if (!ds) return false;
  // Rasters of earlier versions carry other LSTFUSE_* items (method, date) but no version.
  for (char** md = ds->GetMetadata(); md && *md; ++md)
    if (std::strncmp(*md, "LSTFUSE_", 8) == 0) return true;
  const char* sw = ds->GetMetadataItem("TIFFTAG_SOFTWARE");
  return sw && std::strncmp(sw, "lstfuse", 7) == 0;
}

std::vector<std::string> marked_own_files(const std::filesystem::path& dir, const std::vector<std::string>& own,
                                          const std::vector<std::string>& keep) {
  std::vector<std::string> out;
  for (const auto& o : own) {
    std::error_code ec;
    const std::filesystem::path p = dir / o;
    if (std::find(keep.begin(), keep.end(), o) != keep.end() || !std::filesystem::exists(p, ec) ||
        (std::filesystem::is_regular_file(p, ec) && is_lstfuse_raster(p.string())))
      out.push_back(o);
  }
  return out;
}

std::string raster_metadata_item(const std::string& path, const std::string& key) {
  init_gdal();
  DatasetPtr ds = detail::open_dataset(path, path);
  if (!ds) return {};
  const char* v = ds->GetMetadataItem(key.c_str());
  return v ? v : "";
}

namespace {

// Errors raised in GDAL's own worker threads (multi-threaded compression of blocks) reach the
// global handler, not the calling thread's error state: counted here, so that a writer can
// tell that a block it handed over was not written.
std::atomic<long> worker_failures{0};
std::mutex worker_message_mutex;
std::string worker_message;

void CPL_STDCALL count_worker_errors(CPLErr type, CPLErrorNum, const char* msg) {
  if (type < CE_Failure) return;
  std::lock_guard<std::mutex> lock(worker_message_mutex);
  worker_message = msg ? msg : "";
  ++worker_failures;
}

}  // namespace

namespace detail {

void check_geotransform(const double t[6], const std::string& shown) {
  for (int i = 0; i < 6; ++i)
    if (!std::isfinite(t[i])) throw file_error(shown, "has a geotransform that is not a number");
  if (!(std::abs(t[1] * t[5] - t[2] * t[4]) > 0))
    throw file_error(shown, fmt::format("has an invalid geotransform (pixel size {:g} x {:g})", t[1], t[5]));
}

void check_real_band(GDALRasterBand& band, const std::string& shown) {
  const GDALDataType t = band.GetRasterDataType();
  if (GDALDataTypeIsComplex(t))
    throw file_error(shown, fmt::format("band {} holds complex numbers ({}), not temperatures", band.GetBand(),
                                        GDALGetDataTypeName(t)));
}

Encoding band_encoding(GDALRasterBand& band, double given_scale, double given_offset, const std::string& shown,
                       const std::string& given_names) {
  int has_scale = 0, has_offset = 0;
  double scale = band.GetScale(&has_scale), offset = band.GetOffset(&has_offset);
  if (!has_scale) scale = 1.0;
  if (!has_offset) offset = 0.0;
  if (!std::isfinite(scale) || !std::isfinite(offset) || scale == 0.0)
    throw file_error(shown, fmt::format("band {} declares a scale of {} and an offset of {}: no values can be read "
                                        "from it (fix them with gdal_edit.py -scale/-offset)",
                                        band.GetBand(), scale, offset));
  const bool file_has = scale != 1.0 || offset != 0.0, given = given_scale != 1.0 || given_offset != 0.0;
  // Agreement within float32's rounding: a file stores 0.02 as 0.0199999995.
  const auto differ = [](double a, double b) { return std::abs(a - b) > 1e-6 * std::max({1.0, std::abs(a), std::abs(b)}); };
  if (file_has && given && (differ(scale, given_scale) || differ(offset, given_offset)))
    throw file_error(shown, fmt::format("declares its own scale {} and offset {} (value = stored * scale + "
                                        "offset), and {} say {} and {}: give none (the file's apply) or fix the file",
                                        scale, offset, given_names, given_scale, given_offset));
  return file_has ? Encoding{scale, offset} : Encoding{given_scale, given_offset};
}

std::string read_failure_reason(const std::string& name, int band, int x0, int y0, int w, int h) {
  const char* own = CPLGetLastErrorMsg();
  std::string why = own && *own ? own : "";
  if (why.empty()) {
    // GDAL's multi-threaded block decoding reports a damaged block in its worker threads, not
    // this one: the window is read again from a fresh dataset decoded on this thread alone, so
    // that the reason is this file's and no other read's.
    CPLConfigOptionSetter one_thread("GDAL_NUM_THREADS", "1", true);
    CPLErrorReset();
    DatasetPtr again = open_dataset(name, name);
    if (again && band >= 1 && band <= again->GetRasterCount()) {
      std::vector<double> buf(static_cast<size_t>(w) * static_cast<size_t>(h));
      if (again->GetRasterBand(band)->RasterIO(GF_Read, x0, y0, w, h, buf.data(), w, h, GDT_Float64, 0, 0) != CE_None) {
        const char* msg = CPLGetLastErrorMsg();
        why = msg && *msg ? msg : "";
      }
    }
  }
  if (why.empty()) return "GDAL gave no reason";
  // libtiff's "Read error ... got N bytes, expected M" (the file ends before its data does), or
  // GDAL's summary of it, "IReadBlock failed ...: TIFFReadEncodedTile() failed".
  bool short_read = false;
  for (const char* sign : {"Read error", "Cannot read", "IReadBlock failed", "TIFFReadEncoded"})
    short_read = short_read || why.find(sign) != std::string::npos;
  if (short_read) return "the file is truncated or damaged: " + why;
  return why;
}

}  // namespace detail

void init_gdal() {
  static std::once_flag once;
  std::call_once(once, [] {
    GDALAllRegister();
    CPLSetErrorHandler(count_worker_errors);    // threads without a handler of their own
    CPLPushErrorHandler(CPLQuietErrorHandler);  // this thread's
  });
}

Grid read_grid(const std::string& path, bool require_crs) {
  auto ds = open_raster(path);
  return grid_of(*ds, path, require_crs);
}

int read_band_count(const std::string& path) { return open_raster(path)->GetRasterCount(); }

Raster read_raster(const std::string& path, const ReadOptions& opts) {
  auto ds = open_raster(path);
  const Grid g = grid_of(*ds, path, opts.require_crs);
  ds.reset();
  return read_window(path, 0, 0, g.width, g.height, opts);
}

Raster read_window(const std::string& path, int x0, int y0, int w, int h, const ReadOptions& opts) {
  auto ds = open_raster(path);
  const Grid full = grid_of(*ds, path, opts.require_crs);
  std::vector<int> bands = opts.bands;
  if (bands.empty())
    for (int b = 1; b <= ds->GetRasterCount(); ++b) bands.push_back(b);
  for (int b : bands) {
    if (b < 1 || b > ds->GetRasterCount()) {
      throw file_error(path, fmt::format("has no band {} (it has {})", b, ds->GetRasterCount()));
    }
  }
  if (opts.units != "K" && opts.units != "C") {
    throw file_error(path, "unknown units '" + opts.units + "' (expected K or C)");
  }
  // The same bound as a catalog grid's: beyond it the allocation below fails (or takes all of
  // the machine's memory) for a raster no command can use whole.
  if (static_cast<double>(w) * h > static_cast<double>(kMaxGridPixels)) {
    throw file_error(path, fmt::format("a read of {} x {} pixels is beyond lstfuse's limit ({} pixels at once); cut "
                                       "the raster into smaller ones or give a coarser one",
                                       w, h, kMaxGridPixels));
  }
  for (int b : bands) detail::check_real_band(*ds->GetRasterBand(b), path);
  Raster out(full.window(x0, y0, w, h), static_cast<int>(bands.size()), NAN, false);
  for (size_t i = 0; i < bands.size(); ++i) {
    // Band descriptions (quality band names) come back as band_names.
    const char* desc = ds->GetRasterBand(bands[i])->GetDescription();
    if (desc && *desc) {
      out.band_names.resize(bands.size());
      out.band_names[i] = desc;
    }
  }
  const int xa = std::max(0, x0), xb = std::min(full.width, x0 + w);
  const int ya = std::max(0, y0), yb = std::min(full.height, y0 + h);
  if (xa >= xb || ya >= yb) return out;
  const int cw = xb - xa, ch = yb - ya;
  std::vector<double> buf(static_cast<size_t>(cw) * ch);
  std::vector<uint8_t> mask_buf;
  const double to_k = opts.units == "C" ? 273.15 : 0.0;
  for (size_t i = 0; i < bands.size(); ++i) {
    GDALRasterBand* band = ds->GetRasterBand(bands[i]);
    int has_nd = 0;
    const double file_nd = band->GetNoDataValue(&has_nd);
    const bool use_nd = opts.nodata.has_value() || has_nd;
    const double nd = opts.nodata.value_or(file_nd);
    const detail::Encoding enc = opts.categorical ? detail::Encoding{}
                                                  : detail::band_encoding(*band, opts.scale, opts.offset, path, "the read options");
    CPLErrorReset();
    if (band->RasterIO(GF_Read, xa, ya, cw, ch, buf.data(), cw, ch, GDT_Float64, 0, 0) != CE_None) {
      throw file_error(path, "read failed (" + detail::read_failure_reason(path, bands[i], xa, ya, cw, ch) + ")");
    }
    // A mask of the file's own (a .msk sidecar, an internal mask, an alpha band) marks pixels
    // invalid as nodata does; GDAL's implied masks (all valid, or from the nodata value) say
    // nothing the test below does not.
    const int mask_flags = band->GetMaskFlags();
    if (!(mask_flags & (GMF_ALL_VALID | GMF_NODATA))) {
      mask_buf.resize(static_cast<size_t>(cw) * ch);
      if (band->GetMaskBand()->RasterIO(GF_Read, xa, ya, cw, ch, mask_buf.data(), cw, ch, GDT_Byte, 0, 0) != CE_None) {
        throw file_error(path, fmt::format("the mask of band {} could not be read ({})", bands[i], CPLGetLastErrorMsg()));
      }
    } else {
      mask_buf.clear();
    }
    for (int y = 0; y < ch; ++y) {
      for (int x = 0; x < cw; ++x) {
        const double dn = buf[static_cast<size_t>(y) * cw + x];
        const bool masked = !mask_buf.empty() && mask_buf[static_cast<size_t>(y) * cw + x] == 0;
        const int ox = xa - x0 + x, oy = ya - y0 + y;
        // Nodata sentinels like -3.4e38 are compared with a relative tolerance because some
        // writers round them through float32.
        const bool is_nd = use_nd && (dn == nd || (std::isfinite(nd) && std::abs(nd) > 1e30 &&
                                                   std::abs(dn - nd) <= 1e-6 * std::abs(nd)));
        const double v = dn * enc.scale + enc.offset + to_k;
        const bool ok = !is_nd && !masked && std::isfinite(v) && v >= opts.valid_min && v <= opts.valid_max;
        out.at(static_cast<int>(i), oy, ox) = ok ? static_cast<float>(v) : NAN;
        out.set_valid(static_cast<int>(i), oy, ox, ok);
      }
    }
  }
  return out;
}

std::vector<uint32_t> read_uint_band(const std::string& path, int band, int x0, int y0, int w, int h) {
  auto ds = open_raster(path);
  if (band < 1 || band > ds->GetRasterCount()) {
    throw file_error(path, fmt::format("has no band {} (it has {})", band, ds->GetRasterCount()));
  }
  std::vector<uint32_t> out(static_cast<size_t>(w) * h, 0);
  const int W = ds->GetRasterXSize(), H = ds->GetRasterYSize();
  const int xa = std::max(0, x0), xb = std::min(W, x0 + w);
  const int ya = std::max(0, y0), yb = std::min(H, y0 + h);
  if (xa >= xb || ya >= yb) return out;
  const int cw = xb - xa, ch = yb - ya;
  std::vector<uint32_t> buf(static_cast<size_t>(cw) * ch);
  CPLErrorReset();
  if (ds->GetRasterBand(band)->RasterIO(GF_Read, xa, ya, cw, ch, buf.data(), cw, ch, GDT_UInt32, 0,
                                        0) != CE_None) {
    throw file_error(path, "read failed (" + detail::read_failure_reason(path, band, xa, ya, cw, ch) + ")");
  }
  for (int y = 0; y < ch; ++y)
    std::copy_n(buf.begin() + static_cast<size_t>(y) * cw, cw,
                out.begin() + static_cast<size_t>(ya - y0 + y) * w + (xa - x0));
  return out;
}

// ---------------------------------------------------------------- writing

struct RasterWriter::Impl {
  std::string final_path;
  std::string tmp_path;   // the GTiff being written
  std::string registered;  // the temporary registered for removal on an interruption
  WriteOptions opts;
  Grid grid;
  int bands = 0;
  DatasetPtr ds;
  bool committed = false;
  std::string cog_tmp;  // the COG copy, once conversion has started
  long worker_failures_before = 0;
};

RasterWriter::RasterWriter(const std::string& path, const Grid& grid, int bands,
                           const WriteOptions& opts)
    : impl_(std::make_unique<Impl>()), path_(path) {
  init_gdal();
  if (opts.format != "GTiff" && opts.format != "COG") {
    throw file_error(path, "unknown output format '" + opts.format + "' (GTiff or COG)");
  }
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent)) {
    throw file_error(path, "output folder " + parent.string() + " does not exist");
  }
  impl_->final_path = path;
  impl_->worker_failures_before = worker_failures.load();
  remove_stale_temporaries(path);
  impl_->tmp_path = temporary_name(path, ".tif");
  impl_->registered = impl_->tmp_path;
  register_temporary(impl_->tmp_path);
  // The destructor does not run when the constructor throws: GDAL may already have made the
  // file, so it is removed here.
  try {
    impl_->opts = opts;
    impl_->grid = grid;
    impl_->bands = bands;
    const GDALDataType type = parse_type(opts.data_type, path);
    GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("GTiff");
    CPLStringList co;
    co.SetNameValue("TILED", "YES");
    co.SetNameValue("BLOCKXSIZE", "256");
    co.SetNameValue("BLOCKYSIZE", "256");
    co.SetNameValue("BIGTIFF", "IF_SAFER");
    if (opts.compress && opts.format == "GTiff") {
      co.SetNameValue("COMPRESS", "DEFLATE");
      co.SetNameValue("PREDICTOR", (type == GDT_Float32 || type == GDT_Float64) ? "3" : "2");
      co.SetNameValue("ZLEVEL", std::to_string(opts.deflate_level).c_str());
      // DEFLATE of the blocks on every core this process may use: single-threaded, compressing a
      // 1300 x 1300 prediction and its quality bands took a third as long as ESTARFM itself.
      co.SetNameValue("NUM_THREADS", std::to_string(usable_threads(omp_get_max_threads())).c_str());
    }
    set_options(co, opts.creation_options);
    if (opts.format == "GTiff") set_options(co, opts.user_options);
    CPLErrorReset();
    impl_->ds.reset(drv->Create(impl_->tmp_path.c_str(), grid.width, grid.height, bands, type, co.List()));
    if (!impl_->ds) throw file_error(path, "cannot create (" + last_gdal_error() + ")");
    double t[6];
    for (int i = 0; i < 6; ++i) t[i] = grid.transform[i];
    impl_->ds->SetGeoTransform(t);
    if (grid.has_crs()) {
      OGRSpatialReference srs;
      if (srs.importFromWkt(grid.crs.c_str()) != OGRERR_NONE) {
        throw file_error(path, "the raster's CRS cannot be written (not valid WKT)");
      }
      impl_->ds->SetSpatialRef(&srs);
    }
    // The mark by which the output rules (check_output_file) know a raster as lstfuse's own.
    impl_->ds->SetMetadataItem(kRasterMarkerItem, LSTFUSE_VERSION);
    if (opts.format == "GTiff") impl_->ds->SetMetadataItem("TIFFTAG_SOFTWARE", "lstfuse " LSTFUSE_VERSION);
    for (const auto& [k, v] : opts.metadata) impl_->ds->SetMetadataItem(k.c_str(), v.c_str());
    for (int b = 1; b <= bands; ++b) {
      GDALRasterBand* band = impl_->ds->GetRasterBand(b);
      band->SetNoDataValue(opts.nodata);
      if (static_cast<size_t>(b) <= opts.band_names.size() && !opts.band_names[b - 1].empty()) {
        band->SetDescription(opts.band_names[b - 1].c_str());
      }
      if (opts.scale != 1.0 || opts.offset != 0.0) {
        band->SetScale(opts.scale);
        band->SetOffset(opts.offset);
      }
    }
  } catch (...) {
    impl_->ds.reset();
    std::error_code ec;
    std::filesystem::remove(impl_->tmp_path, ec);
    unregister_temporary(impl_->registered);
    throw;
  }
}

RasterWriter::~RasterWriter() {
  if (!impl_) return;
  if (!impl_->committed) {
    impl_->ds.reset();
    std::error_code ec;
    std::filesystem::remove(impl_->tmp_path, ec);
    if (!impl_->cog_tmp.empty()) std::filesystem::remove(impl_->cog_tmp, ec);
  }
  unregister_temporary(impl_->registered);
  if (!impl_->cog_tmp.empty()) unregister_temporary(impl_->cog_tmp);
}

void RasterWriter::write(const Raster& tile, int x0, int y0) {
  if (tile.bands() != impl_->bands) {
    throw file_error(path_, fmt::format("tile has {} bands, file {}", tile.bands(), impl_->bands));
  }
  const int xa = std::max(0, x0), xb = std::min(impl_->grid.width, x0 + tile.width());
  const int ya = std::max(0, y0), yb = std::min(impl_->grid.height, y0 + tile.height());
  if (xa >= xb || ya >= yb) return;
  const int cw = xb - xa, ch = yb - ya;
  const bool raw = impl_->opts.scale != 1.0 || impl_->opts.offset != 0.0;
  std::vector<double> buf(static_cast<size_t>(cw) * ch);
  const double nodata = impl_->opts.nodata, offset = impl_->opts.offset, scale = impl_->opts.scale;
  for (int b = 0; b < tile.bands(); ++b) {
#pragma omp parallel for schedule(static) if (static_cast<size_t>(cw) * ch > (1u << 16))
    for (int y = 0; y < ch; ++y) {
      const size_t in_row = static_cast<size_t>(ya - y0 + y) * tile.width() + (xa - x0);
      const float* v = tile.band(b) + in_row;
      const uint8_t* m = tile.mask(b) + in_row;
      double* o = buf.data() + static_cast<size_t>(y) * cw;
      for (int x = 0; x < cw; ++x) {
        o[x] = !m[x] ? nodata : raw ? std::round((v[x] - offset) / scale) : double(v[x]);
      }
    }
    CPLErrorReset();
    // A block written out of the cache on the way (evicted) may fail while RasterIO itself
    // returns CE_None (a compression the data type does not allow): the error state tells.
    if (impl_->ds->GetRasterBand(b + 1)->RasterIO(GF_Write, xa, ya, cw, ch, buf.data(), cw, ch,
                                                  GDT_Float64, 0, 0) != CE_None ||
        CPLGetLastErrorType() == CE_Failure) {
      throw file_error(path_, "write failed (" + last_gdal_error() + ")");
    }
  }
}

void RasterWriter::commit() {
  CPLErrorReset();
  impl_->ds->FlushCache();
  if (CPLGetLastErrorType() == CE_Failure) throw file_error(path_, "write failed (" + last_gdal_error() + ")");
  // Closing writes the last blocks and the directory: a full disk may only show here.
  auto close_checked = [&](DatasetPtr& ds) {
    CPLErrorReset();
    ds.reset();
    if (CPLGetLastErrorType() == CE_Failure) throw file_error(path_, "write failed (" + last_gdal_error() + ")");
  };
  if (impl_->opts.format == "COG") {
    GDALDriver* cog = GetGDALDriverManager()->GetDriverByName("COG");
    const GDALDataType type = impl_->ds->GetRasterBand(1)->GetRasterDataType();
    CPLStringList co;
    if (impl_->opts.compress) {
      co.SetNameValue("COMPRESS", "DEFLATE");
      co.SetNameValue("PREDICTOR", (type == GDT_Float32 || type == GDT_Float64) ? "FLOATING_POINT" : "STANDARD");
      co.SetNameValue("LEVEL", std::to_string(impl_->opts.deflate_level).c_str());
    }
    co.SetNameValue("NUM_THREADS", std::to_string(usable_threads(omp_get_max_threads())).c_str());
    // Overviews only when asked for (--co OVERVIEWS=AUTO, which replaces this below): computing
    // and compressing them costs a third of the file's own writing, and a daily series is read
    // at full resolution far more often than viewed zoomed out.
    co.SetNameValue("OVERVIEWS", "NONE");
    co.SetNameValue("BIGTIFF", "IF_SAFER");
    set_options(co, impl_->opts.user_options);
    impl_->cog_tmp = temporary_name(impl_->final_path, ".cog.tif");
    register_temporary(impl_->cog_tmp);
    CPLErrorReset();
    DatasetPtr out(cog->CreateCopy(impl_->cog_tmp.c_str(), impl_->ds.get(), FALSE, co.List(), nullptr, nullptr));
    if (!out || CPLGetLastErrorType() == CE_Failure)
      throw file_error(path_, "COG conversion failed (" + last_gdal_error() + ")");
    close_checked(out);
    impl_->ds.reset();
    std::error_code ec;
    std::filesystem::remove(impl_->tmp_path, ec);
    impl_->tmp_path = impl_->cog_tmp;
  } else {
    close_checked(impl_->ds);
  }
  if (worker_failures.load() != impl_->worker_failures_before) {
    std::lock_guard<std::mutex> lock(worker_message_mutex);
    throw file_error(path_, "write failed (" + worker_message + ")");
  }
  std::error_code ec;
  const bool replacing = std::filesystem::exists(std::filesystem::symlink_status(impl_->final_path, ec));
  std::filesystem::rename(impl_->tmp_path, impl_->final_path, ec);
  if (ec) throw file_error(path_, "cannot move the finished file into place (" + ec.message() + ")");
  impl_->committed = true;
  // The replaced raster's sidecar goes with it, as when GDAL itself writes over a dataset.
  if (replacing) remove_stale_sidecar(impl_->final_path);
}

void remove_stale_sidecar(const std::string& path) {
  std::error_code ec;
  const std::string sidecar = path + ".aux.xml";
  if (std::filesystem::is_regular_file(std::filesystem::symlink_status(sidecar, ec)))
    std::filesystem::remove(sidecar, ec);
}

void write_raster(const std::string& path, const Raster& raster, const WriteOptions& opts) {
  WriteOptions o = opts;
  if (o.band_names.empty()) o.band_names = raster.band_names;
  RasterWriter w(path, raster.grid(), raster.bands(), o);
  w.write(raster, 0, 0);
  w.commit();
}

bool same_crs(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  if (a == b) return true;
  OGRSpatialReference sa, sb;
  if (sa.importFromWkt(a.c_str()) != OGRERR_NONE || sb.importFromWkt(b.c_str()) != OGRERR_NONE) return false;
  return sa.IsSame(&sb) != 0;
}

bool same_grid(const Grid& a, const Grid& b) {
  Grid bb = b;
  bb.crs = a.crs;  // compare geometry here, CRS semantically below
  return a.same_geometry(bb) && same_crs(a.crs, b.crs);
}

std::string crs_to_wkt(const std::string& user_crs, bool from_a_file) {
  init_gdal();
  OGRSpatialReference srs;
  const OGRErr err = from_a_file
                         ? srs.SetFromUserInput(user_crs.c_str(), OGRSpatialReference::SET_FROM_USER_INPUT_LIMITATIONS_get())
                         : srs.SetFromUserInput(user_crs.c_str());
  if (err != OGRERR_NONE) {
    throw Error("unknown CRS '" + user_crs + "' (use e.g. EPSG:32755, a PROJ string or WKT)");
  }
  char* wkt = nullptr;
  srs.exportToWkt(&wkt);
  std::string out = wkt ? wkt : "";
  CPLFree(wkt);
  return out;
}

}  // namespace lstfuse::io

namespace lstfuse::io {

CrsScope crs_scope(const std::string& user_crs) {
  init_gdal();
  OGRSpatialReference srs;
  if (srs.SetFromUserInput(user_crs.c_str()) != OGRERR_NONE)
    throw Error("unknown CRS '" + user_crs + "' (use e.g. EPSG:32755, a PROJ string or WKT)");
  CrsScope s;
  s.horizontal = (srs.IsProjected() || srs.IsGeographic()) && !srs.IsCompound() && !srs.IsGeocentric();
  s.geographic = srs.IsGeographic() && !srs.IsProjected();
  double w = 0, south = 0, e = 0, n = 0;
  const char* name = nullptr;
  if (srs.GetAreaOfUse(&w, &south, &e, &n, &name) && w >= -180.0 && e <= 180.0 && south >= -90.0 && n <= 90.0)
    s.area = std::array<double, 4>{w, south, e, n};
  return s;
}

bool crs_is_projected(const std::string& wkt) {
  init_gdal();
  OGRSpatialReference srs;
  if (srs.importFromWkt(wkt.c_str()) != OGRERR_NONE) return false;
  return srs.IsProjected() && std::abs(srs.GetLinearUnits() - 1.0) < 1e-9;
}

}  // namespace lstfuse::io
