// Quick-look maps drawn with cairo: map, colour bar with tick labels, title, and a footer
// stating the colour range, so a PNG read on its own says what it shows.
#include "lstfuse/eval/quicklook.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include <cairo.h>
#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace lstfuse::eval {

namespace {

constexpr uint32_t kInvalidGrey = 0xFFA0A0A0u;  // opaque ARGB grey for "no data"
constexpr int kMargin = 20;
constexpr int kBarWidth = 24;
constexpr double kFontSize = 14.0;

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using SurfacePtr = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using ContextPtr = std::unique_ptr<cairo_t, ContextDeleter>;

// Value at percentile p (0-100) of `v` by nearest rank; `v` is reordered.
double percentile(std::vector<float>& v, double p) {
  const size_t k = static_cast<size_t>(std::lround(p / 100.0 * static_cast<double>(v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

void choose_range(const Raster& r, const QuicklookOptions& opts, QuicklookInfo& info) {
  const bool diverging = opts.colour_map == ColourMap::Diverging;
  if (opts.vmin.has_value() != opts.vmax.has_value()) {
    throw Error("quicklook: give both ends of the colour range or neither");
  }
  if (opts.vmin) {
    // inf drew every pixel in one colour under a legend of "-inf .. inf"; 1e308 printed a
    // 309-digit number.
    for (const double v : {*opts.vmin, *opts.vmax})
      if (!(std::abs(v) <= 1e6))
        throw Error(fmt::format("quicklook: --range {} {}: both ends must be finite numbers within +-1e6",
                                *opts.vmin, *opts.vmax));
    if (!(*opts.vmax > *opts.vmin)) {
      throw Error(fmt::format("quicklook: colour range max ({}) must exceed min ({})",
                              *opts.vmax, *opts.vmin));
    }
    info.vmin = *opts.vmin;
    info.vmax = *opts.vmax;
    info.range_source = "fixed";
    if (diverging) {
      const double a = std::max(std::abs(info.vmin), std::abs(info.vmax));
      info.vmin = -a;
      info.vmax = a;
    }
    return;
  }
  std::vector<float> vals;
  vals.reserve(r.band_size());
  const float* d = r.band(opts.band);
  const uint8_t* m = r.mask(opts.band);
  for (size_t i = 0; i < r.band_size(); ++i) {
    if (m[i]) vals.push_back(diverging ? std::abs(d[i]) : d[i]);
  }
  if (vals.empty()) throw Error("quicklook: no valid pixel to display");
  if (diverging) {
    double a = percentile(vals, opts.high_percentile);
    if (!(a > 0)) a = 1.0;  // all zero: any symmetric range shows it as white
    info.vmin = -a;
    info.vmax = a;
    info.range_source = fmt::format("+-{:g} % percentile of |value|", opts.high_percentile);
  } else {
    info.vmin = percentile(vals, opts.low_percentile);
    info.vmax = percentile(vals, opts.high_percentile);
    if (!(info.vmax > info.vmin)) {  // near-constant image: a 1 K window around it
      info.vmin -= 0.5;
      info.vmax += 0.5;
    }
    info.range_source = fmt::format("robust {:g}-{:g} % percentiles", opts.low_percentile,
                                    opts.high_percentile);
  }
}

// Map image: block means of the valid pixels (k x k raster pixels per map pixel).
SurfacePtr map_surface(const Raster& r, const QuicklookOptions& opts, QuicklookInfo& info) {
  const int W = r.width(), H = r.height();
  const int k = std::max(1, (std::max(W, H) + opts.max_side - 1) / opts.max_side);
  const int mw = (W + k - 1) / k, mh = (H + k - 1) / k;
  info.downsample = k;
  SurfacePtr s(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, mw, mh));
  if (cairo_surface_status(s.get()) != CAIRO_STATUS_SUCCESS) {
    throw Error(fmt::format("quicklook: cannot create a {} x {} image", mw, mh));
  }
  cairo_surface_flush(s.get());
  unsigned char* base = cairo_image_surface_get_data(s.get());
  const int stride = cairo_image_surface_get_stride(s.get());
  const float* d = r.band(opts.band);
  const uint8_t* m = r.mask(opts.band);
  const double span = info.vmax - info.vmin;
#pragma omp parallel for schedule(static)
  for (int my = 0; my < mh; ++my) {
    auto* row = reinterpret_cast<uint32_t*>(base + static_cast<size_t>(my) * stride);
    for (int mx = 0; mx < mw; ++mx) {
      double sum = 0.0;
      int n = 0;
      for (int y = my * k; y < std::min(H, (my + 1) * k); ++y) {
        for (int x = mx * k; x < std::min(W, (mx + 1) * k); ++x) {
          const size_t i = static_cast<size_t>(y) * W + x;
          if (m[i]) {
            sum += d[i];
            ++n;
          }
        }
      }
      if (n == 0) {
        row[mx] = kInvalidGrey;
        continue;
      }
      const auto c = colour_at(opts.colour_map, (sum / n - info.vmin) / span);
      row[mx] = 0xFF000000u | (uint32_t{c[0]} << 16) | (uint32_t{c[1]} << 8) | c[2];
    }
  }
  cairo_surface_mark_dirty(s.get());
  return s;
}

std::string tick_label(double v, double step) {
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  if (std::abs(v) < step * 1e-6) v = 0.0;  // no "-0"
  return fmt::format("{:.{}f}", v, decimals);
}

SurfacePtr draw_figure(const Raster& r, const QuicklookOptions& opts, QuicklookInfo& info) {
  if (r.empty()) throw Error("quicklook: empty raster");
  if (opts.band < 0 || opts.band >= r.bands()) {
    throw Error(fmt::format("quicklook: band {} requested, raster has {}", opts.band + 1, r.bands()));
  }
  if (opts.max_side < 16) throw Error("quicklook: max_side must be at least 16 pixels");
  choose_range(r, opts, info);
  SurfacePtr map = map_surface(r, opts, info);
  const int mw = cairo_image_surface_get_width(map.get());
  const int mh = cairo_image_surface_get_height(map.get());
  // Whole-pixel enlargement of small maps, never beyond max_side.
  const int scale = std::max(1, std::min(opts.min_side, opts.max_side) / std::max(mw, mh));
  const int dw = mw * scale, dh = mh * scale;
  info.map_width = dw;
  info.map_height = dh;

  const int title_h = opts.title.empty() ? kMargin : 44;
  const int footer_h = 30;
  const int bar_x = kMargin + dw + 20;
  const int fig_w = bar_x + kBarWidth + 8 + 80 + 28 + kMargin;
  const int fig_h = title_h + dh + footer_h + kMargin / 2;
  info.map_x = kMargin;
  info.map_y = title_h;
  info.image_width = fig_w;
  info.image_height = fig_h;
  SurfacePtr fig(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, fig_w, fig_h));
  ContextPtr cr(cairo_create(fig.get()));
  cairo_t* c = cr.get();
  cairo_set_source_rgb(c, 1, 1, 1);
  cairo_paint(c);
  cairo_select_font_face(c, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);

  if (!opts.title.empty()) {
    // Long titles get a smaller font rather than being cut off.
    double size = 18.0;
    cairo_text_extents_t te;
    for (;;) {
      cairo_set_font_size(c, size);
      cairo_text_extents(c, opts.title.c_str(), &te);
      if (te.width <= fig_w - 8 || size <= 8.0) break;
      size -= 1.0;
    }
    cairo_set_source_rgb(c, 0, 0, 0);
    cairo_move_to(c, std::max(4.0, (fig_w - te.width) / 2 - te.x_bearing), 30);
    cairo_show_text(c, opts.title.c_str());
  }

  // Map, nearest-neighbour so that enlarged pixels stay crisp.
  cairo_save(c);
  cairo_translate(c, kMargin, title_h);
  cairo_scale(c, scale, scale);
  cairo_set_source_surface(c, map.get(), 0, 0);
  cairo_pattern_set_filter(cairo_get_source(c), CAIRO_FILTER_NEAREST);
  cairo_rectangle(c, 0, 0, mw, mh);
  cairo_fill(c);
  cairo_restore(c);
  cairo_set_source_rgb(c, 0, 0, 0);
  cairo_set_line_width(c, 1.0);
  cairo_rectangle(c, kMargin - 0.5, title_h - 0.5, dw + 1, dh + 1);
  cairo_stroke(c);

  // Colour bar, high values at the top.
  for (int y = 0; y < dh; ++y) {
    const auto col = colour_at(opts.colour_map, 1.0 - (y + 0.5) / dh);
    cairo_set_source_rgb(c, col[0] / 255.0, col[1] / 255.0, col[2] / 255.0);
    cairo_rectangle(c, bar_x, title_h + y, kBarWidth, 1);
    cairo_fill(c);
  }
  cairo_set_source_rgb(c, 0, 0, 0);
  cairo_rectangle(c, bar_x - 0.5, title_h - 0.5, kBarWidth + 1, dh + 1);
  cairo_stroke(c);
  cairo_set_font_size(c, kFontSize);
  // About one tick per 60 px, but at least three inside the range, even on small maps.
  std::vector<double> ticks;
  for (int target = std::max(3, std::min(8, dh / 60)); target <= 20; ++target) {
    ticks = nice_ticks(info.vmin, info.vmax, target);
    if (ticks.size() >= 3) break;
  }
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : std::abs(info.vmax - info.vmin);
  double label_w = 0;
  for (double t : ticks) {
    const double y = title_h + dh * (info.vmax - t) / (info.vmax - info.vmin);
    cairo_move_to(c, bar_x + kBarWidth, std::round(y) + 0.5);
    cairo_line_to(c, bar_x + kBarWidth + 5, std::round(y) + 0.5);
    cairo_stroke(c);
    const std::string s = tick_label(t, step);
    cairo_text_extents_t te;
    cairo_text_extents(c, s.c_str(), &te);
    label_w = std::max(label_w, te.width);
    // Baseline placed so that the text is centred on the tick.
    cairo_move_to(c, bar_x + kBarWidth + 8, y - te.y_bearing - te.height / 2);
    cairo_show_text(c, s.c_str());
  }
  // Axis label, rotated, beside the tick labels.
  {
    cairo_text_extents_t te;
    cairo_text_extents(c, opts.label.c_str(), &te);
    cairo_save(c);
    cairo_move_to(c, bar_x + kBarWidth + 8 + std::max(label_w, 40.0) + 22, title_h + dh / 2.0 + te.width / 2);
    cairo_rotate(c, -M_PI / 2);
    cairo_show_text(c, opts.label.c_str());
    cairo_restore(c);
  }
  // Footer: how the range was chosen and what grey means.
  {
    cairo_set_source_rgb(c, 0.25, 0.25, 0.25);
    std::string foot = fmt::format("colour range {:.4g} .. {:.4g}{} ({}); grey: no data", info.vmin, info.vmax,
                                   opts.units.empty() ? "" : " " + opts.units, info.range_source);
    if (info.downsample > 1) foot += fmt::format("; {}x{} block means", info.downsample, info.downsample);
    double size = 11.0;
    cairo_text_extents_t te;
    for (;;) {
      cairo_set_font_size(c, size);
      cairo_text_extents(c, foot.c_str(), &te);
      if (te.width <= fig_w - kMargin - 4 || size <= 6.0) break;
      size -= 0.5;
    }
    cairo_move_to(c, kMargin, title_h + dh + 20);
    cairo_show_text(c, foot.c_str());
  }
  cairo_surface_flush(fig.get());
  if (cairo_status(c) != CAIRO_STATUS_SUCCESS) {
    throw Error(std::string("quicklook: drawing failed: ") + cairo_status_to_string(cairo_status(c)));
  }
  return fig;
}

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  auto* out = static_cast<std::vector<unsigned char>*>(closure);
  out->insert(out->end(), data, data + length);
  return CAIRO_STATUS_SUCCESS;
}

// lstfuse's mark in every PNG it writes, by which the output rules know the file as its own: a
// tEXt chunk "Software" = "lstfuse VERSION" (PNG 1.2, section 11.3.4.3), right after IHDR.
constexpr char kPngSignature[] = "\x89PNG\r\n\x1a\n";
constexpr char kPngMarkPrefix[] = "Software\0lstfuse";  // 16 bytes, the NUL included

uint32_t png_crc(const unsigned char* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

void put_be32(std::vector<unsigned char>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(v >> s));
}

uint32_t get_be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

void add_png_mark(std::vector<unsigned char>& png) {
  constexpr size_t kAfterIhdr = 8 + 4 + 4 + 13 + 4;  // signature, IHDR length, type, data, CRC
  if (png.size() < kAfterIhdr) throw Error("quicklook: PNG encoding gave a truncated file");
  std::vector<unsigned char> body{'t', 'E', 'X', 't'};
  const std::string text = std::string("Software", 8) + '\0' + "lstfuse " LSTFUSE_VERSION;
  body.insert(body.end(), text.begin(), text.end());
  std::vector<unsigned char> chunk;
  put_be32(chunk, static_cast<uint32_t>(text.size()));
  chunk.insert(chunk.end(), body.begin(), body.end());
  put_be32(chunk, png_crc(body.data(), body.size()));
  png.insert(png.begin() + kAfterIhdr, chunk.begin(), chunk.end());
}

}  // namespace

bool is_lstfuse_png(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  const std::vector<unsigned char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (b.size() < 8 || std::memcmp(b.data(), kPngSignature, 8) != 0) return false;
  // The chunks before the image data: the mark is one of them.
  for (size_t at = 8; at + 12 <= b.size();) {
    const uint32_t len = get_be32(&b[at]);
    if (len > b.size() - at - 12) return false;
    const unsigned char* type = &b[at + 4];
    if (std::memcmp(type, "IDAT", 4) == 0 || std::memcmp(type, "IEND", 4) == 0) return false;
    if (std::memcmp(type, "tEXt", 4) == 0 && len >= sizeof(kPngMarkPrefix) - 1 &&
        std::memcmp(&b[at + 8], kPngMarkPrefix, sizeof(kPngMarkPrefix) - 1) == 0 &&
        get_be32(&b[at + 8 + len]) == png_crc(type, len + 4)) {
      return true;
    }
    at += 12 + len;
  }
  return false;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || target < 1) return ticks;
  const double raw = (hi - lo) / target;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10.0 * p;
  for (double f : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (f * p >= raw) {
      step = f * p;
      break;
    }
  }
  const double eps = step * 1e-9;
  for (double t = std::ceil((lo - eps) / step) * step; t <= hi + eps; t += step) {
    ticks.push_back(std::abs(t) < eps ? 0.0 : t);
  }
  return ticks;
}

QuicklookInfo render_png(const Raster& raster, const std::string& path, const QuicklookOptions& opts) {
  QuicklookInfo info;
  const std::vector<unsigned char> png = render_png_bytes(raster, opts, &info);
  remove_stale_temporaries(path);
  const std::string part = temporary_name(path);
  {
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
    out.close();
    if (!out) {
      std::remove(part.c_str());
      throw file_error(path, "cannot write PNG: write failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  if (ec) {
    std::remove(part.c_str());
    throw file_error(path, "cannot write PNG: " + ec.message());
  }
  return info;
}

std::vector<unsigned char> render_png_bytes(const Raster& raster, const QuicklookOptions& opts,
                                            QuicklookInfo* info) {
  QuicklookInfo local;
  SurfacePtr fig = draw_figure(raster, opts, local);
  std::vector<unsigned char> out;
  const cairo_status_t st = cairo_surface_write_to_png_stream(fig.get(), append_bytes, &out);
  if (st != CAIRO_STATUS_SUCCESS) {
    throw Error(std::string("quicklook: PNG encoding failed: ") + cairo_status_to_string(st));
  }
  add_png_mark(out);
  if (info) *info = local;
  return out;
}

Raster difference(const Raster& a, const Raster& b) {
  if (!io::same_grid(a.grid(), b.grid())) {
    throw Error("difference: rasters are on different grids (" + a.grid().describe_vs(b.grid()) + ")");
  }
  if (a.bands() != b.bands()) {
    throw Error(fmt::format("difference: {} bands vs {} bands", a.bands(), b.bands()));
  }
  Raster d(a.grid(), a.bands(), 0.0f, false);
  const long long n = static_cast<long long>(a.data().size());
  const float* pa = a.data().data();
  const float* pb = b.data().data();
  const uint8_t* ma = a.mask_data().data();
  const uint8_t* mb = b.mask_data().data();
  float* pd = d.data().data();
  uint8_t* md = d.mask_data().data();
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < n; ++i) {
    const bool ok = ma[i] && mb[i];
    md[i] = ok ? 1 : 0;
    pd[i] = ok ? pa[i] - pb[i] : 0.0f;
  }
  d.units = a.units;
  return d;
}

QuicklookInfo render_diff_png(const Raster& a, const Raster& b, const std::string& path,
                              QuicklookOptions opts) {
  opts.colour_map = ColourMap::Diverging;
  if (opts.label == QuicklookOptions{}.label) opts.label = "difference (K)";
  return render_png(difference(a, b), path, opts);
}

}  // namespace lstfuse::eval
