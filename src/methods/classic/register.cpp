#include "lstfuse/methods/method.hpp"

namespace lstfuse {

void register_classic_methods(MethodRegistry& registry) { (void)registry; }

}  // namespace lstfuse
