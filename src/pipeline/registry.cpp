#include "lstfuse/pipeline/registry.hpp"

#include "lstfuse/deep/register.hpp"

namespace lstfuse {

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
