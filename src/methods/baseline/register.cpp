#include "lstfuse/methods/baseline/baselines.hpp"
#include "lstfuse/methods/method.hpp"

namespace lstfuse {

void register_baseline_methods(MethodRegistry& registry) {
  registry.add("bilinear", [] { return std::make_unique<BilinearMethod>(); });
  registry.add("additive", [] { return std::make_unique<AdditiveMethod>(); });
}

}  // namespace lstfuse
