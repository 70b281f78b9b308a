#include "lstfuse/eval/uncertainty.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/eval/consistency.hpp"

namespace lstfuse::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum Feature {
  kDays, kCoarseChange, kBlockResidual, kLocalSd, kCoarseFilled, kReferenceFilled,
  kDayConsistency, kSceneChange, kDayClear, kNearby, kNumFeatures
};

bool flag_at(const Raster* r, size_t k) {
  return r && r->mask(0)[k] && r->band(0)[k] != 0.0f;
}

// Population standard deviation of the valid 3 x 3 neighbourhood; NaN with fewer than 3.
double local_sd(const Raster& r, int x, int y) {
  double s = 0, ss = 0;
  int n = 0;
  for (int dy = -1; dy <= 1; ++dy)
    for (int dx = -1; dx <= 1; ++dx) {
      const int xx = x + dx, yy = y + dy;
      if (xx < 0 || yy < 0 || xx >= r.width() || yy >= r.height() || !r.valid(yy, xx)) continue;
      const double v = r.at(yy, xx);
      s += v;
      ss += v * v;
      ++n;
    }
  if (n < 3) return kNaN;
  const double m = s / n;
  return std::sqrt(std::max(0.0, ss / n - m * m));
}

// Median of |v| (v is reordered).
double median_abs(std::vector<float>& v) {
  if (v.empty()) return kNaN;
  for (auto& x : v) x = std::abs(x);
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// Solves A x = b for a small symmetric positive definite A (Cholesky); A is n x n row-major.
std::vector<double> solve_spd(std::vector<double> a, std::vector<double> b, int n) {
  for (int j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) throw Error("uncertainty: the predictors are collinear (singular normal equations)");
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (int i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (int k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / d;
    }
  }
  for (int i = 0; i < n; ++i) {
    double s = b[i];
    for (int k = 0; k < i; ++k) s -= a[i * n + k] * b[k];
    b[i] = s / a[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {
    double s = b[i];
    for (int k = i + 1; k < n; ++k) s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
  return b;
}

// The design vector of one row: intercept, standardised active predictors, class indicators.
void design(const UncertaintyModel& m, const float* x, uint8_t cls, std::vector<double>& out) {
  out.clear();
  out.push_back(1.0);
  for (size_t j = 0; j < m.features.size(); ++j) {
    if (!m.active[j]) continue;
    const double v = std::clamp(static_cast<double>(x[j]), m.lo[j], m.hi[j]);
    out.push_back((v - m.mean[j]) / m.sd[j]);
  }
  for (int c : m.classes) out.push_back(cls == c ? 1.0 : 0.0);
}

// The day split of fit_uncertainty: per kept row the mean error of its group and its weight
// (mean 1, every day the same total), and the variance of the group means over days. A day's
// rows fall in groups by how they were predicted: coarse value observed or filled, reference
// clear or taken from a farther pair, and days whose coarse image was filled whole. Each carries
// its own shared error (an observed coarse image brings the day's weather; a filled pixel only
// the cycle and the residual of the day's clear pixels around it; a day filled whole has no
// clear pixel to hold its residual, only the days around it; a farther reference brings the
// change since its own date), so each group that appears on enough days has its own mean and
// variance.
enum DayGroup { kObserved, kCoarseFilledGroup, kReferenceFilledGroup, kBothFilled, kWholeDayFilled, kDayGroups };

struct DaySplit {
  std::vector<double> mean, weight;
  double variance = 0.0;  // of the day means: of the observed group when split, else of all rows
  // Per group, the variance of that group's means; < 0: too few days with one (its rows take
  // the whole day's mean). Index kObserved is unused (it is `variance`).
  std::array<double, kDayGroups> group_variance{-1.0, -1.0, -1.0, -1.0, -1.0};
  int days = 0;
};

// Below this share of coarse pixels observed a day counts as filled whole.
constexpr float kWholeDayObserved = 0.02f;

bool whole_day_filled(const float* x, int dims) {
  return dims > kDayClear && x[kCoarseFilled] > 0.5f && x[kDayClear] < kWholeDayObserved;
}

int day_group(const FeatureRows& all, size_t i, bool whole_days) {
  const int dims = all.dims;
  const float* x = all.x.data() + i * dims;
  const bool cf = dims > kCoarseFilled && x[kCoarseFilled] > 0.5f;
  const bool rf = dims > kReferenceFilled && x[kReferenceFilled] > 0.5f;
  if (whole_days && whole_day_filled(x, dims)) return kWholeDayFilled;
  return (cf ? kCoarseFilledGroup : kObserved) + (rf ? kReferenceFilledGroup : 0);
}

// `whole_apart`: the days filled whole are a group of their own however few (their variance comes
// from elsewhere), so that they do not set the coarse-filled group's.
DaySplit split_days(const FeatureRows& all, const std::vector<float>& errors, const std::vector<size_t>& keep,
                    int min_days, long long min_group_rows, bool whole_apart) {
  DaySplit s;
  s.mean.assign(keep.size(), 0.0);
  s.weight.assign(keep.size(), 1.0);
  if (all.day.size() != all.rows()) return s;
  min_group_rows = std::max(2LL, min_group_rows);
  min_days = std::max(2, min_days);
  struct Sum {
    double sum = 0, sq = 0;
    long long n = 0;
    double mean() const { return sum / static_cast<double>(n); }
    // The squared day mean less its sampling variance (the pixels' spread over n): an unbiased
    // estimate of the squared shared error, which a group of few pixels would overstate.
    double shared_square() const {
      const double m = mean();
      if (n < 2) return m * m;
      const double var = std::max(0.0, (sq - static_cast<double>(n) * m * m) / static_cast<double>(n - 1));
      return m * m - var / static_cast<double>(n);
    }
  };
  // Days filled whole form a group only when there are enough of them; otherwise their pixels
  // stay with the coarse-filled ones (and share that group's variance).
  std::map<int, long long> whole_rows;
  for (size_t i : keep)
    if (whole_day_filled(all.x.data() + i * all.dims, all.dims)) ++whole_rows[all.day[i]];
  int whole_days = 0;
  for (const auto& [day, n] : whole_rows) whole_days += n >= min_group_rows;
  const bool whole = whole_days >= (whole_apart ? 1 : min_days);
  // Index 0: all rows of the day; 1 + g: day group g.
  std::map<int, std::array<Sum, 1 + kDayGroups>> sums;
  for (size_t i : keep) {
    auto& t = sums[all.day[i]];
    const double e = errors[i];
    for (int g : {0, 1 + day_group(all, i, whole)}) {
      t[g].sum += e;
      t[g].sq += e * e;
      ++t[g].n;
    }
  }
  if (static_cast<int>(sums.size()) < min_days) return s;
  s.days = static_cast<int>(sums.size());
  const double per_day = static_cast<double>(keep.size()) / s.days;
  // Per group, the mean shared square over the days it has enough rows on (each day the same
  // weight; a day where a group has too few rows does not count for it).
  // With `whole_apart` the days filled whole do not count for the whole days' variance either:
  // it is what the other days share, and theirs comes from elsewhere.
  std::array<double, 1 + kDayGroups> sq{};
  std::array<int, 1 + kDayGroups> n{};
  for (const auto& [day, t] : sums) {
    const bool apart = whole && whole_apart && t[1 + kWholeDayFilled].n > 0;
    for (int g = 0; g <= kDayGroups; ++g)
      if (t[g].n >= (g == 0 ? 1 : min_group_rows) && !(g == 0 && apart)) {
        sq[g] += t[g].shared_square();
        ++n[g];
      }
  }
  s.variance = n[0] ? std::max(0.0, sq[0] / n[0]) : 0.0;
  // Groups of their own: those on enough days, when at least two groups are (else one day
  // component for all, as with a single kind of pixel). The days filled whole kept apart are
  // not among those counted.
  std::array<bool, 1 + kDayGroups> own{};
  int owners = 0;
  for (int g = 1; g <= kDayGroups; ++g) {
    own[g] = n[g] >= min_days;
    if (!(whole_apart && g == 1 + kWholeDayFilled)) owners += own[g];
  }
  if (owners < 2) own.fill(false);
  if (whole && whole_apart) own[1 + kWholeDayFilled] = true;
  spdlog::debug("uncertainty: day groups (all, observed, coarse filled, reference filled, both, whole day): days "
                "{} {} {} {} {} {}", n[0], n[1], n[2], n[3], n[4], n[5]);
  if (own[1 + kObserved]) s.variance = std::max(0.0, sq[1 + kObserved] / n[1 + kObserved]);
  for (int g = kCoarseFilledGroup; g < kDayGroups; ++g)
    if (own[1 + g]) s.group_variance[g] = std::max(0.0, sq[1 + g] / n[1 + g]);
  for (size_t r = 0; r < keep.size(); ++r) {
    const auto& t = sums[all.day[keep[r]]];
    const int g = 1 + day_group(all, keep[r], whole);
    s.mean[r] = own[g] && t[g].n >= min_group_rows ? t[g].mean() : t[0].mean();
    s.weight[r] = per_day / static_cast<double>(t[0].n);
  }
  return s;
}

// Error variance removed of the observation noise, never below a quarter of what was observed.
double true_variance(double observed, double noise) { return std::max(observed - noise, 0.25 * observed); }

}  // namespace

const std::vector<std::string>& error_feature_names() {
  static const std::vector<std::string> names = {
      "log1p_days_to_reference",   "log1p_abs_coarse_change",  "log1p_abs_block_residual",
      "log1p_reference_local_sd",  "coarse_filled",            "reference_filled",
      "log1p_day_consistency_ubrmse", "log1p_abs_scene_coarse_change", "day_coarse_observed_fraction",
      "log_nearby_error_mse"};
  return names;
}

FeatureRows error_features(const ErrorContext& ctx, int stride) {
  if (!ctx.fused || !ctx.coarse) throw Error("uncertainty: no prediction or coarse image given");
  if (ctx.refs.empty()) throw Error("uncertainty: no reference pair given");
  const Raster& f = *ctx.fused;
  const Raster& c = *ctx.coarse;
  const size_t n = f.band_size();
  // References nearest first (ties: the earlier).
  std::vector<ErrorContext::Reference> refs = ctx.refs;
  std::stable_sort(refs.begin(), refs.end(), [&](const auto& a, const auto& b) {
    const long da = std::labs(a.date - ctx.date), db = std::labs(b.date - ctx.date);
    return da != db ? da < db : a.date < b.date;
  });
  const double days = static_cast<double>(std::labs(refs.front().date - ctx.date));
  // Day-level: the coarse change of the scene since the nearest reference, the consistency.
  double dsum = 0;
  long long dn = 0;
  for (size_t k = 0; k < n; ++k)
    if (c.mask(0)[k] && refs.front().coarse->mask(0)[k]) {
      dsum += static_cast<double>(c.band(0)[k]) - refs.front().coarse->band(0)[k];
      ++dn;
    }
  const double scene_change = dn ? std::abs(dsum / static_cast<double>(dn)) : 0.0;
  // Share of the scene the coarse sensor observed (not filled): cloudy days have noisier
  // coarse pixels along the cloud edges.
  long long observed = 0;
  for (size_t k = 0; k < n; ++k) observed += c.mask(0)[k] && !flag_at(ctx.coarse_filled, k);
  const double day_clear = n ? static_cast<double>(observed) / static_cast<double>(n) : 0.0;
  Raster residual;
  const ConsistencyScore cs = coarse_consistency(f, c, ctx.block, ctx.coarse_filled, &residual);
  const double day_ub = std::isfinite(cs.ubrmse) ? cs.ubrmse : 0.0;
  double rsum = 0;
  long long rn = 0;
  for (size_t k = 0; k < n; ++k)
    if (residual.mask(0)[k]) { rsum += std::abs(residual.band(0)[k] - cs.bias); ++rn; }
  const double typical_residual = rn ? rsum / static_cast<double>(rn) : 0.0;

  FeatureRows rows;
  rows.dims = kNumFeatures;
  std::vector<size_t> picked;
  size_t seen = 0;
  for (size_t k = 0; k < n; ++k)
    if (f.mask(0)[k] && (seen++ % static_cast<size_t>(std::max(1, stride))) == 0) picked.push_back(k);
  rows.pixel = picked;
  rows.x.assign(picked.size() * kNumFeatures, 0.0f);
  rows.cls.assign(picked.size(), 0);
  const int w = f.width();
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < static_cast<long long>(picked.size()); ++i) {
    const size_t k = picked[static_cast<size_t>(i)];
    const int x = static_cast<int>(k % w), y = static_cast<int>(k / w);
    float* row = rows.x.data() + static_cast<size_t>(i) * kNumFeatures;
    double change = scene_change, sd = kNaN;
    if (c.mask(0)[k]) {
      for (const auto& r : refs)
        if (r.coarse->mask(0)[k]) { change = std::abs(static_cast<double>(c.band(0)[k]) - r.coarse->band(0)[k]); break; }
    }
    for (const auto& r : refs)
      if (r.fine->mask(0)[k]) { sd = local_sd(*r.fine, x, y); if (std::isfinite(sd)) break; }
    // The block residual relative to the day's bias: the bias is a property of the day.
    const double res = residual.mask(0)[k] ? std::abs(residual.band(0)[k] - cs.bias) : typical_residual;
    row[kDays] = static_cast<float>(std::log1p(days));
    row[kCoarseChange] = static_cast<float>(std::log1p(change));
    row[kBlockResidual] = static_cast<float>(std::log1p(res));
    row[kLocalSd] = static_cast<float>(std::log1p(std::isfinite(sd) ? sd : 0.0));
    row[kCoarseFilled] = flag_at(ctx.coarse_filled, k) ? 1.0f : 0.0f;
    row[kReferenceFilled] = flag_at(ctx.reference_filled, k) ? 1.0f : 0.0f;
    row[kDayConsistency] = static_cast<float>(std::log1p(day_ub));
    row[kSceneChange] = static_cast<float>(std::log1p(scene_change));
    row[kDayClear] = static_cast<float>(day_clear);
    row[kNearby] = 0.0f;  // known only to a model (NearbyErrors): set by fit and predict
    if (ctx.landcover && ctx.landcover->mask(0)[k]) {
      const float v = ctx.landcover->band(0)[k];
      rows.cls[static_cast<size_t>(i)] = v >= 1 && v <= 255 ? static_cast<uint8_t>(v) : 0;
    }
  }
  return rows;
}

double nugget_variance(const Raster& fine) {
  const int w = fine.width(), h = fine.height();
  double g[3] = {0, 0, 0};
  for (int lag = 1; lag <= 2; ++lag) {
    std::vector<float> d;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        if (!fine.valid(y, x)) continue;
        if (x + lag < w && fine.valid(y, x + lag)) d.push_back(fine.at(y, x + lag) - fine.at(y, x));
        if (y + lag < h && fine.valid(y + lag, x)) d.push_back(fine.at(y + lag, x) - fine.at(y, x));
      }
    if (d.size() < 100) return kNaN;
    // Robust: parcel and class edges are outliers of the difference distribution, and the
    // median of |d| of a Gaussian difference is 0.6745 of its sigma.
    const double sd = median_abs(d) / 0.6744897501960817;
    g[lag] = 0.5 * sd * sd;
  }
  return std::max(0.0, 2.0 * g[1] - g[2]);
}

double gaussian_share(double k) { return std::erf(k / std::sqrt(2.0)); }

std::vector<double> share_within(const std::vector<float>& errors, const std::vector<float>& sigmas,
                                 const std::vector<double>& ks) {
  std::vector<long long> in(ks.size(), 0);
  long long n = 0;
  for (size_t i = 0; i < errors.size() && i < sigmas.size(); ++i) {
    if (!std::isfinite(errors[i]) || !std::isfinite(sigmas[i]) || !(sigmas[i] > 0)) continue;
    ++n;
    const double r = std::abs(errors[i]) / sigmas[i];
    for (size_t j = 0; j < ks.size(); ++j) in[j] += r <= ks[j];
  }
  std::vector<double> out(ks.size(), kNaN);
  if (n)
    for (size_t j = 0; j < ks.size(); ++j) out[j] = static_cast<double>(in[j]) / static_cast<double>(n);
  return out;
}

double UncertaintyModel::sigma(const float* x, uint8_t cls) const {
  thread_local std::vector<double> d;
  design(*this, x, cls, d);
  double eta = 0;
  for (size_t i = 0; i < d.size(); ++i) eta += beta[i] * d[i];
  eta = std::clamp(eta, eta_lo, eta_hi);
  const int dims = static_cast<int>(features.size());
  const bool cf = dims > kCoarseFilled && x[kCoarseFilled] > 0.5f;
  const bool rf = dims > kReferenceFilled && x[kReferenceFilled] > 0.5f;
  const double day = day_variance_for(cf, rf, whole_day_filled(x, dims));
  return scale * class_factor(cls) * std::sqrt(day + true_variance(std::exp(eta), noise_variance));
}

double UncertaintyModel::day_variance_for(bool coarse_filled, bool reference_filled, bool whole_day) const {
  // A kind without its own variance takes that of the nearest kind: a whole-day fill -> both
  // filled -> reference filled -> coarse filled -> observed (a model without the newer groups
  // reads as before).
  if (coarse_filled && whole_day && day_variance_whole_day_filled >= 0) return day_variance_whole_day_filled;
  if (coarse_filled && reference_filled && day_variance_both_filled >= 0) return day_variance_both_filled;
  if (reference_filled && day_variance_reference_filled >= 0) return day_variance_reference_filled;
  if (coarse_filled && day_variance_filled >= 0) return day_variance_filled;
  return day_variance;
}

double UncertaintyModel::class_factor(uint8_t cls) const {
  for (const auto& [c, f] : class_scale)
    if (c == cls) return f;
  return 1.0;
}

double NearbyErrors::at(const Date& date, uint8_t cls, int skip) const {
  int before = -1, after = -1;
  auto value = [&](size_t k) {
    const auto& v = log_mse[k];
    return cls < v.size() && std::isfinite(v[cls]) ? v[cls] : v.empty() ? kNaN : v[0];
  };
  for (size_t k = 0; k < dates.size(); ++k) {
    if (static_cast<int>(k) == skip || !std::isfinite(value(k))) continue;
    if (dates[k] <= date) before = static_cast<int>(k);  // dates ascending: the last one
    if (after < 0 && date <= dates[k]) after = static_cast<int>(k);
  }
  if (before < 0 && after < 0) return kNaN;
  if (before < 0) return value(static_cast<size_t>(after));
  if (after < 0 || before == after) return value(static_cast<size_t>(before));
  const double f = static_cast<double>(date - dates[static_cast<size_t>(before)]) /
                   static_cast<double>(dates[static_cast<size_t>(after)] - dates[static_cast<size_t>(before)]);
  return (1 - f) * value(static_cast<size_t>(before)) + f * value(static_cast<size_t>(after));
}

namespace {

// The error level of each day of the split, per class: log mean squared deviation from the
// day's mean. Days ordered by date; `slot` maps a day id to its index.
NearbyErrors nearby_errors(const FeatureRows& all, const std::vector<float>& errors, const std::vector<size_t>& keep,
                           const DaySplit& split, int min_class_rows, std::map<int, int>& slot) {
  NearbyErrors ne;
  std::map<int, std::vector<std::pair<double, long long>>> acc;  // day -> per class (sum, n)
  for (size_t r = 0; r < keep.size(); ++r) {
    const size_t i = keep[r];
    auto& v = acc[all.day[i]];
    v.resize(256);
    const double dev = static_cast<double>(errors[i]) - split.mean[r];
    for (int c : {0, static_cast<int>(all.cls[i])}) {
      v[static_cast<size_t>(c)].first += dev * dev;
      ++v[static_cast<size_t>(c)].second;
      if (all.cls[i] == 0) break;
    }
  }
  std::vector<std::pair<Date, int>> order;
  for (const auto& [day, v] : acc) order.emplace_back(all.day_dates.at(static_cast<size_t>(day)), day);
  std::sort(order.begin(), order.end());
  for (const auto& [date, day] : order) {
    slot[day] = static_cast<int>(ne.dates.size());
    ne.dates.push_back(date);
    std::vector<double> lm(256, kNaN);
    const auto& v = acc[day];
    for (size_t c = 0; c < v.size(); ++c)
      if (v[c].second >= (c == 0 ? 1 : min_class_rows) && v[c].first > 0)
        lm[c] = std::log(v[c].first / static_cast<double>(v[c].second));
    ne.log_mse.push_back(std::move(lm));
  }
  return ne;
}

}  // namespace

UncertaintyModel fit_uncertainty(const FeatureRows& all, const std::vector<float>& errors,
                                 double noise_variance, const UncertaintyFit& opts) {
  if (errors.size() != all.rows()) throw Error("uncertainty: one error per feature row expected");
  if (!(opts.min_class_factor > 0 && opts.min_class_factor <= 1))
    throw Error("uncertainty: min_class_factor must be in (0, 1]");
  const int dims = all.dims;
  const size_t stride = std::max<size_t>(1, (all.rows() + static_cast<size_t>(opts.max_samples) - 1) /
                                                static_cast<size_t>(std::max<long long>(1, opts.max_samples)));
  std::vector<size_t> keep;
  for (size_t i = 0; i < all.rows(); i += stride)
    if (std::isfinite(errors[i])) keep.push_back(i);
  if (keep.size() < 200) {
    throw Error(fmt::format("uncertainty: {} pixels with a leave-one-out error; at least 200 are needed",
                            keep.size()));
  }
  UncertaintyModel m;
  m.features = error_feature_names();
  m.features.resize(static_cast<size_t>(dims));
  // Errors are correlated within a day (the day's coarse bias left over, the weather since
  // the references): with several days, the mean error of each day is its shared part, whose
  // variance over days is the day component, and the pixel model describes the deviations
  // from the day's mean. Each day weighs the same, however many clear pixels it had, so that
  // one large clear scene does not set the model of all.
  const bool fill_check = opts.whole_day_fill_variance >= 0 && dims > kDayClear;
  const DaySplit split = split_days(all, errors, keep, opts.min_days, opts.min_day_group_rows, fill_check);
  m.day_variance = split.variance;
  m.day_variance_filled = split.group_variance[kCoarseFilledGroup];
  m.day_variance_reference_filled = split.group_variance[kReferenceFilledGroup];
  m.day_variance_both_filled = split.group_variance[kBothFilled];
  m.day_variance_whole_day_filled = split.group_variance[kWholeDayFilled];
  if (fill_check) {
    // A day filled whole shares what an observed day shares (the bias step, the references) and
    // the miss of its filled scene mean, which the filler measured on the days with clear
    // pixels: hundreds of checks where the hidden dates filled whole are a handful.
    m.whole_day_fill_variance = opts.whole_day_fill_variance;
    m.day_variance_whole_day_filled = m.day_variance + opts.whole_day_fill_variance;
  }
  m.days = split.days;
  const std::vector<double>& w = split.weight;
  // The error level of the other hidden dates nearest in time, for the pixel's class: errors
  // follow the season (contrast between classes, crop cycles), and a fused day lies between
  // hidden dates. Each training row sees the other dates only, as a fused day would.
  std::vector<float> x = all.x;
  if (opts.nearby && split.days > 0 && dims > kNearby && all.day_dates.size() >= static_cast<size_t>(split.days)) {
    std::map<int, int> slot;
    m.nearby = nearby_errors(all, errors, keep, split, opts.min_class_rows, slot);
    for (size_t i : keep) {
      const int k = slot.at(all.day[i]);
      const double v = m.nearby.at(m.nearby.dates[static_cast<size_t>(k)], all.cls[i], k);
      x[i * dims + kNearby] = static_cast<float>(std::isfinite(v) ? v : 0.0);
    }
  }
  m.noise_variance = std::max(0.0, std::isfinite(noise_variance) ? noise_variance : 0.0);
  m.samples = static_cast<long long>(keep.size());
  const double nk = static_cast<double>(keep.size());
  m.active.assign(dims, 0);
  m.mean.assign(dims, 0.0);
  m.sd.assign(dims, 1.0);
  m.lo.assign(dims, 0.0);
  m.hi.assign(dims, 0.0);
  for (int j = 0; j < dims; ++j) {
    double s = 0, ss = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (size_t i : keep) {
      const double v = x[i * dims + j];
      s += v;
      ss += v * v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    const double mean = s / nk, sd = std::sqrt(std::max(0.0, ss / nk - mean * mean));
    m.mean[j] = mean;
    m.lo[j] = lo;
    m.hi[j] = hi;
    // A predictor that did not vary in training (no filled pixel, one reference distance)
    // cannot be related to the error: it is left out rather than extrapolated.
    if (sd > 1e-6 * std::max(1.0, std::abs(mean))) {
      m.active[j] = 1;
      m.sd[j] = sd;
    }
  }
  std::map<int, long long> counts;
  for (size_t i : keep) ++counts[all.cls[i]];
  long long best = -1;
  for (const auto& [c, n] : counts)
    if (c != 0 && static_cast<double>(n) >= opts.min_class_share * nk && n > best) { best = n; m.baseline_class = c; }
  for (const auto& [c, n] : counts)
    if (c != 0 && c != m.baseline_class && static_cast<double>(n) >= opts.min_class_share * nk) m.classes.push_back(c);

  // Gamma regression with a log link of the squared deviation, by Fisher scoring: for squared
  // Gaussian errors the expected information is X'WX, fixed, and the score X'W(e^2/mu - 1).
  std::vector<double> d;
  design(m, x.data(), 0, d);
  const int p = static_cast<int>(d.size());
  std::vector<double> xtx(static_cast<size_t>(p) * p, 0.0);
  std::vector<std::vector<double>> X(keep.size());
  std::vector<double> y(keep.size());
  double ymean = 0;
  for (size_t r = 0; r < keep.size(); ++r) {
    const size_t i = keep[r];
    design(m, x.data() + i * dims, all.cls[i], X[r]);
    const double dev = static_cast<double>(errors[i]) - split.mean[r];
    y[r] = dev * dev;
    ymean += w[r] * y[r];
    for (int a = 0; a < p; ++a)
      for (int b = 0; b < p; ++b) xtx[a * p + b] += w[r] * X[r][a] * X[r][b];
  }
  for (int a = 0; a < p; ++a) xtx[a * p + a] *= 1.0 + 1e-9;
  ymean /= nk;
  m.beta.assign(p, 0.0);
  m.beta[0] = std::log(std::max(ymean, 1e-6));
  auto objective = [&](const std::vector<double>& b) {
    double q = 0;
    for (size_t r = 0; r < y.size(); ++r) {
      double eta = 0;
      for (int a = 0; a < p; ++a) eta += b[a] * X[r][a];
      q += w[r] * (eta + y[r] * std::exp(-eta));
    }
    return q;
  };
  double q = objective(m.beta);
  for (int it = 0; it < 100; ++it) {
    std::vector<double> g(p, 0.0);
    for (size_t r = 0; r < y.size(); ++r) {
      double eta = 0;
      for (int a = 0; a < p; ++a) eta += m.beta[a] * X[r][a];
      const double z = w[r] * (y[r] * std::exp(-eta) - 1.0);
      for (int a = 0; a < p; ++a) g[a] += X[r][a] * z;
    }
    const auto step = solve_spd(xtx, g, p);
    double t = 1.0, qn = q;
    std::vector<double> nb(p);
    for (int half = 0; half < 30; ++half, t *= 0.5) {
      for (int a = 0; a < p; ++a) nb[a] = m.beta[a] + t * step[a];
      qn = objective(nb);
      if (qn <= q) break;
    }
    if (!(qn <= q)) break;
    double change = 0;
    for (int a = 0; a < p; ++a) change = std::max(change, std::abs(nb[a] - m.beta[a]));
    m.beta = nb;
    q = qn;
    if (change < 1e-7) break;
  }
  m.eta_lo = std::numeric_limits<double>::infinity();
  m.eta_hi = -m.eta_lo;
  for (size_t r = 0; r < y.size(); ++r) {
    double eta = 0;
    for (int a = 0; a < p; ++a) eta += m.beta[a] * X[r][a];
    m.eta_lo = std::min(m.eta_lo, eta);
    m.eta_hi = std::max(m.eta_hi, eta);
  }

  // Calibration for the truth by simulation-extrapolation (SIMEX, Cook and Stefanski 1994):
  // the share within k s sigma is measured with extra noise of variance lambda * noise added
  // to the observed errors, for lambda = 0 .. 2, and extrapolated quadratically to lambda = -1,
  // where the observation noise is gone.
  const std::vector<double> lambdas = m.noise_variance > 0 ? std::vector<double>{0.0, 0.5, 1.0, 1.5, 2.0}
                                                           : std::vector<double>{0.0};
  std::mt19937_64 rng(opts.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> sig(keep.size());
  {
    m.scale = 1.0;
    for (size_t r = 0; r < keep.size(); ++r) sig[r] = m.sigma(x.data() + keep[r] * dims, all.cls[keep[r]]);
  }
  // Ratios |e| / (f_r sigma) sorted, with the cumulative day weights (shares count days equally),
  // for each lambda; f_r is 1 for the scale, the row's class factor once those are known.
  std::vector<double> eps(keep.size());
  for (auto& e : eps) e = normal(rng);
  // With the filler's check, the hidden dates filled whole do not calibrate: their band rests on
  // that check, and a handful of such dates would otherwise set the scale of every pixel.
  std::vector<uint8_t> calibrates(keep.size(), 1);
  if (fill_check) {
    size_t n_cal = 0;
    for (size_t r = 0; r < keep.size(); ++r) n_cal += calibrates[r] = !whole_day_filled(x.data() + keep[r] * dims, dims);
    if (n_cal < 200) {  // too few other rows to calibrate on: all of them, as without the check
      spdlog::warn("uncertainty: {} leave-one-out pixels outside days filled whole; the calibration uses all {}",
                   n_cal, keep.size());
      std::fill(calibrates.begin(), calibrates.end(), 1);
    }
  }
  std::vector<std::vector<double>> sorted, cumw;
  auto sort_ratios = [&](const std::vector<double>& factor) {
    sorted.assign(lambdas.size(), {});
    cumw.assign(lambdas.size(), {});
    std::vector<std::pair<double, double>> rw;
    for (size_t l = 0; l < lambdas.size(); ++l) {
      rw.clear();
      for (size_t r = 0; r < keep.size(); ++r)
        if (calibrates[r])
          rw.emplace_back(
              std::abs(errors[keep[r]] + std::sqrt(lambdas[l] * m.noise_variance) * eps[r]) / (sig[r] * factor[r]),
              w[r]);
      std::sort(rw.begin(), rw.end());
      double c = 0;
      for (const auto& [ratio, weight] : rw) {
        sorted[l].push_back(ratio);
        cumw[l].push_back(c += weight);
      }
    }
  };
  sort_ratios(std::vector<double>(keep.size(), 1.0));
  // Least-squares quadratic a + b l + c l^2 through the shares measured at each lambda, at -1.
  auto extrapolate = [&](const std::vector<double>& s) {
    if (lambdas.size() == 1) return s[0];
    std::vector<double> ata(9, 0.0), atb(3, 0.0);
    for (size_t l = 0; l < lambdas.size(); ++l) {
      const double v[3] = {1.0, lambdas[l], lambdas[l] * lambdas[l]};
      for (int a = 0; a < 3; ++a) {
        atb[a] += v[a] * s[l];
        for (int b = 0; b < 3; ++b) ata[a * 3 + b] += v[a] * v[b];
      }
    }
    const auto c = solve_spd(ata, atb, 3);
    return std::clamp(c[0] - c[1] + c[2], 0.0, 1.0);
  };
  auto share_at = [&](double bound) {
    // Share within `bound` (in units of sigma) for each lambda, extrapolated to lambda = -1.
    std::vector<double> s(lambdas.size());
    for (size_t l = 0; l < lambdas.size(); ++l) {
      const auto n_in = std::upper_bound(sorted[l].begin(), sorted[l].end(), bound) - sorted[l].begin();
      s[l] = n_in ? cumw[l][static_cast<size_t>(n_in) - 1] / cumw[l].back() : 0.0;
    }
    return extrapolate(s);
  };
  // Heavy tails make 1 and 2 sigma disagree; the scale balances the two deviations, each
  // relative to its tolerance (the larger one is minimised): against the targets for the scale,
  // against the whole sample's observed shares for a class factor (below).
  // Of equal losses (shares are steps) the first is kept, or with `near_one` the one closest to 1.
  auto best_factor = [&](auto&& share, double t1, double t2, double lo, double hi, bool near_one) {
    double best_loss = std::numeric_limits<double>::infinity(), chosen = 1.0;
    // The multiples of 0.002 within [lo, hi] (1 among them), and the bounds themselves.
    std::vector<double> grid{lo};
    for (long i = static_cast<long>(std::ceil(lo / 0.002 - 1e-9)); 0.002 * i <= hi + 1e-9; ++i)
      if (0.002 * i > grid.back() + 1e-12) grid.push_back(0.002 * i);
    if (hi > grid.back() + 1e-12) grid.push_back(hi);
    for (const double s : grid) {
      const double e1 = (share(s) - t1) / opts.tolerance1;
      const double e2 = (share(2 * s) - t2) / opts.tolerance2;
      const double loss = std::max(std::abs(e1), std::abs(e2));
      const bool tie = near_one && loss <= best_loss + 1e-12 && std::abs(s - 1) < std::abs(chosen - 1);
      if (near_one ? loss < best_loss - 1e-12 || tie : loss < best_loss) {
        best_loss = std::min(loss, best_loss);
        chosen = s;
      }
    }
    return chosen;
  };
  m.scale = best_factor(share_at, opts.target1, opts.target2, 0.3, 4.0, false);
  for (double k = 0.25; k <= 3.0 + 1e-9; k += 0.25) {
    m.calib_k.push_back(k);
    m.calib_expected.push_back(gaussian_share(k));
    m.calib_estimated.push_back(share_at(k * m.scale));
  }

  // Per land-cover class the error's shape differs (water and bare soil have rare large misses,
  // dense urban pixels errors the predictors under-rate), so one scale over- or under-covers
  // whole classes. A class with enough rows on enough hidden dates gets a factor on top of the
  // scale that gives its observed errors the shares the whole sample's observed errors have at
  // the scale (1 and 2 sigma). Observed shares, not SIMEX's extrapolation: on a few thousand
  // rows the extrapolated curve is too noisy, and the fine noise's effect is already in the
  // scale.
  auto observed_share = [](const std::vector<double>& ratio, const std::vector<double>& cum, double bound) {
    const auto n_in = std::upper_bound(ratio.begin(), ratio.end(), bound) - ratio.begin();
    return n_in ? cum[static_cast<size_t>(n_in) - 1] / cum.back() : 0.0;
  };
  const double whole1 = observed_share(sorted[0], cumw[0], m.scale);
  const double whole2 = observed_share(sorted[0], cumw[0], 2 * m.scale);
  std::map<int, std::vector<std::pair<double, double>>> by_class;  // class -> (|e| / sigma, weight)
  std::map<int, std::set<int>> class_days;
  for (size_t r = 0; r < keep.size(); ++r) {
    const uint8_t c = all.cls[keep[r]];
    if (c == 0 || !calibrates[r]) continue;
    by_class[c].emplace_back(std::abs(errors[keep[r]]) / sig[r], w[r]);
    if (!all.day.empty()) class_days[c].insert(all.day[keep[r]]);
  }
  for (auto& [c, rw] : by_class) {
    if (static_cast<long long>(rw.size()) < opts.min_class_calibration_rows ||
        (split.days > 0 && static_cast<int>(class_days[c].size()) < opts.min_days))
      continue;
    std::sort(rw.begin(), rw.end());
    std::vector<double> ratio, cum;
    double acc = 0;
    for (const auto& [v, weight] : rw) {
      ratio.push_back(v);
      cum.push_back(acc += weight);
    }
    const double f = best_factor([&](double t) { return observed_share(ratio, cum, t * m.scale); }, whole1, whole2,
                                 opts.min_class_factor, 1.0 / opts.min_class_factor, true);
    m.class_scale.emplace_back(static_cast<uint8_t>(c), f);
  }
  // The estimated curve of the band as written: with the class factors.
  if (!m.class_scale.empty()) {
    std::vector<double> factor(keep.size());
    for (size_t r = 0; r < keep.size(); ++r) factor[r] = m.class_factor(all.cls[keep[r]]);
    sort_ratios(factor);
    for (size_t i = 0; i < m.calib_k.size(); ++i) m.calib_estimated[i] = share_at(m.calib_k[i] * m.scale);
  }
  return m;
}

Raster predict_uncertainty(const UncertaintyModel& model, const ErrorContext& ctx) {
  FeatureRows rows = error_features(ctx, 1);
  if (!model.nearby.empty() && rows.dims > kNearby) {
    for (size_t r = 0; r < rows.rows(); ++r) {
      const double v = model.nearby.at(ctx.date, rows.cls[r]);
      rows.x[r * rows.dims + kNearby] = static_cast<float>(std::isfinite(v) ? v : 0.0);
    }
  }
  Raster out(ctx.fused->grid(), 1, 0.0f, false);
  out.units = "K";
  out.band_names = {"uncertainty"};
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < static_cast<long long>(rows.rows()); ++i) {
    const size_t r = static_cast<size_t>(i);
    out.band(0)[rows.pixel[r]] = static_cast<float>(model.sigma(rows.x.data() + r * rows.dims, rows.cls[r]));
    out.mask(0)[rows.pixel[r]] = 1;
  }
  return out;
}

nlohmann::json UncertaintyModel::to_json() const {
  nlohmann::json j;
  j["format"] = "lstfuse-uncertainty-model";
  j["version"] = 2;
  j["method"] = method;
  j["features"] = features;
  j["active"] = active;
  j["mean"] = mean;
  j["sd"] = sd;
  j["lo"] = lo;
  j["hi"] = hi;
  j["classes"] = classes;
  j["baseline_class"] = baseline_class;
  j["beta"] = beta;
  if (std::isfinite(eta_lo) && std::isfinite(eta_hi)) j["eta_range"] = {eta_lo, eta_hi};
  j["noise_variance"] = noise_variance;
  j["day_variance"] = day_variance;
  if (day_variance_filled >= 0) j["day_variance_coarse_filled"] = day_variance_filled;
  if (day_variance_reference_filled >= 0) j["day_variance_reference_filled"] = day_variance_reference_filled;
  if (day_variance_both_filled >= 0) j["day_variance_coarse_and_reference_filled"] = day_variance_both_filled;
  if (day_variance_whole_day_filled >= 0) j["day_variance_whole_day_filled"] = day_variance_whole_day_filled;
  if (whole_day_fill_variance >= 0) j["whole_day_fill_variance"] = whole_day_fill_variance;
  j["days"] = days;
  j["nearby"] = {{"dates", nlohmann::json::array()}, {"log_mse", nlohmann::json::array()}};
  for (size_t k = 0; k < nearby.dates.size(); ++k) {
    j["nearby"]["dates"].push_back(nearby.dates[k].iso());
    nlohmann::json per_class = nlohmann::json::object();  // class -> value, the finite ones
    for (size_t c = 0; c < nearby.log_mse[k].size(); ++c)
      if (std::isfinite(nearby.log_mse[k][c])) per_class[std::to_string(c)] = nearby.log_mse[k][c];
    j["nearby"]["log_mse"].push_back(per_class);
  }
  j["scale"] = scale;
  j["class_scale"] = nlohmann::json::object();
  for (const auto& [c, f] : class_scale) j["class_scale"][std::to_string(c)] = f;
  j["samples"] = samples;
  j["dates"] = dates;
  j["calibration"] = {{"k", calib_k}, {"expected", calib_expected}, {"estimated", calib_estimated}};
  return j;
}

namespace {

// A land-cover class code written as a JSON key: the whole key a number in lo..255.
size_t class_key(const std::string& key, int lo, const char* what) {
  int v = -1;
  const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), v);
  if (ec != std::errc() || end != key.data() + key.size() || key.empty() || v < lo || v > 255)
    throw Error(fmt::format("uncertainty model: {} of class '{}', not a class code {}..255", what, key, lo));
  return static_cast<size_t>(v);
}

}  // namespace

UncertaintyModel UncertaintyModel::from_json(const nlohmann::json& j) {
  if (j.value("format", "") != "lstfuse-uncertainty-model") {
    throw Error("not an lstfuse uncertainty model (format is not lstfuse-uncertainty-model)");
  }
  UncertaintyModel m;
  m.method = j.value("method", "");
  m.features = j.at("features").get<std::vector<std::string>>();
  m.active = j.at("active").get<std::vector<uint8_t>>();
  m.mean = j.at("mean").get<std::vector<double>>();
  m.sd = j.at("sd").get<std::vector<double>>();
  m.lo = j.at("lo").get<std::vector<double>>();
  m.hi = j.at("hi").get<std::vector<double>>();
  m.classes = j.at("classes").get<std::vector<int>>();
  m.baseline_class = j.value("baseline_class", 0);
  m.beta = j.at("beta").get<std::vector<double>>();
  if (j.contains("eta_range")) {
    const auto r = j.at("eta_range").get<std::vector<double>>();
    if (r.size() != 2 || !(r[0] <= r[1])) throw Error("uncertainty model: eta_range must be [low, high]");
    m.eta_lo = r[0];
    m.eta_hi = r[1];
  }
  m.noise_variance = j.at("noise_variance").get<double>();
  m.day_variance = j.value("day_variance", 0.0);  // models written before the day component
  if (!(std::isfinite(m.day_variance) && m.day_variance >= 0))
    throw Error("uncertainty model: day_variance is not a finite non-negative number");
  // Absent: that status takes the variance of the nearest kind (day_variance_for).
  for (auto [key, field] : {std::pair<const char*, double*>{"day_variance_coarse_filled", &m.day_variance_filled},
                            {"day_variance_reference_filled", &m.day_variance_reference_filled},
                            {"day_variance_coarse_and_reference_filled", &m.day_variance_both_filled},
                            {"day_variance_whole_day_filled", &m.day_variance_whole_day_filled},
                            {"whole_day_fill_variance", &m.whole_day_fill_variance}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_number()) throw Error(fmt::format("uncertainty model: {} is not a number", key));
    *field = j[key].get<double>();
    if (!(std::isfinite(*field) && *field >= 0))
      throw Error(fmt::format("uncertainty model: {} is not a finite non-negative number", key));
  }
  m.days = j.value("days", 0);
  if (j.contains("nearby")) {
    const auto& nb = j["nearby"];
    for (const auto& d : nb.at("dates")) m.nearby.dates.push_back(Date::parse(d.get<std::string>()));
    for (const auto& per_class : nb.at("log_mse")) {
      std::vector<double> v(256, kNaN);
      for (const auto& [c, val] : per_class.items()) v[class_key(c, 0, "nearby error")] = val.get<double>();
      m.nearby.log_mse.push_back(std::move(v));
    }
    if (m.nearby.log_mse.size() != m.nearby.dates.size()) throw Error("uncertainty model: inconsistent nearby errors");
  }
  m.scale = j.at("scale").get<double>();
  if (j.contains("class_scale")) {  // absent in models written before per-class calibration
    for (const auto& [c, f] : j["class_scale"].items()) {
      const double v = f.get<double>();
      // The fit keeps factors within [2/3, 3/2] (earlier versions [0.5, 2]); anything far outside
      // is not a model it wrote.
      if (!(v >= 1e-3 && v <= 1e3)) throw Error("uncertainty model: class factor of class " + c + " out of range");
      const auto cls = static_cast<uint8_t>(class_key(c, 1, "class factor"));
      for (const auto& e : m.class_scale)
        if (e.first == cls) throw Error("uncertainty model: two class factors for class " + std::to_string(cls));
      m.class_scale.emplace_back(cls, v);
    }
  }
  m.samples = j.value("samples", 0LL);
  m.dates = j.value("dates", std::vector<std::string>{});
  if (j.contains("calibration")) {
    m.calib_k = j["calibration"].value("k", std::vector<double>{});
    m.calib_expected = j["calibration"].value("expected", std::vector<double>{});
    m.calib_estimated = j["calibration"].value("estimated", std::vector<double>{});
  }
  const size_t dims = m.features.size();
  size_t p = 1 + m.classes.size();
  for (auto a : m.active) p += a;
  if ((m.day_variance_filled >= 0 || m.day_variance_both_filled >= 0) && dims <= static_cast<size_t>(kCoarseFilled))
    throw Error("uncertainty model: a day variance for filled pixels without the coarse_filled predictor");
  if (m.day_variance_whole_day_filled >= 0 && dims <= static_cast<size_t>(kDayClear))
    throw Error("uncertainty model: a day variance for whole-day fills without the day_coarse_observed_fraction predictor");
  if ((m.day_variance_reference_filled >= 0 || m.day_variance_both_filled >= 0) &&
      dims <= static_cast<size_t>(kReferenceFilled))
    throw Error("uncertainty model: a day variance for reference-filled pixels without the reference_filled predictor");
  if (m.active.size() != dims || m.mean.size() != dims || m.sd.size() != dims || m.lo.size() != dims ||
      m.hi.size() != dims || m.beta.size() != p || m.features != [&] {
        auto n = error_feature_names();
        n.resize(dims);
        return n;
      }()) {
    throw Error("uncertainty model: inconsistent sizes or unknown predictors");
  }
  return m;
}

}  // namespace lstfuse::eval
