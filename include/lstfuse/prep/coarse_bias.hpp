#pragma once
// The coarse sensor's offset against the fine sensor, per date, and its value on dates without
// a fine image.
//
// On a pair date the offset is measured: b_k = mean(M_k - L_k) over the pixels valid in both
// images (both on the fine grid; the fine sensor's noise and the coarse PSF average out over a
// scene). On a coarse-only date it is not observable from that date's images, so it is
// estimated from the measured ones with a stationary model in time:
//   b(t) = mu + e(t),  Cov(e(t), e(t')) = s^2 exp(-|t - t'| / tau)
// fitted to the pair dates by maximum likelihood (mu by generalised least squares, s^2 in
// closed form, tau on a grid of lags), and evaluated by ordinary kriging, which also gives the
// estimate's standard deviation. A bias that decorrelates within days (the simulator's, and
// what MODIS view-angle changes give) leaves the mean; a slow drift is followed.
#include <vector>

#include "lstfuse/core/date.hpp"
#include "lstfuse/core/raster.hpp"

namespace lstfuse::prep {

struct PairBias {
  double bias = 0.0;       // K, mean(coarse - fine)
  long long pixels = 0;    // pixels valid in both
};
// Every value of every band less `bias` (in double, stored as float): the correction of a coarse
// image, the same wherever it is applied (in memory or as a streamed window is read).
void remove_bias(Raster& coarse, double bias);

// Band b of two rasters on one grid. pixels == 0 (and bias NaN) when no pixel is valid in both.
PairBias measure_coarse_bias(const Raster& fine, const Raster& coarse, int band = 0);
// The same from parts of the images (strips of rows, in order): one running sum, so that the
// result equals measure_coarse_bias on the whole images bit for bit.
struct CoarseBiasSum {
  double sum = 0.0;
  long long pixels = 0;
  void add(const Raster& fine, const Raster& coarse, int band = 0);
  PairBias result() const;
};

struct BiasEstimate {
  double value = 0.0;  // K
  double sd = 0.0;     // K, 1 sigma of the estimate (0 on a measured date)
};

class BiasModel {
 public:
  BiasModel() = default;
  // From measured (date, bias) values; dates must be distinct. With no value the model is
  // zero everywhere with unknown spread (sd NaN); with one value, that value everywhere.
  static BiasModel fit(const std::vector<Date>& dates, const std::vector<double>& biases);
  // From measurements: a pair counts when its pixels valid in both images are at least
  // `min_share` of the best-covered pair's (a mostly cloudy pair's few pixels sit at cloud
  // edges, where the coarse values are least reliable). `used` (optional) says which counted.
  static BiasModel fit_measured(const std::vector<Date>& dates, const std::vector<PairBias>& measured,
                                double min_share, std::vector<bool>* used = nullptr);

  BiasEstimate at(const Date& d) const;

  double mean() const { return mu_; }
  double sill() const { return s2_; }        // s^2, K^2
  double range_days() const { return tau_; }  // tau
  size_t size() const { return t_.size(); }

 private:
  std::vector<double> t_;   // days
  std::vector<double> b_;   // K
  double mu_ = 0.0, s2_ = 0.0, tau_ = 1.0;
  std::vector<double> cinv_;  // inverse covariance of the measured values, row-major
};

}  // namespace lstfuse::prep
