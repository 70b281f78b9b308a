#pragma once
// Series context for the networks (--series-context): per-pixel features of the training
// series, given to a network as extra input channels, so that what recurs at a pixel over the
// year (a field that runs hotter than its MODIS pixel, water that lags) can be learned.
//
// From every training pair, per band and pixel where both images are valid, with d = fine -
// coarse in network units:
//   mean   = mean(d)                       the pixel's usual anomaly against its coarse pixel
//   spread = std(d)                        how much that anomaly varies over the year
//   fit    = a + (b - 1) M_0               (mode "fit") the anomaly that a per-pixel least-
//                                          squares fit fine = a + b coarse over the pairs
//                                          predicts at the target's coarse image M_0
// The model stores the per-pixel sums over its training pairs (so features exist only on the
// training grid). In training, a sample's features leave out its own target pair (what the
// network learns to use must not contain the answer); at prediction all training pairs count.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "lstfuse/core/grid.hpp"
#include "lstfuse/methods/method.hpp"

namespace lstfuse::deep {

struct Normaliser;

class SeriesContext {
 public:
  // mode: "none", "mean" (mean and spread) or "fit" (mean, spread and the fitted anomaly).
  static int channels_for(const std::string& mode, int bands);
  // Sums over `pairs` (all on one grid) in the units of `norm`.
  static SeriesContext build(const std::string& mode, const std::vector<ImagePair>& pairs, const Normaliser& norm);

  bool enabled() const { return mode_ != "none" && sums_.defined(); }
  const std::string& mode() const { return mode_; }
  int channels() const { return channels_for(mode_, bands_); }
  const Grid& grid() const { return grid_; }

  // The window (x0, y0, w, h) of the training grid: (1, 7 B, h, w) sums.
  torch::Tensor window(int x0, int y0, int w, int h) const;
  // Features (N, C, h, w) from window sums (N or 1 leading), the target's coarse image in absolute
  // network units (N, B, h, w) with its validity (N, 1, h, w), and optionally one pair to leave
  // out: its fine and coarse images (absolute units) and the pixels where both are valid.
  torch::Tensor features(const torch::Tensor& sums, const torch::Tensor& coarse_target,
                         const torch::Tensor& target_valid, const torch::Tensor& leave_fine = {},
                         const torch::Tensor& leave_coarse = {}, const torch::Tensor& leave_valid = {}) const;
  // Where `grid` lies in the training grid: its pixel offset; throws Error (naming `who`) when
  // it is not a window of it (other resolution, CRS, offset off the pixel grid, outside).
  std::pair<int, int> locate(const Grid& grid, const std::string& who) const;

  nlohmann::json to_json() const;  // mode, bands, grid
  void save(torch::serialize::OutputArchive& archive) const;
  // meta: to_json()'s object; the sums come from the archive.
  static SeriesContext load(const nlohmann::json& meta, torch::serialize::InputArchive& archive);

 private:
  std::string mode_ = "none";
  int bands_ = 0;
  Grid grid_;
  torch::Tensor sums_;  // (1, 7 B, H, W): n, Sd, Sdd, Sx, Sy, Sxx, Sxy per band (blocks of B)
};

}  // namespace lstfuse::deep
