#include "lstfuse/sim/random.hpp"

namespace lstfuse::sim {
namespace {

inline double lattice(uint64_t seed, int64_t ix, int64_t iy) {
  return 2.0 * unit_from_hash(hash3(seed, static_cast<uint64_t>(ix), static_cast<uint64_t>(iy))) - 1.0;
}
// Quintic fade: continuous second derivative, so no visible lattice creases.
inline double fade(double t) { return t * t * t * (t * (t * 6.0 - 15.0) + 10.0); }

}  // namespace

double value_noise(uint64_t seed, double x, double y) {
  const double fx = std::floor(x), fy = std::floor(y);
  const auto ix = static_cast<int64_t>(fx), iy = static_cast<int64_t>(fy);
  const double tx = fade(x - fx), ty = fade(y - fy);
  const double a = lattice(seed, ix, iy), b = lattice(seed, ix + 1, iy);
  const double c = lattice(seed, ix, iy + 1), d = lattice(seed, ix + 1, iy + 1);
  const double top = a + (b - a) * tx, bottom = c + (d - c) * tx;
  return top + (bottom - top) * ty;
}

double fbm(uint64_t seed, double x, double y, int octaves) {
  double sum = 0.0, amp = 1.0, norm = 0.0;
  for (int o = 0; o < octaves; ++o) {
    // Each octave gets its own lattice and a shift, so octaves do not line up at the origin.
    sum += amp * value_noise(hash2(seed, static_cast<uint64_t>(o)), x + 17.31 * o, y - 11.73 * o);
    norm += amp;
    amp *= 0.5;
    x *= 2.0;
    y *= 2.0;
  }
  return sum / norm;
}

}  // namespace lstfuse::sim
