#include "lstfuse/deep/deep_method.hpp"
#include "lstfuse/deep/sttfn.hpp"
#include "lstfuse/methods/method.hpp"

namespace lstfuse {

void register_deep_methods(MethodRegistry& registry) {
  registry.add("sttfn", [] { return std::make_unique<deep::DeepMethod>(std::make_unique<deep::SttfnFamily>()); });
}

}  // namespace lstfuse
