#pragma once
// The raster every layer works with: float32 values in band-major order, one validity mask per
// band (1 = valid), and the grid they live on. Invalid pixels keep whatever value they have; no
// code may use a value whose mask is 0.
#include <cstdint>
#include <string>
#include <vector>

#include "lstfuse/core/grid.hpp"

namespace lstfuse {

class Raster {
 public:
  Raster() = default;
  // All values `fill`, all pixels valid when `valid` is true.
  Raster(const Grid& grid, int bands, float fill = 0.0f, bool valid = true);

  const Grid& grid() const { return grid_; }
  Grid& grid() { return grid_; }
  int width() const { return grid_.width; }
  int height() const { return grid_.height; }
  int bands() const { return bands_; }
  size_t band_size() const { return static_cast<size_t>(grid_.width) * grid_.height; }
  bool empty() const { return data_.empty(); }

  float* band(int b) { return data_.data() + b * band_size(); }
  const float* band(int b) const { return data_.data() + b * band_size(); }
  uint8_t* mask(int b) { return mask_.data() + b * band_size(); }
  const uint8_t* mask(int b) const { return mask_.data() + b * band_size(); }

  float& at(int b, int y, int x) { return data_[index(b, y, x)]; }
  float at(int b, int y, int x) const { return data_[index(b, y, x)]; }
  bool valid(int b, int y, int x) const { return mask_[index(b, y, x)] != 0; }
  void set_valid(int b, int y, int x, bool v) { mask_[index(b, y, x)] = v ? 1 : 0; }
  // Single-band shorthands.
  float& at(int y, int x) { return at(0, y, x); }
  float at(int y, int x) const { return at(0, y, x); }
  bool valid(int y, int x) const { return valid(0, y, x); }

  std::vector<float>& data() { return data_; }
  const std::vector<float>& data() const { return data_; }
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
  Grid grid_;
  int bands_ = 0;
  std::vector<float> data_;
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

}  // namespace lstfuse
