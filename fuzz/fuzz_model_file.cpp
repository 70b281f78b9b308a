// The model-file reader (`--model FILE` of predict and fuse: Method::load of a deep method).
// Two forms of input:
//  - bytes starting with '{': the metadata JSON (method, options, normalisation, bands, dates,
//    series context, baseline) put into a torch archive as a saved model holds it, with no
//    weights: every check of the metadata runs, the weights are then refused;
//  - any other bytes: the model file itself (torch's zip archive), for the method the last
//    byte picks.
// A loaded model must have a positive, finite normalisation for each of its bands.
#include <algorithm>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fuzz_support.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "lstfuse/methods/method.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> deep_methods() {
  std::vector<std::string> out;
  for (const auto& n : method_registry().names())
    if (method_registry().create(n)->info().family == "deep") out.push_back(n);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  torch::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const std::vector<std::string> methods = deep_methods();
  const fs::path file = fuzz::scratch() / "model.lstmodel";
  std::string method = methods[data[size - 1] % methods.size()];
  if (data[0] == '{') {
    const std::string meta = fuzz::text_of(data, size);
    // The method the metadata names, when there is such a method (else the load refuses it).
    try {
      const auto j = nlohmann::json::parse(meta);
      if (j.is_object() && j.value("method", nlohmann::json()).is_string()) {
        const std::string named = j["method"].get<std::string>();
        if (std::find(methods.begin(), methods.end(), named) != methods.end()) method = named;
      }
    } catch (const nlohmann::json::exception&) {
    }
    torch::serialize::OutputArchive archive, weights;
    archive.write("meta", c10::IValue(meta));
    archive.write("model", weights);
    archive.save_to(file.string());
  } else {
    fuzz::write_file(file, data, size);
  }
  fuzz::expect_clear_errors("model file", [&] {
    auto m = method_registry().create(method);
    m->load(file);
  });
  return 0;
}
