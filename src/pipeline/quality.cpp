#include "lstfuse/core/files.hpp"
#include "lstfuse/pipeline/quality.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/progress.hpp"
#include "lstfuse/io/band_names.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/fill_catalog.hpp"
#include "lstfuse/pipeline/inputs.hpp"

namespace lstfuse::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMinLooValid = 0.05;

// An ErrorContext with the fill flags it points to.
struct Context {
  Raster coarse_filled, reference_filled;
  eval::ErrorContext ctx;
};

void make_context(const FusionInput& in, const FusionResult& res, const Raster* landcover,
                  double coarse_res_m, Context& c) {
  c.coarse_filled = quality_band(res.quality, kCoarseFilledBand);
  c.reference_filled = quality_band(res.quality, kReferenceFilledBand);
  c.ctx.fused = &res.fine;
  c.ctx.coarse = &in.coarse;
  c.ctx.date = in.date;
  c.ctx.refs.clear();
  for (const auto& p : in.pairs) c.ctx.refs.push_back({p.date, &p.fine, &p.coarse});
  c.ctx.coarse_filled = c.coarse_filled.empty() ? nullptr : &c.coarse_filled;
  c.ctx.reference_filled = c.reference_filled.empty() ? nullptr : &c.reference_filled;
  c.ctx.landcover = landcover;
  c.ctx.block = eval::coarse_block_size(res.fine.grid(), coarse_res_m);
}

double median(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

std::vector<Date> loo_dates(const Catalog& catalog, const MethodInfo& info) {
  std::vector<Date> out;
  for (const Date& d : catalog.pair_dates()) {
    // Any pair date with some clear fine and coarse pixels is a target (cloudy days are fused
    // too); the references are chosen by the method's own rules.
    if (!usable_pair(catalog, d, kMinLooValid)) continue;
    try {
      choose_pairs(catalog, d, info, {d});
      out.push_back(d);
    } catch (const Error&) {
      // No usable pair besides this one for this method: not a leave-one-out date.
    }
  }
  return out;
}

std::optional<Raster> catalog_landcover(const Catalog& catalog) {
  if (!catalog.landcover()) return std::nullopt;
  const std::string path = catalog.absolute(catalog.landcover()->path).string();
  // The whole grid, CRS included: a layer replaced since ingest by one of another CRS but the same
  // size would otherwise describe the errors of other places.
  const Grid g = io::read_grid(path);
  if (!io::same_grid(g, catalog.grid())) {
    throw file_error(path, "the land-cover layer is not on the catalog grid (" + g.describe_vs(catalog.grid()) +
                               "); re-run 'lstfuse ingest' with --landcover");
  }
  io::ReadOptions codes;
  codes.categorical = true;
  return io::read_raster(path, codes);
}

Raster quality_band(const Raster& quality, const std::string& name) {
  for (size_t b = 0; b < quality.band_names.size() && static_cast<int>(b) < quality.bands(); ++b)
    if (quality.band_names[b] == name) return quality.band_raster(static_cast<int>(b));
  return {};
}

void append_quality_band(Raster& quality, const Raster& band, const std::string& name) {
  if (quality.empty()) {
    quality = band.band_raster(0);
    quality.band_names = {name};
    return;
  }
  Raster out(quality.grid(), quality.bands() + 1, 0.0f, false);
  const size_t n = quality.band_size();
  std::copy(quality.data().begin(), quality.data().end(), out.data().begin());
  std::copy(quality.mask_data().begin(), quality.mask_data().end(), out.mask_data().begin());
  std::copy(band.band(0), band.band(0) + n, out.band(quality.bands()));
  std::copy(band.mask(0), band.mask(0) + n, out.mask(quality.bands()));
  out.units = quality.units;
  out.band_names = quality.band_names;
  out.band_names.resize(static_cast<size_t>(quality.bands()));
  out.band_names.push_back(name);
  quality = std::move(out);
}

eval::UncertaintyModel learn_uncertainty(const Catalog& catalog, const MethodInfo& info,
                                         const PredictDate& predict, const UncertaintyOptions& opts) {
  // A filled catalog's check of days filled whole, read first: a damaged fill.json is named
  // before minutes of leave-one-out predictions, not after.
  eval::UncertaintyFit fit = opts.fit;
  if (const auto wd = whole_day_fill_mean_square_error(catalog)) fit.whole_day_fill_variance = *wd;
  std::vector<Date> dates = loo_dates(catalog, info);
  if (static_cast<int>(dates.size()) < opts.min_dates) {
    throw Error(fmt::format("{}: {} pair date(s) can be predicted leave-one-out with {}; the "
                            "uncertainty needs at least {}", catalog.root().string(), dates.size(),
                            info.name, opts.min_dates));
  }
  double clear = 0;
  for (const Date& d : dates) clear += catalog.find(d, Role::Fine)->valid_fraction * static_cast<double>(catalog.grid().pixels());
  if (clear < static_cast<double>(opts.min_pixels)) {
    throw Error(fmt::format("{}: the {} leave-one-out date(s) have {:.0f} clear fine pixels; the "
                            "uncertainty needs at least {}", catalog.root().string(), dates.size(),
                            clear, opts.min_pixels));
  }
  if (opts.max_dates > 0 && static_cast<int>(dates.size()) > opts.max_dates) {
    std::vector<Date> picked;
    const size_t n = dates.size(), m = static_cast<size_t>(opts.max_dates);
    for (size_t k = 0; k < m; ++k) picked.push_back(dates[(2 * k + 1) * n / (2 * m)]);
    dates = picked;
  }
  const auto landcover = catalog_landcover(catalog);
  // Rows per date so that all dates together give about max_samples.
  const double per_date = static_cast<double>(opts.fit.max_samples) / static_cast<double>(dates.size());
  eval::FeatureRows all;
  all.dims = static_cast<int>(eval::error_feature_names().size());
  std::vector<float> errors;
  std::vector<double> nuggets;
  std::vector<std::string> used;
  ProgressBar bar("uncertainty (leave-one-out)", static_cast<long>(dates.size()), opts.show_progress);
  long n = 0;
  for (const Date& d : dates) {
    try {
      const Raster fine = io::load_observation(catalog, *catalog.find(d, Role::Fine));
      const PairChoice choice = choose_pairs(catalog, d, info, {d});
      DatePrediction dp = predict(d, choice.dates);
      Context c;
      make_context(dp.input, dp.result, landcover ? &*landcover : nullptr, opts.coarse_res_m, c);
      const long long valid = dp.result.fine.valid_count(0);
      const int stride = static_cast<int>(std::max(1.0, std::floor(static_cast<double>(valid) / per_date)));
      const eval::FeatureRows rows = eval::error_features(c.ctx, stride);
      for (size_t r = 0; r < rows.rows(); ++r) {
        const size_t k = rows.pixel[r];
        if (!fine.mask(0)[k]) continue;
        all.x.insert(all.x.end(), rows.x.begin() + static_cast<std::ptrdiff_t>(r * rows.dims),
                     rows.x.begin() + static_cast<std::ptrdiff_t>((r + 1) * rows.dims));
        all.cls.push_back(rows.cls[r]);
        all.pixel.push_back(k);
        all.day.push_back(static_cast<int>(used.size()));
        errors.push_back(dp.result.fine.band(0)[k] - fine.band(0)[k]);
      }
      if (!opts.fine_noise_sd) {
        const double g = eval::nugget_variance(fine);
        if (std::isfinite(g)) nuggets.push_back(g);
      }
      used.push_back(d.iso());
      all.day_dates.push_back(d);
    } catch (const Error& e) {
      spdlog::warn("uncertainty: leave-one-out prediction of {} failed: {}", d.iso(), e.what());
    }
    bar.update(++n, d.iso());
  }
  bar.finish();
  if (static_cast<int>(used.size()) < opts.min_dates) {
    throw Error(fmt::format("uncertainty: only {} leave-one-out prediction(s) succeeded; at least {} "
                            "are needed", used.size(), opts.min_dates));
  }
  // The median over dates: one hazy or badly masked scene should not set the noise of all.
  const double noise = opts.fine_noise_sd ? *opts.fine_noise_sd * *opts.fine_noise_sd : median(nuggets);
  eval::UncertaintyModel m = eval::fit_uncertainty(all, errors, std::isfinite(noise) ? noise : 0.0, fit);
  m.dates = used;
  m.method = info.name;
  return m;
}

std::optional<eval::UncertaintyModel> uncertainty_for_fuse(const Catalog& catalog, const MethodInfo& info,
                                                           const PredictDate& predict, const fs::path& out_dir,
                                                           const UncertaintyOptions& opts, std::string& note) {
  const fs::path path = out_dir / kUncertaintyModelFile;
  if (!fs::exists(path)) {
    try {
      const eval::UncertaintyModel m = learn_uncertainty(catalog, info, predict, opts);
      write_text_atomic(path, m.to_json().dump(2) + "\n");
    } catch (const Error& e) {
      note = std::string("no uncertainty band: ") + e.what();
      spdlog::warn("{}", note);
      return std::nullopt;
    }
  }
  // Always the model as read back from its file, so that a resumed run writes identical bands.
  std::ifstream in(path);
  try {
    auto m = eval::UncertaintyModel::from_json(nlohmann::json::parse(in));
    if (m.method != info.name) {
      throw file_error(path.string(), fmt::format("holds the uncertainty model of method '{}', not '{}'; "
                                                  "use another output folder", m.method, info.name));
    }
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw file_error(path.string(), std::string("malformed uncertainty model: ") + e.what());
  } catch (const Error& e) {
    throw file_error(path.string(), e.what());
  }
}

DayQuality add_day_quality(const FusionInput& input, FusionResult& result,
                           const eval::UncertaintyModel* model, const Raster* landcover, double coarse_res_m) {
  DayQuality q;
  Context c;
  make_context(input, result, landcover, coarse_res_m, c);
  q.consistency = eval::coarse_consistency(result.fine, input.coarse, c.ctx.block, c.ctx.coarse_filled);
  if (model && result.fine.valid_count(0) > 0) {
    const Raster sigma = eval::predict_uncertainty(*model, c.ctx);
    double s = 0;
    long long n = 0;
    for (size_t k = 0; k < sigma.band_size(); ++k)
      if (sigma.mask(0)[k]) { s += sigma.band(0)[k]; ++n; }
    q.mean_uncertainty = n ? s / static_cast<double>(n) : kNaN;
    append_quality_band(result.quality, sigma, kUncertaintyBand);
  }
  return q;
}

void score_consistency(const Catalog& catalog, BenchmarkResult& result, const fs::path& out_dir,
                       double coarse_res_m) {
  const int block = eval::coarse_block_size(catalog.grid(), coarse_res_m);
  bool any_truth = false;
  for (const Date& date : result.dates) {
    const auto cobs = catalog.find(date, Role::Coarse);
    if (!cobs) continue;
    const Raster coarse = io::load_observation(catalog, *cobs);
    const auto tobs = catalog.find(date, Role::Truth);
    std::optional<Raster> truth;
    if (tobs && result.reference != "truth") truth = io::load_observation(catalog, *tobs);
    for (auto& row : result.rows) {
      if (row.date != date || row.status != "ok") continue;
      const Raster pred = io::read_raster((out_dir / row.prediction).string());
      row.consistency = eval::coarse_consistency(pred, coarse, block);
      if (result.reference == "truth") {
        // The benchmark's own RMSE: on the pixels every method predicted.
        row.truth_rmse = row.metrics.overall.rmse;
      } else if (truth) {
        double ss = 0;
        long long n = 0;
        for (size_t k = 0; k < pred.band_size(); ++k)
          if (pred.mask(0)[k] && truth->mask(0)[k]) {
            const double e = static_cast<double>(pred.band(0)[k]) - truth->band(0)[k];
            ss += e * e;
            ++n;
          }
        row.truth_rmse = n ? std::sqrt(ss / static_cast<double>(n)) : kNaN;
      }
      any_truth = any_truth || std::isfinite(row.truth_rmse);
    }
  }
  if (any_truth) result.ranking = rank_agreement(result);
}

ScoreRanking rank_agreement(const BenchmarkResult& r) {
  ScoreRanking s;
  double sum = 0;
  std::vector<double> pooled_a, pooled_b;
  for (const Date& d : r.dates) {
    std::vector<double> a, b;
    for (const auto& row : r.rows)
      if (row.date == d && row.status == "ok") {
        a.push_back(row.consistency.ubrmse);
        b.push_back(row.truth_rmse);
      }
    pooled_a.insert(pooled_a.end(), a.begin(), a.end());
    pooled_b.insert(pooled_b.end(), b.begin(), b.end());
    const double rho = eval::spearman(a, b);
    s.per_date.emplace_back(d, rho);
    if (std::isfinite(rho)) { sum += rho; ++s.dates; }
  }
  s.over_methods = s.dates ? sum / s.dates : kNaN;
  for (const auto& e : r.entries) {
    std::vector<double> a, b;
    for (const auto& row : r.rows)
      if (row.label == e.label && row.status == "ok") {
        a.push_back(row.consistency.ubrmse);
        b.push_back(row.truth_rmse);
      }
    s.per_method.emplace_back(e.label, eval::spearman(a, b));
  }
  double msum = 0;
  int mn = 0;
  for (const auto& [label, rho] : s.per_method)
    if (std::isfinite(rho)) { msum += rho; ++mn; }
  s.over_dates = mn ? msum / mn : kNaN;
  s.pooled = eval::spearman(pooled_a, pooled_b);
  return s;
}

namespace {

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
std::string cell(double v, int prec) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, prec) : "n/a"; }

}  // namespace

nlohmann::json consistency_json(const BenchmarkRow& row) {
  return {{"ubrmse", finite_or_null(row.consistency.ubrmse)},
          {"bias", finite_or_null(row.consistency.bias)},
          {"blocks", row.consistency.blocks},
          {"truth_rmse", finite_or_null(row.truth_rmse)}};
}

nlohmann::json ranking_json(const ScoreRanking& r) {
  nlohmann::json j{{"score", "consistency ubRMSE against the coarse image"},
                   {"against", "RMSE against the simulated truth"},
                   {"spearman_over_methods_mean", finite_or_null(r.over_methods)},
                   {"dates", r.dates},
                   {"spearman_over_dates_mean", finite_or_null(r.over_dates)},
                   {"spearman_pooled", finite_or_null(r.pooled)}};
  j["per_date"] = nlohmann::json::object();
  for (const auto& [d, v] : r.per_date) j["per_date"][d.iso()] = finite_or_null(v);
  j["per_method"] = nlohmann::json::object();
  for (const auto& [m, v] : r.per_method) j["per_method"][m] = finite_or_null(v);
  return j;
}

std::string ranking_text(const ScoreRanking& r) {
  std::string s = fmt::format(
      "truth-free score (consistency ubRMSE) against truth RMSE, Spearman: {} across methods "
      "(mean over {} date(s)), {} across dates (mean over methods), {} pooled\n",
      cell(r.over_methods, 3), r.dates, cell(r.over_dates, 3), cell(r.pooled, 3));
  for (const auto& [m, v] : r.per_method) s += fmt::format("  {:<28} across dates {}\n", m, cell(v, 3));
  return s;
}

std::string consistency_markdown(const BenchmarkResult& r) {
  std::string md = "## Truth-free score per date: consistency ubRMSE (K) with the coarse image\n\n"
                   "Fine block means (coarse-pixel size) against the coarse image, observed coarse "
                   "pixels only; bias removed per date.\n\n| date |";
  for (const auto& e : r.entries) md += " " + e.label + " |";
  md += "\n|---|";
  for (size_t i = 0; i < r.entries.size(); ++i) md += "---:|";
  md += "\n";
  for (const auto& d : r.dates) {
    md += "| " + d.iso() + " |";
    for (const auto& e : r.entries) {
      std::string c = "n/a";
      for (const auto& row : r.rows)
        if (row.label == e.label && row.date == d && row.status == "ok") c = cell(row.consistency.ubrmse, 3);
      md += " " + c + " |";
    }
    md += "\n";
  }
  md += "\n";
  if (r.ranking) {
    const auto& k = *r.ranking;
    md += fmt::format("Spearman correlation of this score with the RMSE against the truth: {} across "
                      "methods (mean over {} dates), {} across dates (mean over methods), {} pooled.\n\n"
                      "| method | Spearman across dates |\n|---|---:|\n",
                      cell(k.over_methods, 3), k.dates, cell(k.over_dates, 3), cell(k.pooled, 3));
    for (const auto& [m, v] : k.per_method) md += fmt::format("| {} | {} |\n", m, cell(v, 3));
    md += "\n| date | Spearman across methods |\n|---|---:|\n";
    for (const auto& [d, v] : k.per_date) md += fmt::format("| {} | {} |\n", d.iso(), cell(v, 3));
    md += "\n";
  }
  return md;
}

namespace {

struct Tally {
  long long n = 0, in1 = 0, in2 = 0;
  double se = 0, ss = 0;
  void add(double e, double s) {
    ++n;
    in1 += std::abs(e) <= s;
    in2 += std::abs(e) <= 2 * s;
    se += e * e;
    ss += s;
  }
  CalibrationGroup group(const std::string& name) const {
    CalibrationGroup g;
    g.name = name;
    g.pixels = n;
    if (n) {
      g.within1 = static_cast<double>(in1) / n;
      g.within2 = static_cast<double>(in2) / n;
      g.rmse = std::sqrt(se / n);
      g.mean_sigma = ss / n;
    }
    return g;
  }
};

}  // namespace

std::optional<CalibrationCheck> check_calibration(const Catalog& catalog, const fs::path& fuse_dir) {
  std::ifstream in(fuse_dir / "index.json");
  if (!in) throw file_error((fuse_dir / "index.json").string(), "cannot open (is this a fuse output folder?)");
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw file_error((fuse_dir / "index.json").string(), std::string("malformed fuse index: ") + e.what());
  }
  const auto landcover = catalog_landcover(catalog);
  CalibrationCheck c;
  for (double k = 0.25; k <= 3.0 + 1e-9; k += 0.25) {
    c.k.push_back(k);
    c.expected.push_back(eval::gaussian_share(k));
  }
  std::vector<long long> within(c.k.size(), 0);
  Tally all;
  std::map<std::string, Tally> fill;
  std::map<int, Tally> cls;
  for (const auto& e : index.value("entries", nlohmann::json::array())) {
    if (e.value("status", "") != "done" || e.value("quality", "").empty()) continue;
    const Date date = Date::parse(e.at("date").get<std::string>());
    const auto tobs = catalog.find(date, Role::Truth);
    if (!tobs) continue;
    const std::string qpath = (fuse_dir / e.at("quality").get<std::string>()).string();
    const auto names = io::read_band_names(qpath);
    int ub = -1, cf = -1, rf = -1;
    for (size_t b = 0; b < names.size(); ++b) {
      if (names[b] == kUncertaintyBand) ub = static_cast<int>(b);
      if (names[b] == kCoarseFilledBand) cf = static_cast<int>(b);
      if (names[b] == kReferenceFilledBand) rf = static_cast<int>(b);
    }
    if (ub < 0) continue;
    const Raster q = io::read_raster(qpath);
    const Raster p = io::read_raster((fuse_dir / e.at("output").get<std::string>()).string());
    const Raster t = io::load_observation(catalog, *tobs);
    ++c.dates;
    Tally day;
    for (size_t k = 0; k < p.band_size(); ++k) {
      if (!p.mask(0)[k] || !t.mask(0)[k] || !q.mask(ub)[k]) continue;
      const double err = static_cast<double>(p.band(0)[k]) - t.band(0)[k];
      const double s = q.band(ub)[k];
      all.add(err, s);
      day.add(err, s);
      for (size_t j = 0; j < c.k.size(); ++j) within[j] += std::abs(err) <= c.k[j] * s;
      const bool cfill = cf >= 0 && q.mask(cf)[k] && q.band(cf)[k] != 0.0f;
      const bool rfill = rf >= 0 && q.mask(rf)[k] && q.band(rf)[k] != 0.0f;
      fill[cfill && rfill ? "coarse and reference filled"
           : cfill        ? "coarse filled"
           : rfill        ? "reference filled"
                          : "observed"].add(err, s);
      if (landcover && landcover->mask(0)[k]) cls[static_cast<int>(landcover->band(0)[k])].add(err, s);
    }
    if (day.n) c.by_date.push_back(day.group(date.iso()));
  }
  if (all.n == 0) return std::nullopt;
  c.overall = all.group("all pixels");
  for (size_t j = 0; j < c.k.size(); ++j) c.observed.push_back(static_cast<double>(within[j]) / all.n);
  for (const auto& [name, t] : fill) c.by_fill.push_back(t.group(name));
  for (const auto& [code, t] : cls) {
    std::string name = fmt::format("class {}", code);
    if (catalog.landcover()) {
      const auto it = catalog.landcover()->classes.find(code);
      if (it != catalog.landcover()->classes.end()) name = it->second;
    }
    c.by_class.push_back(t.group(name));
  }
  return c;
}

nlohmann::json CalibrationCheck::to_json() const {
  auto g = [](const CalibrationGroup& x) {
    return nlohmann::json{{"name", x.name}, {"pixels", x.pixels}, {"within_1_sigma", x.within1},
                          {"within_2_sigma", x.within2}, {"rmse", x.rmse}, {"mean_sigma", x.mean_sigma}};
  };
  nlohmann::json j;
  j["dates"] = dates;
  j["overall"] = g(overall);
  j["by_fill"] = nlohmann::json::array();
  for (const auto& x : by_fill) j["by_fill"].push_back(g(x));
  j["by_class"] = nlohmann::json::array();
  for (const auto& x : by_class) j["by_class"].push_back(g(x));
  j["by_date"] = nlohmann::json::array();
  for (const auto& x : by_date) j["by_date"].push_back(g(x));
  j["curve"] = {{"k", k}, {"expected", expected}, {"observed", observed}};
  return j;
}

std::string CalibrationCheck::to_text() const {
  std::string s = fmt::format("uncertainty against the truth on {} fused day(s) (target: 63-73 % within "
                              "1 sigma, 92-98 % within 2 sigma)\n", dates);
  s += fmt::format("  {:<28} {:>10} {:>9} {:>9} {:>9} {:>10}\n", "group", "pixels", "<=1 sigma",
                   "<=2 sigma", "RMSE K", "mean sd K");
  auto line = [&](const CalibrationGroup& g) {
    s += fmt::format("  {:<28} {:>10} {:>8.1f}% {:>8.1f}% {:>9.3f} {:>10.3f}\n", g.name, g.pixels,
                     100 * g.within1, 100 * g.within2, g.rmse, g.mean_sigma);
  };
  line(overall);
  for (const auto& g : by_fill) line(g);
  for (const auto& g : by_class) line(g);
  return s;
}

}  // namespace lstfuse::pipeline
