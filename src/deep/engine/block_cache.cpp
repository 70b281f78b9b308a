// LibTorch's CPU allocator with a cache of large blocks: why, in block_cache.hpp.
#include "lstfuse/deep/block_cache.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <vector>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

namespace lstfuse::deep {

namespace {

constexpr std::size_t kLarge = std::size_t{1} << 20;  // smaller blocks are not cached
constexpr std::size_t kHugePage = std::size_t{2} << 20;
// Every block starts with a header that gives its size, so that one deleter frees all blocks;
// 64 bytes keep the data at the 64-byte alignment LibTorch's own allocator gives.
constexpr std::size_t kHeader = 64;

struct Header {
  std::size_t size;  // bytes of the whole block, header included
  bool cached;
};

// A sixteenth of the size's power of two (at least 64 KiB): requests that differ by a few rows
// of a tile share blocks. With reuse of blocks up to an eighth larger, at most about 3/16 of a
// block goes unused.
std::size_t block_size(std::size_t n) {
  const std::size_t total = n + kHeader;
  std::size_t p = 1;
  while (p <= total / 2) p *= 2;
  const std::size_t g = std::max<std::size_t>(p / 16, std::size_t{64} << 10);
  return (total + g - 1) / g * g;
}

void* header_of(void* data) { return static_cast<char*>(data) - kHeader; }

class Cache;
Cache& cache();
void* allocate_aligned(std::size_t align, std::size_t size);

class Cache {
 public:
  // A block of at least `size` bytes; `size` becomes the block's real size, which its header
  // must record so that give() returns exactly what take() counted.
  void* take(std::size_t& size) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // The smallest idle block that fits, if it is at most an eighth larger; among blocks of
      // one size the most recently freed (still in the CPU's caches).
      auto it = by_size_.lower_bound(size);
      if (it != by_size_.end() && it->first <= size + size / 8) {
        const std::size_t found = it->first;
        auto last = by_size_.upper_bound(found);
        it = std::prev(last);
        void* block = it->second->ptr;
        size = found;
        live_ += found;
        idle_ -= found;
        idle_list_.erase(it->second);
        by_size_.erase(it);
        ++hits_;
        return block;
      }
      ++misses_;
    }
    void* block = allocate_block(size);
    std::vector<Idle> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_ += size;
      peak_ = std::max(peak_, live_);
      // Blocks in use plus idle blocks stay within the peak in use: the oldest idle go.
      while (live_ + idle_ > peak_ && !idle_list_.empty()) {
        evicted.push_back(idle_list_.front());
        remove_idle(idle_list_.begin());
      }
    }
    for (const auto& e : evicted) std::free(e.ptr);
    return block;
  }

  void give(void* block, std::size_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    live_ -= size;
    idle_ += size;
    idle_list_.push_back({block, size});
    by_size_.emplace(size, std::prev(idle_list_.end()));
  }

  void release() {
    std::vector<Idle> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      evicted.assign(idle_list_.begin(), idle_list_.end());
      idle_list_.clear();
      by_size_.clear();
      idle_ = 0;
    }
    for (const auto& e : evicted) std::free(e.ptr);
  }

  BlockCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    BlockCacheStats s;
    s.hits = hits_;
    s.misses = misses_;
    s.live_bytes = live_;
    s.idle_bytes = idle_;
    s.peak_live_bytes = peak_;
    return s;
  }

 private:
  struct Idle {
    void* ptr;
    std::size_t size;
  };

  void* allocate_block(std::size_t size) {
    // Huge-page alignment lets the kernel back large blocks with 2 MiB pages where it allows
    // (transparent huge pages on request): 512 times fewer faults on first touch.
    void* block = allocate_aligned(size >= kHugePage ? kHugePage : kHeader, size);
#ifdef MADV_HUGEPAGE
    if (size >= kHugePage) madvise(block, size, MADV_HUGEPAGE);  // advisory: failure changes nothing
#endif
    return block;
  }

  void remove_idle(std::list<Idle>::iterator it) {
    auto range = by_size_.equal_range(it->size);
    for (auto r = range.first; r != range.second; ++r)
      if (r->second == it) {
        by_size_.erase(r);
        break;
      }
    idle_ -= it->size;
    idle_list_.erase(it);
  }

  std::mutex mu_;
  std::list<Idle> idle_list_;  // oldest first
  std::multimap<std::size_t, std::list<Idle>::iterator> by_size_;
  std::size_t live_ = 0, idle_ = 0, peak_ = 0;
  int64_t hits_ = 0, misses_ = 0;
};

// Never destroyed: tensors may be freed during static destruction, after any other object.
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}

// posix_memalign, and once more after the idle blocks are freed (they may be what is missing).
void* allocate_aligned(std::size_t align, std::size_t size) {
  void* block = nullptr;
  if (posix_memalign(&block, align, size) == 0) return block;
  cache().release();
  if (posix_memalign(&block, align, size) == 0) return block;
  TORCH_CHECK(false, "lstfuse CPU allocator: out of memory allocating ", size, " bytes");
  return nullptr;
}

void free_data(void* data) {
  if (data == nullptr) return;
  void* block = header_of(data);
  const auto* h = static_cast<const Header*>(block);
  if (h->cached)
    cache().give(block, h->size);
  else
    std::free(block);
}

c10::DataPtr allocate_data(std::size_t n) {
  if (n == 0) return {nullptr, nullptr, &free_data, c10::Device(c10::DeviceType::CPU)};
  TORCH_CHECK(n <= (std::numeric_limits<std::size_t>::max() >> 2), "lstfuse CPU allocator: ", n,
              " bytes requested");
  const bool cached = n + kHeader >= kLarge;
  std::size_t size = cached ? block_size(n) : n + kHeader;
  void* block = cached ? cache().take(size) : allocate_aligned(kHeader, size);
  auto* h = static_cast<Header*>(block);
  h->size = size;
  h->cached = cached;
  void* data = static_cast<char*>(block) + kHeader;
  return {data, data, &free_data, c10::Device(c10::DeviceType::CPU)};
}

// LibTorch up to 2.2 declares allocate() const and later versions do not; both are defined
// here and the one the installed version declares overrides. copy_data() is pure in the
// versions that have it.
class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t n) const { return allocate_data(n); }
  c10::DataPtr allocate(std::size_t n) { return allocate_data(n); }
  c10::DeleterFnPtr raw_deleter() const { return &free_data; }
  void copy_data(void* dest, const void* src, std::size_t count) const {
    if (count > 0) std::memcpy(dest, src, count);
  }
};

std::once_flag installed_once;
bool installed = false;

}  // namespace

void install_block_cache() {
  std::call_once(installed_once, [] {
    static CachingCpuAllocator* allocator = new CachingCpuAllocator;  // never destroyed, as the cache
    c10::SetCPUAllocator(allocator);
    installed = c10::GetCPUAllocator() == allocator;
  });
}

BlockCacheStats block_cache_stats() {
  BlockCacheStats s = cache().stats();
  s.installed = installed;
  return s;
}

void release_idle_blocks() { cache().release(); }

}  // namespace lstfuse::deep
