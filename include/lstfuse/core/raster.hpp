#pragma once
// The raster every layer works with: float32 values in band-major order, one validity mask per
// band (1 = valid), and the grid they live on. Invalid pixels keep whatever value they have; no
// code may use a value whose mask is 0.
//
// The values are either the raster's own vector or borrowed: read in place from memory someone
// else owns (the Python module's numpy arrays), kept alive by a shared handle. A borrowed raster
// is read-only storage: the first non-const access to its values copies them into its own vector
// (copy on write), so no code can write into the lender's memory. Copies of a borrowed raster
// share the borrowed values. The mask is always the raster's own.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lstfuse/core/grid.hpp"

namespace lstfuse {

// What a const Raster hands out for its values: a read-only view (a borrowed raster has no vector
// to return), with the vector operations the code uses on values (size, indexing, iteration,
// comparison).
class ValuesView {
 public:
  using value_type = float;
  using size_type = size_t;
  using iterator = const float*;
  using const_iterator = const float*;
  ValuesView(const float* p, size_t n) : p_(p), n_(n) {}
  const float* data() const { return p_; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const float* begin() const { return p_; }
  const float* end() const { return p_ + n_; }
  const float& operator[](size_t i) const { return p_[i]; }
  // As std::vector's: equal sizes and values (NaN differs from everything).
  friend bool operator==(const ValuesView& a, const ValuesView& b) {
    return a.n_ == b.n_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const ValuesView& a, const ValuesView& b) { return !(a == b); }
  friend bool operator==(const ValuesView& a, const std::vector<float>& b) { return a == ValuesView(b.data(), b.size()); }
  friend bool operator==(const std::vector<float>& a, const ValuesView& b) { return b == a; }
  friend bool operator!=(const ValuesView& a, const std::vector<float>& b) { return !(a == b); }
  friend bool operator!=(const std::vector<float>& a, const ValuesView& b) { return !(b == a); }

 private:
  const float* p_;
  size_t n_;
};

class Raster {
 public:
  Raster() = default;
  // All values `fill`, all pixels valid when `valid` is true.
  Raster(const Grid& grid, int bands, float fill = 0.0f, bool valid = true);
  // A raster reading its bands * grid.pixels() values in place from `values`, whose owner the
  // shared pointer keeps alive (its deleter releases the lender's memory, not the floats). The
  // mask is the raster's own, all `valid`; the caller marks nodata with set_valid or mask().
  static Raster borrowing(const Grid& grid, int bands, std::shared_ptr<const float> values, bool valid = true);
  // True while the values are still read from borrowed memory (no write has copied them).
  bool borrowed() const { return view_ != nullptr; }

  const Grid& grid() const { return grid_; }
  Grid& grid() { return grid_; }
  int width() const { return grid_.width; }
  int height() const { return grid_.height; }
  int bands() const { return bands_; }
  size_t band_size() const { return static_cast<size_t>(grid_.width) * grid_.height; }
  bool empty() const { return data_.empty() && !view_; }

  float* band(int b) { own(); return data_.data() + b * band_size(); }
  const float* band(int b) const { return values() + b * band_size(); }
  uint8_t* mask(int b) { return mask_.data() + b * band_size(); }
  const uint8_t* mask(int b) const { return mask_.data() + b * band_size(); }

  float& at(int b, int y, int x) { own(); return data_[index(b, y, x)]; }
  float at(int b, int y, int x) const { return values()[index(b, y, x)]; }
  bool valid(int b, int y, int x) const { return mask_[index(b, y, x)] != 0; }
  void set_valid(int b, int y, int x, bool v) { mask_[index(b, y, x)] = v ? 1 : 0; }
  // Single-band shorthands.
  float& at(int y, int x) { return at(0, y, x); }
  float at(int y, int x) const { return at(0, y, x); }
  bool valid(int y, int x) const { return valid(0, y, x); }

  // Writable values: a borrowed raster copies them first. Read-only access goes through the view.
  std::vector<float>& data() { own(); return data_; }
  ValuesView data() const { return {values(), value_count()}; }
  std::vector<uint8_t>& mask_data() { return mask_; }
  const std::vector<uint8_t>& mask_data() const { return mask_; }

  long long valid_count(int b) const;
  double valid_fraction(int b = 0) const;
  // Pixel valid in every band.
  bool valid_all(int y, int x) const;

  // A copy of a pixel window; pixels outside the raster come back invalid.
  Raster crop(int x0, int y0, int w, int h) const;
  // Copies `src` (all bands) into this raster with its top-left at (x0, y0); parts outside are
  // dropped. Used to assemble tiles.
  void paste(const Raster& src, int x0, int y0);
  // Only band b as a new single-band raster.
  Raster band_raster(int b) const;

  // Free-form metadata that travels with the raster and into written files.
  std::string units = "K";
  std::vector<std::string> band_names;

 private:
  size_t index(int b, int y, int x) const {
    return b * band_size() + static_cast<size_t>(y) * grid_.width + x;
  }
  size_t value_count() const { return view_ ? static_cast<size_t>(bands_) * band_size() : data_.size(); }
  const float* values() const {
    const float* v = view_.get();
    return v ? v : data_.data();
  }
  // Before a write: a borrowed raster takes its own copy of the values.
  void own() {
    if (view_) copy_borrowed();
  }
  void copy_borrowed();
  Grid grid_;
  int bands_ = 0;
  std::vector<float> data_;           // own values (empty while borrowing)
  std::shared_ptr<const float> view_;  // borrowed values, null when own
  std::vector<uint8_t> mask_;
};

// Mean and sample standard deviation of the valid pixels of one band (NaN when < 2 valid).
struct BandStats {
  long long count = 0;
  double mean = 0.0;
  double stddev = 0.0;
  double min = 0.0;
  double max = 0.0;
};
BandStats band_stats(const Raster& r, int b = 0);

// The same statistics gathered piece by piece (windows of a band read one after another), so that
// a band of any size is described without holding it whole: add() each piece, then result().
class BandStatsSum {
 public:
  void add(const Raster& r, int b = 0);
  BandStats result() const;

 private:
  long long count_ = 0;
  bool have_shift_ = false;
  double shift_ = 0.0;  // the first valid value: sums of deviations from it keep the variance exact
  double sum_ = 0.0, sum2_ = 0.0;
  double lo_ = std::numeric_limits<double>::infinity(), hi_ = -std::numeric_limits<double>::infinity();
};

}  // namespace lstfuse
