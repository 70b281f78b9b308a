#include "lstfuse/prep/fill.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/progress.hpp"
#include "lstfuse/io/products.hpp"

namespace lstfuse::prep {
namespace {

constexpr int kMaxTerms = 5;
constexpr double kOmega = 2.0 * M_PI / 365.25;
// A harmonic counts as pinned down when its conditional variance over the clear days (after the
// terms before it) is at least this share of what evenly spread days give (0.5): clear days
// bunched in one season would make the fitted cycle swing wildly in the others.
constexpr double kMinConditionalVariance = 0.02;

}  // namespace

void CycleModel::basis(long day, double* x) const {
  x[0] = 1.0;
  if (harmonics == 0) {
    x[1] = (static_cast<double>(day) - t_mid) / t_half;
    return;
  }
  const double a = kOmega * static_cast<double>(day);
  for (int h = 1; h <= harmonics; ++h) {
    x[2 * h - 1] = std::cos(h * a);
    x[2 * h] = std::sin(h * a);
  }
}

std::string CycleModel::describe() const {
  if (harmonics == 0) return "mean + linear trend (the series is too short to fit an annual cycle)";
  return harmonics == 1 ? "annual temperature cycle (mean + annual harmonic)"
                        : fmt::format("annual temperature cycle (mean + {} harmonics)", harmonics);
}

namespace {

// Solves A beta = b (A symmetric, n x n, row-major) by Cholesky; false when A is not well
// conditioned in the sense of kMinConditionalVariance (A[0][0] is the number of clear days).
bool solve(const double* A, const double* b, int n, double* beta) {
  double L[kMaxTerms * kMaxTerms] = {};
  const double count = A[0];
  if (!(count > 0.0)) return false;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j <= i; ++j) {
      double s = A[i * n + j];
      for (int k = 0; k < j; ++k) s -= L[i * n + k] * L[j * n + k];
      if (i == j) {
        // s is the conditional sum of squares of term i given the earlier ones.
        if (i > 0 && s < kMinConditionalVariance * count) return false;
        if (!(s > 0.0)) return false;
        L[i * n + i] = std::sqrt(s);
      } else {
        L[i * n + j] = s / L[j * n + j];
      }
    }
  }
  double z[kMaxTerms];
  for (int i = 0; i < n; ++i) {
    double s = b[i];
    for (int k = 0; k < i; ++k) s -= L[i * n + k] * z[k];
    z[i] = s / L[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {
    double s = z[i];
    for (int k = i + 1; k < n; ++k) s -= L[k * n + i] * beta[k];
    beta[i] = s / L[i * n + i];
  }
  return true;
}

// The richest model the series' dates can pin down (clouds aside): the requested harmonics, fewer
// harmonics, or mean + trend when the series covers too little of a year for any cycle.
CycleModel choose_model(const std::vector<long>& days, int harmonics) {
  CycleModel m;
  m.t_mid = 0.5 * (days.front() + days.back());
  m.t_half = std::max(1.0, 0.5 * (days.back() - days.front()));
  for (int h = harmonics; h >= 0; --h) {
    m.harmonics = h;
    const int nt = m.terms();
    double A[kMaxTerms * kMaxTerms] = {}, b[kMaxTerms] = {}, beta[kMaxTerms], x[kMaxTerms];
    for (long d : days) {
      m.basis(d, x);
      for (int r = 0; r < nt; ++r)
        for (int c = 0; c < nt; ++c) A[r * nt + c] += x[r] * x[c];
    }
    if (solve(A, b, nt, beta)) return m;
  }
  m.harmonics = 0;
  return m;
}

}  // namespace

void FillOptions::validate() const {
  if (harmonics != 1 && harmonics != 2) throw Error(fmt::format("--fill-harmonics must be 1 or 2, got {}", harmonics));
  if (min_clear_days < 3) throw Error(fmt::format("--fill-min-clear-days must be at least 3, got {}", min_clear_days));
  if (cell < 1) throw Error(fmt::format("--fill-cell must be at least 1 pixel, got {}", cell));
  if (!(sigma_cells > 0.0 && sigma_cells <= 1e6))
    throw Error(fmt::format("--fill-sigma must be positive and at most 1e6 cells, got {}", sigma_cells));
  if (window < 0) throw Error(fmt::format("--fill-window must be 0 or more days, got {}", window));
  if (tile < 1) throw Error(fmt::format("--fill-tile must be at least 1 pixel, got {}", tile));
  if (!(min_clear_fraction >= 0.0 && min_clear_fraction <= 1.0)) {
    throw Error(fmt::format("--fill-min-clear must be within 0..1, got {}", min_clear_fraction));
  }
}

std::string to_string(ResidualKind k) {
  switch (k) {
    case ResidualKind::None: return "none";
    case ResidualKind::Spatial: return "spatial";
    case ResidualKind::Temporal: return "temporal";
  }
  return "?";
}

GapFiller::GapFiller(const FillSource& src, const FillOptions& opts) : opts_(opts), grid_(src.grid) {
  opts_.validate();
  if (src.dates.empty()) throw Error("gap filling: the coarse series has no image");
  for (const Date& d : src.dates) days_.push_back(d.days());
  model_ = choose_model(days_, opts_.harmonics);
  nterms_ = model_.terms();
  const int nt = nterms_;
  const int W = grid_.width, H = grid_.height, C = opts_.cell;
  if (static_cast<double>(C) * C > static_cast<double>(W) * H) {
    throw Error(fmt::format("--fill-cell {} is larger than the scene ({} x {} pixels): no cell could have enough "
                            "clear pixels for a residual field", C, W, H));
  }
  const size_t npix = static_cast<size_t>(W) * H;
  const size_t D = src.dates.size();
  ncx_ = (W + C - 1) / C;
  ncy_ = (H + C - 1) / C;
  const size_t ncells = static_cast<size_t>(ncx_) * ncy_;
  std::vector<double> X(D * nt);
  for (size_t i = 0; i < D; ++i) model_.basis(days_[i], &X[i * nt]);

  coef_.assign(static_cast<size_t>(nt) * npix, NAN);
  source_.assign(npix, 0);
  // For pixels that fall back to a pooled cycle: their clear-day sums of the basis and of the LST
  // give their mean departure from any cycle.
  std::vector<float> sx(static_cast<size_t>(nt) * npix, 0.0f);
  std::vector<double> sy(npix, 0.0);
  std::vector<double> cellA(ncells * nt * nt, 0.0), cellB(ncells * nt, 0.0);
  std::vector<double> resS(D * ncells, 0.0);
  std::vector<int> resN(D * ncells, 0);

  const int T = ((opts_.tile + C - 1) / C) * C;  // tiles are whole cells
  const int ntx = (W + T - 1) / T, nty = (H + T - 1) / T;
  ProgressBar bar("fill: fitting cycles", static_cast<long>(ntx) * nty, opts_.show_progress);
  long tiles_done = 0;
  std::vector<float> buf;
  std::vector<double> tA, tB;
  for (int ty = 0; ty < nty; ++ty) {
    for (int tx = 0; tx < ntx; ++tx) {
      const int x0 = tx * T, y0 = ty * T;
      const int tw = std::min(T, W - x0), th = std::min(T, H - y0);
      const size_t tp = static_cast<size_t>(tw) * th;
      buf.assign(D * tp, NAN);
      for (size_t i = 0; i < D; ++i) {
        const Raster r = src.read_window(i, x0, y0, tw, th);
        const float* v = r.band(0);
        const uint8_t* m = r.mask(0);
        float* out = &buf[i * tp];
        for (size_t p = 0; p < tp; ++p)
          if (m[p] && std::isfinite(v[p])) out[p] = v[p];
      }
      tA.assign(tp * nt * nt, 0.0);
      tB.assign(tp * nt, 0.0);
      // Per pixel: normal equations over its clear days, and its own cycle when they suffice.
#pragma omp parallel for schedule(static)
      for (long long p = 0; p < static_cast<long long>(tp); ++p) {
        double* A = &tA[p * nt * nt];
        double* b = &tB[p * nt];
        for (size_t i = 0; i < D; ++i) {
          const float y = buf[i * tp + p];
          if (std::isnan(y)) continue;
          const double* x = &X[i * nt];
          for (int r = 0; r < nt; ++r) {
            b[r] += x[r] * y;
            for (int c = 0; c < nt; ++c) A[r * nt + c] += x[r] * x[c];
          }
        }
        const int px = x0 + static_cast<int>(p % tw), py = y0 + static_cast<int>(p / tw);
        const size_t g = static_cast<size_t>(py) * W + px;
        for (int r = 0; r < nt; ++r) sx[r * npix + g] = static_cast<float>(A[r]);
        sy[g] = b[0];
        double beta[kMaxTerms];
        if (A[0] >= opts_.min_clear_days && solve(A, b, nt, beta)) {
          for (int r = 0; r < nt; ++r) coef_[r * npix + g] = static_cast<float>(beta[r]);
          source_[g] = 1;
        }
      }
      // Per cell (cells lie wholly in one tile): pooled normal equations and the clear
      // residuals of own-fit pixels, summed in raster order.
      const int cx0 = x0 / C, cy0 = y0 / C;
      const int cnx = (tw + C - 1) / C, cny = (th + C - 1) / C;
#pragma omp parallel for schedule(static)
      for (int cc = 0; cc < cnx * cny; ++cc) {
        const int cx = cx0 + cc % cnx, cy = cy0 + cc / cnx;
        const size_t cell = static_cast<size_t>(cy) * ncx_ + cx;
        double* A = &cellA[cell * nt * nt];
        double* b = &cellB[cell * nt];
        for (int yy = cy * C; yy < std::min(H, (cy + 1) * C); ++yy) {
          for (int xx = cx * C; xx < std::min(W, (cx + 1) * C); ++xx) {
            const size_t p = static_cast<size_t>(yy - y0) * tw + (xx - x0);
            for (int k = 0; k < nt * nt; ++k) A[k] += tA[p * nt * nt + k];
            for (int k = 0; k < nt; ++k) b[k] += tB[p * nt + k];
            const size_t g = static_cast<size_t>(yy) * W + xx;
            if (source_[g] != 1) continue;
            for (size_t i = 0; i < D; ++i) {
              const float y = buf[i * tp + p];
              if (std::isnan(y)) continue;
              double fit = 0.0;
              for (int r = 0; r < nt; ++r) fit += coef_[r * npix + g] * X[i * nt + r];
              resS[i * ncells + cell] += y - fit;
              resN[i * ncells + cell] += 1;
            }
          }
        }
      }
      bar.update(++tiles_done);
    }
  }
  bar.finish();

  // Pooled cycles: per cell, and over the scene (cells summed in index order).
  std::vector<double> sceneA(nt * nt, 0.0), sceneB(nt, 0.0);
  for (size_t c = 0; c < ncells; ++c) {
    for (int k = 0; k < nt * nt; ++k) sceneA[k] += cellA[c * nt * nt + k];
    for (int k = 0; k < nt; ++k) sceneB[k] += cellB[c * nt + k];
  }
  if (!(sceneA[0] > 0.0)) throw Error("gap filling: the coarse series has no clear pixel");
  // The days' residual fields come from pixels with a cycle of their own: without one, no day
  // could be filled, and the result would be a copy that only looks filled.
  if (std::find(source_.begin(), source_.end(), 1) == source_.end()) {
    float most = 0.0f;
    for (size_t g = 0; g < npix; ++g) most = std::max(most, sx[g]);
    if (most < static_cast<float>(opts_.min_clear_days))
      throw Error(fmt::format("gap filling: no pixel is clear on --fill-min-clear-days ({}) days (the most any pixel "
                              "has is {:.0f}), so no day can be filled; lower --fill-min-clear-days or fill a longer "
                              "series", opts_.min_clear_days, most));
    throw Error(fmt::format("gap filling: no pixel's annual temperature cycle can be fitted from its clear days "
                            "(the series spans {} .. {}), so no day can be filled; fill a longer series",
                            Date::from_days(days_.front()).iso(), Date::from_days(days_.back()).iso()));
  }
  double scene_beta[kMaxTerms];
  const bool scene_ok = sceneA[0] >= opts_.min_clear_days && solve(sceneA.data(), sceneB.data(), nt, scene_beta);
  std::vector<double> cell_beta(ncells * nt, NAN);
  std::vector<uint8_t> cell_ok(ncells, 0);
  for (size_t c = 0; c < ncells; ++c) {
    cell_ok[c] = cellA[c * nt * nt] >= opts_.min_clear_days &&
                 solve(&cellA[c * nt * nt], &cellB[c * nt], nt, &cell_beta[c * nt]);
  }
  // Fallback pixels: the pooled cycle shifted by their mean departure from it. A pixel never
  // clear in the whole series (outside the data's footprint) is left unfilled.
#pragma omp parallel for schedule(static)
  for (long long g = 0; g < static_cast<long long>(npix); ++g) {
    if (source_[g] == 1) continue;
    const double n = sx[g];
    if (!(n >= 1.0)) continue;
    const size_t cell = static_cast<size_t>((g / W) / C) * ncx_ + (g % W) / C;
    const double* beta = cell_ok[cell] ? &cell_beta[cell * nt] : (scene_ok ? scene_beta : nullptr);
    if (!beta) continue;
    double pred = 0.0;
    for (int r = 0; r < nt; ++r) pred += beta[r] * sx[r * npix + g];
    const double offset = (sy[g] - pred) / n;
    for (int r = 0; r < nt; ++r) coef_[r * npix + g] = static_cast<float>(beta[r] + (r == 0 ? offset : 0.0));
    source_[g] = cell_ok[cell] ? 2 : 3;
  }

  // Spatial residual fields: Gaussian-weighted clear residuals over cells, normalised by the
  // clear counts; a small weight of the scene mean keeps cells far from any clear pixel defined.
  // Truncated at 3 sigma (a square), and never beyond the scene's cells (a wider kernel only
  // tends to the scene mean). The Gaussian of a square window is separable: rows, then columns.
  const int reach = static_cast<int>(std::min<double>(std::ceil(3.0 * opts_.sigma_cells), std::max(ncx_, ncy_)));
  std::vector<double> kernel(static_cast<size_t>(2 * reach + 1));
  for (int d = -reach; d <= reach; ++d)
    kernel[static_cast<size_t>(d + reach)] = std::exp(-(static_cast<double>(d) * d) / (2.0 * opts_.sigma_cells * opts_.sigma_cells));
  const double eps = 0.05 * C * C;
  const double min_clear = std::max(static_cast<double>(C) * C, opts_.min_clear_fraction * npix);
  spatial_.assign(D, Field{});
#pragma omp parallel for schedule(dynamic)
  for (long long i = 0; i < static_cast<long long>(D); ++i) {
    const double* S = &resS[i * ncells];
    const int* N = &resN[i * ncells];
    double tS = 0.0;
    long long tN = 0;
    for (size_t c = 0; c < ncells; ++c) {
      tS += S[c];
      tN += N[c];
    }
    if (static_cast<double>(tN) < min_clear) continue;
    const double mean = tS / static_cast<double>(tN);
    Field& f = spatial_[i];
    f.kind = ResidualKind::Spatial;
    f.values.assign(ncells, 0.0f);
    // Along rows, then along columns: sums of S and N weighted by k(dx) k(dy) over the window
    // clipped to the scene.
    std::vector<double> rs(ncells, 0.0), rn(ncells, 0.0);
    for (int cy = 0; cy < ncy_; ++cy)
      for (int cx = 0; cx < ncx_; ++cx) {
        double a = 0.0, b = 0.0;
        for (int dx = std::max(-reach, -cx); dx <= std::min(reach, ncx_ - 1 - cx); ++dx) {
          const size_t c = static_cast<size_t>(cy) * ncx_ + cx + dx;
          const double w = kernel[static_cast<size_t>(dx + reach)];
          a += w * S[c];
          b += w * N[c];
        }
        rs[static_cast<size_t>(cy) * ncx_ + cx] = a;
        rn[static_cast<size_t>(cy) * ncx_ + cx] = b;
      }
    for (int cy = 0; cy < ncy_; ++cy) {
      for (int cx = 0; cx < ncx_; ++cx) {
        double ws = eps * mean, wn = eps;
        for (int dy = std::max(-reach, -cy); dy <= std::min(reach, ncy_ - 1 - cy); ++dy) {
          const size_t c = static_cast<size_t>(cy + dy) * ncx_ + cx;
          const double w = kernel[static_cast<size_t>(dy + reach)];
          ws += w * rs[c];
          wn += w * rn[c];
        }
        f.values[static_cast<size_t>(cy) * ncx_ + cx] = static_cast<float>(ws / wn);
      }
    }
  }

  check_whole_days(src.dates, resS, resN);
}

void GapFiller::check_whole_days(const std::vector<Date>& dates, const std::vector<double>& resS,
                                 const std::vector<int>& resN) {
  const size_t ncells = static_cast<size_t>(ncx_) * ncy_;
  auto spatial_at = [&](long day) -> long {
    const auto it = std::lower_bound(days_.begin(), days_.end(), day);
    if (it == days_.end() || *it != day) return -1;
    const size_t k = static_cast<size_t>(it - days_.begin());
    return spatial_[k].kind == ResidualKind::Spatial ? static_cast<long>(k) : -1;
  };
  // Day i filled from the fields at indices b (before) and a (after), either -1 for none, with
  // weight w on the later one: the clear-count-weighted mean of that field less the observed.
  auto check = [&](size_t i, long b, long a, double w, int before, int after) {
    double s = 0.0;
    long long n = 0;
    for (size_t c = 0; c < ncells; ++c) {
      const double t = b < 0   ? spatial_[static_cast<size_t>(a)].values[c]
                       : a < 0 ? spatial_[static_cast<size_t>(b)].values[c]
                               : (1.0 - w) * spatial_[static_cast<size_t>(b)].values[c] +
                                     w * spatial_[static_cast<size_t>(a)].values[c];
      s += t * resN[i * ncells + c] - resS[i * ncells + c];
      n += resN[i * ncells + c];
    }
    // A spatial field has clear pixels; kept safe should that rule change.
    return n ? std::optional<WholeDayCheck>(WholeDayCheck{dates[i], before, after, s / static_cast<double>(n), n})
             : std::nullopt;
  };
  // The gaps of the days within the series' span without a field of their own, as field_for
  // fills them (days beyond the span are filled only when a period asks for them).
  std::map<std::pair<int, int>, int> gaps;
  for (long day = days_.front(); day <= days_.back(); ++day) {
    if (spatial_at(day) >= 0) continue;
    const auto [b, a] = nearest_fields(day);
    const int before = b < 0 ? 0 : static_cast<int>(day - days_[static_cast<size_t>(b)]);
    const int after = a < 0 ? 0 : static_cast<int>(days_[static_cast<size_t>(a)] - day);
    if (before || after) ++gaps[{before, after}];
  }
  double weighted = 0.0;
  for (const auto& [gap, count] : gaps) {
    const int before = gap.first, after = gap.second;
    const double w = before && after ? static_cast<double>(before) / (before + after) : 0.0;
    std::vector<std::optional<WholeDayCheck>> found(days_.size());
#pragma omp parallel for schedule(dynamic)
    for (long long i = 0; i < static_cast<long long>(days_.size()); ++i) {
      if (spatial_[static_cast<size_t>(i)].kind != ResidualKind::Spatial) continue;
      const long b = before ? spatial_at(days_[static_cast<size_t>(i)] - before) : -1;
      const long a = after ? spatial_at(days_[static_cast<size_t>(i)] + after) : -1;
      if ((before && b < 0) || (after && a < 0)) continue;
      found[static_cast<size_t>(i)] = check(static_cast<size_t>(i), b, a, w, before, after);
    }
    double sq = 0.0;
    int n = 0;
    for (const auto& c : found) {
      if (!c) continue;
      sq += c->error * c->error;
      ++n;
      whole_day_checks_.push_back(*c);
    }
    if (!n) continue;
    weighted += count * (sq / n);
    whole_days_checked_ += count;
  }
  if (whole_days_checked_) {
    whole_day_mse_ = weighted / whole_days_checked_;
    return;
  }
  // No day filled whole to match: each day with a field against its nearest other fields.
  double sq = 0.0;
  for (size_t i = 0; i < days_.size(); ++i) {
    if (spatial_[i].kind != ResidualKind::Spatial) continue;
    const auto [b, a] = nearest_fields(days_[i]);
    if (b < 0 && a < 0) continue;
    const int before = b < 0 ? 0 : static_cast<int>(days_[i] - days_[static_cast<size_t>(b)]);
    const int after = a < 0 ? 0 : static_cast<int>(days_[static_cast<size_t>(a)] - days_[i]);
    const double w = b >= 0 && a >= 0 ? static_cast<double>(before) / (before + after) : 0.0;
    if (const auto c = check(i, b, a, w, before, after)) {
      sq += c->error * c->error;
      whole_day_checks_.push_back(*c);
    }
  }
  if (!whole_day_checks_.empty()) whole_day_mse_ = sq / static_cast<double>(whole_day_checks_.size());
}

GapFiller::Field GapFiller::field_for(const Date& d) const {
  const long day = d.days();
  const auto it = std::lower_bound(days_.begin(), days_.end(), day);
  const size_t at = static_cast<size_t>(it - days_.begin());
  if (it != days_.end() && *it == day && spatial_[at].kind == ResidualKind::Spatial) return spatial_[at];
  return temporal_field(day);
}

std::pair<long, long> GapFiller::nearest_fields(long day) const {
  const size_t at = static_cast<size_t>(std::lower_bound(days_.begin(), days_.end(), day) - days_.begin());
  long before = -1, after = -1;
  for (size_t k = at; k-- > 0 && day - days_[k] <= opts_.window;)
    if (spatial_[k].kind == ResidualKind::Spatial) {
      before = static_cast<long>(k);
      break;
    }
  for (size_t k = at; k < days_.size() && days_[k] - day <= opts_.window; ++k)
    if (days_[k] > day && spatial_[k].kind == ResidualKind::Spatial) {
      after = static_cast<long>(k);
      break;
    }
  return {before, after};
}

GapFiller::Field GapFiller::temporal_field(long day) const {
  const auto [before, after] = nearest_fields(day);
  Field f;
  if (before < 0 && after < 0) return f;
  f.kind = ResidualKind::Temporal;
  if (before < 0 || after < 0) {
    f.values = spatial_[before < 0 ? after : before].values;
    return f;
  }
  const double w = static_cast<double>(day - days_[before]) / static_cast<double>(days_[after] - days_[before]);
  const auto& a = spatial_[before].values;
  const auto& b = spatial_[after].values;
  f.values.resize(a.size());
  for (size_t c = 0; c < a.size(); ++c) f.values[c] = static_cast<float>((1.0 - w) * a[c] + w * b[c]);
  return f;
}

double GapFiller::field_at(const Field& f, int x, int y) const {
  // Bilinear between cell centres, constant beyond the outer centres.
  const double C = opts_.cell;
  const double u = std::clamp((x + 0.5) / C - 0.5, 0.0, static_cast<double>(ncx_ - 1));
  const double v = std::clamp((y + 0.5) / C - 0.5, 0.0, static_cast<double>(ncy_ - 1));
  const int i0 = static_cast<int>(u), j0 = static_cast<int>(v);
  const int i1 = std::min(i0 + 1, ncx_ - 1), j1 = std::min(j0 + 1, ncy_ - 1);
  const double fu = u - i0, fv = v - j0;
  const auto at = [&](int i, int j) { return static_cast<double>(f.values[static_cast<size_t>(j) * ncx_ + i]); };
  return (1 - fv) * ((1 - fu) * at(i0, j0) + fu * at(i1, j0)) + fv * ((1 - fu) * at(i0, j1) + fu * at(i1, j1));
}

bool GapFiller::can_fill(const Date& d) const { return residual_kind(d) != ResidualKind::None; }

ResidualKind GapFiller::residual_kind(const Date& d) const { return field_for(d).kind; }

double GapFiller::cycle(int x, int y, const Date& d) const {
  const size_t g = static_cast<size_t>(y) * grid_.width + x;
  if (source_[g] == 0) return NAN;
  double xb[kMaxTerms];
  model_.basis(d.days(), xb);
  double v = 0.0;
  for (int r = 0; r < nterms_; ++r) v += coef_[r * grid_.pixels() + g] * xb[r];
  return v;
}

int GapFiller::cycle_source(int x, int y) const { return source_[static_cast<size_t>(y) * grid_.width + x]; }

double GapFiller::residual(int x, int y, const Date& d) const {
  const Field f = field_for(d);
  return f.kind == ResidualKind::None ? NAN : field_at(f, x, y);
}

FilledDay GapFiller::fill(const Date& d, const Raster* observed) const {
  if (observed && (observed->width() != grid_.width || observed->height() != grid_.height)) {
    throw Error(fmt::format("gap filling {}: the image is {} x {}, the series {} x {}", d.iso(),
                            observed->width(), observed->height(), grid_.width, grid_.height));
  }
  FilledDay out;
  out.lst = Raster(grid_, 1, NAN, false);
  out.filled = Raster(grid_, 1, 0.0f, true);
  out.filled.units = "";
  out.filled.band_names = {"coarse_filled"};
  const Field f = field_for(d);
  out.residual = f.kind;
  double xb[kMaxTerms];
  model_.basis(d.days(), xb);
  const size_t npix = grid_.pixels();
  long long n_obs = 0, n_fill = 0;
#pragma omp parallel for schedule(static) reduction(+ : n_obs, n_fill)
  for (int y = 0; y < grid_.height; ++y) {
    for (int x = 0; x < grid_.width; ++x) {
      const size_t g = static_cast<size_t>(y) * grid_.width + x;
      if (observed && observed->valid(0, y, x)) {
        out.lst.band(0)[g] = observed->band(0)[g];
        out.lst.mask(0)[g] = 1;
        ++n_obs;
        continue;
      }
      if (f.kind == ResidualKind::None || source_[g] == 0) continue;
      double v = 0.0;
      for (int r = 0; r < nterms_; ++r) v += coef_[r * npix + g] * xb[r];
      v += field_at(f, x, y);
      // A cycle extrapolated past anything plausible (a few clear days at one end of the year) is
      // no LST: the pixel stays a gap rather than a value every later read refuses.
      if (!(v >= io::kPlausibleMinK && v <= io::kPlausibleMaxK)) continue;
      out.lst.band(0)[g] = static_cast<float>(v);
      out.lst.mask(0)[g] = 1;
      out.filled.band(0)[g] = 1.0f;
      ++n_fill;
    }
  }
  out.observed_fraction = static_cast<double>(n_obs) / static_cast<double>(npix);
  out.filled_fraction = static_cast<double>(n_fill) / static_cast<double>(npix);
  return out;
}

}  // namespace lstfuse::prep
