// The simulated landscape: land cover, parcels, roads, river, town, lake, persistent texture.
#include "world.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace lstfuse::sim {

// Landscape: fields on a jittered grid, forest and bare patches, a meandering river with riparian
// forest, a town (core, residential streets, industrial blocks with hot roofs), straight roads and
// a lake whose shore moves with the season. The layout is placed in metres from the fine
// scene's top-left corner (town and lake inside the scene) and continues over the whole world.
void Simulation::World::build_landscape() {
  const int W = world.width, H = world.height;
  const double px = opts.pixel_size;
  const double L = std::max(fine.width, fine.height) * px;  // fine scene extent, metres
  const double x_min = -mx * px, x_max = (W - mx) * px;     // world extent, scene metres
  const double y_min = -my * px, y_max = (H - my) * px;
  const auto X_of = [&](int x) { return (x - mx + 0.5) * px; };
  const auto Y_of = [&](int y) { return (y - my + 0.5) * px; };
  // Non-negative remainder: street lines stay on a regular lattice on both sides of the origin.
  const auto pmod = [](double a, double b) { const double r = std::fmod(a, b); return r < 0 ? r + b : r; };
  Rng rng(seed, kStreamLayout);
  const uint64_t s_forest = rng.bits(), s_bare = rng.bits(), s_river = rng.bits(),
                 s_lake = rng.bits(), s_town = rng.bits(), s_riparian = rng.bits();

  // Fields: columns of jittered width, each cut into parcels at jittered heights (brick layout).
  const double pw = 480.0, ph = 400.0;  // typical parcel size, metres
  std::vector<double> col_edges{x_min};
  while (col_edges.back() < x_max) col_edges.push_back(col_edges.back() + pw * rng.uniform(0.6, 1.4));
  std::vector<std::vector<double>> row_edges(col_edges.size() - 1);
  Rng prng(seed, kStreamParcels);
  for (size_t c = 0; c + 1 < col_edges.size(); ++c) {
    auto& re = row_edges[c];
    re.push_back(y_min);
    while (re.back() < y_max) re.push_back(re.back() + ph * prng.uniform(0.5, 1.5));
  }
  std::vector<int> first_parcel(row_edges.size() + 1, 0);
  for (size_t c = 0; c < row_edges.size(); ++c)
    first_parcel[c + 1] = first_parcel[c] + static_cast<int>(row_edges[c].size()) - 1;
  parcels.resize(static_cast<size_t>(first_parcel.back()));
  // Crop types cluster (farms, irrigation districts): the draw mixes a smooth regional field
  // with a per-parcel lottery.
  const uint64_t s_farm = prng.bits();
  for (size_t c = 0; c < row_edges.size(); ++c) {
    for (size_t r = 0; r + 1 < row_edges[c].size(); ++r) {
      Parcel& p = parcels[static_cast<size_t>(first_parcel[c]) + r];
      const double cx = 0.5 * (col_edges[c] + col_edges[c + 1]);
      const double cy = 0.5 * (row_edges[c][r] + row_edges[c][r + 1]);
      const double u = std::clamp(0.5 + 0.7 * fbm(s_farm, cx / 5000.0, cy / 5000.0, 2) +
                                      0.45 * (prng.uniform() - 0.5), 0.0, 0.999);
        p.cls = u < 0.35 ? kWinterCrop : u < 0.6 ? kIrrigatedCrop : u < 0.88 ? kPasture : kBareSoil;
        p.offset = static_cast<float>(prng.normal(0.0, 0.8));
        if (p.cls == kWinterCrop) {
          p.sow_doy = 120 + prng.uniform_int(35);
          p.harvest_doy = 312 + prng.uniform_int(40);
        } else {
          p.sow_doy = 285 + prng.uniform_int(40);
          p.harvest_doy = 80 + prng.uniform_int(45);
        }
        p.irrigation_period = 8 + prng.uniform_int(7);
        p.irrigation_phase = prng.uniform_int(p.irrigation_period);
    }
  }

  // Major roads follow some field edges, straight across the scene.
  std::vector<int> road_cols, road_rows;
  for (size_t c = 1; c + 1 < col_edges.size(); c += 5 + rng.uniform_int(3))
    road_cols.push_back(static_cast<int>(std::floor(col_edges[c] / px)) + mx);
  const double road_y0 = L * rng.uniform(0.15, 0.3);
  for (double y = road_y0; y < y_max; y += L * rng.uniform(0.3, 0.45))
    road_rows.push_back(static_cast<int>(std::floor(y / px)) + my);

  // River: a meander across the scene from west to east.
  const double river_y0 = L * rng.uniform(0.3, 0.42), river_phase = rng.uniform(0, kTwoPi);
  const double river_amp = L * 0.07, river_wave = L * rng.uniform(0.45, 0.7);
  std::vector<double> river_y(W), river_stretch(W), river_half(W);
  for (int x = 0; x < W; ++x) {
    auto yr = [&](double X) {
      return river_y0 + river_amp * std::sin(kTwoPi * X / river_wave + river_phase) +
             0.04 * L * fbm(s_river, X / (0.25 * L), 0.5, 3);
    };
    const double X = X_of(x);
    river_y[x] = yr(X);
    const double slope = (yr(X + px) - yr(X - px)) / (2 * px);
    river_stretch[x] = std::sqrt(1.0 + slope * slope);  // vertical -> perpendicular distance
    river_half[x] = 40.0 + 15.0 * fbm(s_river + 1, X / 800.0, 0.0, 2);
  }

  // Town on one bank, lake away from it.
  const double town_x = L * rng.uniform(0.55, 0.75);
  const double town_y = std::clamp(river_y[std::clamp(static_cast<int>(town_x / px) + mx, 0, W - 1)] +
                                       (rng.uniform() < 0.5 ? -1 : 1) * L * 0.12,
                                   0.22 * L, 0.78 * L);  // keep the town inside the scene
  const double town_r = L * 0.15;
  const double lake_x = L * rng.uniform(0.15, 0.3), lake_y = L * rng.uniform(0.68, 0.8);
  const double lake_r = L * 0.08;
  struct Box { double x0, y0, x1, y1; };
  std::vector<Box> industrial;
  for (int k = 0; k < 3; ++k) {
    const double a = rng.uniform(0, kTwoPi), d = town_r * rng.uniform(0.75, 1.1);
    const double bw = rng.uniform(400, 800), bh = rng.uniform(300, 600);
    const double cx = town_x + d * std::cos(a), cy = town_y + d * std::sin(a);
    industrial.push_back({cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2});
  }
  const double street = 210.0, core_street = 300.0;
  // Roads north of the first one (drawn after the layout so it keeps its draws).
  for (double y = road_y0 - L * rng.uniform(0.3, 0.45); y >= y_min; y -= L * rng.uniform(0.3, 0.45))
    road_rows.push_back(static_cast<int>(std::floor(y / px)) + my);

  const size_t n = static_cast<size_t>(W) * H;
  lc.assign(n, kPasture);
  parcel.assign(n, -1);
  offset.assign(n, 0.0f);
  lake_depth.assign(n, kNoLake);
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y) {
    const double Y = Y_of(y);
    size_t ci = 0;
    for (int x = 0; x < W; ++x) {
      const size_t i = static_cast<size_t>(y) * W + x;
      const double X = X_of(x);
      while (ci + 2 < col_edges.size() && X >= col_edges[ci + 1]) ++ci;
      const auto& re = row_edges[ci];
      const auto ri = static_cast<size_t>(std::upper_bound(re.begin(), re.end(), Y) - re.begin()) - 1;
      const int pid = first_parcel[ci] + static_cast<int>(std::min(ri, re.size() - 2));
      uint8_t c = parcels[static_cast<size_t>(pid)].cls;
      int32_t p = pid;

      if (fbm(s_forest, X / 3500.0, Y / 3500.0, 4) > 0.42) { c = kForest; p = -1; }
      else if (fbm(s_bare, X / 2500.0, Y / 2500.0, 4) > 0.5) { c = kBareSoil; p = -1; }

      const double river_dist = std::abs(Y - river_y[x]) / river_stretch[x];
      if (river_dist < river_half[x] + 160.0 * (0.6 + 0.5 * fbm(s_riparian, X / 700.0, Y / 700.0, 3))) {
        c = kForest;
        p = -1;
      }

      const double tdx = X - town_x, tdy = Y - town_y;
      const double tr = std::sqrt(tdx * tdx + tdy * tdy) /
                        (town_r * (1.0 + 0.3 * fbm(s_town, X / 1500.0, Y / 1500.0, 3)));
      if (tr < 1.0) {
        p = -1;
        if (tr < 0.4) {
          c = kUrbanCore;
          if (pmod(X, core_street) < px || pmod(Y, core_street) < px) c = kRoad;
        } else {
          c = kResidential;
          if (pmod(X, street) < px || pmod(Y, street) < px) c = kRoad;
        }
      }
      for (const auto& b : industrial) {
        if (X >= b.x0 && X < b.x1 && Y >= b.y0 && Y < b.y1) { c = kIndustrial; p = -1; }
      }
      if (river_dist < river_half[x]) { c = kWater; p = -1; }
      for (int rc : road_cols)
        if (x == rc || x == rc + 1) { c = kRoad; p = -1; }
      for (int rr : road_rows)
        if (y == rr) { c = kRoad; p = -1; }

      // Lake: depth 1 at the centre, 0 on the mean shore; shore pixels are mud (bare soil).
      const double ldx = X - lake_x, ldy = Y - lake_y;
      const double lr = std::sqrt(ldx * ldx + ldy * ldy) /
                        (lake_r * (1.0 + 0.35 * fbm(s_lake, X / (0.6 * lake_r), Y / (0.6 * lake_r), 4)));
      const double depth = 1.0 - lr;
      if (depth > -0.3) {
        lake_depth[i] = static_cast<float>(depth);
        if (depth > 0.0) c = kWater;
        else if (depth > -0.2) c = kBareSoil;
        p = -1;
      }
      lc[i] = c;
      parcel[i] = p;
      if (p >= 0) offset[i] = parcels[static_cast<size_t>(p)].offset;
      // Roofs and gardens alternate at the pixel scale in town: a fixed, fine-grained mix.
      if (c == kResidential || c == kUrbanCore)
        offset[i] = static_cast<float>(1.2 * normal_from_hash(hash3(seed, kStreamHotSpots, i)));
    }
  }

  // Industrial hot spots: a few small very hot roofs (furnaces, dark metal) per block.
  Rng hrng(seed, kStreamHotSpots);
  for (const auto& b : industrial) {
    const int spots = 3 + hrng.uniform_int(4);
    for (int k = 0; k < spots; ++k) {
      const int x0 = static_cast<int>(std::floor(hrng.uniform(b.x0, b.x1) / px)) + mx;
      const int y0 = static_cast<int>(std::floor(hrng.uniform(b.y0, b.y1) / px)) + my;
      const int sw = 2 + hrng.uniform_int(3), sh = 2 + hrng.uniform_int(3);
      const auto heat = static_cast<float>(hrng.uniform(6.0, 12.0));
      for (int y = std::max(0, y0); y < std::min(H, y0 + sh); ++y)
        for (int x = std::max(0, x0); x < std::min(W, x0 + sw); ++x) {
          const size_t i = static_cast<size_t>(y) * W + x;
          if (lc[i] == kIndustrial) offset[i] = heat;
        }
    }
  }
  lc_fine.resize(static_cast<size_t>(fine.width) * fine.height);
  for (int y = 0; y < fine.height; ++y)
    std::copy_n(lc.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(y + my) * W + mx), fine.width,
                lc_fine.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(y) * fine.width));
}

void Simulation::World::build_texture() {
  const int W = world.width, H = world.height;
  const size_t n = static_cast<size_t>(W) * H;
  // Synthetic texture everywhere (metres from the fine scene's corner); a real image replaces it
  // inside the fine scene, and the margin keeps the synthetic one.
  tex.assign(n, 0.0f);
  const uint64_t s = hash2(seed, kStreamTexture);
  const double px = opts.pixel_size;
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      tex[static_cast<size_t>(y) * W + x] =
          static_cast<float>(fbm(s, (x - mx) * px / 900.0, (y - my) * px / 900.0, 5));
  // Group 1: pixels standardised together; 2: the real image's pixels (standardised apart, so
  // its units do not matter); 0: no value.
  std::vector<uint8_t> group(n, 1);
  if (!opts.texture.empty()) {
    // A real LST image stretched over the fine grid (bilinear on pixel indices): its spatial
    // pattern becomes the persistent within-class texture.
    io::ReadOptions ro;
    ro.require_crs = false;
    const Raster src = io::read_raster(opts.texture, ro);
    if (src.valid_fraction() < 0.05) throw file_error(opts.texture, "too few valid pixels to use as texture");
    const int FW = fine.width, FH = fine.height;
    const double sx = static_cast<double>(src.width()) / FW, sy = static_cast<double>(src.height()) / FH;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < FH; ++y) {
      for (int x = 0; x < FW; ++x) {
        const double fx = std::clamp((x + 0.5) * sx - 0.5, 0.0, src.width() - 1.0);
        const double fy = std::clamp((y + 0.5) * sy - 0.5, 0.0, src.height() - 1.0);
        const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
        const int x1 = std::min(x0 + 1, src.width() - 1), y1 = std::min(y0 + 1, src.height() - 1);
        const double tx = fx - x0, ty = fy - y0;
        double sum = 0.0, wsum = 0.0;
        const int xs[2] = {x0, x1}, ys[2] = {y0, y1};
        const double wx[2] = {1 - tx, tx}, wy[2] = {1 - ty, ty};
        for (int a = 0; a < 2; ++a)
          for (int b = 0; b < 2; ++b)
            if (src.valid(ys[a], xs[b])) {
              sum += wy[a] * wx[b] * src.at(ys[a], xs[b]);
              wsum += wy[a] * wx[b];
            }
        const size_t i = static_cast<size_t>(y + my) * W + (x + mx);
        if (wsum > 1e-9) { tex[i] = static_cast<float>(sum / wsum); group[i] = 2; }
        else group[i] = 0;
      }
    }
  }
  // Standardise each group (serial sums: the same bytes whatever the thread count).
  for (uint8_t g = 1; g <= 2; ++g) {
    double sum = 0.0, sq = 0.0;
    long long cnt = 0;
    for (size_t i = 0; i < n; ++i)
      if (group[i] == g) { sum += tex[i]; sq += static_cast<double>(tex[i]) * tex[i]; ++cnt; }
    if (!cnt) continue;
    const double mean = sum / cnt;
    const double sd = cnt > 1 ? std::sqrt(std::max(1e-12, sq / cnt - mean * mean)) : 1.0;
    for (size_t i = 0; i < n; ++i)
      if (group[i] == g) tex[i] = static_cast<float>((tex[i] - mean) / sd);
  }
  for (size_t i = 0; i < n; ++i)
    if (!group[i]) tex[i] = 0.0f;
}

}  // namespace lstfuse::sim
