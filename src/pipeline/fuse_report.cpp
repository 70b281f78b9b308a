#include "lstfuse/pipeline/fuse_report.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <optional>

#include "lstfuse/core/error.hpp"

#include <fmt/format.h>

#include "lstfuse/io/band_names.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/quality.hpp"
#include "lstfuse/pipeline/report.hpp"

namespace lstfuse::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.1f} %", 100 * v) : "n/a"; }

struct Pixel {
  int x = 0, y = 0;
  std::string label;
};

// Up to n pixels of distinct land-cover classes (the commonest first) that the most covered
// fused day predicted; without land cover, pixels spread along the diagonal.
std::vector<Pixel> pick_pixels(const Catalog& catalog, const Raster& day, int n) {
  std::vector<Pixel> out;
  const auto lc = catalog_landcover(catalog);
  const int w = day.width(), h = day.height();
  const int step = std::max(1, std::min(w, h) / 16);
  if (lc) {
    std::map<int, long long> count;
    for (size_t k = 0; k < lc->band_size(); ++k)
      if (lc->mask(0)[k]) ++count[static_cast<int>(lc->band(0)[k])];
    std::vector<std::pair<long long, int>> order;
    for (const auto& [c, m] : count) order.emplace_back(-m, c);
    std::sort(order.begin(), order.end());
    for (const auto& [m, c] : order) {
      if (static_cast<int>(out.size()) >= n) break;
      bool found = false;
      for (int y = step / 2; y < h && !found; y += step)
        for (int x = step / 2; x < w && !found; x += step)
          if (day.valid(y, x) && lc->valid(y, x) && static_cast<int>(lc->at(y, x)) == c) {
            std::string name = fmt::format("class {}", c);
            if (const auto it = catalog.landcover()->classes.find(c); it != catalog.landcover()->classes.end())
              name = it->second;
            out.push_back({x, y, name});
            found = true;
          }
    }
  }
  for (int i = 1; static_cast<int>(out.size()) < n && i <= 2 * n + 2; ++i) {
    const int x = w * i / (2 * n + 3), y = h * i / (2 * n + 3);
    if (day.valid(y, x)) out.push_back({x, y, ""});
  }
  for (auto& p : out) p.label = fmt::format("pixel ({}, {}){}", p.x, p.y, p.label.empty() ? "" : ", " + p.label);
  return out;
}

double value_at(const std::string& path, int x, int y, int band = 0) {
  const Raster r = io::read_window(path, x, y, 1, 1);
  return band < r.bands() && r.valid(band, 0, 0) ? r.at(band, 0, 0) : kNaN;
}

double obs_at(const Catalog& cat, const Date& d, Role role, int x, int y) {
  const auto o = cat.find(d, role);
  if (!o) return kNaN;
  const Raster r = io::load_observation_window(cat, *o, x, y, 1, 1);
  return r.valid(0, 0) ? r.at(0, 0) : kNaN;
}

// Time series of one pixel: the fused value with its +-1 sigma band, truth, MODIS, Landsat.
std::string svg_pixel_series(const std::vector<std::string>& labels, const std::vector<double>& fused,
                             const std::vector<double>& sigma, const std::vector<double>& truth,
                             const std::vector<double>& modis, const std::vector<double>& landsat,
                             const std::string& title) {
  const int width = 760, height = 300, left = 60, right = 170, top = 24, bottom = 60;
  const int pw = width - left - right, ph = height - top - bottom;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  auto span = [&](const std::vector<double>& v, const std::vector<double>* s) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i])) continue;
      const double e = s && std::isfinite((*s)[i]) ? (*s)[i] : 0.0;
      lo = std::min(lo, v[i] - e);
      hi = std::max(hi, v[i] + e);
    }
  };
  span(fused, &sigma);
  span(truth, nullptr);
  span(modis, nullptr);
  span(landsat, nullptr);
  if (!std::isfinite(lo)) { lo = 270; hi = 320; }
  const double pad = std::max(0.5, 0.05 * (hi - lo));
  lo = std::floor(lo - pad);
  hi = std::ceil(hi + pad);
  const size_t n = labels.size();
  auto X = [&](size_t i) { return left + (n > 1 ? pw * static_cast<double>(i) / (n - 1) : pw / 2.0); };
  auto Y = [&](double v) { return top + ph * (1.0 - (v - lo) / (hi - lo)); };
  std::string s = fmt::format("<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' "
                              "font-family='sans-serif'><text x='{}' y='14' font-size='12'>{}</text>",
                              width, height, left, html_escape(title));
  const double tstep = (hi - lo) > 20 ? 5.0 : (hi - lo) > 8 ? 2.0 : 1.0;
  for (double t = std::ceil(lo / tstep) * tstep; t <= hi; t += tstep)
    s += fmt::format("<line x1='{}' x2='{}' y1='{:.1f}' y2='{:.1f}' stroke='#eee'/><text x='{}' "
                     "y='{:.1f}' font-size='11' text-anchor='end'>{:g}</text>",
                     left, left + pw, Y(t), Y(t), left - 6, Y(t) + 4, t);
  const size_t every = std::max<size_t>(1, (n + 15) / 16);
  for (size_t i = 0; i < n; i += every)
    s += fmt::format("<text font-size='10' text-anchor='end' transform='translate({:.1f},{}) "
                     "rotate(-40)'>{}</text>", X(i), top + ph + 14, html_escape(labels[i]));
  s += fmt::format("<text font-size='12' transform='translate(14,{}) rotate(-90)' "
                   "text-anchor='middle'>LST (K)</text>", top + ph / 2);
  // The band: one polygon per run of consecutive days with a value and a sigma.
  for (size_t i = 0; i < n;) {
    if (!std::isfinite(fused[i]) || !std::isfinite(sigma[i])) { ++i; continue; }
    size_t j = i;
    while (j + 1 < n && std::isfinite(fused[j + 1]) && std::isfinite(sigma[j + 1])) ++j;
    std::string pts;
    for (size_t k = i; k <= j; ++k) pts += fmt::format("{:.1f},{:.1f} ", X(k), Y(fused[k] + sigma[k]));
    for (size_t k = j + 1; k-- > i;) pts += fmt::format("{:.1f},{:.1f} ", X(k), Y(fused[k] - sigma[k]));
    if (i == j) {
      s += fmt::format("<line x1='{0:.1f}' x2='{0:.1f}' y1='{1:.1f}' y2='{2:.1f}' stroke='#9ecae1' "
                       "stroke-width='4'/>", X(i), Y(fused[i] + sigma[i]), Y(fused[i] - sigma[i]));
    } else {
      s += "<polygon points='" + pts + "' fill='#9ecae1' fill-opacity='0.6' stroke='none'/>";
    }
    i = j + 1;
  }
  auto line = [&](const std::vector<double>& v, const char* colour, const char* dash) {
    std::string path;
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(v[i])) { path += " "; continue; }
      const bool start = path.empty() || path.back() == ' ';
      path += fmt::format("{}{:.1f},{:.1f}", start ? "M" : " L", X(i), Y(v[i]));
    }
    return fmt::format("<path d='{}' fill='none' stroke='{}' stroke-width='1.8' {}/>", path, colour, dash);
  };
  s += line(truth, "#000000", "stroke-dasharray='4,3'");
  s += line(fused, "#1f77b4", "");
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(modis[i]))
      s += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3' fill='#ff7f0e'><title>MODIS {}: {:.2f} K"
                       "</title></circle>", X(i), Y(modis[i]), labels[i], modis[i]);
    if (std::isfinite(landsat[i]))
      s += fmt::format("<rect x='{:.1f}' y='{:.1f}' width='8' height='8' fill='#2ca02c'><title>Landsat {}: "
                       "{:.2f} K</title></rect>", X(i) - 4, Y(landsat[i]) - 4, labels[i], landsat[i]);
    if (std::isfinite(fused[i]))
      s += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='2' fill='#1f77b4'><title>fused {}: {:.2f} K "
                       "+- {:.2f}</title></circle>", X(i), Y(fused[i]), labels[i], fused[i], sigma[i]);
  }
  s += fmt::format("<rect x='{}' y='{}' width='{}' height='{}' fill='none' stroke='#888'/>", left, top, pw, ph);
  const int lx = left + pw + 12;
  s += fmt::format("<rect x='{0}' y='{1}' width='14' height='10' fill='#9ecae1'/><text x='{2}' y='{3}' "
                   "font-size='11'>fused +- 1 sigma</text>", lx, top, lx + 18, top + 9);
  s += fmt::format("<line x1='{0}' x2='{1}' y1='{2}' y2='{2}' stroke='#000' stroke-dasharray='4,3'/>"
                   "<text x='{3}' y='{4}' font-size='11'>truth (simulated)</text>",
                   lx, lx + 14, top + 21, lx + 18, top + 25);
  s += fmt::format("<circle cx='{}' cy='{}' r='3' fill='#ff7f0e'/><text x='{}' y='{}' font-size='11'>"
                   "MODIS</text>", lx + 7, top + 37, lx + 18, top + 41);
  s += fmt::format("<rect x='{}' y='{}' width='8' height='8' fill='#2ca02c'/><text x='{}' y='{}' "
                   "font-size='11'>Landsat</text>", lx + 3, top + 49, lx + 18, top + 57);
  return s + "</svg>";
}

}  // namespace

std::string svg_calibration_chart(const std::vector<CalibrationSeries>& series, int size) {
  const int left = 50, top = 16, bottom = 44, right = 190;
  const int pw = size - left - 10, ph = size - top - bottom;
  const int width = left + pw + right;
  auto X = [&](double v) { return left + pw * v; };
  auto Y = [&](double v) { return top + ph * (1.0 - v); };
  std::string s = fmt::format("<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' "
                              "font-family='sans-serif'>", width, size);
  for (int t = 0; t <= 100; t += 20) {
    const double v = t / 100.0;
    s += fmt::format("<line x1='{0}' x2='{1}' y1='{2:.1f}' y2='{2:.1f}' stroke='#eee'/><line x1='{3:.1f}' "
                     "x2='{3:.1f}' y1='{4}' y2='{5}' stroke='#eee'/><text x='{6}' y='{7:.1f}' font-size='11' "
                     "text-anchor='end'>{8}</text><text x='{3:.1f}' y='{9}' font-size='11' "
                     "text-anchor='middle'>{8}</text>",
                     left, left + pw, Y(v), X(v), top, top + ph, left - 4, Y(v) + 4, t, top + ph + 14);
  }
  s += fmt::format("<line x1='{:.1f}' y1='{:.1f}' x2='{:.1f}' y2='{:.1f}' stroke='#888' "
                   "stroke-dasharray='4,3'/>", X(0), Y(0), X(1), Y(1));
  s += fmt::format("<text x='{:.1f}' y='{}' font-size='12' text-anchor='middle'>expected % within k "
                   "sigma (Gaussian)</text>", X(0.5), size - 8);
  s += fmt::format("<text font-size='12' transform='translate(12,{:.1f}) rotate(-90)' "
                   "text-anchor='middle'>observed %</text>", Y(0.5));
  const char* colours[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd"};
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& c = series[k];
    std::string path;
    for (size_t i = 0; i < c.expected.size() && i < c.observed.size(); ++i) {
      if (!std::isfinite(c.observed[i])) continue;
      path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : " L", X(c.expected[i]), Y(c.observed[i]));
      s += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3' fill='{}'><title>{}: expected {:.1f} %, "
                       "observed {:.1f} %</title></circle>", X(c.expected[i]), Y(c.observed[i]),
                       colours[k % 4], html_escape(c.name), 100 * c.expected[i], 100 * c.observed[i]);
    }
    s += fmt::format("<path d='{}' fill='none' stroke='{}' stroke-width='2'/>", path, colours[k % 4]);
    s += fmt::format("<rect x='{}' y='{}' width='12' height='10' fill='{}'/><text x='{}' y='{}' "
                     "font-size='11'>{}</text>", left + pw + 14, top + 16 * static_cast<int>(k),
                     colours[k % 4], left + pw + 30, top + 9 + 16 * static_cast<int>(k), html_escape(c.name));
  }
  s += fmt::format("<rect x='{}' y='{}' width='{}' height='{}' fill='none' stroke='#888'/>", left, top, pw, ph);
  return s + "</svg>";
}

std::string fuse_quality_html(const Catalog& catalog, const FuseSummary& summary,
                              const fs::path& fuse_dir, int pixels) {
  std::vector<const FuseEntry*> entries;
  for (const auto& e : summary.entries) entries.push_back(&e);
  if (entries.empty()) return "";
  std::sort(entries.begin(), entries.end(), [](auto a, auto b) { return a->date < b->date; });
  const Date first = entries.front()->date, last = entries.back()->date;
  std::vector<Date> days;
  for (Date d = first; d <= last; d = d + 1) days.push_back(d);
  std::vector<std::string> labels;
  for (const auto& d : days) labels.push_back(d.iso());
  auto entry_of = [&](const Date& d) -> const FuseEntry* {
    for (const auto* e : entries)
      if (e->date == d) return e;
    return nullptr;
  };

  // 1. Coverage before (observed coarse) and after (what fuse wrote; Landsat days are observed).
  ChartSeries before{"observed MODIS pixels", {}}, after{"fused pixels written", {}},
      fine{"Landsat (observed fine)", {}};
  ChartSeries score{"consistency ubRMSE (K)", {}}, sd{"mean uncertainty (K, 1 sigma)", {}};
  double sum_before = 0, sum_after = 0;
  for (const auto& d : days) {
    const auto c = catalog.find(d, Role::Coarse);
    const auto f = catalog.find(d, Role::Fine);
    const FuseEntry* e = entry_of(d);
    const double b = c ? c->valid_fraction : 0.0;
    const double a = e && e->status == "done" ? e->valid_fraction : 0.0;
    before.values.push_back(100 * b);
    after.values.push_back(f ? kNaN : 100 * a);
    fine.values.push_back(f ? 100 * f->valid_fraction : kNaN);
    score.values.push_back(e ? e->consistency_ubrmse : kNaN);
    sd.values.push_back(e ? e->mean_uncertainty : kNaN);
    if (!f) {
      sum_before += b;
      sum_after += a;
    }
  }
  long long target_days = 0;
  for (const auto& d : days) target_days += !catalog.find(d, Role::Fine);
  std::string h = "<h2>The daily series: coverage, quality, uncertainty</h2>";
  h += fmt::format("<p class='note'>{} .. {}: on the {} day(s) without a Landsat image, MODIS observed "
                   "{} of the pixels on average; the fused series has {} of them{}.</p>",
                   first.iso(), last.iso(), target_days,
                   pct(target_days ? sum_before / target_days : kNaN),
                   pct(target_days ? sum_after / target_days : kNaN),
                   summary.uncertainty_note.empty() ? "" : " (" + html_escape(summary.uncertainty_note) + ")");
  h += svg_line_chart(labels, {before, after, fine}, "% of the scene", 760, 300);
  h += "<p class='note'>Truth-free quality of each fused day: fine block means (1 km) against the "
       "observed MODIS pixels, bias removed (ubRMSE), next to the mean 1-sigma uncertainty.</p>";
  h += svg_line_chart(labels, {score, sd}, "K", 760, 280);

  // 2. Calibration.
  std::vector<CalibrationSeries> curves;
  std::optional<CalibrationCheck> check;
  try {
    check = check_calibration(catalog, fuse_dir);
  } catch (const Error&) {
  }
  if (check) curves.push_back({"held-out days vs truth", check->expected, check->observed});
  if (std::ifstream in(fuse_dir / kUncertaintyModelFile); in) {
    try {
      const auto m = eval::UncertaintyModel::from_json(nlohmann::json::parse(in));
      curves.push_back({"leave-one-out (estimated)", m.calib_expected, m.calib_estimated});
    } catch (const std::exception&) {
    }
  }
  if (!curves.empty()) {
    h += "<h3>Calibration of the uncertainty</h3><p class='note'>Share of pixels whose error is within "
         "k sigma (k = 0.25 .. 3) against the share a Gaussian error would have; on the diagonal the "
         "band means what it says. Leave-one-out: pair dates predicted without their Landsat image, "
         "the Landsat noise removed (docs/uncertainty.md).</p>" + svg_calibration_chart(curves);
  }
  if (check) {
    h += fmt::format("<table><tr><th>pixels ({} day(s) with truth)</th><th>count</th><th>within 1 sigma "
                     "(63-73 %)</th><th>within 2 sigma (92-98 %)</th><th>RMSE (K)</th><th>mean sigma (K)"
                     "</th></tr>", check->dates);
    auto row = [&](const CalibrationGroup& g) {
      h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3f}</td><td>{:.3f}</td></tr>",
                       html_escape(g.name), g.pixels, pct(g.within1), pct(g.within2), g.rmse, g.mean_sigma);
    };
    row(check->overall);
    for (const auto& g : check->by_fill) row(g);
    for (const auto& g : check->by_class) row(g);
    h += "</table>";
  }

  // 3. A few pixels through time.
  const FuseEntry* best = nullptr;
  for (const auto* e : entries)
    if (e->status == "done" && !e->output.empty() && (!best || e->valid_fraction > best->valid_fraction)) best = e;
  if (!best) return h;
  const Raster day = io::read_raster((fuse_dir / best->output).string());
  const auto picked = pick_pixels(catalog, day, pixels);
  if (picked.empty()) return h;
  h += "<h3>Pixels through time</h3><p class='note'>Fused LST with its 1-sigma band, the simulated "
       "truth where the catalog has it, the MODIS value at the pixel (1 km, on the fine grid) and "
       "Landsat on its dates.</p>";
  for (const auto& p : picked) {
    std::vector<double> fused, sigma, truth, modis, landsat;
    for (const auto& d : days) {
      const FuseEntry* e = entry_of(d);
      double v = kNaN, s = kNaN;
      if (e && e->status == "done" && !e->output.empty()) {
        v = value_at((fuse_dir / e->output).string(), p.x, p.y);
        if (!e->quality.empty()) {
          const auto names = io::read_band_names((fuse_dir / e->quality).string());
          const auto it = std::find(names.begin(), names.end(), kUncertaintyBand);
          if (it != names.end())
            s = value_at((fuse_dir / e->quality).string(), p.x, p.y, static_cast<int>(it - names.begin()));
        }
      }
      fused.push_back(v);
      sigma.push_back(s);
      truth.push_back(obs_at(catalog, d, Role::Truth, p.x, p.y));
      modis.push_back(obs_at(catalog, d, Role::Coarse, p.x, p.y));
      landsat.push_back(obs_at(catalog, d, Role::Fine, p.x, p.y));
    }
    h += svg_pixel_series(labels, fused, sigma, truth, modis, landsat, p.label);
  }
  return h;
}

}  // namespace lstfuse::pipeline
