#include "lstfuse/deep/edcstfn.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <ATen/Parallel.h>

#include "lstfuse/deep/losses.hpp"
#include "lstfuse/deep/optimiser.hpp"
#include "lstfuse/deep/padding.hpp"
#include "lstfuse/deep/serialisation.hpp"

namespace lstfuse::deep {

namespace nn = torch::nn;

namespace {

nn::Conv2d conv3x3(int in, int out) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).padding_mode(torch::kReplicate));
}

// The body of an encoder or decoder: its modules in order while training; without autograd
// (prediction, validation) each 3x3 convolution gets its replication padding from
// replicate_pad, one pass instead of LibTorch's per-element kernel (a seventh of EDCSTFN's
// prediction time), and each ReLU runs in place on the convolution's fresh output.
torch::Tensor run_body(nn::Sequential body, torch::Tensor x) {
  if (torch::GradMode::is_enabled()) return body->forward(x);
  bool fresh = false;  // x is this function's own tensor, so in-place is safe
  for (auto& m : *body) {
    const auto* conv = m.ptr()->as<nn::Conv2dImpl>();
    // Only the layers this file builds (conv3x3: padding 1, replicated; 1x1: none) take the fast
    // form; anything else runs as its module.
    bool plain = false;
    int64_t k = 0;
    if (conv) {
      const auto& o = conv->options;
      const auto ks = *o.kernel_size(), st = *o.stride(), di = *o.dilation();
      k = ks[0];
      plain = ks[0] == ks[1] && (k == 1 || k == 3) && st[0] == 1 && st[1] == 1 && di[0] == 1 && di[1] == 1 &&
              o.groups() == 1 && (k == 1 || torch::enumtype::get_enum_name(o.padding_mode()) == "kReplicate");
    }
    if (plain) {
      const int p = static_cast<int>(k / 2);
      x = torch::conv2d(p > 0 ? replicate_pad(x, p, p, p, p) : x, conv->weight, conv->bias);
      fresh = true;
    } else if (fresh && m.ptr()->as<nn::ReLUImpl>()) {
      x.relu_();
    } else {
      x = m.forward(x);
      fresh = false;
    }
  }
  return x;
}

// Two references' fused features blended per element with weights 1 / (|E_r| + 1e-6), in one
// pass written into `fa`: (wa fa + wb fb) / (wa + wb), the arithmetic of the tensor form.
void blend_features_(torch::Tensor& fa, const torch::Tensor& ra, const torch::Tensor& fb, const torch::Tensor& rb) {
  bool fast = fa.device().is_cpu() && fa.sizes() == fb.sizes() && fa.sizes() == ra.sizes() && fa.sizes() == rb.sizes();
  for (const torch::Tensor* t : std::initializer_list<const torch::Tensor*>{&fa, &ra, &fb, &rb})
    fast = fast && t->is_contiguous() && t->scalar_type() == torch::kFloat;
  if (!fast) {
    auto wa = 1.0 / (ra.abs() + 1e-6), wb = 1.0 / (rb.abs() + 1e-6);
    fa = (wa * fa + wb * fb) / (wa + wb);
    return;
  }
  float* pa = fa.data_ptr<float>();
  const float *pra = ra.data_ptr<float>(), *pb = fb.data_ptr<float>(), *prb = rb.data_ptr<float>();
  at::parallel_for(0, fa.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float wa = 1.0f / (std::fabs(pra[i]) + 1e-6f), wb = 1.0f / (std::fabs(prb[i]) + 1e-6f);
      pa[i] = (wa * pa[i] + wb * pb[i]) / (wa + wb);
    }
  });
}

// The decoder where only `where` (N, 1, H, W) is set: on the bounding box of those pixels grown
// by the decoder's radius (two 3x3 layers), so every pixel of the box sees the same inputs as
// in a whole-tile run. Other pixels are zero; the engine reads a single prediction only where
// its reference alone is valid.
torch::Tensor decode_where(EdcstfnDecoder& decoder, const torch::Tensor& features, const torch::Tensor& where) {
  const int64_t h = features.size(2), w = features.size(3);
  auto covered = where.sum(at::IntArrayRef{0, 1}) > 0;
  auto rows = torch::nonzero(covered.any(1)), cols = torch::nonzero(covered.any(0));
  if (rows.numel() == 0) return torch::zeros({features.size(0), 1, h, w}, features.options());
  constexpr int64_t radius = 2;
  const int64_t y0 = std::max<int64_t>(0, rows.min().item<int64_t>() - radius);
  const int64_t y1 = std::min<int64_t>(h, rows.max().item<int64_t>() + 1 + radius);
  const int64_t x0 = std::max<int64_t>(0, cols.min().item<int64_t>() - radius);
  const int64_t x1 = std::min<int64_t>(w, cols.max().item<int64_t>() + 1 + radius);
  if ((y1 - y0) * (x1 - x0) * 10 > h * w * 9) return decoder(features);
  auto part = decoder(features.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0).contiguous());
  auto out = torch::zeros({part.size(0), part.size(1), h, w}, part.options());
  out.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0).copy_(part);
  return out;
}

}  // namespace

EdcstfnEncoderImpl::EdcstfnEncoderImpl(int in_channels, bool final_relu) {
  body = nn::Sequential(conv3x3(in_channels, 32), nn::ReLU(), conv3x3(32, 64), nn::ReLU(), conv3x3(64, 128));
  if (final_relu) body->push_back(nn::ReLU());
  register_module("body", body);
}

torch::Tensor EdcstfnEncoderImpl::forward(torch::Tensor x) { return run_body(body, x); }

EdcstfnDecoderImpl::EdcstfnDecoderImpl(int bands) {
  body = register_module("body", nn::Sequential(conv3x3(128, 64), nn::ReLU(), conv3x3(64, 32), nn::ReLU(),
                                                nn::Conv2d(nn::Conv2dOptions(32, bands, 1))));
}

torch::Tensor EdcstfnDecoderImpl::forward(torch::Tensor x) { return run_body(body, x); }

EdcstfnNetImpl::EdcstfnNetImpl(int bands) {
  fine_encoder = register_module("fine_encoder", EdcstfnEncoder(bands, true));
  residual_encoder = register_module("residual_encoder", EdcstfnEncoder(3 * bands, false));
  decoder = register_module("decoder", EdcstfnDecoder(bands));
}

std::pair<torch::Tensor, torch::Tensor> EdcstfnNetImpl::features(const torch::Tensor& fine_ref,
                                                                 const torch::Tensor& coarse_ref,
                                                                 const torch::Tensor& coarse_target) {
  auto residual = residual_encoder(torch::cat({coarse_ref, fine_ref, coarse_target}, 1));
  auto fine = fine_encoder(fine_ref);
  // Without autograd the sum goes into the fine encoder's fresh output.
  return {torch::GradMode::is_enabled() ? fine + residual : fine.add_(residual), residual};
}

torch::Tensor EdcstfnNetImpl::forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                                      const torch::Tensor& coarse_target) {
  return decoder(features(fine_ref, coarse_ref, coarse_target).first);
}

EdcstfnAutoEncoderImpl::EdcstfnAutoEncoderImpl(int bands) {
  encoder = register_module("encoder", EdcstfnEncoder(bands, true));
  decoder = register_module("decoder", EdcstfnDecoder(bands));
}

EdcstfnModel::EdcstfnModel(int bands, double lr, const EdcstfnOptions& options) : FamilyModel(options) {
  net_ = EdcstfnNet(bands);
  auto_encoder_ = EdcstfnAutoEncoder(bands);
  ae_steps_done_ = torch::zeros({1}, torch::kLong);
  optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(),
                                                    torch::optim::AdamOptions(lr).weight_decay(1e-6));
  ae_optimizer_ = std::make_unique<torch::optim::Adam>(auto_encoder_->parameters(), torch::optim::AdamOptions(1e-3));
}

void EdcstfnModel::to(torch::Device device) {
  net_->to(device);
  auto_encoder_->to(device);
}

void EdcstfnModel::set_training(bool training) {
  net_->train(training);
  auto_encoder_->train(false);  // no dropout or BN inside: the flag changes nothing but intent
}

bool EdcstfnModel::encoder_pretrained() const { return ae_steps_done_.item<int64_t>() >= options_.ae_steps; }

double EdcstfnModel::pretrain_step(const Batch& b) {
  // The auto-encoder learns to reconstruct the fine images of the batch: the references
  // (valid everywhere as far as the engine tells) and the targets (valid where the mask says).
  clear_gradients(*ae_optimizer_);
  auto target = zero_masked(b.fine_target, b.mask);
  auto loss = 0.5 * (masked_mse(auto_encoder_->forward(b.fine_ref), b.fine_ref, torch::Tensor()) +
                     masked_mse(auto_encoder_->forward(target), target, b.mask));
  loss.backward();
  adam_step(*ae_optimizer_);
  ae_steps_done_ += 1;
  if (encoder_pretrained())
    for (auto& p : auto_encoder_->parameters()) p.set_requires_grad(false);
  return loss.item<double>();
}

std::map<std::string, torch::Tensor> EdcstfnModel::losses(const Batch& b) {
  auto pred = net_->forward(b.fine_ref, b.coarse_ref, b.coarse_target);
  std::map<std::string, torch::Tensor> out;
  out["mse"] = masked_mse(pred, b.fine_target, b.mask);
  out["ms_ssim"] = ms_ssim(pred, b.fine_target, b.mask);
  auto total = out["mse"] + options_.ssim_weight * (1.0 - out["ms_ssim"]);
  if (encoder_pretrained()) {
    // Masked pixels are zeroed in both images before encoding, so neither their values nor
    // the prediction there reach the loss or the gradient.
    auto fp = auto_encoder_->encoder(zero_masked(pred, b.mask));
    auto ft = auto_encoder_->encoder(zero_masked(b.fine_target, b.mask));
    out["feature"] = masked_mse(fp, ft.detach(), b.mask);
    total = total + options_.feature_weight * out["feature"];
  }
  out["loss"] = total;
  return out;
}

std::map<std::string, double> EdcstfnModel::train_step(const Batch& batch) {
  set_training(true);
  std::map<std::string, double> result;
  if (!encoder_pretrained()) result["ae_loss"] = pretrain_step(batch);
  clear_gradients(*optimizer_);
  auto l = losses(batch);
  l["loss"].backward();
  adam_step(*optimizer_);
  for (auto& [key, value] : l) result[key] = value.item<double>();
  return result;
}

double EdcstfnModel::evaluate_loss(const Batch& batch) {
  torch::NoGradGuard no_grad;
  set_training(false);
  return losses(batch)["loss"].item<double>();
}

torch::Tensor EdcstfnModel::predict(const std::vector<Batch>& references) {
  std::vector<torch::Tensor> unused;
  return predict_with_singles(references, {}, unused);
}

torch::Tensor EdcstfnModel::predict_with_singles(const std::vector<Batch>& references, const std::vector<bool>& want,
                                                 std::vector<torch::Tensor>& singles) {
  TORCH_CHECK(references.size() == 1 || references.size() == 2, "edcstfn: one or two references");
  torch::NoGradGuard no_grad;
  set_training(false);
  singles.assign(references.size(), torch::Tensor());
  if (references.size() == 1) {
    const auto& r = references[0];
    return net_->forward(r.fine_ref, r.coarse_ref, r.coarse_target);
  }
  // Two references: per element, weights proportional to 1 / |residual features| (the
  // encoded temporal change): the reference that changed less towards the target counts more.
  const auto& a = references[0];
  const auto& b = references[1];
  auto [fa, ra] = net_->features(a.fine_ref, a.coarse_ref, a.coarse_target);
  auto [fb, rb] = net_->features(b.fine_ref, b.coarse_ref, b.coarse_target);
  // A reference alone is the decoder of its own features, needed only where the other
  // reference is invalid: only the decoder runs again, on that part of the tile.
  const bool masks = a.mask.defined() && b.mask.defined();
  if (want.size() > 0 && want[0])
    singles[0] = masks ? decode_where(net_->decoder, fa, a.mask * (1 - b.mask)) : net_->decoder(fa);
  if (want.size() > 1 && want[1])
    singles[1] = masks ? decode_where(net_->decoder, fb, b.mask * (1 - a.mask)) : net_->decoder(fb);
  blend_features_(fa, ra, fb, rb);
  return net_->decoder(fa);
}

void EdcstfnModel::save(torch::serialize::OutputArchive& archive) const {
  write_module(archive, "net", *net_);
  write_module(archive, "auto_encoder", *auto_encoder_);
  archive.write("ae_steps_done", ae_steps_done_, /*is_buffer=*/true);
  write_optimizer(archive, "optimizer", *optimizer_);
  write_optimizer(archive, "ae_optimizer", *ae_optimizer_);
}

void EdcstfnModel::load(torch::serialize::InputArchive& archive) {
  read_module(archive, "net", *net_);
  read_module(archive, "auto_encoder", *auto_encoder_);
  archive.read("ae_steps_done", ae_steps_done_, /*is_buffer=*/true);
  ae_steps_done_ = ae_steps_done_.to(torch::kCPU);
  read_optimizer(archive, "optimizer", *optimizer_);
  read_optimizer(archive, "ae_optimizer", *ae_optimizer_);
  const bool frozen = encoder_pretrained();
  for (auto& p : auto_encoder_->parameters()) p.set_requires_grad(!frozen);
}

MethodInfo EdcstfnFamily::info() const {
  return deep_method_info("edcstfn",
                          "EDCSTFN (Tan 2019): encoder-decoder, self-pretrained feature loss + MS-SSIM");
}

TrainDefaults EdcstfnFamily::train_defaults() const {
  TrainDefaults d;
  d.lr = 1e-3;
  d.lr_schedule = "plateau";
  d.plateau_patience = 5;
  d.lr_gamma = 0.1;
  return d;
}

void EdcstfnOptions::bind(OptionSet& set) {
  set.add("ae-steps", ae_steps,
          "auto-encoder pretraining steps (the first train steps) for the feature-loss encoder");
  set.add("feature-weight", feature_weight, "weight of the pretrained-encoder feature loss");
  set.add("ssim-weight", ssim_weight, "weight of (1 - MS-SSIM) in the loss");
  set.limit("ae-steps", 0, 10000000);
  set.limit("feature-weight", 0, 1e6);
  set.limit("ssim-weight", 0, 1e6);
}

}  // namespace lstfuse::deep
