#pragma once
// Masked losses shared by the deep network families (StfNet, EDCSTFN, MLFF-GAN, DLSTFM).
// Reference weighting, optimiser, archive and padding helpers have their own headers
// (weighting.hpp, optimiser.hpp, serialisation.hpp, padding.hpp).
//
// Masks are (N, 1, H, W) with 1 where a pixel counts; an undefined mask means "all valid".
// Every loss here is a masked mean: values at masked pixels are replaced by zero through
// torch::where before anything is computed, so they contribute nothing to the loss or to its
// gradient (even when they hold NaN).
#include <string>
#include <vector>

#include <torch/torch.h>

namespace lstfuse::deep {

// x where mask > 0, zero elsewhere; the gradient at masked pixels is exactly zero.
torch::Tensor zero_masked(const torch::Tensor& x, const torch::Tensor& mask);
// Mean of `values` (N, C, H, W) over pixels where mask > 0 (all channels count). Zero when no
// pixel is valid, so that a fully clouded batch adds nothing.
torch::Tensor masked_mean(const torch::Tensor& values, const torch::Tensor& mask);
torch::Tensor masked_mse(const torch::Tensor& pred, const torch::Tensor& target, const torch::Tensor& mask);
torch::Tensor masked_l1(const torch::Tensor& pred, const torch::Tensor& target, const torch::Tensor& mask);
// Cosine similarity per sample between pred and target flattened over valid pixels and bands,
// averaged over the batch (for one band, along-band cosine would be a sign; see deep-methods.md).
torch::Tensor masked_cosine_similarity(const torch::Tensor& pred, const torch::Tensor& target,
                                       const torch::Tensor& mask);
// Masked average over non-overlapping blocks of `block` pixels: (sum m x) / (sum m) per block,
// and the block weight (fraction of valid pixels). Used for coarse-consistency terms.
std::pair<torch::Tensor, torch::Tensor> masked_block_mean(const torch::Tensor& x, const torch::Tensor& mask,
                                                          int block);

// Multi-scale SSIM (Wang, Simoncelli, Bovik 2003) with masks, differentiable.
// Masked definition: local statistics are normalised Gaussian convolutions over valid pixels
// only (mu = G*(m x) / G*m, likewise for second moments), the SSIM terms are averaged over
// valid pixels, and each coarser scale is the masked 2 x 2 mean with a pixel valid when any of
// its four was. Without masks this is the standard definition with zero-padded, renormalised
// borders. The number of scales adapts to the size: as many (up to max_scales) as keep the
// smallest side at least `window` pixels, the standard scale weights renormalised to sum 1.
// Negative contrast-structure terms are clamped to a small positive value (as common
// implementations do) so that fractional powers stay defined.
struct MsSsimOptions {
  int window = 7;
  double sigma = 1.5;
  double data_range = 1.0;  // of the normalised data the engine hands over
  int max_scales = 5;
  double k1 = 0.01;
  double k2 = 0.03;
};
// Scalar: mean over images (sample x band) that have at least one valid pixel; 1 when none.
torch::Tensor ms_ssim(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& mask,
                      const MsSsimOptions& options = {});
// 1 - MS-SSIM.
torch::Tensor ms_ssim_loss(const torch::Tensor& pred, const torch::Tensor& target, const torch::Tensor& mask,
                           const MsSsimOptions& options = {});
// Number of scales ms_ssim uses for an image of this size.
int ms_ssim_scales(int64_t height, int64_t width, const MsSsimOptions& options = {});

}  // namespace lstfuse::deep
