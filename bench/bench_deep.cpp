// Deep engine figures: STTFN training throughput (patches/s), time to predict a 1300 x 1300
// scene (eval mode, BN folded, no grad, tiles), and accuracy on a synthetic series against the
// bilinear and additive baselines, with the paper's ablations (STC vs TC, Huber vs MSE).
//   bench_deep [--threads N] [--size 120] [--epochs 30] [--lr 1e-4] [--skip-eval] [--skip-speed]
// --side-by-side DIR [--threads N]: the LibTorch half of bench/torch_side_by_side.py. It loads
// the STTFN weights and inputs that script wrote to DIR (tensors.txt: name and shape per line,
// tensors.bin: their float32 values in that order), then answers commands on stdin, one line each,
// so that the script can time both libraries interleaved:
//   predict TILE   -> "predict SECONDS": both nets + STC over the 1300 x 1300 scene in tiles
//   train STEPS    -> "train SECONDS LOSS": STEPS train_step calls on the 16-patch batch
//   dump PATH      -> writes the last prediction (float32, row-major) to PATH
// --malloc-128k pins glibc's allocator thresholds at 128 kB, to measure what raising them gives.
#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "lstfuse/deep/deep_method.hpp"
#include "lstfuse/deep/sttfn.hpp"
#include "synthetic.hpp"

using namespace lstfuse;
using namespace lstfuse::deep;

namespace {

std::unique_ptr<DeepMethod> sttfn(int threads) {
  auto m = std::make_unique<DeepMethod>(std::make_unique<SttfnFamily>());
  m->options().set("threads", std::to_string(threads));
  m->options().set("device", "cpu");
  m->options().set("quiet", "true");
  return m;
}

double rmse(const Raster& pred, const Raster& truth) {
  double s = 0;
  long long n = 0;
  for (size_t i = 0; i < truth.data().size(); ++i)
    if (pred.mask_data()[i] && truth.mask_data()[i]) {
      const double d = pred.data()[i] - truth.data()[i];
      s += d * d;
      ++n;
    }
  return n ? std::sqrt(s / n) : NAN;
}

std::map<std::string, torch::Tensor> read_tensors(const std::string& dir) {
  std::ifstream names(dir + "/tensors.txt"), bin(dir + "/tensors.bin", std::ios::binary);
  if (!names || !bin) throw std::runtime_error("side-by-side: cannot open " + dir + "/tensors.{txt,bin}");
  std::map<std::string, torch::Tensor> out;
  std::string line;
  while (std::getline(names, line)) {
    std::istringstream is(line);
    std::string name;
    is >> name;
    std::vector<int64_t> shape;
    for (int64_t d; is >> d;) shape.push_back(d);
    auto t = torch::empty(shape, torch::kFloat);
    bin.read(reinterpret_cast<char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * sizeof(float)));
    if (!bin) throw std::runtime_error("side-by-side: tensors.bin ends before " + name);
    out[name] = t;
  }
  return out;
}

void load_net(SttfnNet& net, const std::map<std::string, torch::Tensor>& t, const std::string& prefix) {
  torch::NoGradGuard ng;
  auto copy = [&](const std::string& key, torch::Tensor& dst) {
    const auto it = t.find(prefix + key);
    if (it != t.end()) dst.copy_(it->second.view(dst.sizes()));
    else if (dst.is_floating_point()) throw std::runtime_error("side-by-side: no tensor " + prefix + key);
  };
  for (auto& kv : net->named_parameters(true)) copy(kv.key(), kv.value());
  for (auto& kv : net->named_buffers(true)) copy(kv.key(), kv.value());
}

// Both nets and STC weighting over the scene in tiles of `tile` plus the halo, as DeepMethod
// tiles it, without the engine's raster conversion (the Python side has none either).
torch::Tensor tiled_predict(SttfnModel& model, const std::map<std::string, torch::Tensor>& t, int64_t tile) {
  const auto& target = t.at("scene.target");
  const int64_t H = target.size(2), W = target.size(3), halo = model.halo();
  auto out = torch::empty({1, 1, H, W});
  model.set_training(false);
  torch::NoGradGuard ng;
  for (int64_t y = 0; y < H; y += tile) {
    for (int64_t x = 0; x < W; x += tile) {
      const int64_t y0 = std::max<int64_t>(0, y - halo), x0 = std::max<int64_t>(0, x - halo);
      const int64_t y1 = std::min(H, y + tile + halo), x1 = std::min(W, x + tile + halo);
      auto crop = [&](const char* k) { return t.at(k).slice(2, y0, y1).slice(3, x0, x1).contiguous(); };
      std::vector<Batch> refs(2);
      refs[0].fine_ref = crop("scene.fine1");
      refs[0].coarse_ref = crop("scene.coarse1");
      refs[1].fine_ref = crop("scene.fine2");
      refs[1].coarse_ref = crop("scene.coarse2");
      refs[0].coarse_target = refs[1].coarse_target = crop("scene.target");
      refs[0].dt = torch::full({1}, 16.0f);
      refs[1].dt = torch::full({1}, -16.0f);
      const auto p = model.predict(refs);
      const int64_t th = std::min(tile, H - y), tw = std::min(tile, W - x);
      out.slice(2, y, y + th).slice(3, x, x + tw).copy_(p.slice(2, y - y0, y - y0 + th).slice(3, x - x0, x - x0 + tw));
    }
  }
  return out;
}

int side_by_side(const std::string& dir, int threads, bool small_thresholds) {
  // M_MMAP_THRESHOLD and M_TRIM_THRESHOLD pinned at glibc's initial 128 kB instead of the
  // library's values: what allocation costs when no block is kept (glibc left alone would raise
  // its threshold as mmapped blocks are freed, so this bounds that cost from above).
  if (small_thresholds) {
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  }
  set_threads(threads);
  const auto t = read_tensors(dir);
  SttfnModel model(1, 1e-4, SttfnOptions{});
  load_net(model.forward_net(), t, "forward.");
  load_net(model.backward_net(), t, "backward.");
  Batch train;
  train.fine_ref = t.at("train.fine_ref");
  train.coarse_ref = t.at("train.coarse_ref");
  train.coarse_target = t.at("train.coarse_target");
  train.fine_target = t.at("train.fine_target");
  train.mask = t.at("train.mask");
  train.dt = t.at("train.dt");
  torch::Tensor last;
  std::printf("ready %d\n", torch::get_num_threads());
  std::fflush(stdout);
  for (std::string cmd; std::cin >> cmd;) {
    if (cmd == "predict") {
      int64_t tile = 256;
      std::cin >> tile;
      bench::Stopwatch sw;
      last = tiled_predict(model, t, tile);
      std::printf("predict %.6f\n", sw.seconds());
    } else if (cmd == "train") {
      int steps = 1;
      std::cin >> steps;
      double loss = 0;
      bench::Stopwatch sw;
      for (int i = 0; i < steps; ++i) loss = model.train_step(train).at("loss");
      std::printf("train %.6f %.9g\n", sw.seconds(), loss);
    } else if (cmd == "dump") {
      std::string path;
      std::cin >> path;
      std::ofstream(path, std::ios::binary)
          .write(reinterpret_cast<const char*>(last.contiguous().data_ptr<float>()),
                 static_cast<std::streamsize>(last.numel() * sizeof(float)));
      std::printf("dump ok\n");
    } else {
      break;
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  int size = 120, epochs = 30;
  std::string lr = "1e-4";
  bool eval = true, speed = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--size") && i + 1 < argc) size = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--lr") && i + 1 < argc) lr = argv[++i];
    else if (!std::strcmp(argv[i], "--skip-eval")) eval = false;
    else if (!std::strcmp(argv[i], "--skip-speed")) speed = false;
  }
  bool small_thresholds = false;
  for (int i = 1; i < argc; ++i) small_thresholds = small_thresholds || !std::strcmp(argv[i], "--malloc-128k");
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--side-by-side")) return side_by_side(argv[i + 1], threads, small_thresholds);
  std::printf("bench_deep: %d torch threads\n", threads);
  FitContext ctx;
  ctx.show_progress = false;

  if (speed) {
  // 1. Training throughput: paper patches 40 x 40, batch 16, one epoch on a 200 x 200 pair set.
  {
    auto s = make_synthetic_series(200, 200, 3, 16, 10);
    auto m = sttfn(threads);
    m->options().set("epochs", "1");
    m->options().set("val-fraction", "0");
    bench::Stopwatch sw;
    m->fit(s.pairs, ctx);
    const double t = sw.seconds();
    const auto n = m->last_report()->train_patches;
    std::printf("train: %lld patches (40x40, batch 16, fwd+bwd nets) in %.2f s = %.1f patches/s\n", n, t, n / t);
  }

  // 2. Whole-scene prediction, 1300 x 1300, two references.
  {
    auto small = make_synthetic_series(64, 64, 3, 16, 8);
    auto m = sttfn(threads);
    m->options().set("epochs", "1");
    m->options().set("patch", "32");
    m->options().set("stride", "16");
    m->fit(small.pairs, ctx);
    auto big = make_synthetic_series(1300, 1300, 3, 16, 33);
    FusionInput in;
    in.pairs = {big.pairs[0], big.pairs[2]};
    in.coarse = big.pairs[1].coarse;
    in.date = big.pairs[1].date;
    for (int tile : {256, 512}) {
      m->options().set("tile", std::to_string(tile));
      m->predict(in);  // warm-up (folding, allocator)
      bench::Stopwatch sw;
      auto r = m->predict(in);
      std::printf("predict 1300x1300, tile %d: %.2f s (peak RSS %.0f MiB)\n", tile, sw.seconds(), bench::peak_rss_mib());
    }
  }

  }
  if (!eval) return 0;
  // 3. Accuracy on a synthetic series: train on 7 dates (series mode), predict 2 held-out dates
  //    each from its neighbouring training pairs.
  auto s = make_synthetic_series(size, size, 9, 16, 10, 11);
  const std::vector<int> held = {2, 6};
  std::vector<ImagePair> train;
  for (int i = 0; i < 9; ++i)
    if (i != held[0] && i != held[1]) train.push_back(s.pairs[i]);
  auto evaluate = [&](DeepMethod& m, const std::string& weighting) {
    m.options().set("weighting", weighting);
    double sum = 0;
    for (int h : held) {
      FusionInput in;
      in.pairs = {s.pairs[h - 1], s.pairs[h + 1]};
      in.coarse = s.pairs[h].coarse;
      in.date = s.pairs[h].date;
      sum += rmse(m.predict(in).fine, s.pairs[h].fine);
    }
    return sum / held.size();
  };
  double bil = 0, add = 0;
  for (int h : held) {
    bil += rmse(s.pairs[h].coarse, s.pairs[h].fine);
    Raster a = s.pairs[h].coarse;
    const auto& p1 = s.pairs[h - 1];
    const auto& p3 = s.pairs[h + 1];
    const double w1 = 1.0 / std::abs(double(s.pairs[h].date - p1.date));
    const double w3 = 1.0 / std::abs(double(p3.date - s.pairs[h].date));
    for (size_t i = 0; i < a.data().size(); ++i) {
      const double m0 = s.pairs[h].coarse.data()[i];
      a.data()[i] = static_cast<float>((w1 * (p1.fine.data()[i] + m0 - p1.coarse.data()[i]) +
                                        w3 * (p3.fine.data()[i] + m0 - p3.coarse.data()[i])) / (w1 + w3));
    }
    add += rmse(a, s.pairs[h].fine);
  }
  std::printf("eval: %dx%d synthetic series, 7 training dates, held-out dates %d and %d (mean RMSE, K)\n", size,
              size, held[0], held[1]);
  std::printf("  bilinear (coarse target)           %.3f\n", bil / held.size());
  std::printf("  additive (dt-weighted L + M0 - M)  %.3f\n", add / held.size());
  for (const std::string loss : {"huber", "mse"}) {
    auto m = sttfn(threads);
    m->options().set("epochs", std::to_string(epochs));
    m->options().set("loss", loss);
    m->options().set("patience", "0");
    m->options().set("lr", lr);
    bench::Stopwatch sw;
    m->fit(train, ctx);
    const double t = sw.seconds();
    const auto& rep = *m->last_report();
    std::printf("  sttfn %-5s STC                    %.3f   (trained %d epochs, %.0f s, best %s %.4f)\n",
                loss.c_str(), evaluate(*m, "stc"), rep.epochs_run, t, rep.monitored.c_str(), rep.best_loss);
    std::printf("  sttfn %-5s TC                     %.3f\n", loss.c_str(), evaluate(*m, "tc"));
  }
  return 0;
}
