#pragma once
// Options as data. A method (or any stage) keeps its settings in a plain struct with the paper's
// defaults and binds each field here once, by name, with a help text. The same binding then
// serves the command line's flags (src/cli/method_flags.cpp), JSON option files, `lstfuse
// methods` listings and checkpoints.
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lstfuse {

class OptionSet {
 public:
  struct Option {
    std::string name;   // kebab-case, as on the command line without "--"
    std::string type;   // int, double, bool, string, or "choice"
    std::string help;
    std::string default_value;
    std::vector<std::string> choices;  // for "choice"
    std::function<std::string()> get;
    std::function<void(const std::string&)> set;  // throws Error on a bad value
    // Accepted range of an int or double option (inclusive), checked on every set().
    double min = -std::numeric_limits<double>::infinity();
    double max = std::numeric_limits<double>::infinity();
    bool min_exclusive = false;  // e.g. a learning rate must be > 0, not >= 0
    bool odd = false;            // an int that must be odd (a window centred on its pixel)
    // Of a trained method: acts when its model predicts, read from the options at that call.
    // The others are fixed in the model when it is created (by training, or from a model file).
    bool at_prediction = false;
  };

  OptionSet() = default;
  explicit OptionSet(std::string owner) : owner_(std::move(owner)) {}
  // Copying would leave the bound references pointing at the old struct.
  OptionSet(const OptionSet&) = delete;
  OptionSet& operator=(const OptionSet&) = delete;

  void add(const std::string& name, int& field, const std::string& help);
  void add(const std::string& name, double& field, const std::string& help);
  void add(const std::string& name, bool& field, const std::string& help);
  void add(const std::string& name, std::string& field, const std::string& help);
  void add_choice(const std::string& name, std::string& field, std::vector<std::string> choices,
                  const std::string& help);

  // Restricts a number option to [min, max] (or (min, max] with min_exclusive). Every later
  // set() outside the range throws Error naming the option and the range, so a bad value is
  // refused when it is given, before any work starts.
  void limit(const std::string& name, double min, double max, bool min_exclusive = false);
  // An int option that must be odd (checked with the range, said in its range text).
  void require_odd(const std::string& name);
  // Marks options as acting at prediction (Option::at_prediction); an unknown name throws Error.
  void mark_at_prediction(const std::vector<std::string>& names);

  bool has(const std::string& name) const;
  // Accepts "half-window", "half_window" or "--half-window". Throws Error naming the owner and
  // listing the known options when the name is unknown, or when the value does not parse.
  void set(const std::string& name, const std::string& value);
  std::string get(const std::string& name) const;
  // Whether set() was called for an option since construction or forget_given(), whatever the
  // value (a value equal to the default given on purpose counts): a trained model's fixed
  // options are compared with what was given, not with what differs from the default.
  bool was_given(const std::string& name) const { return given_.count(normalise(name)) > 0; }
  void forget_given() { given_.clear(); }
  const std::vector<Option>& list() const { return options_; }
  const std::string& owner() const { return owner_; }

  nlohmann::json to_json() const;                 // {"half-window": 25, ...}
  void from_json(const nlohmann::json& object);   // unknown keys are an error
  std::string help_text() const;                  // one line per option: type, default, range, "at prediction"

  // "int", "double", "bool", "string", or the choices as "a|b|c".
  static std::string type_text(const Option& o);
  // The accepted range in words (">= 1", "between 0 and 1", "> 0 and <= 1"); empty when the
  // option has none. The same words appear in the error for a value outside it.
  static std::string range_text(const Option& o);

  static std::string normalise(const std::string& name);

 private:
  std::set<std::string> given_;
  const Option* find(const std::string& name) const;
  Option* find_mutable(const std::string& name);
  void check_range(const Option& o, double x, const std::string& text) const;
  std::string owner_;
  std::vector<Option> options_;
};

}  // namespace lstfuse
