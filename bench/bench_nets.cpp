// Training throughput (patches/s at patch 40, batch 16) and whole-scene inference time
// (1300 x 1300 in tiles of the family's default size plus its halo, plain loop, one reference) for the
// StfNet, EDCSTFN, MLFF-GAN and DLSTFM families on the CPU, default (paper) options.
//   bench_nets [--channels-last] [name ...]     (default: all four, NCHW)
// --engine [--size N] [name ...]: prediction through the engine as `benchmark` and `predict` run
// it (DeepMethod::predict: two references, one with a cloud, the engine's tiles), per family and
// for STTFN with stc-window=33, with each time per pixel against plain STTFN's.
//   bench_nets --engine       (default: sttfn sttfn:stc-window=33 stfnet edcstfn mlffgan dlstfm)
// --engine --macs: also counts the convolutions' multiply-adds of a third call per scene pixel
// (halos and single-reference decoding included), and the rate against STTFN's. STTFN's CPU path
// is a frozen TorchScript graph whose fused convolutions no observer sees: its count comes from
// its layer list (docs/performance.md).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/record_function.h>
#include <torch/torch.h>

#include "bench_support.hpp"
#include "lstfuse/deep/block_cache.hpp"
#include "lstfuse/deep/deep_method.hpp"
#include "synthetic.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/deep/dlstfm.hpp"
#include "lstfuse/deep/edcstfn.hpp"
#include "lstfuse/deep/engine.hpp"
#include "lstfuse/deep/mlffgan.hpp"
#include "lstfuse/deep/stfnet.hpp"
#include "lstfuse/deep/sttfn.hpp"
#include "lstfuse/pipeline/registry.hpp"

using namespace lstfuse;

namespace {

deep::Batch random_batch(int64_t n, int64_t h, int64_t w) {
  deep::Batch b;
  b.fine_ref = torch::randn({n, 1, h, w});
  b.coarse_ref = torch::randn({n, 1, h, w});
  b.coarse_target = torch::randn({n, 1, h, w});
  b.fine_target = torch::randn({n, 1, h, w});
  b.mask = torch::ones({n, 1, h, w});
  b.dt = torch::full({n}, 16.0);
  return b;
}

void run(const std::string& name, const deep::DeepFamily& family, bool cl) {
  torch::manual_seed(1);
  auto model = family.create_model(1, family.train_defaults().lr);
  auto batch = random_batch(16, 40, 40);
  model->train_step(batch);  // warm-up (and EDCSTFN's first pretraining step)
  bench::Stopwatch sw;
  int steps = 0;
  while (steps < 3 || (sw.seconds() < 10.0 && steps < 200)) {
    model->train_step(batch);
    ++steps;
  }
  const double train_s = sw.seconds();

  const int64_t size = 1300, tile = family.train_defaults().tile, halo = model->halo();
  auto scene = random_batch(1, size, size);
  // --channels-last: the networks' weights and every input tile in channels-last memory
  // format (eager modules, oneDNN's NHWC kernels), to compare with the default NCHW.
  if (cl) {
    torch::NoGradGuard ng;
    for (auto* net : model->networks()) {
      for (auto& p : net->parameters())
        if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
      for (auto& b : net->buffers())
        if (b.dim() == 4) b.set_data(b.contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }
  model->set_training(false);  // inference as the engine runs it: BN with running statistics
  auto out = torch::empty({1, 1, size, size});
  sw.reset();
  int tiles = 0;
  for (int64_t y = 0; y < size; y += tile) {
    for (int64_t x = 0; x < size; x += tile) {
      const int64_t y0 = std::max<int64_t>(0, y - halo), x0 = std::max<int64_t>(0, x - halo);
      const int64_t y1 = std::min(size, y + tile + halo), x1 = std::min(size, x + tile + halo);
      auto crop = [&](const torch::Tensor& t) {
        auto c = t.slice(2, y0, y1).slice(3, x0, x1);
        return cl ? c.contiguous(torch::MemoryFormat::ChannelsLast) : c;
      };
      deep::Batch t;
      t.fine_ref = crop(scene.fine_ref);
      t.coarse_ref = crop(scene.coarse_ref);
      t.coarse_target = crop(scene.coarse_target);
      t.dt = scene.dt;
      auto p = model->predict({t});
      const int64_t th = std::min(tile, size - y), tw = std::min(tile, size - x);
      out.slice(2, y, y + th).slice(3, x, x + tw).copy_(p.slice(2, y - y0, y - y0 + th).slice(3, x - x0, x - x0 + tw));
      ++tiles;
    }
  }
  const double infer_s = sw.seconds();
  std::printf("%-8s train %7.1f patches/s (%d steps of 16 x 40x40)   infer 1300x1300: %7.2f s (%d tiles of %ld, halo %ld)"
              "   peak RSS %.0f MiB\n",
              name.c_str(), 16.0 * steps / train_s, steps, infer_s, tiles, static_cast<long>(tile), static_cast<long>(halo),
              bench::peak_rss_mib());
  std::fflush(stdout);
}

// Multiply-adds of every aten::convolution while `run` runs: batch x weight elements x output
// pixels (a transposed convolution: x input pixels). Grouped weights already hold in/groups.
double count_multiply_adds(const std::function<void()>& run) {
  static std::atomic<double> total{0};
  total = 0;
  const auto handle = at::addGlobalCallback(
      at::RecordFunctionCallback([](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
        if (std::string(fn.name()) != "aten::convolution") return nullptr;
        const auto in = fn.inputs();
        const auto x = in[0].toTensor(), w = in[1].toTensor();
        auto pair = [](const c10::IValue& v) {
          std::vector<int64_t> r;
          for (const auto& e : v.toListRef()) r.push_back(e.toInt());
          while (r.size() < 2) r.push_back(r.empty() ? 1 : r[0]);
          return r;
        };
        const auto stride = pair(in[3]), pad = pair(in[4]), dil = pair(in[5]);
        double pixels = double(x.size(2)) * double(x.size(3));
        if (!in[6].toBool()) {
          double out = 1;
          for (int d = 0; d < 2; ++d)
            out *= double((x.size(2 + d) + 2 * pad[d] - dil[d] * (w.size(2 + d) - 1) - 1) / stride[d] + 1);
          pixels = out;
        }
        total = total.load() + double(x.size(0)) * double(w.numel()) * pixels;
        return nullptr;
      }).needsInputs(true));
  run();
  at::removeCallback(handle);
  return total.load();
}

// STTFN's multiply-adds per scene pixel: both nets' convolutions (all stride 1, so each weight
// element meets every window pixel once) over the engine's windows (default tile, the model's
// halo), counted from the network's layers.
double sttfn_multiply_adds(int size, int halo) {
  deep::SttfnNet net(1);
  double per_window_pixel = 0;
  for (const auto& m : net->modules(false))
    if (const auto* c = m->as<torch::nn::Conv2d>()) per_window_pixel += double(c->weight.numel());
  per_window_pixel *= 2;  // the forward and the backward net
  const int tile = deep::prediction_tile(deep::CommonOptions{}.tile, 1, halo, size);
  double side = 0;
  for (int x = 0; x < size; x += tile) side += std::min(size, x + tile + halo) - std::max(0, x - halo);
  return per_window_pixel * side * side / (double(size) * size);
}

// Seconds DeepMethod::predict takes for a two-reference `size` x `size` scene with a cloud over
// a sixth of the first reference (the engine's single-reference fallback then runs).
double engine_predict_seconds(const std::string& entry, int size, double* macs = nullptr) {
  const std::string name = entry.substr(0, entry.find(':'));
  auto m = method_registry().create(name);
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"device", "cpu"}, {"quiet", "true"}, {"epochs", "1"}, {"patch", "32"}, {"stride", "32"},
           {"patches-per-epoch", "16"}, {"val-fraction", "0"}})
    m->options().set(k, v);
  if (entry.find(':') != std::string::npos) {
    const auto opt = entry.substr(entry.find(':') + 1);
    m->options().set(opt.substr(0, opt.find('=')), opt.substr(opt.find('=') + 1));
  }
  FitContext ctx;
  ctx.show_progress = false;
  m->fit(deep::make_synthetic_series(64, 64, 3, 16, 8).pairs, ctx);
  static const auto big = deep::make_synthetic_series(size, size, 3, 16, 33);
  FusionInput in;
  in.pairs = {big.pairs[0], big.pairs[2]};
  in.coarse = big.pairs[1].coarse;
  in.date = big.pairs[1].date;
  for (int y = size / 3; y < size / 2; ++y)
    for (int x = 0; x < size; ++x) in.pairs[0].fine.set_valid(0, y, x, false);
  bench::Stopwatch sw;
  m->predict(in);
  const double first = sw.seconds();
  sw.reset();
  m->predict(in);
  std::printf("  (%s: first call %.2f s, second %.2f s)\n", entry.c_str(), first, sw.seconds());
  if (macs) {
    const auto* deep_method = dynamic_cast<const deep::DeepMethod*>(m.get());
    *macs = name == "sttfn" && deep_method ? sttfn_multiply_adds(size, deep_method->halo())
                                           : count_multiply_adds([&] { m->predict(in); }) / (double(size) * size);
  }
  return first;
}

int engine_main(std::vector<std::string> names, int size, bool count_macs) {
  if (names.empty()) names = {"sttfn", "sttfn:stc-window=33", "stfnet", "edcstfn", "mlffgan", "dlstfm"};
  std::printf("engine prediction, %d x %d, two references (one with a cloud over 1/6), torch threads %d\n", size,
              size, torch::get_num_threads());
  double plain = 0, plain_macs = 0, macs = 0;
  if (names.front() != "sttfn") plain = engine_predict_seconds("sttfn", size, &plain_macs);
  for (const auto& n : names) {
    const double s = engine_predict_seconds(n, size, count_macs || n == "sttfn" ? &macs : nullptr);
    if (n == "sttfn") {
      plain = s;
      plain_macs = macs;
    }
    if (count_macs)
      std::printf("  (%s: %.0f multiply-adds per scene pixel, %.2f x STTFN's; per second %.2f x STTFN's)\n", n.c_str(),
                  macs, macs / plain_macs, (macs / plain_macs) / (s / plain));
    const auto bc = deep::block_cache_stats();
    std::printf("%-22s %7.2f s  %6.3f us/px  %5.2f x sttfn   peak RSS %.0f MiB   block cache %lld hits, %lld misses, %.0f MiB peak in use\n",
                n.c_str(), s, 1e6 * s / (double(size) * size), s / plain, bench::peak_rss_mib(),
                static_cast<long long>(bc.hits), static_cast<long long>(bc.misses), bc.peak_live_bytes / 1048576.0);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> names(argv + 1, argv + argc);
  if (!names.empty() && names.front() == "--engine") {
    int size = 1300;
    bool count_macs = false;
    std::vector<std::string> rest;
    for (size_t i = 1; i < names.size(); ++i) {
      if (names[i] == "--size" && i + 1 < names.size()) size = std::stoi(names[++i]);
      else if (names[i] == "--macs") count_macs = true;
      else rest.push_back(names[i]);
    }
    return engine_main(rest, size, count_macs);
  }
  const bool cl = std::find(names.begin(), names.end(), "--channels-last") != names.end();
  names.erase(std::remove(names.begin(), names.end(), "--channels-last"), names.end());
  if (names.empty()) names = {"stfnet", "edcstfn", "mlffgan", "dlstfm"};
  std::printf("torch threads: %d, memory format: %s\n", torch::get_num_threads(), cl ? "channels-last" : "NCHW");
  for (const auto& name : names) {
    if (name == "stfnet") run(name, deep::StfNetFamily{}, cl);
    else if (name == "edcstfn") run(name, deep::EdcstfnFamily{}, cl);
    else if (name == "mlffgan") run(name, deep::MlffGanFamily{}, cl);
    else if (name == "dlstfm") run(name, deep::DlstfmFamily{}, cl);
    else std::fprintf(stderr, "unknown network %s\n", name.c_str());
  }
  return 0;
}
