// Training throughput (patches/s at patch 40, batch 16) and whole-scene inference time
// (1300 x 1300 in tiles of the family's default size plus its halo, plain loop, one reference) for the
// StfNet, EDCSTFN, MLFF-GAN and DLSTFM families on the CPU, default (paper) options.
//   bench_nets [name ...]     (default: all four)
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bench_support.hpp"
#include "lstfuse/deep/dlstfm.hpp"
#include "lstfuse/deep/edcstfn.hpp"
#include "lstfuse/deep/mlffgan.hpp"
#include "lstfuse/deep/stfnet.hpp"

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

void run(const std::string& name, const deep::DeepFamily& family) {
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
  auto out = torch::empty({1, 1, size, size});
  sw.reset();
  int tiles = 0;
  for (int64_t y = 0; y < size; y += tile) {
    for (int64_t x = 0; x < size; x += tile) {
      const int64_t y0 = std::max<int64_t>(0, y - halo), x0 = std::max<int64_t>(0, x - halo);
      const int64_t y1 = std::min(size, y + tile + halo), x1 = std::min(size, x + tile + halo);
      auto crop = [&](const torch::Tensor& t) { return t.slice(2, y0, y1).slice(3, x0, x1); };
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

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> names(argv + 1, argv + argc);
  if (names.empty()) names = {"stfnet", "edcstfn", "mlffgan", "dlstfm"};
  std::printf("torch threads: %d\n", torch::get_num_threads());
  for (const auto& name : names) {
    if (name == "stfnet") run(name, deep::StfNetFamily{});
    else if (name == "edcstfn") run(name, deep::EdcstfnFamily{});
    else if (name == "mlffgan") run(name, deep::MlffGanFamily{});
    else if (name == "dlstfm") run(name, deep::DlstfmFamily{});
    else std::fprintf(stderr, "unknown network %s\n", name.c_str());
  }
  return 0;
}
