// Per-pixel series features for the networks (see deep/series_context.hpp).
#include "lstfuse/deep/series_context.hpp"

#include <cmath>

#include <fmt/format.h>

#include "lstfuse/core/json_number.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/deep/engine.hpp"

namespace lstfuse::deep {
namespace {

constexpr int kSums = 7;  // n, Sd, Sdd, Sx, Sy, Sxx, Sxy
// Ridge towards gain 1 (network units^2): where the coarse signal hardly varied over the
// pairs, the fit falls back to the mean anomaly instead of an arbitrary slope.
constexpr double kRidge = 0.05;

}  // namespace

int SeriesContext::channels_for(const std::string& mode, int bands) {
  if (mode == "none") return 0;
  if (mode == "mean") return 2 * bands;
  if (mode == "fit") return 3 * bands;
  throw Error("unknown --series-context '" + mode + "' (none, mean or fit)");
}

SeriesContext SeriesContext::build(const std::string& mode, const std::vector<ImagePair>& pairs,
                                   const Normaliser& norm) {
  SeriesContext s;
  channels_for(mode, 1);  // validates the name
  s.mode_ = mode;
  if (mode == "none" || pairs.empty()) return s;
  s.grid_ = pairs.front().fine.grid();
  s.bands_ = pairs.front().fine.bands();
  const int B = s.bands_;
  // Double sums: with kelvin units (--normalise none) sums of squares of 300 K values would
  // lose the variance to float rounding.
  std::vector<torch::Tensor> acc;
  for (int k = 0; k < kSums; ++k) acc.push_back(torch::zeros({1, B, s.grid_.height, s.grid_.width}, torch::kDouble));
  for (const auto& p : pairs) {
    if (!p.fine.grid().same_geometry(s.grid_) || !p.coarse.grid().same_geometry(s.grid_))
      throw Error(fmt::format("--series-context: the pair of {} is not on the grid of the first pair", p.date.iso()));
    const auto f = to_tensor(p.fine, norm), c = to_tensor(p.coarse, norm);
    const auto v = (f.valid * c.valid).expand({1, B, -1, -1}).to(torch::kDouble);
    const auto x = c.values.to(torch::kDouble), y = f.values.to(torch::kDouble), d = y - x;
    acc[0] += v;
    acc[1] += d * v;
    acc[2] += d * d * v;
    acc[3] += x * v;
    acc[4] += y * v;
    acc[5] += x * x * v;
    acc[6] += x * y * v;
  }
  s.sums_ = torch::cat(acc, 1).contiguous();
  return s;
}

torch::Tensor SeriesContext::window(int x0, int y0, int w, int h) const {
  return sums_.narrow(2, y0, h).narrow(3, x0, w);
}

torch::Tensor SeriesContext::features(const torch::Tensor& sums, const torch::Tensor& coarse_target,
                                      const torch::Tensor& target_valid, const torch::Tensor& leave_fine,
                                      const torch::Tensor& leave_coarse, const torch::Tensor& leave_valid) const {
  const auto dbl = torch::TensorOptions().dtype(torch::kDouble).device(coarse_target.device());
  auto s = sums.to(dbl).chunk(kSums, 1);
  std::vector<torch::Tensor> t(s.begin(), s.end());
  if (leave_valid.defined()) {
    const auto v = leave_valid.to(dbl).expand_as(leave_fine);
    const auto x = leave_coarse.to(dbl), y = leave_fine.to(dbl), d = y - x;
    t[0] = t[0] - v;
    t[1] = t[1] - d * v;
    t[2] = t[2] - d * d * v;
    t[3] = t[3] - x * v;
    t[4] = t[4] - y * v;
    t[5] = t[5] - x * x * v;
    t[6] = t[6] - x * y * v;
  }
  // Counts are whole numbers; rounding removes the float residue the subtraction may leave.
  const auto n = t[0].round();
  const auto has = n >= 1, has2 = n >= 2;
  const auto nn = n.clamp_min(1.0);
  const auto zero = torch::zeros_like(nn);
  const auto mean = torch::where(has, t[1] / nn, zero);
  const auto spread = torch::where(has2, (t[2] / nn - mean * mean).clamp_min(0.0).sqrt(), zero);
  std::vector<torch::Tensor> out{mean, spread};
  if (mode_ == "fit") {
    const auto mx = t[3] / nn, my = t[4] / nn;
    const auto vx = (t[5] / nn - mx * mx).clamp_min(0.0);
    const auto cxy = t[6] / nn - mx * my;
    const auto gain = torch::where(has2, (cxy + kRidge) / (vx + kRidge), torch::ones_like(nn));
    const auto offset = my - gain * mx;
    const auto anomaly = offset + (gain - 1.0) * coarse_target.to(dbl);
    const auto ok = has & (target_valid.expand_as(anomaly) > 0);
    out.push_back(torch::where(ok, anomaly, mean));
  }
  return torch::cat(out, 1).to(torch::kFloat);
}

std::pair<int, int> SeriesContext::locate(const Grid& g, const std::string& who) const {
  const auto& a = grid_.transform;
  const auto& b = g.transform;
  const double rx = a[1], ry = a[5];
  const double dx = (b[0] - a[0]) / rx, dy = (b[3] - a[3]) / ry;
  const int ix = static_cast<int>(std::lround(dx)), iy = static_cast<int>(std::lround(dy));
  const bool same_pixels = std::abs(b[1] - rx) <= 1e-6 * std::abs(rx) && std::abs(b[5] - ry) <= 1e-6 * std::abs(ry) &&
                           b[2] == a[2] && b[4] == a[4] && g.crs == grid_.crs;
  const bool on_grid = std::abs(dx - ix) < 1e-3 && std::abs(dy - iy) < 1e-3;
  if (!same_pixels || !on_grid || ix < 0 || iy < 0 || ix + g.width > grid_.width || iy + g.height > grid_.height)
    throw Error(fmt::format("{}: the model's series context belongs to its training grid ({}); the images are on "
                            "another grid ({}): predict on the training grid or train without --series-context",
                            who, grid_.describe(), g.describe()));
  return {ix, iy};
}

nlohmann::json SeriesContext::to_json() const {
  return {{"mode", mode_},
          {"bands", bands_},
          {"width", grid_.width},
          {"height", grid_.height},
          {"transform", grid_.transform},
          {"crs", grid_.crs}};
}

void SeriesContext::save(torch::serialize::OutputArchive& archive) const {
  if (enabled()) archive.write("series_context_sums", sums_, /*is_buffer=*/true);
}

SeriesContext SeriesContext::load(const nlohmann::json& meta, torch::serialize::InputArchive& archive) {
  SeriesContext s;
  s.mode_ = meta.value("mode", "none");
  channels_for(s.mode_, 1);
  if (s.mode_ == "none") return s;
  s.bands_ = json_int(meta.at("bands"), "bands");
  s.grid_.width = json_int(meta.at("width"), "width");
  s.grid_.height = json_int(meta.at("height"), "height");
  s.grid_.transform = meta.at("transform").get<std::array<double, 6>>();
  s.grid_.crs = meta.at("crs").get<std::string>();
  archive.read("series_context_sums", s.sums_, /*is_buffer=*/true);
  s.sums_ = s.sums_.to(torch::kCPU).contiguous();
  if (s.sums_.dim() != 4 || s.sums_.size(1) != kSums * s.bands_ || s.sums_.size(2) != s.grid_.height ||
      s.sums_.size(3) != s.grid_.width)
    throw Error("the model's series context does not match its grid (corrupt file)");
  return s;
}

}  // namespace lstfuse::deep
