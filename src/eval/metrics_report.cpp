// Metrics output (JSON, table) and the pixel-size helpers behind the ERGAS ratio h / l.
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/eval/metrics.hpp"
#include "lstfuse/io/crs.hpp"

namespace lstfuse::eval {

namespace {

// NaN and infinity have no JSON form: they become null.
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json distribution_json(const ErrorDistribution& d) {
  nlohmann::json shares = nlohmann::json::array();
  for (size_t t = 0; t < d.thresholds.size(); ++t) {
    shares.push_back({{"below_k", d.thresholds[t]}, {"share", num(d.share_below[t])}});
  }
  return {{"share_below", shares},
          {"histogram",
           {{"bin_width_k", d.bin_width}, {"counts", d.counts}, {"overflow", d.overflow}}}};
}

nlohmann::json band_json(const BandMetrics& m) {
  return {{"valid_pixels", m.valid_pixels}, {"bias", num(m.bias)},   {"mae", num(m.mae)},
          {"rmse", num(m.rmse)},            {"ubrmse", num(m.ubrmse)}, {"cc", num(m.cc)},
          {"r2", num(m.r2)},                {"ssim", num(m.ssim)},   {"psnr", num(m.psnr)},
          {"sam", num(m.sam)},              {"ergas", num(m.ergas)},
          {"ssim_windows", m.ssim_windows}, {"ref_mean", num(m.ref_mean)},
          {"pred_mean", num(m.pred_mean)},  {"error_distribution", distribution_json(m.errors)}};
}

std::string fmt_num(double v, int prec = 4) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.{}f}", v, prec);
}

}  // namespace

nlohmann::json MetricsResult::to_json() const {
  nlohmann::json j = band_json(overall);
  j["conventions"] = {
      {"units", "K"},
      {"pixels", "only pixels valid in both images and in the mask"},
      {"ssim_window", fmt::format("gaussian {}x{} sigma {}", kSsimWindow, kSsimWindow, kSsimSigma)},
      {"ssim_k1", kSsimK1},
      {"ssim_k2", kSsimK2},
      {"ssim_average", "window centres whose whole window is inside and valid"},
      {"data_range", num(data_range)},
      {"data_range_source", data_range_source},
      {"sam_mode", sam_mode},
      {"sam_pixels", sam_pixels},
      {"sam_units", "degrees"},
      {"ergas_ratio", num(ergas_ratio)},
      {"ergas_ratio_source", ergas_ratio_source},
      {"valid_pixels", overall.valid_pixels},
  };
  nlohmann::json bj = nlohmann::json::array();
  for (const auto& b : bands) bj.push_back(band_json(b));
  j["bands"] = bj;
  return j;
}

std::string format_metrics_table(const MetricsResult& r) {
  std::ostringstream os;
  const bool multi = r.bands.size() > 1;
  os << fmt::format("{:<8} {:>12}", "metric", multi ? "overall" : "value");
  if (multi) {
    for (size_t b = 0; b < r.bands.size(); ++b) os << fmt::format(" {:>12}", fmt::format("band {}", b + 1));
  }
  os << "\n";
  auto row = [&](const char* name, auto get, int prec) {
    os << fmt::format("{:<8} {:>12}", name, fmt_num(get(r.overall), prec));
    if (multi) {
      for (const auto& b : r.bands) os << fmt::format(" {:>12}", fmt_num(get(b), prec));
    }
    os << "\n";
  };
  row("bias", [](const BandMetrics& m) { return m.bias; }, 4);
  row("MAE", [](const BandMetrics& m) { return m.mae; }, 4);
  row("RMSE", [](const BandMetrics& m) { return m.rmse; }, 4);
  row("ubRMSE", [](const BandMetrics& m) { return m.ubrmse; }, 4);
  row("CC", [](const BandMetrics& m) { return m.cc; }, 4);
  row("R2", [](const BandMetrics& m) { return m.r2; }, 4);
  row("SSIM", [](const BandMetrics& m) { return m.ssim; }, 4);
  row("PSNR", [](const BandMetrics& m) { return m.psnr; }, 2);
  row("SAM", [](const BandMetrics& m) { return m.sam; }, 4);
  row("ERGAS", [](const BandMetrics& m) { return m.ergas; }, 4);
  const auto& d = r.overall.errors;
  for (size_t t = 0; t < d.thresholds.size(); ++t) {
    row(fmt::format("|e|<{}", d.thresholds[t]).c_str(),
        [t](const BandMetrics& m) { return 100.0 * m.errors.share_below[t]; }, 1);
  }
  os << "(bias, MAE, RMSE, ubRMSE in K; PSNR in dB; SAM in degrees; |e|<t: % of pixels)\n";
  os << fmt::format("valid pixels: {}\n", r.overall.valid_pixels);
  os << fmt::format("SSIM: Gaussian {}x{} window, sigma {}, K1 {}, K2 {}, mean over {} fully valid windows\n",
                    kSsimWindow, kSsimWindow, kSsimSigma, kSsimK1, kSsimK2, r.overall.ssim_windows);
  os << fmt::format("data range L (SSIM, PSNR): {} K ({})\n", fmt_num(r.data_range, 3),
                    r.data_range_source);
  os << fmt::format("SAM: {} ({} pixels)\n", r.sam_mode, r.sam_pixels);
  os << fmt::format("ERGAS h/l: {} ({})\n", fmt_num(r.ergas_ratio, 5), r.ergas_ratio_source);
  os << "absolute-error histogram (K, pixels):";
  for (size_t k = 0; k < d.counts.size(); ++k) {
    if (k % 5 == 0) os << "\n ";
    os << fmt::format(" [{:.2f},{:.2f}):{}", k * d.bin_width, (k + 1) * d.bin_width, d.counts[k]);
  }
  os << fmt::format("\n  >= {:.2f}: {}\n", d.counts.size() * d.bin_width, d.overflow);
  return os.str();
}

double pixel_size_m(const Grid& grid) {
  const auto& t = grid.transform;
  double sx = std::hypot(t[1], t[4]);
  double sy = std::hypot(t[2], t[5]);
  if (grid.has_crs()) {
    const io::CrsUnit unit = io::crs_unit(
        grid.crs, "metrics: cannot interpret the grid's CRS to find its pixel size in metres");
    if (unit.geographic) {
      // Degrees to metres on a sphere of the mean Earth radius at the centre latitude: an
      // area-equivalent nominal size, good to a fraction of a percent for h / l.
      constexpr double kEarthRadius = 6371008.8;
      const double lat = 0.5 * (grid.max_y() + grid.min_y()) * M_PI / 180.0;
      const double m_per_deg = kEarthRadius * M_PI / 180.0;
      sx *= m_per_deg * std::cos(lat);
      sy *= m_per_deg;
    } else {
      sx *= unit.metres;
      sy *= unit.metres;
    }
  }
  return std::sqrt(sx * sy);
}

double ergas_ratio_from_grids(const Grid& fine, const Grid& coarse) {
  return pixel_size_m(fine) / pixel_size_m(coarse);
}

}  // namespace lstfuse::eval
