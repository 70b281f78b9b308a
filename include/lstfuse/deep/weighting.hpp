#pragma once
// How the families combine the predictions of two references: temporal (TC) weights, one
// function behind all of them (STTFN's TC option, StfNet's and MLFF-GAN's blends).
//
// TC (Yin et al., eq. 7; Liu et al. 2019): reference k weighs 1 / d_k, d_k = |mean(M_k) -
// mean(M_0)| (its coarse image's distance from the target's), normalised to sum 1 over the
// references. The families differ only in what the means are taken over: the whole scene (the
// engine's SceneContext, so tiles agree with the scene), each sample of a batch, the valid
// pixels of a tile, or a sliding window (STTFN's --tc-window).
#include <vector>

#include <torch/torch.h>

#include "lstfuse/deep/model.hpp"

namespace lstfuse::deep {

// How 1 / d_k is kept finite when a coarse image equals the target's (d_k = 0): 1 / (d + 1e-6)
// (StfNet, MLFF-GAN) or 1 / max(d, 1e-6) (STTFN). Each family's models were validated with its
// own; the two differ in the last float digits, so neither replaces the other.
enum class TcFloor { offset, clamp };

// TC weights from the distances d_k, any shape that broadcasts with valid[k]: (N, B, 1, 1) per
// sample and band, (1, B, 1, 1) per band of a scene, (N, B, H, W) per pixel for window means.
// valid: (N, 1, H, W) per reference (a reference weighs 0 where invalid), or empty: all valid.
// The weights are float, normalised as normalised_weights does; the sum is taken in the
// distances' precision (double for scene means).
std::vector<torch::Tensor> tc_weights_from(const std::vector<torch::Tensor>& distances,
                                           const std::vector<torch::Tensor>& valid, TcFloor floor);

// w_k / sum_j w_j where the sum is positive, 1 / R (equal weights) where no reference counts.
// Float results; a double sum divides the weights rounded to float (as tc_weights_from says).
std::vector<torch::Tensor> normalised_weights(std::vector<torch::Tensor> inverse);

// The distances d_k of the whole-scene means (network units), per band: (1, B, 1, 1) each, in
// `dtype` (computed in double).
std::vector<torch::Tensor> scene_tc_distances(const SceneContext& scene, torch::ScalarType dtype);

// TC weights of each sample's whole-image means (no mask): (N, B, 1, 1) each.
std::vector<torch::Tensor> temporal_weights(const std::vector<torch::Tensor>& coarse_refs,
                                            const torch::Tensor& coarse_target);
// TC weights from the whole-scene means, per band: each (1, B, 1, 1) on `device`. Means over a
// tile would make the blend depend on the tile.
std::vector<torch::Tensor> scene_temporal_weights(const SceneContext& scene, torch::Device device);

}  // namespace lstfuse::deep
