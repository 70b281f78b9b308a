// The large-block cache behind LibTorch's CPU allocator (src/deep/engine/block_cache.cpp).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "lstfuse/deep/block_cache.hpp"
#include "lstfuse/deep/engine.hpp"

using namespace lstfuse;

namespace {

// 4 MiB of floats: above the cache's 1 MiB threshold.
constexpr int64_t kLargeFloats = 1 << 20;

}  // namespace

TEST(BlockCache, IsLibTorchsCpuAllocatorOnceTheDeepLibraryLoads) {
  (void)deep::allocator_tuned_for_networks();  // the library's load-time settings ran
  EXPECT_TRUE(deep::block_cache_stats().installed);
}

TEST(BlockCache, AFreedLargeBlockServesTheNextRequestOfItsSize) {
  deep::release_idle_blocks();  // no block left by another test in this process
  const auto before = deep::block_cache_stats();
  const void* first = nullptr;
  {
    auto t = torch::empty({kLargeFloats});
    first = t.data_ptr();
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(first) % 64, 0u);
  }
  auto again = torch::empty({kLargeFloats});
  const auto after = deep::block_cache_stats();
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_GE(after.hits, before.hits + 1);
  // A slightly smaller request (a tile a few rows shorter) shares the block too.
  again = torch::Tensor();
  auto smaller = torch::empty({kLargeFloats - 4096});
  EXPECT_EQ(smaller.data_ptr(), first);
  smaller = torch::Tensor();
  // What was counted in use when the larger block was handed out is given back in full.
  EXPECT_EQ(deep::block_cache_stats().live_bytes, before.live_bytes);
}

TEST(BlockCache, BlocksTakenAndFreedOnManyThreadsBalance) {
  const auto before = deep::block_cache_stats();
  at::parallel_for(0, 64, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      auto t = torch::full({kLargeFloats + 1000 * (i % 5)}, static_cast<float>(i));
      EXPECT_FLOAT_EQ(t[7].item<float>(), static_cast<float>(i));
    }
  });
  EXPECT_EQ(deep::block_cache_stats().live_bytes, before.live_bytes);
}

TEST(BlockCache, SmallTensorsBypassTheCache) {
  const auto before = deep::block_cache_stats();
  for (int i = 0; i < 100; ++i) {
    auto t = torch::ones({256});
    ASSERT_FLOAT_EQ(t.sum().item<float>(), 256.0f);
  }
  const auto after = deep::block_cache_stats();
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses);
}

TEST(BlockCache, IdleAndLiveBlocksStayWithinThePeakInUse) {
  std::vector<torch::Tensor> live;
  for (int k = 1; k <= 6; ++k) live.push_back(torch::zeros({kLargeFloats * k}));
  live.clear();
  // Other sizes now: misses that must evict idle blocks rather than grow beyond the peak.
  for (int k = 7; k <= 9; ++k) live.push_back(torch::full({kLargeFloats * k}, 1.0f));
  const auto s = deep::block_cache_stats();
  EXPECT_LE(s.live_bytes + s.idle_bytes, s.peak_live_bytes);
  EXPECT_GE(s.misses, 3);
  // Reused blocks hold what was written to them, not what an earlier tensor left.
  for (int k = 7; k <= 9; ++k)
    EXPECT_FLOAT_EQ(live[static_cast<size_t>(k - 7)].sum().item<float>(), static_cast<float>(kLargeFloats * k));
  live.clear();
  deep::release_idle_blocks();
  EXPECT_EQ(deep::block_cache_stats().idle_bytes, 0u);
}
