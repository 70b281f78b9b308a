// Deep engine figures: STTFN training throughput (patches/s), time to predict a 1300 x 1300
// scene (eval mode, BN folded, no grad, tiles), and accuracy on a synthetic series against the
// bilinear and additive baselines, with the paper's ablations (STC vs TC, Huber vs MSE).
//   bench_deep [--threads N] [--size 120] [--epochs 30] [--lr 1e-4] [--skip-eval] [--skip-speed]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

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
