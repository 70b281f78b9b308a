// The deep layer as a module the lstfuse program loads on first use of a deep method
// (src/cli/deep_plugin.cpp): torch's start-up (about 0.35 s, the operator registry) is then paid
// only by the runs that need it. The module holds the deep layer and links torch; everything
// else it uses (core, prep, methods) it takes from the program that loads it, so there is one
// copy of each (one temporary-file registry, one thread setting).
namespace lstfuse {
class MethodRegistry;
void register_deep_methods(MethodRegistry& registry);
}  // namespace lstfuse

extern "C" __attribute__((visibility("default"))) void lstfuse_deep_plugin_register(lstfuse::MethodRegistry& registry) {
  lstfuse::register_deep_methods(registry);
}
