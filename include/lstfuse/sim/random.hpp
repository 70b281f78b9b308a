#pragma once
// Portable, reproducible randomness for the simulator. std:: distributions differ between
// standard libraries, so every draw here is implemented explicitly:
// - Rng: a std::mt19937_64 stream (bit-exact by the standard) with our own uniform/normal, for
//   scene-level draws (layout, weather, per-date parameters), one stream per component.
// - Counter-based hashes: a pixel's draw is a pure function of (seed, stream, day, index), so
//   OpenMP threads can fill rasters in any order and the bytes never change.
#include <cmath>
#include <cstdint>
#include <random>

namespace lstfuse::sim {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
inline uint64_t hash2(uint64_t a, uint64_t b) { return splitmix64(splitmix64(a) ^ (b + 0x632BE59BD9B4E019ULL)); }
inline uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) { return hash2(hash2(a, b), c); }
inline uint64_t hash4(uint64_t a, uint64_t b, uint64_t c, uint64_t d) { return hash2(hash3(a, b, c), d); }

// Uniform in [0, 1) from the top 53 bits of a hash.
inline double unit_from_hash(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }
// Standard normal from one hash (Box-Muller on two derived uniforms).
inline double normal_from_hash(uint64_t h) {
  const double u1 = 1.0 - unit_from_hash(h);  // (0, 1]
  const double u2 = unit_from_hash(splitmix64(h));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Cheap near-normal (mean 0, sd 1) from one hash: the sum of four 16-bit uniforms (Irwin-Hall,
// bounded at +-3.46). Used for per-pixel daily noise, where hundreds of millions of draws are
// needed and exact Gaussian tails do not matter.
inline float approx_normal_from_hash(uint64_t h) {
  const uint64_t s = (h & 0xFFFF) + ((h >> 16) & 0xFFFF) + ((h >> 32) & 0xFFFF) + (h >> 48);
  // Sum of 4 U(0,1): mean 2, variance 1/3.
  return (static_cast<float>(s) * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  // A stream for one named component, independent of every other component's draws.
  Rng(uint64_t seed, uint64_t component) : engine_(hash2(seed, component)) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  int uniform_int(int n) { return static_cast<int>(uniform() * n); }  // 0..n-1
  double normal() {
    if (has_spare_) { has_spare_ = false; return spare_; }
    const double u1 = 1.0 - uniform(), u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(6.283185307179586 * u2);
    has_spare_ = true;
    return r * std::cos(6.283185307179586 * u2);
  }
  double normal(double mean, double sd) { return mean + sd * normal(); }
  uint64_t bits() { return engine_(); }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// Smooth lattice value noise in about [-1, 1] at (x, y) in lattice units.
double value_noise(uint64_t seed, double x, double y);
// Fractal sum of `octaves` value-noise layers (each twice the frequency, half the amplitude),
// normalised to about [-1, 1]. x, y in units of the largest feature.
double fbm(uint64_t seed, double x, double y, int octaves);

}  // namespace lstfuse::sim
