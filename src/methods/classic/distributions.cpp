#include "lstfuse/methods/classic/distributions.hpp"

#include <math.h>  // lgamma_r (POSIX)

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"

namespace lstfuse::stats {
namespace {

// Continued fraction of I_x(a, b) (modified Lentz); converges fast for x < (a + 1) / (a + b + 2).
double beta_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300;
  constexpr double eps = 1e-15;
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0;
  double d = 1.0 - qab * x / qap;
  if (std::fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1.0) < eps) return h;
  }
  return h;  // not converged within 10000 terms: only for extreme a, b; h is still close
}

// ln|Gamma(x)| without touching signgam (POSIX lgamma_r keeps the sign in a local).
double log_gamma(double x) {
  int sign = 0;
  return ::lgamma_r(x, &sign);
}

}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (!(a > 0.0) || !(b > 0.0) || !(x >= 0.0 && x <= 1.0)) {
    throw Error(fmt::format("incomplete_beta: arguments out of domain (a={}, b={}, x={})", a, b, x));
  }
  if (x == 0.0 || x == 1.0) return x;
  // Prefactor x^a (1-x)^b / (a B(a, b)), in logs to avoid overflow. lgamma_r, not std::lgamma:
  // glibc's lgamma writes the global signgam, a data race when ESTARFM's threads call this at once.
  const double log_front = log_gamma(a + b) - log_gamma(a) - log_gamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  // Use the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges faster.
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_fraction(a, b, x) / a;
  return 1.0 - front * beta_fraction(b, a, 1.0 - x) / b;
}

double f_cdf(double f, double d1, double d2) {
  if (!(f > 0.0)) return 0.0;
  if (std::isinf(f)) return 1.0;
  return incomplete_beta(d1 / 2.0, d2 / 2.0, d1 * f / (d1 * f + d2));
}

double f_sf(double f, double d1, double d2) {
  if (!(f > 0.0)) return 1.0;
  if (std::isinf(f)) return 0.0;
  return incomplete_beta(d2 / 2.0, d1 / 2.0, d2 / (d2 + d1 * f));
}

}  // namespace lstfuse::stats
