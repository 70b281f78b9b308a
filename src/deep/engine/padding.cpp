#include "lstfuse/deep/padding.hpp"

#include <algorithm>
#include <cstring>

#include <ATen/Parallel.h>

namespace lstfuse::deep {

namespace F = torch::nn::functional;

torch::Tensor pad_to_multiple(const torch::Tensor& x, int multiple) {
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t ph = (multiple - h % multiple) % multiple, pw = (multiple - w % multiple) % multiple;
  if (ph == 0 && pw == 0) return x;
  return replicate_pad(x, 0, static_cast<int>(pw), 0, static_cast<int>(ph));
}

torch::Tensor crop_to(const torch::Tensor& x, int64_t height, int64_t width) {
  return x.narrow(2, 0, height).narrow(3, 0, width);
}

torch::Tensor replicate_pad(const torch::Tensor& x, int left, int right, int top, int bottom) {
  const bool fast = x.dim() == 4 && x.device().is_cpu() && x.scalar_type() == torch::kFloat &&
                    !(torch::GradMode::is_enabled() && x.requires_grad()) && x.size(2) > 0 && x.size(3) > 0 &&
                    std::min({left, right, top, bottom}) >= 0;
  if (!fast) return F::pad(x, F::PadFuncOptions({left, right, top, bottom}).mode(torch::kReplicate));
  const auto xc = x.contiguous();
  const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const int64_t oh = h + top + bottom, ow = w + left + right;
  auto out = torch::empty({x.size(0), x.size(1), oh, ow}, x.options());
  const float* src = xc.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* in = src + p * h * w;
      float* o = dst + p * oh * ow;
      for (int64_t r = 0; r < oh; ++r) {
        const float* row = in + std::clamp<int64_t>(r - top, 0, h - 1) * w;
        float* orow = o + r * ow;
        std::fill(orow, orow + left, row[0]);
        std::memcpy(orow + left, row, static_cast<size_t>(w) * sizeof(float));
        std::fill(orow + left + w, orow + ow, row[w - 1]);
      }
    }
  });
  return out;
}

}  // namespace lstfuse::deep
