#pragma once
// How the families combine the predictions of two references: temporal (TC) weights.
#include <vector>

#include <torch/torch.h>

#include "lstfuse/deep/model.hpp"

namespace lstfuse::deep {

// Temporal (TC) weights for references k: 1 / |mean(M_k) - mean(M_0)| per sample and band,
// normalised to sum 1 over the references; each (N, B, 1, 1).
std::vector<torch::Tensor> temporal_weights(const std::vector<torch::Tensor>& coarse_refs,
                                            const torch::Tensor& coarse_target);
// TC weights 1 / |mean(M_k) - mean(M_0)| from the whole-scene means, per band, normalised to
// sum 1 over the references; each (1, B, 1, 1) on `device`. Means over a tile would make the
// blend depend on the tile.
std::vector<torch::Tensor> scene_temporal_weights(const SceneContext& scene, torch::Device device);

}  // namespace lstfuse::deep
