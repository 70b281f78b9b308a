#include "lstfuse/deep/padding.hpp"

namespace lstfuse::deep {

namespace F = torch::nn::functional;

torch::Tensor pad_to_multiple(const torch::Tensor& x, int multiple) {
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t ph = (multiple - h % multiple) % multiple, pw = (multiple - w % multiple) % multiple;
  if (ph == 0 && pw == 0) return x;
  return F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
}

torch::Tensor crop_to(const torch::Tensor& x, int64_t height, int64_t width) {
  return x.narrow(2, 0, height).narrow(3, 0, width);
}

}  // namespace lstfuse::deep
