#include "lstfuse/deep/weighting.hpp"

#include <cmath>

namespace lstfuse::deep {

namespace {
constexpr double kFloor = 1e-6;  // network units: far below any real change of the coarse mean
}  // namespace

std::vector<torch::Tensor> normalised_weights(std::vector<torch::Tensor> inverse) {
  auto sum = inverse.front().clone();
  for (size_t i = 1; i < inverse.size(); ++i) sum = sum + inverse[i];
  const double even = 1.0 / inverse.size();
  for (auto& w : inverse)
    w = torch::where(sum > 0, w.to(torch::kFloat) / sum.clamp_min(1e-30), torch::full_like(w, even)).to(torch::kFloat);
  return inverse;
}

std::vector<torch::Tensor> tc_weights_from(const std::vector<torch::Tensor>& distances,
                                           const std::vector<torch::Tensor>& valid, TcFloor floor) {
  std::vector<torch::Tensor> inverse;
  for (size_t k = 0; k < distances.size(); ++k) {
    const auto& d = distances[k];
    auto w = floor == TcFloor::offset ? 1.0 / (d + kFloor) : d.clamp_min(kFloor).reciprocal();
    if (!valid.empty()) w = w * valid[k];
    inverse.push_back(w);
  }
  return normalised_weights(std::move(inverse));
}

std::vector<torch::Tensor> scene_tc_distances(const SceneContext& scene, torch::ScalarType dtype) {
  const auto bands = static_cast<int64_t>(scene.coarse_target_mean.size());
  std::vector<torch::Tensor> out;
  for (const auto& ref : scene.coarse_ref_mean) {
    std::vector<double> d(static_cast<size_t>(bands));
    for (int64_t b = 0; b < bands; ++b) d[b] = std::abs(ref[b] - scene.coarse_target_mean[b]);
    out.push_back(torch::tensor(d, torch::kDouble).to(dtype).view({1, bands, 1, 1}));
  }
  return out;
}

std::vector<torch::Tensor> temporal_weights(const std::vector<torch::Tensor>& coarse_refs,
                                            const torch::Tensor& coarse_target) {
  const auto target_mean = coarse_target.mean({2, 3}, true);
  std::vector<torch::Tensor> distances;
  for (const auto& ref : coarse_refs) distances.push_back((ref.mean({2, 3}, true) - target_mean).abs());
  return tc_weights_from(distances, {}, TcFloor::offset);
}

std::vector<torch::Tensor> scene_temporal_weights(const SceneContext& scene, torch::Device device) {
  auto w = tc_weights_from(scene_tc_distances(scene, torch::kDouble), {}, TcFloor::offset);
  for (auto& t : w) t = t.to(device);
  return w;
}

}  // namespace lstfuse::deep
