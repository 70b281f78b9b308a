#include "lstfuse/pipeline/registry.hpp"

namespace lstfuse {

// The deep families' registration (deep/register.hpp). Programs that link the deep layer (tests,
// benchmarks, the Python module) get it from there; the lstfuse program gets a stand-in that
// loads the deep layer, and torch with it, only when a deep method is used
// (src/cli/deep_plugin.cpp), so that the other commands do not pay torch's start-up.
void register_deep_methods(MethodRegistry& registry);

MethodRegistry& method_registry() {
  static MethodRegistry* registry = [] {
    auto* r = new MethodRegistry();
    register_baseline_methods(*r);
    register_classic_methods(*r);
    register_deep_methods(*r);
    return r;
  }();
  return *registry;
}

}  // namespace lstfuse
