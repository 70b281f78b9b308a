#include "lstfuse/deep/mlffgan.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/Parallel.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/deep/losses.hpp"
#include "lstfuse/deep/optimiser.hpp"
#include "lstfuse/deep/serialisation.hpp"

namespace lstfuse::deep {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

nn::LeakyReLU lrelu() { return nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)); }
torch::Tensor lrelu(const torch::Tensor& x) { return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(0.2)); }
// The same on a tensor the caller has just made: in place without autograd (prediction,
// validation), one pass over memory less.
torch::Tensor lrelu_fresh(const torch::Tensor& x) {
  return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(0.2).inplace(!torch::GradMode::is_enabled()));
}

int channels_at(int width, int level) { return width << level; }

}  // namespace

torch::Tensor box_mean(const torch::Tensor& x, int radius) {
  // Window sums from prefix sums along H then W. The prefix is edge-extended by the radius, so
  // every window sum is one subtraction of two shifted views (no gather); the clipped window is
  // a rectangle, so its pixel count is the product of the two 1-D counts. Centring each
  // channel first keeps the float prefix sums small, so tiles and whole scenes round alike
  // to well under 1e-4 K.
  const auto centre = x.mean({2, 3}, true);
  auto window_sum = [&](const torch::Tensor& t, int64_t dim) {
    const int64_t n = t.size(dim);
    auto prefix = torch::cat({torch::zeros_like(t.narrow(dim, 0, 1)), t.cumsum(dim)}, dim);  // n + 1
    std::vector<int64_t> reps(4, 1);
    reps[dim] = radius;
    auto ext = torch::cat({prefix.narrow(dim, 0, 1).repeat(reps), prefix, prefix.narrow(dim, n, 1).repeat(reps)}, dim);
    // ext[j] = prefix[clamp(j - radius, 0, n)]: the sum over [i - r, i + r] is ext[i + 2r + 1] - ext[i].
    return ext.narrow(dim, 2 * radius + 1, n) - ext.narrow(dim, 0, n);
  };
  auto count = [&](int64_t n) {
    auto i = torch::arange(n, torch::TensorOptions().dtype(torch::kFloat).device(x.device()));
    return (i + radius + 1).clamp_max(static_cast<double>(n)) - (i - radius).clamp_min(0.0);
  };
  const auto sums = window_sum(window_sum(x - centre, 2), 3);
  return sums / (count(x.size(2)).view({-1, 1}) * count(x.size(3)).view({1, -1})) + centre;
}

namespace {

// Local AdaIN of one (H, W) plane without autograd: the four window sums (content, style and
// their squares) from running column sums and per-row prefix sums in double, one pass over the
// plane. The tensor form below makes about twenty full-size temporaries per call (cumsum, cat,
// narrow, the arithmetic), which made it a third of MLFF-GAN's prediction time.
void adain_plane(const float* c, const float* s, float* out, int64_t H, int64_t W, int64_t r, double eps) {
  std::vector<double> col(4 * static_cast<size_t>(W), 0.0), pre(4 * static_cast<size_t>(W + 1), 0.0);
  double* cc = col.data();
  double* cs = cc + W;
  double* ccc = cs + W;
  double* css = ccc + W;
  auto add_row = [&](int64_t y, double sign) {
    const float* cr = c + y * W;
    const float* sr = s + y * W;
    for (int64_t x = 0; x < W; ++x) {
      const double a = cr[x], b = sr[x];
      cc[x] += sign * a;
      cs[x] += sign * b;
      ccc[x] += sign * a * a;
      css[x] += sign * b * b;
    }
  };
  for (int64_t y = 0; y < std::min(H, r); ++y) add_row(y, 1.0);
  for (int64_t y = 0; y < H; ++y) {
    // Rows [y - r, y + r] clipped: the column sums gain row y + r and lose row y - r - 1.
    if (y + r < H) add_row(y + r, 1.0);
    if (y - r - 1 >= 0) add_row(y - r - 1, -1.0);
    const double rows = static_cast<double>(std::min(H, y + r + 1) - std::max<int64_t>(0, y - r));
    for (int q = 0; q < 4; ++q) {
      double* p = pre.data() + q * (W + 1);
      const double* v = col.data() + q * W;
      for (int64_t x = 0; x < W; ++x) p[x + 1] = p[x] + v[x];
    }
    const double* pc = pre.data();
    const double* ps = pc + (W + 1);
    const double* pcc = ps + (W + 1);
    const double* pss = pcc + (W + 1);
    const float* cr = c + y * W;
    float* o = out + y * W;
    for (int64_t x = 0; x < W; ++x) {
      const int64_t x0 = std::max<int64_t>(0, x - r), x1 = std::min(W, x + r + 1);
      const double inv = 1.0 / (rows * static_cast<double>(x1 - x0));
      const double cm = (pc[x1] - pc[x0]) * inv, sm = (ps[x1] - ps[x0]) * inv;
      const double cv = std::max(0.0, (pcc[x1] - pcc[x0]) * inv - cm * cm);
      const double sv = std::max(0.0, (pss[x1] - pss[x0]) * inv - sm * sm);
      o[x] = static_cast<float>((cr[x] - cm) / std::sqrt(cv + eps) * std::sqrt(sv + eps) + sm);
    }
  }
}

}  // namespace

torch::Tensor adain(const torch::Tensor& content, const torch::Tensor& style, int radius) {
  constexpr double eps = 1e-5;
  // A window that covers the whole map from every pixel is the whole-map statistic: the
  // cheaper instance form (training patches smaller than the window always take it).
  if (radius < 0 || (radius >= content.size(2) - 1 && radius >= content.size(3) - 1)) {
    auto cm = content.mean({2, 3}, true), sm = style.mean({2, 3}, true);
    auto cs = torch::sqrt(content.var({2, 3}, false, true) + eps);
    auto ss = torch::sqrt(style.var({2, 3}, false, true) + eps);
    return (content - cm) / cs * ss + sm;
  }
  const bool needs_grad = torch::GradMode::is_enabled() && (content.requires_grad() || style.requires_grad());
  if (!needs_grad && content.device().is_cpu() && content.scalar_type() == torch::kFloat &&
      style.scalar_type() == torch::kFloat && content.sizes() == style.sizes()) {
    const auto c = content.contiguous(), s = style.contiguous();
    auto out = torch::empty_like(c);
    const int64_t H = c.size(2), W = c.size(3), planes = c.size(0) * c.size(1);
    const float* cp = c.data_ptr<float>();
    const float* sp = s.data_ptr<float>();
    float* op = out.data_ptr<float>();
    at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) adain_plane(cp + p * H * W, sp + p * H * W, op + p * H * W, H, W, radius, eps);
    });
    return out;
  }
  auto cm = box_mean(content, radius), sm = box_mean(style, radius);
  auto cv = (box_mean(content * content, radius) - cm * cm).clamp_min(0.0);
  auto sv = (box_mean(style * style, radius) - sm * sm).clamp_min(0.0);
  return (content - cm) / torch::sqrt(cv + eps) * torch::sqrt(sv + eps) + sm;
}

torch::Tensor transposed_conv_as_subpixel(const torch::nn::ConvTranspose2dImpl& up, const torch::Tensor& x) {
  // out[2i + a] takes input rows i - 1 and i (phase a = 0, kernel rows 3 and 1) or i and i + 1
  // (a = 1, kernel rows 2 and 0): a 3 x 3 convolution with four output channels per channel,
  // one per phase (a, b), then a pixel shuffle. LibTorch 1.13 runs transposed convolutions
  // through im2col and BLAS; this form runs in oneDNN.
  const auto& o = up.options;
  TORCH_CHECK(o.kernel_size()->at(0) == 4 && o.kernel_size()->at(1) == 4 && o.stride()->at(0) == 2 &&
                  o.stride()->at(1) == 2 &&
                  o.output_padding()->at(0) == 0 && o.output_padding()->at(1) == 0 && o.dilation()->at(0) == 1 &&
                  o.dilation()->at(1) == 1 && o.groups() == 1,
              "transposed_conv_as_subpixel: kernel 4, stride 2 only (padding 1 as the generator's)");
  const auto& wt = up.weight;  // (in, out, 4, 4)
  const int64_t cin = wt.size(0), cout = wt.size(1);
  // {conv tap, kernel index} of the two input rows (columns) each phase reads.
  const int64_t taps[2][2][2] = {{{0, 3}, {1, 1}}, {{1, 2}, {2, 0}}};
  auto wc = torch::zeros({cout, 2, 2, cin, 3, 3}, wt.options());
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (const auto& ty : taps[a])
        for (const auto& tx : taps[b])
          wc.select(1, a).select(1, b).select(2, ty[0]).select(2, tx[0]).copy_(wt.select(2, ty[1]).select(2, tx[1]).t());
  auto opts = F::Conv2dFuncOptions().padding(1);
  if (up.bias.defined()) opts = opts.bias(up.bias.repeat_interleave(4));
  return F::pixel_shuffle(F::conv2d(x, wc.view({cout * 4, cin, 3, 3}), opts), F::PixelShuffleFuncOptions(2));
}

MlffResBlockImpl::MlffResBlockImpl(int channels, double dropout) {
  auto opts = nn::Conv2dOptions(channels, channels, 3).padding(1).padding_mode(torch::kReflect);
  conv1 = register_module("conv1", nn::Conv2d(opts));
  drop = register_module("drop", nn::Dropout(dropout));
  conv2 = register_module("conv2", nn::Conv2d(opts));
}

torch::Tensor MlffResBlockImpl::forward(const torch::Tensor& x) {
  if (!torch::GradMode::is_enabled()) return conv2(lrelu_fresh(drop(conv1(x)))).add_(x);
  return x + conv2(lrelu(drop(conv1(x))));
}

MlffEncoderImpl::MlffEncoderImpl(int in_channels, int width, double dropout) {
  stem = register_module("stem", nn::Conv2d(nn::Conv2dOptions(in_channels, width, 7).padding(3).padding_mode(torch::kReflect)));
  downs = register_module("downs", nn::ModuleList());
  blocks = register_module("blocks", nn::ModuleList());
  for (int level = 1; level <= 4; ++level) {
    downs->push_back(nn::Conv2d(
        nn::Conv2dOptions(channels_at(width, level - 1), channels_at(width, level), 3).stride(2).padding(1)));
    blocks->push_back(MlffResBlock(channels_at(width, level), dropout));
  }
}

std::vector<torch::Tensor> MlffEncoderImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> levels{lrelu_fresh(stem(x))};
  for (size_t i = 0; i < downs->size(); ++i) {
    auto down = lrelu_fresh(downs[i]->as<nn::Conv2d>()->forward(levels.back()));
    levels.push_back(blocks[i]->as<MlffResBlock>()->forward(down));
  }
  return levels;
}

MlffAttentionImpl::MlffAttentionImpl(int channels) {
  conv_target = register_module("conv_target", nn::Conv2d(nn::Conv2dOptions(channels, channels, 1)));
  conv_ref = register_module("conv_ref", nn::Conv2d(nn::Conv2dOptions(channels, channels, 1)));
  conv_out = register_module("conv_out", nn::Conv2d(nn::Conv2dOptions(channels, channels, 1)));
  bn_target = register_module("bn_target", nn::BatchNorm2d(channels));
  bn_ref = register_module("bn_ref", nn::BatchNorm2d(channels));
  bn_out = register_module("bn_out", nn::BatchNorm2d(channels));
}

torch::Tensor MlffAttentionImpl::forward(const torch::Tensor& coarse_ref, const torch::Tensor& coarse_target) {
  auto diff = bn_target(conv_target(coarse_target)) - bn_ref(conv_ref(coarse_ref));
  return torch::sigmoid(bn_out(conv_out(diff)));
}

MlffGeneratorImpl::MlffGeneratorImpl(int bands, const MlffGanOptions& options) {
  const int w = options.width;
  coarse_encoder = register_module("coarse_encoder", MlffEncoder(bands, w, options.dropout));
  fine_encoder = register_module("fine_encoder", MlffEncoder(bands, w, options.dropout));
  attention = register_module("attention", nn::ModuleList());
  for (int level = 0; level <= 4; ++level) attention->push_back(MlffAttention(channels_at(w, level)));
  ups = register_module("ups", nn::ModuleList());
  for (int level = 3; level >= 0; --level) {
    // Input: the fused deepest level, then the previous up output concatenated with its skip.
    const int in = level == 3 ? channels_at(w, 4) : 2 * channels_at(w, level + 1);
    ups->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, channels_at(w, level), 4).stride(2).padding(1)));
  }
  head1 = register_module("head1", nn::Conv2d(nn::Conv2dOptions(2 * w, w, 1)));
  head2 = register_module("head2", nn::Conv2d(nn::Conv2dOptions(w, bands, 1)));
  adain_window = options.adain_window;
}

namespace {

// Four stride-2 levels need sides divisible by 16; at least 32 keeps the deepest level at 2 x 2
// or more, which reflection padding needs.
torch::Tensor pad_for_levels(const torch::Tensor& x) {
  const int64_t h = x.size(2), wd = x.size(3);
  const int64_t ph = std::max<int64_t>(32, (h + 15) / 16 * 16) - h;
  const int64_t pw = std::max<int64_t>(32, (wd + 15) / 16 * 16) - wd;
  if (ph == 0 && pw == 0) return x;
  return F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
}

}  // namespace

std::vector<torch::Tensor> MlffGeneratorImpl::encode_coarse(const torch::Tensor& coarse) {
  return coarse_encoder(pad_for_levels(coarse));
}

torch::Tensor MlffGeneratorImpl::forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                                         const torch::Tensor& coarse_target) {
  return forward(fine_ref, coarse_ref, encode_coarse(coarse_target));
}

torch::Tensor MlffGeneratorImpl::forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                                         const std::vector<torch::Tensor>& c2) {
  const int64_t h = fine_ref.size(2), wd = fine_ref.size(3);
  auto c1 = encode_coarse(coarse_ref);
  auto f1 = fine_encoder(pad_for_levels(fine_ref));
  TORCH_CHECK(c2.size() == c1.size() && c2[0].sizes() == c1[0].sizes(), "mlffgan: target levels of another size");
  std::vector<torch::Tensor> fused;
  for (size_t level = 0; level < c1.size(); ++level) {
    auto m = attention[level]->as<MlffAttention>()->forward(c1[level], c2[level]);
    // The window shrinks with the level so that it covers the same ground at every scale.
    const int radius = adain_window > 0 ? std::max(1, (adain_window / 2) >> level) : -1;
    fused.push_back(c2[level] * m + adain(f1[level], c2[level], radius) * (1 - m));
    // Each level of the reference's encodings is used once: freed now, a full-resolution tile's
    // worth of memory less through the decoder.
    c1[level] = torch::Tensor();
    f1[level] = torch::Tensor();
  }
  auto x = fused[4];
  for (size_t i = 0; i < ups->size(); ++i) {
    auto up = ups[i]->as<nn::ConvTranspose2d>();
    // Without autograd the same transposed convolution runs as a convolution (oneDNN).
    x = lrelu_fresh(torch::GradMode::is_enabled() ? up->forward(x) : transposed_conv_as_subpixel(*up, x));
    x = torch::cat({x, fused[3 - i]}, 1);
  }
  auto out = head2(lrelu_fresh(head1(x)));
  return out.narrow(2, 0, h).narrow(3, 0, wd);
}

MlffDiscriminatorImpl::MlffDiscriminatorImpl(int bands) {
  auto conv = [](int in, int out, int stride) {
    return nn::Conv2d(nn::Conv2dOptions(in, out, 4).stride(stride).padding(1));
  };
  body = register_module("body", nn::Sequential(conv(2 * bands, 64, 2), lrelu(),                          //
                                                conv(64, 128, 2), nn::BatchNorm2d(128), lrelu(),           //
                                                conv(128, 256, 2), nn::BatchNorm2d(256), lrelu(),          //
                                                conv(256, 512, 1), nn::BatchNorm2d(512), lrelu(),          //
                                                conv(512, 1, 1)));
}

torch::Tensor MlffDiscriminatorImpl::forward(const torch::Tensor& image, const torch::Tensor& coarse_target) {
  auto x = torch::cat({image, coarse_target}, 1);
  // Three stride-2 convs and two k4 s1 p1 convs need at least 24 pixels; pad small patches.
  const int64_t ph = std::max<int64_t>(0, 32 - x.size(2)), pw = std::max<int64_t>(0, 32 - x.size(3));
  if (ph > 0 || pw > 0) x = F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
  return body->forward(x);
}

MlffGanModel::MlffGanModel(int bands, double lr, const MlffGanOptions& options) : FamilyModel(options) {
  if (options.adain_window < 0)
    throw Error("mlffgan: --adain-window must be 0 (whole input) or a window in pixels, got " +
                std::to_string(options.adain_window));
  generator_ = MlffGenerator(bands, options);
  discriminator_ = MlffDiscriminator(bands);
  // Adam with beta1 0.5, the usual choice for adversarial training (the paper states lr only).
  auto adam = torch::optim::AdamOptions(lr).betas(std::make_tuple(0.5, 0.999));
  g_optimizer_ = std::make_unique<torch::optim::Adam>(generator_->parameters(), adam);
  d_optimizer_ = std::make_unique<torch::optim::Adam>(discriminator_->parameters(), adam);
  // The swap decisions get their own generator, seeded from torch's (which the engine seeds),
  // so augmentation is reproducible and does not shift the weight-initialisation stream.
  const auto seed = torch::randint(0, int64_t{1} << 40, {1}, torch::kLong).item<int64_t>();
  swap_rng_ = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
}

void MlffGanModel::to(torch::Device device) {
  generator_->to(device);
  discriminator_->to(device);
}

void MlffGanModel::set_training(bool training) {
  generator_->train(training);
  discriminator_->train(training);
}

Batch MlffGanModel::augment(const Batch& b) {
  if (!options_.time_reversal) return b;
  const int64_t n = b.fine_ref.size(0);
  auto swap = (torch::rand({n}, swap_rng_) < 0.5).to(b.fine_ref.device()).view({-1, 1, 1, 1});
  Batch s = b;
  // A swapped sample predicts the reference from the target. The target's invalid pixels would
  // become inputs: they are filled with the coarse target so that they carry nothing.
  auto target_as_input = b.mask.defined() ? torch::where(b.mask > 0, b.fine_target, b.coarse_target) : b.fine_target;
  s.fine_ref = torch::where(swap, target_as_input, b.fine_ref);
  s.coarse_ref = torch::where(swap, b.coarse_target, b.coarse_ref);
  s.coarse_target = torch::where(swap, b.coarse_ref, b.coarse_target);
  s.fine_target = torch::where(swap, b.fine_ref, b.fine_target);
  if (b.dt.defined()) s.dt = torch::where(swap.view({-1}), -b.dt, b.dt);
  if (b.relative) {
    // Back to the frame of the new target's coarse image (the old reference's), as prediction
    // would see it; masked pixels stay neutral.
    const auto base = s.coarse_target;
    const auto keep = b.mask.defined() ? ((b.mask > 0) | swap.logical_not()) : torch::ones_like(base, torch::kBool);
    for (auto* t : {&s.fine_ref, &s.coarse_ref, &s.fine_target}) *t = torch::where(keep, *t - base, torch::zeros_like(*t));
    s.coarse_target = torch::zeros_like(base);
  }
  return s;
}

torch::Tensor MlffGanModel::reconstruction_loss(const torch::Tensor& pred, const Batch& b) {
  return masked_l1(pred, b.fine_target, b.mask) + ms_ssim_loss(pred, b.fine_target, b.mask) +
         (1.0 - masked_cosine_similarity(pred, b.fine_target, b.mask));
}

std::map<std::string, double> MlffGanModel::train_step(const Batch& batch) {
  set_training(true);
  const Batch b = augment(batch);
  auto fake = generator_->forward(b.fine_ref, b.coarse_ref, b.coarse_target);
  // The discriminator sees both images with masked pixels zeroed: they tell it nothing and
  // send no gradient back to the generator.
  auto real_in = zero_masked(b.fine_target, b.mask);
  auto fake_in = zero_masked(fake, b.mask);

  clear_gradients(*d_optimizer_);
  auto d_real = discriminator_->forward(real_in, b.coarse_target);
  auto d_fake = discriminator_->forward(fake_in.detach(), b.coarse_target);
  auto d_loss = 0.5 * ((d_real - 1).pow(2).mean() + d_fake.pow(2).mean());
  d_loss.backward();
  adam_step(*d_optimizer_);

  clear_gradients(*g_optimizer_);
  auto gan = (discriminator_->forward(fake_in, b.coarse_target) - 1).pow(2).mean();
  auto rec = reconstruction_loss(fake, b);
  auto g_total = options_.gan_weight * gan + rec;
  g_total.backward();
  adam_step(*g_optimizer_);
  return {{"loss", rec.item<double>()}, {"gan", gan.item<double>()}, {"d_loss", d_loss.item<double>()},
          {"g_total", g_total.item<double>()}};
}

double MlffGanModel::evaluate_loss(const Batch& batch) {
  torch::NoGradGuard no_grad;
  set_training(false);
  return reconstruction_loss(generator_->forward(batch.fine_ref, batch.coarse_ref, batch.coarse_target), batch)
      .item<double>();
}

torch::Tensor MlffGanModel::predict(const std::vector<Batch>& references) {
  std::vector<torch::Tensor> unused;
  return predict_with_singles(references, {}, unused);
}

torch::Tensor MlffGanModel::predict_with_singles(const std::vector<Batch>& references, const std::vector<bool>& want,
                                                 std::vector<torch::Tensor>& singles) {
  TORCH_CHECK(references.size() == 1 || references.size() == 2, "mlffgan: one or two references");
  torch::NoGradGuard no_grad;
  set_training(false);
  std::vector<torch::Tensor> preds, coarse;
  // Both references predict the same target: its coarse levels are encoded once.
  const auto target_levels = generator_->encode_coarse(references[0].coarse_target);
  for (const auto& r : references) {
    TORCH_CHECK(r.coarse_target.sizes() == references[0].coarse_target.sizes(), "mlffgan: two references of different targets");
    preds.push_back(generator_->forward(r.fine_ref, r.coarse_ref, target_levels));
    coarse.push_back(r.coarse_ref);
  }
  // One generator for both sides: each reference's output is its single prediction.
  singles.assign(references.size(), torch::Tensor());
  for (size_t k = 0; k < preds.size() && k < want.size(); ++k)
    if (want[k]) singles[k] = preds[k];
  if (preds.size() == 1) return preds[0];
  // The generator is trained from either side (time reversal); two predictions are blended
  // with temporal weights 1 / |mean(M_k) - mean(M_0)|.
  const SceneContext* sc = scene(2);
  auto w = sc ? scene_temporal_weights(*sc, preds[0].device()) : temporal_weights(coarse, references[0].coarse_target);
  last_weights_ = torch::cat({w[0].narrow(1, 0, 1).expand_as(preds[0].narrow(1, 0, 1)),
                              w[1].narrow(1, 0, 1).expand_as(preds[0].narrow(1, 0, 1))}, 1);
  return w[0] * preds[0] + w[1] * preds[1];
}

int MlffGanModel::halo() const {
  const int reach = 108 + (options_.adain_window > 0 ? std::max(16, options_.adain_window / 2) : 0);
  return (reach + 15) / 16 * 16;
}

void MlffGanModel::save(torch::serialize::OutputArchive& archive) const {
  write_module(archive, "generator", *generator_);
  write_module(archive, "discriminator", *discriminator_);
  write_optimizer(archive, "g_optimizer", *g_optimizer_);
  write_optimizer(archive, "d_optimizer", *d_optimizer_);
  archive.write("swap_rng_state", swap_rng_.get_state(), /*is_buffer=*/true);
}

void MlffGanModel::load(torch::serialize::InputArchive& archive) {
  read_module(archive, "generator", *generator_);
  read_module(archive, "discriminator", *discriminator_);
  read_optimizer(archive, "g_optimizer", *g_optimizer_);
  read_optimizer(archive, "d_optimizer", *d_optimizer_);
  torch::Tensor state;
  archive.read("swap_rng_state", state, /*is_buffer=*/true);
  swap_rng_.set_state(state.to(torch::kCPU));
}

MethodInfo MlffGanFamily::info() const {
  return deep_method_info("mlffgan",
                          "MLFF-GAN (Song 2022): AdaIN + attention multi-level fusion generator, PatchGAN");
}

TrainDefaults MlffGanFamily::train_defaults() const {
  TrainDefaults d;
  d.lr = 2e-4;
  // AdaIN matches fine features to the statistics of the target's coarse features, which the
  // relative frame makes constant (zero): this network needs the absolute images.
  d.frame = "absolute";
  // The halo (240 px) is large: tiles of 1024 compute each pixel 2.2 times on a large scene
  // (4.7 times with the engine's 256), and a scene up to 1504 px is one window.
  d.tile = 1024;
  return d;
}

void MlffGanOptions::bind(OptionSet& set) {
  set.add("width", width, "generator channels at full resolution (x2 per level, 5 levels)");
  set.add("dropout", dropout, "dropout inside the encoders' residual blocks");
  set.add("adain-window", adain_window,
          "AdaIN statistics over a sliding window of this many fine pixels (0: whole input, as in the paper)");
  set.add("gan-weight", gan_weight, "weight of the least-squares GAN term in the generator loss");
  set.add("time-reversal", time_reversal, "swap reference and target with probability 0.5 in training");
  set.limit("width", 1, 512);
  set.limit("dropout", 0, 0.99);
  set.limit("adain-window", 0, 65536);
  set.limit("gan-weight", 0, 1e6);
}

}  // namespace lstfuse::deep
