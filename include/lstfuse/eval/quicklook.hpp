#pragma once
// Quick-look PNG maps: an LST map with a perceptually uniform colour map, or an error map
// (A - B) with a diverging colour map centred on 0; each with a title, a colour bar labelled
// in K and the stated colour range. Invalid pixels are grey. Large rasters are block-averaged
// for display (longest side <= max_side); small ones are enlarged by whole pixels.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lstfuse/core/raster.hpp"

namespace lstfuse::eval {

enum class ColourMap {
  Sequential,  // viridis-like, dark blue (low) to yellow (high)
  Diverging,   // blue (negative) - white (0) - red (positive)
};

struct QuicklookOptions {
  int band = 0;                   // 0-based band to show
  std::optional<double> vmin;     // colour range in K; both or neither. Default: robust
  std::optional<double> vmax;     // percentiles of the valid pixels (see below)
  double low_percentile = 2.0;    // sequential default range: [p_low, p_high]
  double high_percentile = 98.0;  // diverging default range: +-p_high of |value|
  ColourMap colour_map = ColourMap::Sequential;
  std::string title;
  std::string label = "LST (K)";  // colour bar label
  std::string units = "K";        // of the colour range in the footer; empty for unitless bands
  int max_side = 1200;            // display map size limits in pixels
  int min_side = 800;
};

// What was drawn: the colour range actually used and how it was chosen.
struct QuicklookInfo {
  double vmin = 0, vmax = 0;
  std::string range_source;  // e.g. "robust 2-98 % percentiles" or "fixed"
  int map_x = 0, map_y = 0;           // top-left of the map on the image
  int map_width = 0, map_height = 0;  // map pixels on the image
  int downsample = 1;                 // raster pixels per map pixel (per side)
  int image_width = 0, image_height = 0;
};

// Renders band opts.band of `raster` to a PNG file (written under a temporary name, then
// renamed). Throws lstfuse::Error when nothing is valid or the file cannot be written.
QuicklookInfo render_png(const Raster& raster, const std::string& path,
                         const QuicklookOptions& opts = {});
// True when `path` is a PNG that lstfuse wrote (its "Software" text chunk says lstfuse).
bool is_lstfuse_png(const std::string& path);
// The same PNG in memory (for embedding into HTML reports).
std::vector<unsigned char> render_png_bytes(const Raster& raster,
                                            const QuicklookOptions& opts = {},
                                            QuicklookInfo* info = nullptr);

// a - b per band, valid where both are valid. Grids and band counts must match (Error).
Raster difference(const Raster& a, const Raster& b);
// Error map of a - b: diverging colours and a range symmetric about 0 (a given vmin/vmax is
// made symmetric with the larger magnitude).
QuicklookInfo render_diff_png(const Raster& a, const Raster& b, const std::string& path,
                              QuicklookOptions opts = {});

// Colour of t in [0, 1] (clamped), sRGB 8-bit.
std::array<uint8_t, 3> colour_at(ColourMap map, double t);
// Round tick values (steps 1, 2, 2.5 or 5 times a power of 10) within [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

}  // namespace lstfuse::eval
