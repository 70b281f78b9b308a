#pragma once
// LibTorch's CPU allocator with a cache of large blocks (src/deep/engine/block_cache.cpp).
//
// A network predicting a scene allocates and frees the same few activation sizes for every
// layer and tile. glibc hands blocks over 32 MB to mmap (its threshold cannot go higher), so
// each such block goes back to the OS when freed and is page-faulted in again, zeroed by the
// kernel, at the next layer: MLFF-GAN spent a third of its prediction time in the kernel. The
// cache keeps freed blocks of 1 MiB and more and hands them out again to requests of about the
// same size; smaller blocks are allocated and freed at once, as LibTorch's own allocator does.
//
// Memory stays bounded: after every allocation the idle blocks plus the blocks in use are at
// most the most that was ever in use at once (idle blocks are released, oldest first, beyond
// that), so the cache costs no more than the peak a prediction needed anyway. That peak is
// kept for the life of the process (release_idle_blocks() gives it back). Under AddressSanitizer
// reused blocks hide a use after free of a tensor of 1 MiB or more; smaller ones stay checked.
#include <cstddef>
#include <cstdint>

namespace lstfuse::deep {

struct BlockCacheStats {
  int64_t hits = 0;          // large requests served from idle blocks
  int64_t misses = 0;        // large requests that allocated a new block
  std::size_t live_bytes = 0;  // large blocks in use
  std::size_t idle_bytes = 0;  // large blocks kept for reuse
  std::size_t peak_live_bytes = 0;
  bool installed = false;    // the cache is LibTorch's CPU allocator
};

// Makes the cache LibTorch's CPU allocator; idempotent and thread-safe. Only before any tensor
// exists: LibTorch frees raw buffers through whatever allocator is current at the time, and a
// buffer of the old allocator has no header. The deep library calls it when it loads.
void install_block_cache();
BlockCacheStats block_cache_stats();
// Frees every idle block (blocks in use are not touched).
void release_idle_blocks();

}  // namespace lstfuse::deep
