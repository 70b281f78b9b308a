#pragma once
// Small statistical routines the classic methods need (ESTARFM's regression F-test).
namespace lstfuse::stats {

// Regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1
// (continued fraction, accurate to about 1e-14). Throws Error on arguments outside the domain.
double incomplete_beta(double a, double b, double x);

// CDF of Fisher's F distribution with d1 and d2 degrees of freedom at f (0 for f <= 0).
double f_cdf(double f, double d1, double d2);
// Upper tail 1 - CDF, computed directly so that small p-values keep their precision.
double f_sf(double f, double d1, double d2);

}  // namespace lstfuse::stats
