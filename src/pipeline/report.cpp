#include "lstfuse/core/files.hpp"
#include "lstfuse/pipeline/report.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"

namespace lstfuse::pipeline {
namespace fs = std::filesystem;
namespace {

// A qualitative palette that stays distinguishable for fourteen series.
const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                          "#000000", "#aec7e8", "#ffbb78", "#98df8a"};
constexpr size_t kNumColours = sizeof(kColours) / sizeof(kColours[0]);
const char* colour(size_t i) { return kColours[i % kNumColours]; }

std::string fmt_num(double v, int prec) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, prec) : std::string("n/a");
}

struct Axis {
  double lo, hi;
  std::vector<double> ticks;
};

Axis nice_axis(double lo, double hi, bool from_zero) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) { lo = 0; hi = 1; }
  if (from_zero) lo = std::min(0.0, lo);
  if (hi - lo < 1e-9) { hi = lo + 1.0; }
  const double raw = (hi - lo) / 5.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) { step = m * mag; break; }
  Axis a;
  a.lo = std::floor(lo / step) * step;
  a.hi = std::ceil(hi / step) * step;
  for (double t = a.lo; t <= a.hi + step * 1e-6; t += step) a.ticks.push_back(t);
  return a;
}

std::string legend(const std::vector<ChartSeries>& series, int x, int y) {
  std::string s;
  for (size_t i = 0; i < series.size(); ++i) {
    const int yy = y + static_cast<int>(i) * 16;
    s += fmt::format("<rect x='{}' y='{}' width='12' height='10' fill='{}'/>"
                     "<text x='{}' y='{}' font-size='11'>{}</text>",
                     x, yy, colour(i), x + 16, yy + 9, html_escape(series[i].name));
  }
  return s;
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string svg_line_chart(const std::vector<std::string>& x_labels,
                           const std::vector<ChartSeries>& series, const std::string& y_label,
                           int width, int height) {
  const int left = 60, right = 170, top = 20, bottom = 60;
  const int pw = width - left - right, ph = height - top - bottom;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : series)
    for (double v : s.values)
      if (std::isfinite(v)) { lo = std::min(lo, v); hi = std::max(hi, v); }
  const Axis ax = nice_axis(lo, hi, true);
  const size_t n = x_labels.size();
  auto X = [&](size_t i) { return left + (n > 1 ? pw * static_cast<double>(i) / (n - 1) : pw / 2.0); };
  auto Y = [&](double v) { return top + ph * (1.0 - (v - ax.lo) / (ax.hi - ax.lo)); };
  std::string s = fmt::format("<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' "
                              "font-family='sans-serif'>", width, height);
  for (double t : ax.ticks) {
    s += fmt::format("<line x1='{}' x2='{}' y1='{:.1f}' y2='{:.1f}' stroke='#ddd'/>"
                     "<text x='{}' y='{:.1f}' font-size='11' text-anchor='end'>{}</text>",
                     left, left + pw, Y(t), Y(t), left - 6, Y(t) + 4, fmt::format("{:g}", t));
  }
  // At most ~16 labels along x, so that long axes stay readable.
  const size_t every = std::max<size_t>(1, (n + 15) / 16);
  for (size_t i = 0; i < n; i += every) {
    s += fmt::format("<text font-size='10' text-anchor='end' transform='translate({:.1f},{}) "
                     "rotate(-40)'>{}</text>", X(i), top + ph + 14, html_escape(x_labels[i]));
  }
  s += fmt::format("<text font-size='12' transform='translate(14,{}) rotate(-90)' "
                   "text-anchor='middle'>{}</text>", top + ph / 2, html_escape(y_label));
  s += fmt::format("<rect x='{}' y='{}' width='{}' height='{}' fill='none' stroke='#888'/>", left,
                   top, pw, ph);
  for (size_t k = 0; k < series.size(); ++k) {
    std::string path;
    for (size_t i = 0; i < series[k].values.size() && i < n; ++i) {
      const double v = series[k].values[i];
      if (!std::isfinite(v)) continue;
      path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", X(i), Y(v));
      s += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3' fill='{}'><title>{} {}: {:.3f}"
                       "</title></circle>", X(i), Y(v), colour(k), html_escape(series[k].name),
                       html_escape(x_labels[i]), v);
    }
    if (!path.empty())
      s += fmt::format("<path d='{}' fill='none' stroke='{}' stroke-width='2'/>", path, colour(k));
  }
  s += legend(series, left + pw + 12, top);
  return s + "</svg>";
}

std::string svg_bar_chart(const std::vector<std::string>& groups,
                          const std::vector<ChartSeries>& series, const std::string& y_label,
                          int width, int height) {
  const int left = 60, right = 170, top = 20, bottom = 40;
  const int pw = width - left - right, ph = height - top - bottom;
  double hi = 0;
  for (const auto& s : series)
    for (double v : s.values)
      if (std::isfinite(v)) hi = std::max(hi, v);
  const Axis ax = nice_axis(0.0, hi, true);
  auto Y = [&](double v) { return top + ph * (1.0 - (v - ax.lo) / (ax.hi - ax.lo)); };
  std::string s = fmt::format("<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' "
                              "font-family='sans-serif'>", width, height);
  for (double t : ax.ticks) {
    s += fmt::format("<line x1='{}' x2='{}' y1='{:.1f}' y2='{:.1f}' stroke='#ddd'/>"
                     "<text x='{}' y='{:.1f}' font-size='11' text-anchor='end'>{}</text>",
                     left, left + pw, Y(t), Y(t), left - 6, Y(t) + 4, fmt::format("{:g}", t));
  }
  const double gw = groups.empty() ? pw : static_cast<double>(pw) / groups.size();
  const double bw = series.empty() ? gw : gw * 0.8 / series.size();
  for (size_t g = 0; g < groups.size(); ++g) {
    const double gx = left + g * gw;
    s += fmt::format("<text x='{:.1f}' y='{}' font-size='11' text-anchor='middle'>{}</text>",
                     gx + gw / 2, top + ph + 16, html_escape(groups[g]));
    for (size_t k = 0; k < series.size(); ++k) {
      const double v = g < series[k].values.size() ? series[k].values[g] : NAN;
      if (!std::isfinite(v)) continue;
      const double x = gx + gw * 0.1 + k * bw;
      s += fmt::format("<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='{}'>"
                       "<title>{} {}: {:.3f}</title></rect>", x, Y(v), bw * 0.9, Y(ax.lo) - Y(v),
                       colour(k), html_escape(series[k].name), html_escape(groups[g]), v);
    }
  }
  s += fmt::format("<text font-size='12' transform='translate(14,{}) rotate(-90)' "
                   "text-anchor='middle'>{}</text>", top + ph / 2, html_escape(y_label));
  s += fmt::format("<rect x='{}' y='{}' width='{}' height='{}' fill='none' stroke='#888'/>", left,
                   top, pw, ph);
  s += legend(series, left + pw + 12, top);
  return s + "</svg>";
}

fs::path write_html_report(const BenchmarkResult& r, const fs::path& dir, const ReportExtras& extras) {
  std::vector<std::string> dates;
  for (const auto& d : r.dates) dates.push_back(d.iso());
  auto rows_of = [&](const std::string& label) {
    std::vector<const BenchmarkRow*> out;
    for (const auto& row : r.rows)
      if (row.label == label && row.status == "ok") out.push_back(&row);
    return out;
  };
  const eval::MetricsResult* conv = nullptr;
  for (const auto& row : r.rows)
    if (row.status == "ok") { conv = &row.metrics; break; }

  std::string h = "<!DOCTYPE html><html><head><meta charset='utf-8'><title>" +
                  html_escape(extras.title) + "</title><style>"
                  "body{font-family:sans-serif;margin:24px;max-width:1400px;color:#222}"
                  "table{border-collapse:collapse;margin:8px 0 20px}"
                  "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}"
                  "th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}"
                  ".best{font-weight:bold;background:#e6f4e6}"
                  ".maps{display:flex;flex-wrap:wrap;gap:8px}.maps figure{margin:0;width:330px}"
                  ".maps img{width:330px}figcaption{font-size:12px}.note{color:#555;font-size:13px}"
                  "</style></head><body>";
  h += "<h1>" + html_escape(extras.title) + "</h1>";
  h += extras.intro_html;
  h += fmt::format("<p class='note'>Protocol <b>{}</b> ({}); scored against the <b>{}</b> on {}; "
                   "catalog {}; {} predicted date(s){}.</p>",
                   r.protocol,
                   r.protocol == "loo" ? "each pair date hidden in turn and predicted from the "
                                         "other pairs"
                                       : "early pairs train, later pair dates are predicted",
                   r.reference == "truth" ? "simulated truth" : "observed fine image",
                   r.common_mask ? "the pixels every method predicted (coverage: the share of "
                                   "reference pixels each method predicted)"
                                 : "each method's own predicted pixels",
                   html_escape(r.catalog), r.dates.size(),
                   r.train_dates.empty() ? "" : fmt::format("; {} training pair date(s)", r.train_dates.size()));
  if (conv) {
    h += fmt::format("<p class='note'>Metrics over pixels valid in both images. SSIM: Gaussian "
                     "11x11, sigma 1.5, K1 0.01, K2 0.03, data range L = {} ({}); PSNR uses the "
                     "same L; SAM: {}; ERGAS h/l = {:.4f} ({}).</p>",
                     fmt_num(conv->data_range, 2), html_escape(conv->data_range_source),
                     html_escape(conv->sam_mode), conv->ergas_ratio,
                     html_escape(conv->ergas_ratio_source));
  }

  // Averages table with the best value per column marked.
  struct Col { std::string key, name; bool lower_better; int prec; };
  const std::vector<Col> cols = {{"rmse", "RMSE (K)", true, 3},  {"mae", "MAE (K)", true, 3},
                                 {"bias", "bias (K)", true, 3},  {"ubrmse", "ubRMSE (K)", true, 3},
                                 {"cc", "CC", false, 4},         {"r2", "R2", false, 4},
                                 {"ssim", "SSIM", false, 4},     {"psnr", "PSNR (dB)", false, 2},
                                 {"sam", "SAM (deg)", true, 4},  {"ergas", "ERGAS", true, 4}};
  auto value = [](const BenchmarkRow& row, const std::string& k) {
    return eval::metric_value(row.metrics.overall, k);
  };
  std::vector<std::vector<double>> avg(r.entries.size(), std::vector<double>(cols.size(), NAN));
  for (size_t e = 0; e < r.entries.size(); ++e) {
    const auto rows = rows_of(r.entries[e].label);
    for (size_t c = 0; c < cols.size(); ++c) {
      double s = 0;
      int n = 0;
      for (const auto* row : rows) {
        const double v = value(*row, cols[c].key);
        if (std::isfinite(v)) { s += v; ++n; }
      }
      if (n) avg[e][c] = s / n;
    }
  }
  h += "<h2>Average over dates</h2><table><tr><th>method</th><th>dates</th>";
  for (const auto& c : cols) h += "<th>" + c.name + "</th>";
  h += "<th>coverage</th><th>predict s/date</th><th>train s</th></tr>";
  for (size_t e = 0; e < r.entries.size(); ++e) {
    const auto rows = rows_of(r.entries[e].label);
    double secs = 0, cov = 0;
    for (const auto* row : rows) {
      secs += row->seconds;
      cov += row->coverage;
    }
    h += fmt::format("<tr><td>{}</td><td>{}</td>", html_escape(r.entries[e].label), rows.size());
    for (size_t c = 0; c < cols.size(); ++c) {
      bool best = std::isfinite(avg[e][c]);
      for (size_t o = 0; o < r.entries.size() && best; ++o) {
        if (!std::isfinite(avg[o][c])) continue;
        const double a = cols[c].key == "bias" ? std::abs(avg[o][c]) : avg[o][c];
        const double b = cols[c].key == "bias" ? std::abs(avg[e][c]) : avg[e][c];
        if (cols[c].lower_better ? a < b : a > b) best = false;
      }
      h += fmt::format("<td{}>{}</td>", best ? " class='best'" : "", fmt_num(avg[e][c], cols[c].prec));
    }
    const auto ts = r.train_seconds.find(r.entries[e].label);
    h += fmt::format("<td>{}</td><td>{}</td><td>{}</td></tr>",
                     rows.empty() ? "n/a" : fmt_num(100.0 * cov / rows.size(), 1) + " %",
                     rows.empty() ? "n/a" : fmt_num(secs / rows.size(), 3),
                     ts != r.train_seconds.end() ? fmt_num(ts->second, 1) : "0");
  }
  h += "</table>";

  // Days only MODIS saw: the real use, scored against the simulated truth.
  if (!r.coarse_only_dates.empty()) {
    h += "<h2>Coarse-only dates</h2><p class='note'>Days with no fine image, predicted from every "
         "pair of the catalog and scored against the simulated truth (RMSE in K, SSIM).</p>"
         "<table><tr><th>method</th>";
    for (const auto& d : r.coarse_only_dates) h += "<th>" + d.iso() + "</th>";
    h += "<th>average RMSE</th><th>average SSIM</th><th>coverage</th></tr>";
    for (const auto& e : r.entries) {
      h += "<tr><td>" + html_escape(e.label) + "</td>";
      double rs = 0, ss = 0, cv = 0;
      int n = 0;
      for (const auto& d : r.coarse_only_dates) {
        std::string cell = "n/a";
        for (const auto& row : r.coarse_only_rows) {
          if (row.label != e.label || row.date != d) continue;
          if (row.status != "ok") { cell = "failed"; continue; }
          cell = fmt_num(row.metrics.overall.rmse, 3);
          rs += row.metrics.overall.rmse;
          ss += row.metrics.overall.ssim;
          cv += row.coverage;
          ++n;
        }
        h += "<td>" + cell + "</td>";
      }
      h += n ? fmt::format("<td>{}</td><td>{}</td><td>{} %</td></tr>", fmt_num(rs / n, 3),
                           fmt_num(ss / n, 4), fmt_num(100.0 * cv / n, 1))
             : std::string("<td>n/a</td><td>n/a</td><td>n/a</td></tr>");
    }
    h += "</table>";
  }

  // RMSE per date per method.
  std::vector<ChartSeries> rmse_series;
  for (const auto& e : r.entries) {
    ChartSeries s{e.label, std::vector<double>(r.dates.size(), NAN)};
    for (size_t i = 0; i < r.dates.size(); ++i)
      for (const auto* row : rows_of(e.label))
        if (row->date == r.dates[i]) s.values[i] = row->metrics.overall.rmse;
    rmse_series.push_back(s);
  }
  h += "<h2>RMSE per date</h2>" + svg_line_chart(dates, rmse_series, "RMSE (K)");

  // Absolute-error distribution, pooled over dates (Fig. 10 of the STTFN paper).
  if (conv) {
    const auto& th = conv->overall.errors.thresholds;
    std::vector<std::string> groups;
    for (double t : th) groups.push_back(fmt::format("|error| < {:g} K", t));
    std::vector<ChartSeries> share, hist;
    const double bw = conv->overall.errors.bin_width;
    const size_t nb = conv->overall.errors.counts.size();
    std::vector<std::string> bins;
    for (size_t b = 0; b < nb; ++b) bins.push_back(fmt::format("{:g}", (b + 0.5) * bw));
    for (const auto& e : r.entries) {
      ChartSeries s{e.label, std::vector<double>(th.size(), NAN)};
      ChartSeries hs{e.label, std::vector<double>(nb, NAN)};
      std::vector<double> below(th.size(), 0.0), counts(nb, 0.0);
      double total = 0;
      for (const auto* row : rows_of(e.label)) {
        const auto& ed = row->metrics.overall.errors;
        const double n = static_cast<double>(row->metrics.overall.valid_pixels);
        total += n;
        for (size_t k = 0; k < th.size() && k < ed.share_below.size(); ++k) below[k] += ed.share_below[k] * n;
        for (size_t b = 0; b < nb && b < ed.counts.size(); ++b) counts[b] += ed.counts[b];
      }
      if (total > 0) {
        for (size_t k = 0; k < th.size(); ++k) s.values[k] = 100.0 * below[k] / total;
        for (size_t b = 0; b < nb; ++b) hs.values[b] = 100.0 * counts[b] / total;
      }
      share.push_back(s);
      hist.push_back(hs);
    }
    h += "<h2>Absolute error distribution</h2><p class='note'>Share of valid pixels whose "
         "absolute error is below each bound, all predicted dates pooled.</p>" +
         svg_bar_chart(groups, share, "% of pixels");
    h += fmt::format("<p class='note'>Histogram of absolute errors (bin width {:g} K, % of "
                     "pixels per bin).</p>", bw) +
         svg_line_chart(bins, hist, "% of pixels", 760, 300);
  }

  // Maps.
  std::vector<std::string> map_dates;
  for (const auto& [key, path] : r.maps)
    if (key.rfind("reference|", 0) == 0) map_dates.push_back(key.substr(10));
  for (const auto& d : map_dates) {
    h += "<h2>Maps, " + d + "</h2><div class='maps'>";
    h += fmt::format("<figure><img src='{}'><figcaption>reference</figcaption></figure>",
                     html_escape(r.maps.at("reference|" + d)));
    for (const auto& e : r.entries) {
      const auto p = r.maps.find(e.label + "|" + d);
      if (p != r.maps.end())
        h += fmt::format("<figure><img src='{}'><figcaption>{}</figcaption></figure>",
                         html_escape(p->second), html_escape(e.label));
    }
    h += "</div><div class='maps'>";
    for (const auto& e : r.entries) {
      const auto p = r.maps.find(e.label + "|" + d + "|error");
      if (p != r.maps.end())
        h += fmt::format("<figure><img src='{}'><figcaption>{} - reference</figcaption></figure>",
                         html_escape(p->second), html_escape(e.label));
    }
    h += "</div>";
  }
  h += extras.extra_html;

  // Per-date tables (Table IV style).
  for (const auto& [key, name, prec] : std::vector<std::tuple<std::string, std::string, int>>{
           {"rmse", "RMSE (K)", 3}, {"ssim", "SSIM", 4}, {"cc", "CC", 4}}) {
    h += "<h2>" + name + " per date</h2><table><tr><th>date</th>";
    for (const auto& e : r.entries) h += "<th>" + html_escape(e.label) + "</th>";
    h += "</tr>";
    for (const auto& d : r.dates) {
      h += "<tr><td>" + d.iso() + "</td>";
      for (const auto& e : r.entries) {
        std::string cell = "n/a";
        for (const auto& row : r.rows)
          if (row.label == e.label && row.date == d)
            cell = row.status == "ok" ? fmt_num(value(row, key), prec) : "failed";
        h += "<td>" + cell + "</td>";
      }
      h += "</tr>";
    }
    h += "</table>";
  }
  bool any_failed = false;
  for (const auto& row : r.rows) any_failed = any_failed || row.status != "ok";
  if (any_failed) {
    h += "<h2>Failures</h2><ul>";
    for (const auto& row : r.rows)
      if (row.status != "ok")
        h += "<li>" + html_escape(row.label + " " + row.date.iso() + ": " + row.note) + "</li>";
    h += "</ul>";
  }
  h += "<p class='note'>Tables: results.csv, results.json, summary.md in this folder. lstfuse " LSTFUSE_VERSION "</p></body></html>\n";
  fs::create_directories(dir);
  const fs::path path = dir / "report.html";
  write_text_atomic(path, h);
  return path;
}

}  // namespace lstfuse::pipeline
