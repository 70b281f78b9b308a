#include "lstfuse/deep/weighting.hpp"

#include <cmath>

namespace lstfuse::deep {

std::vector<torch::Tensor> temporal_weights(const std::vector<torch::Tensor>& coarse_refs,
                                            const torch::Tensor& coarse_target) {
  auto target_mean = coarse_target.mean({2, 3}, true);
  std::vector<torch::Tensor> inverse;
  torch::Tensor sum;
  for (const auto& ref : coarse_refs) {
    // The small floor keeps an unchanged coarse image from taking all the weight as a NaN.
    auto w = 1.0 / ((ref.mean({2, 3}, true) - target_mean).abs() + 1e-6);
    sum = sum.defined() ? sum + w : w;
    inverse.push_back(w);
  }
  for (auto& w : inverse) w = w / sum;
  return inverse;
}

std::vector<torch::Tensor> scene_temporal_weights(const SceneContext& scene, torch::Device device) {
  const size_t bands = scene.coarse_target_mean.size();
  std::vector<std::vector<float>> inv(scene.coarse_ref_mean.size(), std::vector<float>(bands));
  for (size_t b = 0; b < bands; ++b) {
    double sum = 0;
    for (size_t k = 0; k < inv.size(); ++k) {
      // The same floor as temporal_weights: an unchanged coarse image takes (nearly) all the weight.
      const double w = 1.0 / (std::abs(scene.coarse_ref_mean[k][b] - scene.coarse_target_mean[b]) + 1e-6);
      inv[k][b] = static_cast<float>(w);
      sum += w;
    }
    for (auto& w : inv) w[b] = static_cast<float>(w[b] / sum);
  }
  std::vector<torch::Tensor> out;
  for (const auto& w : inv)
    out.push_back(torch::tensor(w).view({1, static_cast<int64_t>(bands), 1, 1}).to(device));
  return out;
}

}  // namespace lstfuse::deep
