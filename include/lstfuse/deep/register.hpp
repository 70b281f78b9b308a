#pragma once
// The deep families as methods of the registry (each runs through the same engine).
#include "lstfuse/methods/method.hpp"

namespace lstfuse {

void register_deep_methods(MethodRegistry& registry);

}  // namespace lstfuse
