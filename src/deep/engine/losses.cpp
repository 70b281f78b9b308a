#include "lstfuse/deep/losses.hpp"

#include <algorithm>
#include <cmath>

namespace lstfuse::deep {

namespace F = torch::nn::functional;

namespace {

// Mask as float (N, 1, H, W) broadcastable to x, or all ones when undefined.
torch::Tensor mask_like(const torch::Tensor& x, const torch::Tensor& mask) {
  if (!mask.defined()) return torch::ones({x.size(0), 1, x.size(2), x.size(3)}, x.options());
  return (mask > 0).to(x.scalar_type());
}

}  // namespace

torch::Tensor zero_masked(const torch::Tensor& x, const torch::Tensor& mask) {
  if (!mask.defined()) return x;
  return torch::where(mask > 0, x, torch::zeros({}, x.options()));
}

torch::Tensor masked_mean(const torch::Tensor& values, const torch::Tensor& mask) {
  auto m = mask_like(values, mask).expand_as(values);
  auto v = torch::where(m > 0, values, torch::zeros({}, values.options()));
  return v.sum() / m.sum().clamp_min(1.0);
}

torch::Tensor masked_mse(const torch::Tensor& pred, const torch::Tensor& target, const torch::Tensor& mask) {
  // Zero both sides first so that NaN at masked target pixels cannot leak into the gradient.
  auto d = zero_masked(pred, mask) - zero_masked(target, mask);
  return masked_mean(d * d, mask);
}

torch::Tensor masked_l1(const torch::Tensor& pred, const torch::Tensor& target, const torch::Tensor& mask) {
  auto d = zero_masked(pred, mask) - zero_masked(target, mask);
  // sqrt(d^2 + tiny) instead of abs: defined gradient at d = 0 (masked pixels have d = 0).
  return masked_mean(torch::sqrt(d * d + 1e-12), mask);
}

torch::Tensor masked_cosine_similarity(const torch::Tensor& pred, const torch::Tensor& target,
                                       const torch::Tensor& mask) {
  auto p = zero_masked(pred, mask).flatten(1);
  auto t = zero_masked(target, mask).flatten(1);
  auto dot = (p * t).sum(1);
  auto norm = torch::sqrt((p * p).sum(1) * (t * t).sum(1) + 1e-12);
  return (dot / norm).mean();
}

std::pair<torch::Tensor, torch::Tensor> masked_block_mean(const torch::Tensor& x, const torch::Tensor& mask,
                                                          int block) {
  auto m = mask_like(x, mask);
  auto opts = F::AvgPool2dFuncOptions(block).stride(block).ceil_mode(true);
  auto num = F::avg_pool2d(zero_masked(x, mask) * m, opts);
  auto den = F::avg_pool2d(m, opts);
  return {num / den.clamp_min(1e-6), den};
}

int ms_ssim_scales(int64_t height, int64_t width, const MsSsimOptions& options) {
  int scales = 1;
  int64_t side = std::min(height, width);
  while (scales < options.max_scales && side / 2 >= options.window) {
    side /= 2;
    ++scales;
  }
  return scales;
}

torch::Tensor ms_ssim(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& mask,
                      const MsSsimOptions& options) {
  TORCH_CHECK(x.dim() == 4 && x.sizes() == y.sizes(), "ms_ssim: x and y must be (N, B, H, W) of one size");
  static const double kWeights[5] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
  const int64_t n = x.size(0), b = x.size(1);
  const int scales = ms_ssim_scales(x.size(2), x.size(3), options);
  std::vector<double> weights(kWeights, kWeights + scales);
  double total = 0;
  for (double w : weights) total += w;
  for (double& w : weights) w /= total;

  // Every (sample, band) is one single-channel image; the mask is shared by the bands.
  auto m = mask_like(x, mask).expand({n, b, x.size(2), x.size(3)}).reshape({n * b, 1, x.size(2), x.size(3)});
  auto xi = zero_masked(x, mask).reshape({n * b, 1, x.size(2), x.size(3)});
  auto yi = zero_masked(y, mask).reshape({n * b, 1, x.size(2), x.size(3)});

  auto g = torch::arange(options.window, x.options()) - (options.window - 1) / 2.0;
  g = torch::exp(-(g * g) / (2 * options.sigma * options.sigma));
  g = g / g.sum();
  auto gh = g.view({1, 1, 1, options.window});
  auto gv = g.view({1, 1, options.window, 1});
  const int64_t half = options.window / 2;
  auto blur = [&](const torch::Tensor& t) {
    auto r = F::conv2d(t, gh, F::Conv2dFuncOptions().padding(torch::IntArrayRef{0, half}));
    return F::conv2d(r, gv, F::Conv2dFuncOptions().padding(torch::IntArrayRef{half, 0}));
  };
  const double c1 = std::pow(options.k1 * options.data_range, 2);
  const double c2 = std::pow(options.k2 * options.data_range, 2);

  // Images with no valid pixel at full resolution are left out of the batch mean.
  auto image_valid = (m.sum({1, 2, 3}) > 0).to(x.scalar_type());
  auto result = torch::ones({n * b}, x.options());
  for (int s = 0; s < scales; ++s) {
    auto den = blur(m);
    auto safe = den.clamp_min(1e-6);
    auto mx = blur(xi * m) / safe, my = blur(yi * m) / safe;
    auto vx = (blur(xi * xi * m) / safe - mx * mx).clamp_min(0.0);
    auto vy = (blur(yi * yi * m) / safe - my * my).clamp_min(0.0);
    auto cxy = blur(xi * yi * m) / safe - mx * my;
    auto cs_map = (2 * cxy + c2) / (vx + vy + c2);
    auto count = m.sum({1, 2, 3});
    auto has = count > 0;
    auto mean_of = [&](const torch::Tensor& map) {
      auto v = torch::where(m > 0, map, torch::zeros({}, map.options())).sum({1, 2, 3}) / count.clamp_min(1.0);
      return torch::where(has, v, torch::ones({}, v.options()));
    };
    torch::Tensor term;
    if (s + 1 < scales) {
      term = mean_of(cs_map);
    } else {
      auto l_map = (2 * mx * my + c1) / (mx * mx + my * my + c1);
      term = mean_of(l_map * cs_map);
    }
    result = result * torch::pow(torch::relu(term).clamp_min(1e-6), weights[s]);
    if (s + 1 < scales) {
      // Masked 2 x 2 means; a coarse pixel is valid when any of its four was.
      auto pm = F::avg_pool2d(m, F::AvgPool2dFuncOptions(2).stride(2));
      auto safe_pm = pm.clamp_min(1e-6);
      xi = F::avg_pool2d(xi * m, F::AvgPool2dFuncOptions(2).stride(2)) / safe_pm;
      yi = F::avg_pool2d(yi * m, F::AvgPool2dFuncOptions(2).stride(2)) / safe_pm;
      m = (pm > 0).to(x.scalar_type());
      xi = xi * m;
      yi = yi * m;
    }
  }
  auto valid_count = image_valid.sum();
  return torch::where(valid_count > 0, (result * image_valid).sum() / valid_count.clamp_min(1.0),
                      torch::ones({}, x.options()));
}

torch::Tensor ms_ssim_loss(const torch::Tensor& pred, const torch::Tensor& target, const torch::Tensor& mask,
                           const MsSsimOptions& options) {
  return 1.0 - ms_ssim(pred, target, mask, options);
}

}  // namespace lstfuse::deep
