#pragma once
// Method options as real CLI11 flags, made from each method's OptionSet (name, type, default,
// range, help): the one declaration that also gives `lstfuse methods NAME` and JSON option
// files. Each option has two spellings:
//   --METHOD.NAME  in a --help group per method ("Options of starfm"), with its type, default
//                  and range;
//   --NAME         once per distinct name, for the method chosen with --method (benchmark: for
//                  every benchmarked method that has it).
// Where a subcommand has its own flag of that name, the plain spelling is the subcommand's and
// the method's option is reached only as --METHOD.NAME: predict's --tile and --threads tile the
// scene, a deep method's own tile and threads are --sttfn.tile and --sttfn.threads; fuse's -q
// is fuse's, a deep method's quiet option is --sttfn.quiet.
// Values are checked by the option itself (type, limits, choices) when apply() sets them, right
// after the subcommand creates its method and before any input is read; errors name the option.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "lstfuse/methods/method.hpp"

namespace lstfuse::cli {

class MethodFlags {
 public:
  using Values = std::vector<std::pair<std::string, std::string>>;  // option name, value

  // Binds the options of every registered method for which `which` is true (all when empty)
  // into `cmd`, after the subcommand's own flags (which must be added first, as they take the
  // plain spellings), and adds --options FILE (and, with `old_config`, the deprecated --config).
  // `plain_for` says in --help whom a plain --NAME reaches.
  static std::shared_ptr<MethodFlags> bind(CLI::App* cmd, bool old_config,
                                           const std::function<bool(const MethodInfo&)>& which = {},
                                           const std::string& plain_for = "the method chosen");

  // The options file, then the plain flags, then the method's own --METHOD.NAME flags, set on
  // `method`. Throws Error naming the flag when a flag given belongs to no option of `method`, or
  // when anything is left that is no flag at all.
  void apply(Method& method) const;
  // Benchmark: plain flags go to every method that has them; --METHOD.NAME to that method.
  Values plain() const;
  Values prefixed(const std::string& method) const;
  std::vector<std::string> prefixed_methods() const;  // methods with a --METHOD.NAME given
  // Arguments CLI11 did not know: an Error naming the first (with the known spellings).
  void refuse_unknown() const;
  const std::string& options_file() const { return *file_; }
  // Benchmark: the --options file's options as text values, and the method it names ("method"
  // as 'lstfuse methods NAME --json' writes it; empty when it names none). nullopt without a
  // file; an Error naming the file when it cannot be read or is no JSON object of options.
  struct FileValues {
    std::string method;
    Values values;
  };
  std::optional<FileValues> file_values() const;

 private:
  struct Flag {
    std::string method;  // empty: the plain spelling
    std::string name;    // the option's name
    CLI::Option* option;
  };
  static Values values_of(const Flag& f);
  CLI::App* cmd_ = nullptr;
  std::vector<Flag> flags_;
  std::shared_ptr<std::string> file_ = std::make_shared<std::string>();
};

// One option of an OptionSet as a CLI11 option named `flag`: its type, default and range shown in
// --help, the last value given kept, a boolean also bare. The value is not parsed here: the
// OptionSet's set() checks it (the same check as for a JSON file).
CLI::Option* add_option_flag(CLI::App* cmd, const std::string& flag, const OptionSet::Option& o,
                             const std::string& group);
// The value of such a flag as given ("true" for a bare boolean); nullopt when not given.
std::optional<std::string> option_flag_value(const CLI::Option& flag);

// JSON options file: the options object itself or {"options": {...}} (what `lstfuse methods
// NAME --json` prints). Errors name the file.
void apply_options_file(Method& method, const std::string& path);

}  // namespace lstfuse::cli
