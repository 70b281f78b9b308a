#pragma once
// Thread counts given by users are capped to what the machine has: more OpenMP or torch threads
// than hardware threads only cost memory (100000 of them exhausted the stacks and crashed).
namespace lstfuse {

// Hardware threads of this machine (at least 1).
int hardware_threads();
// 0 (or less) means all hardware threads; more than the machine has is capped to it.
int usable_threads(int requested);

// The process's thread count for every pool: OpenMP's, and those of libraries that keep their own
// (torch's, registered by the deep layer when it is loaded, which may be after this is called:
// a pool registered later is set to the last count at once).
void set_thread_pools(int threads);
void register_thread_pool(void (*set_threads)(int));

}  // namespace lstfuse
