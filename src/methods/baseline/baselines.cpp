#include "lstfuse/methods/baseline/baselines.hpp"

#include <cmath>
#include <cstdlib>

namespace lstfuse {

const MethodInfo& BilinearMethod::info() const {
  static const MethodInfo mi{"bilinear", "baseline",
                             "target coarse image on the fine grid (the floor to beat)", 0, -1,
                             false, false};
  return mi;
}

FusionResult BilinearMethod::predict(const FusionInput& in) {
  validate(in);
  FusionResult out;
  out.fine = in.coarse;
  out.fine.band_names.clear();
  out.quality = Raster(in.coarse.grid(), 1, 0.0f, true);
  out.quality.units = "";
  out.quality.band_names = {"predicted"};
  const size_t n = in.coarse.band_size();
  float* q = out.quality.band(0);
  for (size_t i = 0; i < n; ++i) {
    bool all = true;
    for (int b = 0; b < in.coarse.bands(); ++b) all = all && in.coarse.mask(b)[i];
    q[i] = all ? 1.0f : 0.0f;
  }
  return out;
}

const MethodInfo& AdditiveMethod::info() const {
  static const MethodInfo mi{"additive", "baseline",
                             "fine image of the pair plus the coarse change (1/|dt|-weighted over two pairs)",
                             1, 2, false, false};
  return mi;
}

FusionResult AdditiveMethod::predict(const FusionInput& in) {
  validate(in);
  const int nb = in.coarse.bands();
  const size_t n = in.coarse.band_size();
  const int np = static_cast<int>(in.pairs.size());
  // Temporal weights 1/|t0 - tk|; a pair on the target date itself gets all the weight.
  std::vector<double> tw(np);
  bool same_day = false;
  for (int k = 0; k < np; ++k) same_day = same_day || in.pairs[k].date == in.date;
  for (int k = 0; k < np; ++k) {
    const long dt = std::labs(in.pairs[k].date - in.date);
    tw[k] = same_day ? (dt == 0 ? 1.0 : 0.0) : 1.0 / static_cast<double>(dt);
  }
  FusionResult out;
  out.fine = Raster(in.coarse.grid(), nb, 0.0f, false);
  out.fine.units = in.coarse.units;
  out.quality = Raster(in.coarse.grid(), 1, 0.0f, true);
  out.quality.units = "";
  out.quality.band_names = {"pairs_used"};
  float* q = out.quality.band(0);
  for (int b = 0; b < nb; ++b) {
    const float* m0 = in.coarse.band(b);
    const uint8_t* v0 = in.coarse.mask(b);
    float* o = out.fine.band(b);
    uint8_t* ov = out.fine.mask(b);
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < static_cast<long long>(n); ++i) {
      if (!v0[i]) continue;
      double sw = 0.0, sv = 0.0;
      int used = 0;
      for (int k = 0; k < np; ++k) {
        const Raster& L = in.pairs[k].fine;
        const Raster& M = in.pairs[k].coarse;
        if (!L.mask(b)[i] || !M.mask(b)[i] || tw[k] == 0.0) continue;
        sw += tw[k];
        sv += tw[k] * (static_cast<double>(L.band(b)[i]) + m0[i] - M.band(b)[i]);
        ++used;
      }
      if (used == 0) continue;
      o[i] = static_cast<float>(sv / sw);
      ov[i] = 1;
      if (b == 0) q[i] = static_cast<float>(used);
    }
  }
  return out;
}

}  // namespace lstfuse
