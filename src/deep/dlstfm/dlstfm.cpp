#include "lstfuse/deep/dlstfm.hpp"

#include "lstfuse/core/error.hpp"
#include "lstfuse/deep/losses.hpp"
#include "lstfuse/deep/optimiser.hpp"
#include "lstfuse/deep/padding.hpp"
#include "lstfuse/deep/serialisation.hpp"

namespace lstfuse::deep {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

nn::Conv2d conv(int in, int out, int k) { return nn::Conv2d(nn::Conv2dOptions(in, out, k).padding(k / 2)); }

// Without autograd (prediction, validation) the network runs its activations and residual sums
// in place on tensors it has just made, and pools by two reductions over a reshaped view: the
// same values, with fewer passes over memory and no pooling indices (LibTorch 1.13 computes
// them even when nothing needs them). Training keeps the out-of-place forms for the gradients.
bool inference() { return !torch::GradMode::is_enabled(); }

torch::Tensor gelu_fresh(torch::Tensor x) { return inference() ? at::gelu_(x) : torch::gelu(x); }

// s x s max pooling with stride s of a map whose sides are multiples of s.
torch::Tensor max_pool(const torch::Tensor& x, int64_t s) {
  const int64_t h = x.size(2), w = x.size(3);
  if (!inference() || h % s != 0 || w % s != 0)
    return F::max_pool2d(x, F::MaxPool2dFuncOptions(s).stride(s));
  return x.contiguous().view({x.size(0), x.size(1), h / s, s, w / s, s}).amax(5).amax(3);
}

// a + b, in place on `fresh` (a tensor the caller made and no one else holds) without autograd.
torch::Tensor add_to_fresh(torch::Tensor fresh, const torch::Tensor& other) {
  return inference() ? fresh.add_(other) : fresh + other;
}

}  // namespace

SafmImpl::SafmImpl(int channels) {
  const int per_group = channels / groups;
  depthwise = register_module("depthwise", nn::ModuleList());
  for (int i = 0; i < groups; ++i)
    depthwise->push_back(nn::Conv2d(nn::Conv2dOptions(per_group, per_group, 3).padding(1).groups(per_group)));
  aggregate = register_module("aggregate", nn::Conv2d(nn::Conv2dOptions(channels, channels, 1)));
}

torch::Tensor SafmImpl::forward(const torch::Tensor& x) {
  const int64_t h = x.size(2), w = x.size(3);
  auto parts = x.chunk(groups, 1);
  std::vector<torch::Tensor> out;
  for (int i = 0; i < groups; ++i) {
    auto dw = depthwise[i]->as<nn::Conv2d>();
    if (i == 0) {
      out.push_back(dw->forward(parts[i]));
      continue;
    }
    // Fixed pooling windows (not adaptive pooling to a fraction of the size) keep the module
    // translation-equivariant on the scale grid, so tiles with a halo match the whole scene.
    const int64_t s = int64_t{1} << i;
    auto pooled = max_pool(parts[i], s);
    out.push_back(F::interpolate(dw->forward(pooled), F::InterpolateFuncOptions()
                                                          .size(std::vector<int64_t>{h, w})
                                                          .mode(torch::kNearest)));
  }
  auto gate = gelu_fresh(aggregate(torch::cat(out, 1)));
  return inference() ? gate.mul_(x) : gate * x;
}

DlstfmFusionBlockImpl::DlstfmFusionBlockImpl(int channels) {
  safm = register_module("safm", Safm(channels));
  mix1 = register_module("mix1", conv(channels, 2 * channels, 3));
  mix2 = register_module("mix2", conv(2 * channels, channels, 1));
}

torch::Tensor DlstfmFusionBlockImpl::forward(torch::Tensor x) {
  x = add_to_fresh(safm(x), x);
  return add_to_fresh(mix2(gelu_fresh(mix1(x))), x);
}

DlstfmBranchImpl::DlstfmBranchImpl(int in_channels, int channels) {
  head = register_module("head", conv(in_channels, channels, 3));
  convs = register_module("convs", nn::ModuleList());
  for (int i = 0; i < 4; ++i) convs->push_back(conv(channels, channels, 3));
}

torch::Tensor DlstfmBranchImpl::forward(const torch::Tensor& x) {
  auto y = gelu_fresh(head(x));
  for (size_t i = 0; i + 1 < convs->size(); i += 2) {
    auto r = convs[i + 1]->as<nn::Conv2d>()->forward(gelu_fresh(convs[i]->as<nn::Conv2d>()->forward(y)));
    y = add_to_fresh(y, r);
  }
  return y;
}

TcmImpl::TcmImpl(int channels, int bands_) : bands(bands_) {
  conv1 = register_module("conv1", conv(channels + 2 * bands, channels / 2, 3));
  conv2 = register_module("conv2", conv(channels / 2, 2 * bands, 3));
  // Zero start: gain 1, offset 0, so the module begins as the identity on the base estimate.
  torch::NoGradGuard no_grad;
  conv2->weight.zero_();
  conv2->bias.zero_();
}

torch::Tensor TcmImpl::forward(const torch::Tensor& features, const torch::Tensor& coarse_target,
                               const torch::Tensor& base) {
  auto p = conv2(gelu_fresh(conv1(torch::cat({features, coarse_target, base}, 1))));
  auto gain = 1.0 + torch::tanh(p.narrow(1, 0, bands));
  auto offset = p.narrow(1, bands, bands);
  // The gain scales the fine-scale anomaly around the coarse target, not the absolute value:
  // in normalised units an absolute gain has no physical meaning, and scaling the anomaly
  // leaves the coarse-scale level to M_0 (and the offset).
  return coarse_target + gain * (base - coarse_target) + offset;
}

DlstfmNetImpl::DlstfmNetImpl(int bands, const DlstfmOptions& o, int context) : context_channels(context) {
  fine_branch = register_module("fine_branch", DlstfmBranch(bands, o.features));
  change_branch = register_module("change_branch", DlstfmBranch(2 * bands + context, o.features));
  merge = register_module("merge", conv(2 * o.features, o.features, 1));
  fusion = register_module("fusion", nn::ModuleList());
  for (int i = 0; i < o.fusion_blocks; ++i) fusion->push_back(DlstfmFusionBlock(o.features));
  residual = register_module("residual", conv(o.features, bands, 3));
  tcm = register_module("tcm", Tcm(o.features, bands));
}

torch::Tensor DlstfmNetImpl::forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                                     const torch::Tensor& coarse_target, const torch::Tensor& context) {
  if (context_channels > 0 && (!context.defined() || context.size(1) != context_channels))
    throw Error("dlstfm: the network takes series context (--series-context) that the input lacks");
  const int64_t h = fine_ref.size(2), w = fine_ref.size(3);
  auto lf = pad_to_multiple(fine_ref, 8);
  auto mr = pad_to_multiple(coarse_ref, 8);
  auto mt = pad_to_multiple(coarse_target, 8);
  auto change = mt - mr;
  auto change_in = context_channels > 0 ? torch::cat({change, mt, pad_to_multiple(context, 8)}, 1) : torch::cat({change, mt}, 1);
  auto x = merge(torch::cat({fine_branch(lf), change_branch(change_in)}, 1));
  for (auto& block : *fusion) x = block->as<DlstfmFusionBlock>()->forward(x);
  auto base = lf + change + residual(x);
  return crop_to(tcm(x, mt, base), h, w);
}

DlstfmModel::DlstfmModel(int bands, double lr, const DlstfmOptions& options, int context) : FamilyModel(options) {
  if (options.features < 4 || options.features % 4 != 0)
    throw Error("dlstfm: --features must be a positive multiple of 4 (SAFM splits it into 4 groups), got " +
                std::to_string(options.features));
  net_ = DlstfmNet(bands, options, context);
  optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(), torch::optim::AdamOptions(lr));
}

std::map<std::string, torch::Tensor> DlstfmModel::losses(const Batch& b) {
  auto pred = net_->forward(b.fine_ref, b.coarse_ref, b.coarse_target, b.context);
  std::map<std::string, torch::Tensor> out;
  out["l1"] = masked_l1(pred, b.fine_target, b.mask);
  // Consistency with the coarse target: masked block means of the prediction against those of
  // M_0 over the same valid pixels, weighted by each block's valid fraction.
  auto [pb, weight] = masked_block_mean(pred, b.mask, options_.consistency_block);
  auto [mb, unused] = masked_block_mean(b.coarse_target, b.mask, options_.consistency_block);
  (void)unused;
  auto d = pb - mb;
  auto wexp = weight.expand_as(d);
  out["consistency"] = (wexp * torch::sqrt(d * d + 1e-12)).sum() / wexp.sum().clamp_min(1e-6);
  out["ms_ssim"] = ms_ssim(pred, b.fine_target, b.mask);
  out["loss"] = out["l1"] + options_.consistency_weight * out["consistency"] +
                options_.ssim_weight * (1.0 - out["ms_ssim"]);
  return out;
}

std::map<std::string, double> DlstfmModel::train_step(const Batch& batch) {
  set_training(true);
  clear_gradients(*optimizer_);
  auto l = losses(batch);
  l["loss"].backward();
  adam_step(*optimizer_);
  std::map<std::string, double> result;
  for (auto& [key, value] : l) result[key] = value.item<double>();
  return result;
}

double DlstfmModel::evaluate_loss(const Batch& batch) {
  torch::NoGradGuard no_grad;
  set_training(false);
  return losses(batch)["loss"].item<double>();
}

torch::Tensor DlstfmModel::predict(const std::vector<Batch>& references) {
  std::vector<torch::Tensor> unused;
  return predict_with_singles(references, {}, unused);
}

torch::Tensor DlstfmModel::predict_with_singles(const std::vector<Batch>& references, const std::vector<bool>& want,
                                                std::vector<torch::Tensor>& singles) {
  TORCH_CHECK(references.size() == 1 || references.size() == 2, "dlstfm: one or two references");
  torch::NoGradGuard no_grad;
  set_training(false);
  const auto& m0 = references[0].coarse_target;
  std::vector<torch::Tensor> preds;
  for (const auto& r : references) preds.push_back(net_->forward(r.fine_ref, r.coarse_ref, r.coarse_target, r.context));
  // One network for both sides: each reference's output is its single prediction.
  singles.assign(references.size(), torch::Tensor());
  for (size_t k = 0; k < preds.size() && k < want.size(); ++k)
    if (want[k]) singles[k] = preds[k];
  if (preds.size() == 1) return preds[0];
  // Two references: per pixel, weights 1 / |L_k' - M_0| (STTFN's STC weighting): the
  // prediction that stays closer to the coarse target counts more.
  auto wa = 1.0 / ((preds[0] - m0).abs() + 1e-3), wb = 1.0 / ((preds[1] - m0).abs() + 1e-3);
  return (wa * preds[0] + wb * preds[1]) / (wa + wb);
}

int DlstfmModel::halo() const {
  const int radius = 5 + 16 * options_.fusion_blocks + 3;
  return (radius + 7) / 8 * 8;
}

void DlstfmModel::save(torch::serialize::OutputArchive& archive) const {
  write_module(archive, "net", *net_);
  write_optimizer(archive, "optimizer", *optimizer_);
}

void DlstfmModel::load(torch::serialize::InputArchive& archive) {
  read_module(archive, "net", *net_);
  read_optimizer(archive, "optimizer", *optimizer_);
}

MethodInfo DlstfmFamily::info() const {
  return deep_method_info("dlstfm",
                          "DLSTFM (Jin 2026, own reading of the abstract): dual branch, SAFM fusion, TCM correction");
}

TrainDefaults DlstfmFamily::train_defaults() const {
  // The abstract gives no training set-up; ours: Adam 1e-3, x0.5 on a plateau of 5 epochs, a
  // usual choice for a small residual network trained from scratch.
  TrainDefaults d;
  d.lr = 1e-3;
  d.lr_schedule = "plateau";
  d.lr_gamma = 0.5;
  d.plateau_patience = 5;
  return d;
}

void DlstfmOptions::bind(OptionSet& set) {
  set.add("features", features, "channels of the branches and the fusion (multiple of 4)");
  set.add("fusion-blocks", fusion_blocks, "SAFM fusion blocks");
  set.add("consistency-block", consistency_block,
          "fine pixels per coarse pixel side for the consistency term with the coarse target");
  set.add("consistency-weight", consistency_weight, "weight of the coarse-consistency term");
  set.add("ssim-weight", ssim_weight, "weight of (1 - MS-SSIM) in the loss");
  set.limit("features", 4, 1024);
  set.limit("fusion-blocks", 0, 64);
  set.limit("consistency-block", 1, 4096);
  set.limit("consistency-weight", 0, 1e6);
  set.limit("ssim-weight", 0, 1e6);
}

}  // namespace lstfuse::deep
