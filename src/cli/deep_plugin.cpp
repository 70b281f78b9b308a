// The lstfuse program's stand-in for the deep layer's registration: the deep methods are listed
// by name, and the deep layer (liblstfuse_deep.so beside the program, built from
// src/plugins/deep.cpp, with torch) is loaded the first time one of them is created. Commands
// that use no deep method never load torch, whose start-up alone took 0.35 s of every run.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/methods/method.hpp"
#include "deep_plugin.hpp"

namespace lstfuse {
namespace {

std::string plugin_path() {
  if (const char* env = std::getenv("LSTFUSE_DEEP_PLUGIN"); env && *env) return env;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ((ec ? std::filesystem::path(".") : exe.parent_path()) / "liblstfuse_deep.so").string();
}

// The deep layer's own registry, loaded once.
const MethodRegistry& deep_registry() {
  static MethodRegistry registry;
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string path = plugin_path();
    // RTLD_NOW: a missing symbol is an error here, not a crash later. RTLD_GLOBAL: torch's
    // own libraries resolve against one another as when linked.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!handle) {
      const char* why = dlerror();
      throw file_error(path, fmt::format("cannot load the deep methods' library ({}); it is built beside the "
                                         "lstfuse program, or set LSTFUSE_DEEP_PLUGIN to it",
                                         why ? why : "unknown reason"));
    }
    using Register = void (*)(MethodRegistry&);
    auto reg = reinterpret_cast<Register>(dlsym(handle, "lstfuse_deep_plugin_register"));
    if (!reg) throw file_error(path, "is not an lstfuse deep-methods library (no lstfuse_deep_plugin_register)");
    MethodRegistry loaded;
    reg(loaded);
    if (loaded.names() != cli::deep_method_names()) {
      throw file_error(path, "registers other deep methods than this lstfuse program knows (a library "
                             "from another build?)");
    }
    registry = std::move(loaded);
  });
  return registry;
}

}  // namespace

namespace cli {

std::string deep_methods_unavailable() {
  try {
    deep_registry();
    return {};
  } catch (const Error& e) {
    return e.what();
  }
}

}  // namespace cli

void register_deep_methods(MethodRegistry& registry) {
  for (const std::string& name : cli::deep_method_names()) {
    registry.add(name, [name] { return deep_registry().create(name); });
  }
}

}  // namespace lstfuse
