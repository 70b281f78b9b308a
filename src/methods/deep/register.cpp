#include "lstfuse/methods/method.hpp"

namespace lstfuse {

void register_deep_methods(MethodRegistry& registry) { (void)registry; }

}  // namespace lstfuse
