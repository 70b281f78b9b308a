// STTFN multi-scale fusion CNN (Table I, section II-B), its forward/backward training and the
// STC/TC-weighted combination (section II-C).
#include "lstfuse/deep/sttfn.hpp"

#include <map>
#include <string>
#include <vector>

#include <torch/script.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/deep/batch_norm.hpp"
#include "lstfuse/deep/optimiser.hpp"

namespace lstfuse::deep {

namespace nn = torch::nn;

ConvBnImpl::ConvBnImpl(int in, int out, int kernel, bool batch_norm, bool relu) : relu_(relu) {
  // Zero padding keeps the size (the paper pads with zeros).
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, kernel).padding(kernel / 2).bias(true)));
  if (batch_norm) bn = register_module("bn", nn::BatchNorm2d(out));
}

torch::Tensor ConvBnImpl::forward(torch::Tensor x) {
  x = conv(x);
  if (bn && !folded_) {
    // Training on the CPU: batch statistics, running averages and the ReLU in one node with two
    // passes each way (batch_norm.hpp); otherwise the module's own batch norm.
    if (bn->is_training() && bn->options.momentum() && bn->options.affine() && bn->options.track_running_stats() &&
        batch_norm_train_supported(x)) {
      {
        torch::NoGradGuard ng;
        bn->num_batches_tracked.add_(1);
      }
      return batch_norm_train(x, bn->weight, bn->bias, bn->running_mean, bn->running_var,
                              *bn->options.momentum(), bn->options.eps(), relu_);
    }
    x = bn(x);
  }
  return relu_ ? torch::relu(x) : x;
}

void ConvBnImpl::fold() {
  if (!bn || folded_) return;
  torch::NoGradGuard ng;
  auto s = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());
  conv->weight.mul_(s.view({-1, 1, 1, 1}));
  conv->bias.copy_((conv->bias - bn->running_mean) * s + bn->bias);
  folded_ = true;
}

SttfnNetImpl::SttfnNetImpl(int bands, int context) : bands_(bands), context_(context) {
  e1 = register_module("e1", ConvBn(bands, 32, 3, true, true));
  e2 = register_module("e2", ConvBn(32, 32, 3, false, false));
  sr1 = register_module("sr1", ConvBn(2 * bands + context, 32, 3, false, false));
  sr2 = register_module("sr2", ConvBn(32, 64, 1, true, true));
  sr3 = register_module("sr3", ConvBn(64, 25, 1, true, true));
  sr4 = register_module("sr4", ConvBn(25, 32, 1, true, true));
  sr5 = register_module("sr5", ConvBn(32, 32, 3, true, true));
  sr6 = register_module("sr6", ConvBn(32, 32, 3, false, false));
  f1 = register_module("f1", ConvBn(32, 32, 3, true, true));
  f2 = register_module("f2", ConvBn(32, 16, 3, true, true));
  f3 = register_module("f3", ConvBn(16, bands, 3, false, false));
}

torch::Tensor SttfnNetImpl::forward(const torch::Tensor& fine_ref, const torch::Tensor& coarse_ref,
                                    const torch::Tensor& coarse_target, const torch::Tensor& context) {
  if (context_ > 0 && (!context.defined() || context.size(1) != context_))
    throw Error("sttfn: the network takes series context (--series-context) that the input lacks");
  const auto change = coarse_target - coarse_ref;            // M_b - M_a
  const auto f_fine = e2(e1(fine_ref));                       // Extraction-Net: Features(L_a)
  // slim-WDSR on [change, L_a] (and the series features)
  const auto s1 = sr1(context_ > 0 ? torch::cat({change, fine_ref, context}, 1) : torch::cat({change, fine_ref}, 1));
  const auto s4 = s1 + sr4(sr3(sr2(s1)));                     // local residual 1 (SR2-SR4)
  const auto s6 = s4 + sr6(sr5(s4));                          // local residual 2 (SR5-SR6)
  const auto fused = f_fine + s6;                             // eq. (1)
  return f3(f2(f1(fused))) + (fine_ref + change);             // Integration-Net + global residual
}

void SttfnNetImpl::init_weights(double std) {
  torch::NoGradGuard ng;
  for (auto& m : modules(false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      c->weight.normal_(0.0, std);
      c->bias.zero_();
    }
  }
}

void SttfnNetImpl::fold_batchnorm() {
  for (ConvBn* c : {&e1, &e2, &sr1, &sr2, &sr3, &sr4, &sr5, &sr6, &f1, &f2, &f3}) (*c)->fold();
}

SttfnNet folded_copy(const SttfnNet& net) {
  torch::NoGradGuard ng;
  SttfnNet copy(net->bands(), net->context_channels());
  const auto device = net->parameters().front().device();
  copy->to(device);
  auto src_p = net->named_parameters(true);
  for (auto& kv : copy->named_parameters(true)) kv.value().copy_(src_p[kv.key()]);
  auto src_b = net->named_buffers(true);
  for (auto& kv : copy->named_buffers(true)) kv.value().copy_(src_b[kv.key()]);
  copy->eval();
  copy->fold_batchnorm();
  return copy;
}

torch::jit::Module optimized_for_cpu(const SttfnNet& folded) {
  // Table I as TorchScript over the folded weights. Frozen, then optimize_for_inference (the
  // C++ form of torch.jit.optimize_for_inference) keeps the activations in oneDNN's blocked
  // layout from the first convolution to the last and fuses each ReLU into its convolution:
  // eager convolutions reorder every activation in and out of that layout and read each one
  // once more for the ReLU.
  struct Layer {
    const char* name;
    const ConvBn* conv;
    int pad;
    bool relu;
  };
  const std::vector<Layer> layers = {{"e1", &folded->e1, 1, true},   {"e2", &folded->e2, 1, false},
                                     {"sr1", &folded->sr1, 1, false}, {"sr2", &folded->sr2, 0, true},
                                     {"sr3", &folded->sr3, 0, true},  {"sr4", &folded->sr4, 0, true},
                                     {"sr5", &folded->sr5, 1, true},  {"sr6", &folded->sr6, 1, false},
                                     {"f1", &folded->f1, 1, true},    {"f2", &folded->f2, 1, true},
                                     {"f3", &folded->f3, 1, false}};
  torch::jit::Module m("SttfnInference");
  std::map<std::string, std::string> call;
  for (const auto& l : layers) {
    const auto& conv = (*l.conv)->conv;
    const int k = static_cast<int>(conv->weight.size(2));
    if (k != 2 * l.pad + 1) throw Error("sttfn: unexpected kernel size in the scripted network");
    m.register_parameter(std::string(l.name) + "_w", conv->weight.detach().clone(), false);
    m.register_parameter(std::string(l.name) + "_b", conv->bias.detach().clone(), false);
    const std::string c = std::string("torch.conv2d({}, self.") + l.name + "_w, self." + l.name + "_b, [1, 1], [" +
                          std::to_string(l.pad) + ", " + std::to_string(l.pad) + "])";
    call[l.name] = l.relu ? "torch.relu(" + c + ")" : c;
  }
  auto apply = [&](const std::string& layer, const std::string& x) {
    auto c = call.at(layer);
    return c.replace(c.find("{}"), 2, x);
  };
  const bool context = folded->context_channels() > 0;
  std::string src = "def forward(self, fine_ref: Tensor, coarse_ref: Tensor, coarse_target: Tensor";
  src += context ? ", context: Tensor):\n" : "):\n";
  src += "    change = coarse_target - coarse_ref\n";
  src += "    f_fine = " + apply("e2", apply("e1", "fine_ref")) + "\n";
  src += "    s1 = " + apply("sr1", context ? "torch.cat([change, fine_ref, context], 1)" : "torch.cat([change, fine_ref], 1)") + "\n";
  src += "    s4 = s1 + " + apply("sr4", apply("sr3", apply("sr2", "s1"))) + "\n";
  src += "    s6 = s4 + " + apply("sr6", apply("sr5", "s4")) + "\n";
  src += "    return " + apply("f3", apply("f2", apply("f1", "f_fine + s6"))) + " + (fine_ref + change)\n";
  m.define(src);
  auto frozen = torch::jit::freeze(m);
  return torch::jit::optimize_for_inference(frozen);
}

torch::Tensor window_mean(const torch::Tensor& x, int radius) {
  // The clipped window is a rectangle, so its mean is the mean along H of the means along W:
  // two 1-D poolings cost 2 (2r + 1) additions per pixel instead of (2r + 1)^2, and direct
  // sums (no prefix sums) round the same in a tile and in the whole scene.
  const int k = 2 * radius + 1;
  const auto rows = torch::avg_pool2d(x, {1, k}, {1, 1}, {0, radius}, false, false);
  return torch::avg_pool2d(rows, {k, 1}, {1, 1}, {radius, 0}, false, false);
}

namespace {
constexpr double kWeightEps = 1e-6;  // network units; guards 1/0 for a perfect match
}  // namespace

std::vector<torch::Tensor> stc_weights(const std::vector<torch::Tensor>& preds, const torch::Tensor& coarse_target,
                                       const std::vector<torch::Tensor>& valid, int stc_window) {
  std::vector<torch::Tensor> inv;
  for (size_t i = 0; i < preds.size(); ++i) {
    auto d = (preds[i] - coarse_target).abs();
    if (stc_window > 0) {
      // Mean over the window's valid pixels of this reference: pooled |d| * valid / pooled valid
      // (the scene edge truncates the window, as in the untiled image, so tiles agree).
      const auto v = valid[i].expand_as(d);
      const auto sum = window_mean(d * v, stc_window);
      const auto n = window_mean(v, stc_window);
      d = torch::where(n > 0, sum / n.clamp_min(1e-12), d);
    }
    inv.push_back(d.clamp_min(kWeightEps).reciprocal() * valid[i]);
  }
  return normalised_weights(std::move(inv));
}

std::vector<torch::Tensor> tc_weights(const std::vector<torch::Tensor>& coarse_refs, const torch::Tensor& coarse_target,
                                      const std::vector<torch::Tensor>& valid, int tc_window,
                                      const SceneContext* scene) {
  std::vector<torch::Tensor> d;
  const auto B = coarse_target.size(1);
  if (tc_window <= 0 && scene && scene->coarse_ref_mean.size() == coarse_refs.size()) {
    for (auto& t : scene_tc_distances(*scene, torch::kFloat)) d.push_back(t.to(coarse_target.device()));
  } else {
    for (size_t i = 0; i < coarse_refs.size(); ++i) {
      if (tc_window > 0) {
        d.push_back(window_mean(coarse_refs[i] - coarse_target, tc_window).abs());
      } else {
        // No scene context (direct use): means over the valid pixels of these tensors.
        const auto m = valid[i].expand_as(coarse_target);
        const auto n = m.sum({0, 2, 3}).clamp_min(1.0);
        d.push_back((((coarse_refs[i] - coarse_target) * m).sum({0, 2, 3}) / n).abs().view({1, B, 1, 1}));
      }
    }
  }
  return tc_weights_from(d, valid, TcFloor::clamp);
}

SttfnModel::SttfnModel(int bands, double lr, const SttfnOptions& options, int context)
    : FamilyModel(options) {
  fwd_ = SttfnNet(bands, context);
  bwd_ = SttfnNet(bands, context);
  fwd_->init_weights(options_.init_std);
  bwd_->init_weights(options_.init_std);
  auto adam = [lr] { return torch::optim::AdamOptions(lr).betas(std::make_tuple(0.9, 0.999)); };
  opt_fwd_ = std::make_unique<torch::optim::Adam>(fwd_->parameters(), adam());
  opt_bwd_ = std::make_unique<torch::optim::Adam>(bwd_->parameters(), adam());
}

void SttfnModel::to(torch::Device device) {
  device_ = device;
  fwd_->to(device);
  bwd_->to(device);
  reset_inference_nets();
}

void SttfnModel::reset_inference_nets() {
  infer_fwd_ = infer_bwd_ = nullptr;
  script_fwd_ = script_bwd_ = nullptr;
}

void SttfnModel::set_training(bool training) {
  training_ = training;
  fwd_->train(training);
  bwd_->train(training);
}

torch::Tensor SttfnModel::loss(SttfnNet& net, const Batch& b) {
  const auto pred = net->forward(b.fine_ref, b.coarse_ref, b.coarse_target, b.context);
  return masked_mean(loss_map(options_.loss, pred, b.fine_target, huber_delta_units()), b.mask);
}

std::map<std::string, double> SttfnModel::train_step(const Batch& batch) {
  reset_inference_nets();
  std::map<std::string, double> out;
  double total = 0, count = 0;
  // Forward net learns from dt > 0, backward net from dt < 0; each has its own optimiser.
  for (const bool forward : {true, false}) {
    const auto idx = (forward ? batch.dt > 0 : batch.dt < 0).nonzero().view({-1});
    if (idx.numel() == 0) continue;
    auto& net = forward ? fwd_ : bwd_;
    auto& opt = forward ? *opt_fwd_ : *opt_bwd_;
    net->train(true);
    clear_gradients(opt);
    auto l = loss(net, idx.numel() == batch.dt.numel() ? batch : select_samples(batch, idx));
    l.backward();
    adam_step(opt);
    const double v = l.item<double>();
    out[forward ? "loss_forward" : "loss_backward"] = v;
    total += v * idx.numel();
    count += idx.numel();
  }
  out["loss"] = count > 0 ? total / count : 0.0;
  return out;
}

double SttfnModel::evaluate_loss(const Batch& batch) {
  torch::NoGradGuard ng;
  double total = 0, count = 0;
  for (const bool forward : {true, false}) {
    const auto idx = (forward ? batch.dt > 0 : batch.dt < 0).nonzero().view({-1});
    if (idx.numel() == 0) continue;
    total += loss(forward ? fwd_ : bwd_, select_samples(batch, idx)).item<double>() * idx.numel();
    count += idx.numel();
  }
  return count > 0 ? total / count : 0.0;
}

SttfnNet SttfnModel::inference_net(bool forward) {
  auto& net = forward ? fwd_ : bwd_;
  if (training_ || !options_.fold_bn) return net;
  auto& cached = forward ? infer_fwd_ : infer_bwd_;
  if (!cached) cached = folded_copy(net);
  return cached;
}

torch::Tensor SttfnModel::combine(const std::vector<torch::Tensor>& preds, const std::vector<Batch>& refs) {
  if (options_.stc_window < 0 || options_.tc_window < 0)
    throw Error("sttfn: --stc-window and --tc-window are half-windows in pixels, 0 or more");
  std::vector<torch::Tensor> valid, coarse;
  for (size_t i = 0; i < refs.size(); ++i) {
    valid.push_back(refs[i].mask.defined() ? refs[i].mask : torch::ones_like(preds[i].narrow(1, 0, 1)));
    coarse.push_back(refs[i].coarse_ref);
  }
  if (refs.size() == 1) {  // one reference: that prediction alone
    last_weights_ = torch::ones_like(valid[0]);
    return preds[0];
  }
  const auto w = options_.weighting == "tc"
                     ? tc_weights(coarse, refs[0].coarse_target, valid, options_.tc_window, scene(refs.size()))
                     : stc_weights(preds, refs[0].coarse_target, valid, options_.stc_window);
  last_weights_ = torch::cat({w[0].narrow(1, 0, 1), w[1].narrow(1, 0, 1)}, 1);
  return w[0] * preds[0] + w[1] * preds[1];
}

torch::Tensor SttfnModel::reference_prediction(const Batch& r, bool forward) {
  auto& script = forward ? script_fwd_ : script_bwd_;
  if (script && !training_) {  // in training mode BN uses batch statistics: the module as it is
    std::vector<torch::jit::IValue> in = {r.fine_ref, r.coarse_ref, r.coarse_target};
    if (r.context.defined()) in.emplace_back(r.context);
    return script->forward(in).toTensor();
  }
  return inference_net(forward)->forward(r.fine_ref, r.coarse_ref, r.coarse_target, r.context);
}

std::vector<torch::Tensor> SttfnModel::reference_predictions(const std::vector<Batch>& refs) {
  if (refs.empty() || refs.size() > 2) throw Error("sttfn predicts from one or two references");
  std::vector<bool> forward;
  for (const auto& r : refs) forward.push_back(r.dt.view({-1})[0].item<double>() > 0);  // reference before the target
  for (const bool f : forward) {
    auto net = inference_net(f);
    auto& script = f ? script_fwd_ : script_bwd_;
    if (!script && device_.is_cpu() && !training_ && options_.fold_bn)
      script = std::make_shared<torch::jit::Module>(optimized_for_cpu(net));
  }
  std::vector<torch::Tensor> preds;
  for (size_t k = 0; k < refs.size(); ++k) preds.push_back(reference_prediction(refs[k], forward[k]));
  return preds;
}

torch::Tensor SttfnModel::predict(const std::vector<Batch>& refs) { return combine(reference_predictions(refs), refs); }

torch::Tensor SttfnModel::predict_with_singles(const std::vector<Batch>& refs, const std::vector<bool>& want,
                                               std::vector<torch::Tensor>& singles) {
  // Each reference's network depends only on its own side, so its prediction is the single one.
  const auto preds = reference_predictions(refs);
  singles.assign(refs.size(), torch::Tensor());
  for (size_t k = 0; k < refs.size() && k < want.size(); ++k)
    if (want[k]) singles[k] = preds[k];
  return combine(preds, refs);
}

torch::Tensor SttfnModel::predict_baseline(const std::vector<Batch>& refs, torch::Tensor* weights) {
  // The additive estimates through STTFN's own weighting: what the untrained networks give.
  std::vector<torch::Tensor> est;
  for (const auto& r : refs) est.push_back(r.fine_ref + (r.coarse_target - r.coarse_ref));
  auto out = combine(est, refs);
  if (weights) *weights = last_weights_;
  return out;
}

void SttfnModel::save(torch::serialize::OutputArchive& archive) const {
  torch::serialize::OutputArchive f, b, of, ob;
  fwd_->save(f);
  bwd_->save(b);
  opt_fwd_->save(of);
  opt_bwd_->save(ob);
  archive.write("forward", f);
  archive.write("backward", b);
  archive.write("forward_adam", of);
  archive.write("backward_adam", ob);
}

void SttfnModel::load(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive f, b, of, ob;
  archive.read("forward", f);
  archive.read("backward", b);
  fwd_->load(f);
  bwd_->load(b);
  fwd_->to(device_);
  bwd_->to(device_);
  // The optimisers' state comes from the file, the learning rate stays the one given at creation.
  const double lr = learning_rate();
  if (archive.try_read("forward_adam", of)) opt_fwd_->load(of);
  if (archive.try_read("backward_adam", ob)) opt_bwd_->load(ob);
  set_learning_rate(lr);
  reset_inference_nets();
}

MethodInfo SttfnFamily::info() const {
  MethodInfo i = deep_method_info("sttfn", "STTFN (Yin et al.): multi-scale fusion CNN, forward + backward nets, STC weighting");
  i.needs_pairs_both_sides = true;
  return i;
}

TrainDefaults SttfnFamily::train_defaults() const {
  TrainDefaults d;  // paper: Adam lr 1e-4 x 0.1 every 10 epochs, patches 40 / stride 20
  d.lr = 1e-4;
  d.lr_schedule = "step";
  d.lr_step = 10;
  d.lr_gamma = 0.1;
  d.patch = 40;
  d.stride = 20;
  return d;
}

void SttfnOptions::bind(OptionSet& o) {
  o.add_choice("loss", loss, {"huber", "mse", "l1"}, "Training loss (paper: Huber)");
  o.add("huber-delta", huber_delta, "Huber delta in kelvin (paper: 1.0)");
  o.add_choice("weighting", weighting, {"stc", "tc"},
               "Combination of forward and backward predictions: STC (paper) or TC");
  o.add("tc-window", tc_window, "TC weighting: half-window of the coarse means (0: whole scene)");
  o.add("stc-window", stc_window,
        "STC weighting: half-window (pixels) of the mean |prediction - coarse| (0: per pixel, as eq. 6)");
  o.add("init-std", init_std, "Standard deviation of the Gaussian initial weights");
  o.add("fold-bn", fold_bn, "Fold batch normalisation into the convolutions for inference");
  // How the two directions' predictions are combined is chosen at prediction; the networks not.
  o.mark_at_prediction({"weighting", "tc-window", "stc-window", "fold-bn"});
  o.limit("huber-delta", 0, 1000, true);
  o.limit("init-std", 0, 10, true);
  o.limit("tc-window", 0, 65536);
  o.limit("stc-window", 0, 65536);
}

}  // namespace lstfuse::deep
