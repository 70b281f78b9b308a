#include "lstfuse/methods/method.hpp"

namespace lstfuse {

void register_baseline_methods(MethodRegistry& registry) { (void)registry; }

}  // namespace lstfuse
