// The method options of the command line: arguments of a subcommand whose flags MethodFlags
// binds from every method's OptionSet (CLI11's parse, then MethodFlags::apply, hence
// OptionSet::set and its typed ranges), a JSON options file (cli::apply_options_file, hence
// from_json), and benchmark entries "METHOD:name=value,..." (pipeline::parse_method_list).
// Input: the first byte picks the method and the form, the rest is the text: arguments one a
// line, a config file's bytes, or a method list. Invariant: options that were accepted can be
// written out and read back (the model files and fuse's index rely on that).
#include <sstream>

#include "fuzz_support.hpp"
#include "lstfuse/pipeline/registry.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/benchmark.hpp"
#include "method_flags.hpp"

using namespace lstfuse;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

void round_trip(Method& m) {
  const auto j = m.options().to_json();
  auto fresh = method_registry().create(m.info().name);
  fresh->options().from_json(j);
  fuzz::require(fresh->options().to_json() == j, "accepted options read back as written");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 4096) return 0;
  static const std::vector<std::string> names = method_registry().names();
  const std::string& name = names[data[0] % names.size()];
  const std::string text = fuzz::text_of(data + 1, size - 1);
  switch ((data[0] / names.size()) % 3) {
    case 0:
      fuzz::expect_clear_errors("method arguments", [&] {
        auto m = method_registry().create(name);
        CLI::App app;
        auto* cmd = app.add_subcommand("predict");
        cmd->allow_extras();
        const auto flags = cli::MethodFlags::bind(cmd, true);
        const auto args = lines(text);
        std::vector<std::string> argv(args.rbegin(), args.rend());  // CLI11 takes them reversed
        argv.push_back("predict");
        try {
          app.parse(argv);
        } catch (const CLI::ParseError&) {
          return;  // a clear refusal too: main prints it as one line
        }
        flags->apply(*m);
        round_trip(*m);
      });
      break;
    case 1: {
      const fs::path config = fuzz::scratch() / "config.json";
      fuzz::write_file(config, data + 1, size - 1);
      fuzz::expect_clear_errors("method config file", [&] {
        auto m = method_registry().create(name);
        cli::apply_options_file(*m, config.string());
        round_trip(*m);
      });
      break;
    }
    default:
      fuzz::expect_clear_errors("benchmark method list", [&] {
        for (const auto& e : pipeline::parse_method_list(text)) {
          auto m = method_registry().create(e.method);
          for (const auto& [k, v] : e.options) m->options().set(k, v);
          round_trip(*m);
        }
      });
      break;
  }
  return 0;
}
