#include "lstfuse/prep/coarse_bias.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lstfuse/core/error.hpp"

namespace lstfuse::prep {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// In-place Cholesky factor (lower) of a symmetric positive-definite n x n matrix; false when it
// is not positive definite.
bool cholesky(std::vector<double>& a, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0.0)) return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (size_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (size_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / d;
    }
  }
  return true;
}

// Solves L L^T x = b with the factor from cholesky().
std::vector<double> cholesky_solve(const std::vector<double>& l, size_t n, std::vector<double> b) {
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < i; ++k) b[i] -= l[i * n + k] * b[k];
    b[i] /= l[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {
    for (size_t k = i + 1; k < n; ++k) b[i] -= l[k * n + i] * b[k];
    b[i] /= l[i * n + i];
  }
  return b;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Correlation matrix exp(-|dt|/tau) with a tiny nugget that keeps it positive definite when two
// dates are close and tau long.
std::vector<double> correlation(const std::vector<double>& t, double tau) {
  const size_t n = t.size();
  std::vector<double> r(n * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) r[i * n + j] = std::exp(-std::fabs(t[i] - t[j]) / tau) + (i == j ? 1e-9 : 0.0);
  return r;
}

}  // namespace

void remove_bias(Raster& coarse, double bias) {
  for (int band = 0; band < coarse.bands(); ++band) {
    float* v = coarse.band(band);
    for (size_t i = 0; i < coarse.band_size(); ++i) v[i] = static_cast<float>(v[i] - bias);
  }
}

void CoarseBiasSum::add(const Raster& fine, const Raster& coarse, int band) {
  const float* l = fine.band(band);
  const float* m = coarse.band(band);
  const uint8_t* lv = fine.mask(band);
  const uint8_t* mv = coarse.mask(band);
  for (size_t i = 0; i < fine.band_size(); ++i) {
    if (!lv[i] || !mv[i]) continue;
    sum += static_cast<double>(m[i]) - l[i];
    ++pixels;
  }
}

PairBias CoarseBiasSum::result() const { return {pixels ? sum / static_cast<double>(pixels) : kNaN, pixels}; }

PairBias measure_coarse_bias(const Raster& fine, const Raster& coarse, int band) {
  CoarseBiasSum s;
  s.add(fine, coarse, band);
  return s.result();
}

BiasModel BiasModel::fit(const std::vector<Date>& dates, const std::vector<double>& biases) {
  if (dates.size() != biases.size()) throw Error("coarse bias model: dates and values differ in number");
  BiasModel m;
  for (size_t i = 0; i < dates.size(); ++i) {
    if (!std::isfinite(biases[i])) continue;
    for (double t : m.t_)
      if (t == static_cast<double>(dates[i].days()))
        throw Error("coarse bias model: two values on " + dates[i].iso());
    m.t_.push_back(static_cast<double>(dates[i].days()));
    m.b_.push_back(biases[i]);
  }
  const size_t n = m.t_.size();
  if (n == 0) {
    m.s2_ = kNaN;
    return m;
  }
  if (n == 1) {
    m.mu_ = m.b_[0];
    m.s2_ = kNaN;
    return m;
  }
  // Profile likelihood over tau: for each tau, mu and s^2 in closed form.
  static const double kTaus[] = {0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  double best = std::numeric_limits<double>::infinity();
  const std::vector<double> ones(n, 1.0);
  for (double tau : kTaus) {
    std::vector<double> l = correlation(m.t_, tau);
    if (!cholesky(l, n)) continue;
    const std::vector<double> ri1 = cholesky_solve(l, n, ones);
    const std::vector<double> rib = cholesky_solve(l, n, m.b_);
    const double mu = dot(ones, rib) / dot(ones, ri1);
    std::vector<double> r(n);
    for (size_t i = 0; i < n; ++i) r[i] = m.b_[i] - mu;
    const double s2 = std::max(dot(r, cholesky_solve(l, n, r)) / static_cast<double>(n), 1e-12);
    double logdet = 0.0;
    for (size_t i = 0; i < n; ++i) logdet += 2.0 * std::log(l[i * n + i]);
    const double nll = static_cast<double>(n) * std::log(s2) + logdet;
    if (nll < best - 1e-9) {  // ties keep the shorter range: the simpler, mean-reverting model
      best = nll;
      m.mu_ = mu;
      m.s2_ = s2;
      m.tau_ = tau;
    }
  }
  std::vector<double> l = correlation(m.t_, m.tau_);
  cholesky(l, n);
  m.cinv_.assign(n * n, 0.0);
  for (size_t j = 0; j < n; ++j) {
    std::vector<double> e(n, 0.0);
    e[j] = 1.0;
    const std::vector<double> col = cholesky_solve(l, n, e);
    for (size_t i = 0; i < n; ++i) m.cinv_[i * n + j] = col[i];
  }
  return m;
}

BiasModel BiasModel::fit_measured(const std::vector<Date>& dates, const std::vector<PairBias>& measured,
                                  double min_share, std::vector<bool>* used) {
  if (dates.size() != measured.size()) throw Error("coarse bias model: dates and values differ in number");
  long long most = 0;
  for (const auto& m : measured) most = std::max(most, m.pixels);
  std::vector<Date> d;
  std::vector<double> v;
  if (used) used->assign(dates.size(), false);
  for (size_t k = 0; k < measured.size(); ++k) {
    if (measured[k].pixels <= 0 || static_cast<double>(measured[k].pixels) < min_share * static_cast<double>(most)) continue;
    d.push_back(dates[k]);
    v.push_back(measured[k].bias);
    if (used) (*used)[k] = true;
  }
  return fit(d, v);
}

BiasEstimate BiasModel::at(const Date& d) const {
  const size_t n = t_.size();
  if (n == 0) return {0.0, kNaN};
  if (n == 1) return {mu_, kNaN};
  const double t0 = static_cast<double>(d.days());
  std::vector<double> r0(n);
  for (size_t i = 0; i < n; ++i) {
    if (t_[i] == t0) return {b_[i], 0.0};
    r0[i] = std::exp(-std::fabs(t0 - t_[i]) / tau_);
  }
  // Ordinary kriging with the GLS mean: b = mu + r0' R^-1 (b - mu), and its variance
  // s^2 (1 - r0' R^-1 r0 + (1 - 1' R^-1 r0)^2 / 1' R^-1 1).
  std::vector<double> rir0(n, 0.0), ri1(n, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      rir0[i] += cinv_[i * n + j] * r0[j];
      ri1[i] += cinv_[i * n + j];
    }
  double est = mu_, q = 0.0, one_ri_r0 = 0.0, one_ri_1 = 0.0;
  for (size_t i = 0; i < n; ++i) {
    est += rir0[i] * (b_[i] - mu_);
    q += rir0[i] * r0[i];
    one_ri_r0 += rir0[i];
    one_ri_1 += ri1[i];
  }
  const double var = s2_ * std::max(0.0, 1.0 - q + (1.0 - one_ri_r0) * (1.0 - one_ri_r0) / one_ri_1);
  return {est, std::sqrt(var)};
}

}  // namespace lstfuse::prep
