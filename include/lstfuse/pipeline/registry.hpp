#pragma once
// Every built-in method: baselines and classic ones (methods/) and the deep families (deep/),
// assembled here, above both layers, so that neither needs the other's registrations.
#include "lstfuse/methods/method.hpp"

namespace lstfuse {

// The registry with every built-in method registered, in the order `lstfuse methods` lists them.
MethodRegistry& method_registry();

}  // namespace lstfuse
