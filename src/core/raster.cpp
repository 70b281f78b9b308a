#include "lstfuse/core/raster.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lstfuse {

Raster::Raster(const Grid& grid, int bands, float fill, bool valid)
    : grid_(grid),
      bands_(bands),
      data_(static_cast<size_t>(bands) * grid.pixels(), fill),
      mask_(static_cast<size_t>(bands) * grid.pixels(), valid ? 1 : 0) {}

Raster Raster::borrowing(const Grid& grid, int bands, std::shared_ptr<const float> values, bool valid) {
  Raster r;
  r.grid_ = grid;
  r.bands_ = bands;
  r.view_ = std::move(values);
  r.mask_.assign(static_cast<size_t>(bands) * grid.pixels(), valid ? 1 : 0);
  return r;
}

void Raster::copy_borrowed() {
  const float* v = view_.get();
  data_.assign(v, v + value_count());
  view_.reset();  // last: value_count() reads it
}

long long Raster::valid_count(int b) const {
  const uint8_t* m = mask(b);
  long long n = 0;
  for (size_t i = 0; i < band_size(); ++i) n += m[i];
  return n;
}

double Raster::valid_fraction(int b) const {
  return band_size() ? static_cast<double>(valid_count(b)) / band_size() : 0.0;
}

bool Raster::valid_all(int y, int x) const {
  for (int b = 0; b < bands_; ++b)
    if (!valid(b, y, x)) return false;
  return true;
}

Raster Raster::crop(int x0, int y0, int w, int h) const {
  Raster out(grid_.window(x0, y0, w, h), bands_, std::numeric_limits<float>::quiet_NaN(), false);
  out.units = units;
  out.band_names = band_names;
  const int xa = std::max(0, x0), xb = std::min(width(), x0 + w);
  const int ya = std::max(0, y0), yb = std::min(height(), y0 + h);
  if (xa >= xb || ya >= yb) return out;
  for (int b = 0; b < bands_; ++b) {
    for (int y = ya; y < yb; ++y) {
      const size_t src = index(b, y, xa);
      const size_t dst = out.index(b, y - y0, xa - x0);
      std::copy_n(values() + src, xb - xa, out.data_.begin() + dst);
      std::copy_n(mask_.begin() + src, xb - xa, out.mask_.begin() + dst);
    }
  }
  return out;
}

void Raster::paste(const Raster& src, int x0, int y0) {
  const int xa = std::max(0, x0), xb = std::min(width(), x0 + src.width());
  const int ya = std::max(0, y0), yb = std::min(height(), y0 + src.height());
  if (xa >= xb || ya >= yb) return;
  const int nb = std::min(bands_, src.bands_);
  own();
  for (int b = 0; b < nb; ++b) {
    for (int y = ya; y < yb; ++y) {
      const size_t s = src.index(b, y - y0, xa - x0);
      const size_t d = index(b, y, xa);
      std::copy_n(src.values() + s, xb - xa, data_.begin() + d);
      std::copy_n(src.mask_.begin() + s, xb - xa, mask_.begin() + d);
    }
  }
}

Raster Raster::band_raster(int b) const {
  Raster out(grid_, 1, 0.0f, false);
  out.units = units;
  if (b < static_cast<int>(band_names.size())) out.band_names = {band_names[b]};
  std::copy_n(band(b), band_size(), out.band(0));
  std::copy_n(mask(b), band_size(), out.mask(0));
  return out;
}

void BandStatsSum::add(const Raster& r, int b) {
  const float* v = r.band(b);
  const uint8_t* m = r.mask(b);
  for (size_t i = 0; i < r.band_size(); ++i) {
    if (!m[i]) continue;
    if (!have_shift_) {
      shift_ = v[i];
      have_shift_ = true;
    }
    const double d = v[i] - shift_;
    sum_ += d;
    sum2_ += d * d;
    lo_ = std::min(lo_, static_cast<double>(v[i]));
    hi_ = std::max(hi_, static_cast<double>(v[i]));
    ++count_;
  }
}

BandStats BandStatsSum::result() const {
  BandStats s;
  s.count = count_;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (count_ == 0) {
    s.mean = s.stddev = s.min = s.max = nan;
    return s;
  }
  s.mean = shift_ + sum_ / count_;
  s.min = lo_;
  s.max = hi_;
  s.stddev = count_ > 1 ? std::sqrt(std::max(0.0, (sum2_ - sum_ * sum_ / count_) / (count_ - 1))) : nan;
  return s;
}

BandStats band_stats(const Raster& r, int b) {
  BandStatsSum s;
  s.add(r, b);
  return s.result();
}

}  // namespace lstfuse
