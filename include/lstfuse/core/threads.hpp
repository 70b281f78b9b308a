#pragma once
// Thread counts given by users are capped to what the machine has: more OpenMP or torch threads
// than hardware threads only cost memory (100000 of them exhausted the stacks and crashed).
namespace lstfuse {

// Hardware threads of this machine (at least 1).
int hardware_threads();
// 0 (or less) means all hardware threads; more than the machine has is capped to it.
int usable_threads(int requested);

}  // namespace lstfuse
