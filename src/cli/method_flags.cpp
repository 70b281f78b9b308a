#include "method_flags.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common_flags.hpp"
#include "deep_plugin.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/pipeline/registry.hpp"

namespace lstfuse::cli {
namespace {

// One instance of every registered method, made once per process, whose OptionSets declare the
// flags (every subcommand that takes a method binds from the same instances).
const std::vector<std::unique_ptr<Method>>& declarations() {
  static const auto all = [] {
    std::vector<std::unique_ptr<Method>> v;
    // The deep methods only when the command line may use them: creating one loads their
    // module and torch (0.35 s), which a classic run does not need (deep_plugin.hpp). Without
    // the module, --help and the classic methods go on; a command naming a deep method stops
    // with the reason (main prints it as one line).
    bool deep = deep_methods_wanted();
    if (deep) {
      if (const std::string why = deep_methods_unavailable(); !why.empty()) {
        if (deep_method_named()) throw Error(why);
        spdlog::warn("the deep methods are left out: {}", why);
        deep = false;
      }
    }
    for (const auto& n : method_registry().names()) {
      if (is_deep_method(n) && !deep) continue;
      v.push_back(method_registry().create(n));
    }
    return v;
  }();
  return all;
}

std::string type_name(const OptionSet::Option& o) {
  if (o.type == "int") return "INT";
  if (o.type == "double") return "FLOAT";
  if (o.type == "bool") return "BOOL";
  if (o.type == "choice") return "{" + OptionSet::type_text(o) + "}";
  return "TEXT";
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : sep) + i;
  return s;
}

// Help text wrapped at `width` columns (CLI11 prints a footer as it is given).
std::string wrap(const std::string& text, size_t width) {
  std::string out, line, word;
  auto flush_word = [&] {
    if (word.empty()) return;
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    word.clear();
  };
  for (char c : text) {
    if (c == ' ') flush_word();
    else if (c == '\n') {
      flush_word();
      out += line + "\n";
      line.clear();
    } else {
      word += c;
    }
  }
  flush_word();
  return out + line;
}

std::string known_options(const Method& m) {
  std::vector<std::string> names;
  for (const auto& o : m.options().list()) names.push_back("--" + o.name);
  return names.empty() ? "none" : join(names, ", ");
}

}  // namespace

CLI::Option* add_option_flag(CLI::App* cmd, const std::string& flag, const OptionSet::Option& o,
                             const std::string& group) {
  const std::string range = OptionSet::range_text(o);
  auto* opt = cmd->add_option(flag)->description(o.help + (range.empty() ? "" : " [" + range + "]"));
  opt->type_name(type_name(o))
      ->default_str(o.default_value)
      ->multi_option_policy(CLI::MultiOptionPolicy::Throw)  // given twice: which one was meant?
      ->group(group);
  if (o.type == "bool") opt->expected(0, 1);
  else opt->check(non_empty());  // "--start ''" was read as a bare flag, "true"
  return opt;
}

std::optional<std::string> option_flag_value(const CLI::Option& flag) {
  if (flag.count() == 0) return std::nullopt;
  const auto& r = flag.results();
  // A bare boolean flag ("--zero-bias") means true; an empty value given to it (an unset shell
  // variable: `--zero-bias "$Z"`) was read the same way.
  if (r.empty() || r.back().empty()) {
    if (given_empty(flag))
      throw Error(fmt::format("--{}: is empty: give true or false, or leave the value out", flag.get_lnames().front()));
    return std::string("true");
  }
  return r.back();
}

nlohmann::json read_options_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw file_error(path, "the options file does not exist");
  if (!std::filesystem::is_regular_file(path)) throw file_error(path, "the options file is not a regular file");
  std::ifstream in(path);
  if (!in) throw file_error(path, "cannot open the options file");
  // A key written twice in one object (an option set twice while editing) would silently keep
  // the last value: refused, naming it. One set of keys per open object.
  std::vector<std::set<std::string>> keys;
  std::string twice;
  const auto watch = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) keys.emplace_back();
    else if (event == E::object_end && !keys.empty()) keys.pop_back();
    else if (event == E::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
             twice.empty())
      twice = parsed.get<std::string>();
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in, watch);
  } catch (const nlohmann::json::exception& e) {
    throw file_error(path, json_problem(e));
  }
  if (!twice.empty()) throw file_error(path, fmt::format("\"{}\" is given twice in one object", twice));
  return j;
}

// The options of a file in either form: a plain object of options, or 'lstfuse methods NAME
// --json''s {"method": NAME, "options": {...}}. In the second form any other key is refused (it
// was dropped without a word); in either, "method" must be a method's name and is not an option.
nlohmann::json options_of_file(const nlohmann::json& j, const std::string& path) {
  if (j.is_object() && j.contains("method") && !j.at("method").is_string())
    throw file_error(path, "\"method\" must be a method's name");
  if (!(j.is_object() && j.contains("options"))) {
    nlohmann::json plain = j;
    if (plain.is_object()) plain.erase("method");
    return plain;
  }
  for (const auto& [key, value] : j.items())
    if (key != "options" && key != "method")
      throw file_error(path, fmt::format("\"{}\" stands beside \"options\": put every option inside \"options\"", key));
  return j.at("options");
}

void apply_options_file(Method& method, const std::string& path) {
  if (path.empty()) return;
  const nlohmann::json j = read_options_file(path);
  const nlohmann::json o = options_of_file(j, path);
  // A file written for another method (its "method") does not configure this one.
  if (j.is_object() && j.contains("method") && j.at("method").get<std::string>() != method.info().name)
    throw file_error(path, fmt::format("holds options of {} (its \"method\"), but --method is {}",
                                       j.at("method").get<std::string>(), method.info().name));
  try {
    method.options().from_json(o);
  } catch (const Error& e) {
    throw file_error(path, e.what());
  }
}

std::shared_ptr<MethodFlags> MethodFlags::bind(CLI::App* cmd, bool old_config,
                                               const std::function<bool(const MethodInfo&)>& which,
                                               const std::string& plain_for) {
  auto mf = std::make_shared<MethodFlags>();
  mf->cmd_ = cmd;
  cmd->add_option("--options", *mf->file_,
                  "JSON file of method options: {\"name\": value, ...} or {\"options\": {...}} as "
                  "'lstfuse methods NAME --json' prints it; flags given as well win")
      ->type_name("FILE")
      ->check(non_empty());
  if (old_config) add_deprecated(cmd, "--config", *mf->file_, "--options");

  std::set<std::string> own;
  for (const CLI::Option* o : cmd->get_options())
    for (const auto& n : o->get_lnames()) own.insert(n);

  struct Use {
    std::string method;
    const OptionSet::Option* option;
  };
  std::map<std::string, std::vector<Use>> by_name;
  std::vector<std::string> order;  // plain names, first seen first
  for (const auto& m : declarations()) {
    if (which && !which(m->info())) continue;
    const std::string& method = m->info().name;
    const std::string group = "Options of " + method;
    for (const auto& o : m->options().list()) {
      mf->flags_.push_back({method, o.name, add_option_flag(cmd, "--" + method + "." + o.name, o, group)});
      if (!by_name.count(o.name)) order.push_back(o.name);
      by_name[o.name].push_back({method, &o});
    }
  }
  std::vector<std::string> shadowed;
  for (const auto& name : order) {
    if (own.count(name)) {  // the subcommand's own flag: the method's is --METHOD.NAME only
      shadowed.push_back("--" + name);
      continue;
    }
    const auto& uses = by_name[name];
    std::vector<std::string> methods;
    bool all_bool = true, any_bool = false, one_type = true;
    for (const auto& u : uses) {
      methods.push_back(u.method);
      all_bool = all_bool && u.option->type == "bool";
      any_bool = any_bool || u.option->type == "bool";
      one_type = one_type && type_name(*u.option) == type_name(*uses.front().option);
    }
    auto* opt = cmd->add_option("--" + name)->description(uses.front().option->help + " (" + join(methods, ", ") + ")");
    opt->type_name(one_type ? type_name(*uses.front().option) : "VALUE")
        ->multi_option_policy(CLI::MultiOptionPolicy::Throw)
        ->group("Method options, for " + plain_for + " (type, default and range in the method's group above)");
    if (all_bool) opt->expected(0, 1);
    if (!any_bool) opt->check(non_empty());
    mf->flags_.push_back({"", name, opt});
  }
  std::string footer =
      "\nMethod options: --METHOD.NAME VALUE sets option NAME of METHOD (listed per method above, "
      "with type, default and range; the same as 'lstfuse methods METHOD'); the plain --NAME VALUE "
      "sets it for " + plain_for + ". Booleans take true/false or stand alone for true.";
  if (!shadowed.empty()) {
    footer += fmt::format(" {} {} {}'s own: the methods' options of {} are --METHOD.NAME only "
                          "(e.g. --{}.{}).", join(shadowed, ", "), shadowed.size() == 1 ? "is" : "are",
                          cmd->get_name(), shadowed.size() == 1 ? "that name" : "those names",
                          by_name[shadowed.front().substr(2)].front().method, shadowed.front().substr(2));
  }
  cmd->footer(wrap(footer, 100) + "\n");
  return mf;
}

std::optional<MethodFlags::FileValues> MethodFlags::file_values() const {
  if (file_->empty()) return std::nullopt;
  const nlohmann::json j = read_options_file(*file_);
  const nlohmann::json o = options_of_file(j, *file_);
  if (!o.is_object()) throw file_error(*file_, "the options file must hold a JSON object of options");
  FileValues out;
  if (j.is_object()) out.method = j.value("method", "");
  for (const auto& [name, value] : o.items())
    out.values.emplace_back(name, value.is_string() ? value.get<std::string>() : value.dump());
  return out;
}

MethodFlags::Values MethodFlags::values_of(const Flag& f) {
  const auto v = option_flag_value(*f.option);
  if (!v) return {};
  return {{f.name, *v}};
}

void MethodFlags::refuse_unknown() const {
  const auto rest = cmd_->remaining();
  if (rest.empty()) return;
  const std::string& a = rest.front();
  if (a.rfind("-", 0) == 0) {
    throw UsageError(fmt::format("{}: unknown option {} (see 'lstfuse {} --help' and 'lstfuse methods NAME')",
                            cmd_->get_name(), a.substr(0, a.find('=')), cmd_->get_name()));
  }
  throw UsageError(fmt::format("{}: unexpected argument '{}'", cmd_->get_name(), a));
}

void MethodFlags::apply(Method& method) const {
  refuse_unknown();
  const std::string& name = method.info().name;
  apply_options_file(method, *file_);
  // Each option once on the command line: --window 7 --starfm.window 5 kept the last spelling's.
  std::map<std::string, std::string> given;  // normalised option -> the flag that set it
  for (const bool prefixed : {false, true}) {
    for (const auto& f : flags_) {
      if (f.method.empty() == prefixed) continue;
      for (const auto& [option, value] : values_of(f)) {
        const std::string flag = prefixed ? "--" + f.method + "." + option : "--" + option;
        const auto [it, fresh] = given.emplace(OptionSet::normalise(option), flag);
        if (!fresh && (!prefixed || f.method == name)) {
          throw Error(fmt::format("{}: {} and {} both set option {} of {}: give it once", cmd_->get_name(),
                                  it->second, flag, OptionSet::normalise(option), name));
        }
        if (prefixed && f.method != name) {
          throw Error(fmt::format("{}: --{}.{} is an option of {}, but --method is {}", cmd_->get_name(),
                                  f.method, option, f.method, name));
        }
        if (!method.options().has(option)) {
          throw Error(fmt::format("{}: {} has no option --{} (its options: {}; see 'lstfuse methods {}')",
                                  cmd_->get_name(), name, option, known_options(method), name));
        }
        method.options().set(option, value);
      }
    }
  }
  method.check_options();
}

MethodFlags::Values MethodFlags::plain() const {
  Values out;
  for (const auto& f : flags_)
    if (f.method.empty())
      for (auto& v : values_of(f)) out.push_back(v);
  return out;
}

MethodFlags::Values MethodFlags::prefixed(const std::string& method) const {
  Values out;
  for (const auto& f : flags_)
    if (f.method == method)
      for (auto& v : values_of(f)) out.push_back(v);
  return out;
}

std::vector<std::string> MethodFlags::prefixed_methods() const {
  std::vector<std::string> out;
  for (const auto& f : flags_)
    if (!f.method.empty() && f.option->count() > 0 &&
        (out.empty() || out.back() != f.method))
      out.push_back(f.method);
  return out;
}

}  // namespace lstfuse::cli
