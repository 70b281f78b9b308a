#include "lstfuse/core/options.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"

namespace lstfuse {
namespace {

std::string format_double(double v) {
  std::string s = fmt::format("{:.10g}", v);
  return s;
}

}  // namespace

std::string OptionSet::normalise(const std::string& name) {
  std::string n = name;
  while (!n.empty() && n.front() == '-') n.erase(n.begin());
  std::replace(n.begin(), n.end(), '_', '-');
  return n;
}

void OptionSet::add(const std::string& name, int& field, const std::string& help) {
  Option o{name, "int", help, std::to_string(field), {}, nullptr, nullptr};
  o.get = [&field] { return std::to_string(field); };
  o.set = [&field, this, name](const std::string& v) {
    // 64-bit parse, then an explicit range check: a value that does not fit is refused, never
    // wrapped (4294967297 must not become 1).
    size_t pos = 0;
    long long x = 0;
    try {
      x = std::stoll(v, &pos);
    } catch (const std::out_of_range&) {
      throw Error(fmt::format("{}: option --{} is out of range: '{}'", owner_, name, v));
    } catch (const std::exception&) {
      throw Error(fmt::format("{}: option --{} expects an integer, got '{}'", owner_, name, v));
    }
    if (pos != v.size() || v.empty() || std::isspace(static_cast<unsigned char>(v.front()))) {
      throw Error(fmt::format("{}: option --{} expects an integer, got '{}'", owner_, name, v));
    }
    if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) {
      throw Error(fmt::format("{}: option --{} is out of range: '{}'", owner_, name, v));
    }
    check_range(*find(name), static_cast<double>(x), v);
    field = static_cast<int>(x);
  };
  options_.push_back(std::move(o));
}

void OptionSet::add(const std::string& name, double& field, const std::string& help) {
  Option o{name, "double", help, format_double(field), {}, nullptr, nullptr};
  o.get = [&field] { return format_double(field); };
  o.set = [&field, this, name](const std::string& v) {
    size_t pos = 0;
    double x = 0.0;
    try {
      x = std::stod(v, &pos);
      if (pos != v.size() || !std::isfinite(x)) throw std::invalid_argument(v);
    } catch (const std::exception&) {
      throw Error(fmt::format("{}: option --{} expects a finite number, got '{}'", owner_, name, v));
    }
    check_range(*find(name), x, v);
    field = x;
  };
  options_.push_back(std::move(o));
}

void OptionSet::add(const std::string& name, bool& field, const std::string& help) {
  Option o{name, "bool", help, field ? "true" : "false", {}, nullptr, nullptr};
  o.get = [&field] { return std::string(field ? "true" : "false"); };
  o.set = [&field, this, name](const std::string& v) {
    if (v == "true" || v == "1" || v == "yes" || v == "on") field = true;
    else if (v == "false" || v == "0" || v == "no" || v == "off") field = false;
    else throw Error(fmt::format("{}: option --{} expects true or false, got '{}'", owner_, name, v));
  };
  options_.push_back(std::move(o));
}

void OptionSet::add(const std::string& name, std::string& field, const std::string& help) {
  Option o{name, "string", help, field, {}, nullptr, nullptr};
  o.get = [&field] { return field; };
  o.set = [&field](const std::string& v) { field = v; };
  options_.push_back(std::move(o));
}

void OptionSet::add_choice(const std::string& name, std::string& field,
                           std::vector<std::string> choices, const std::string& help) {
  Option o{name, "choice", help, field, choices, nullptr, nullptr};
  o.get = [&field] { return field; };
  o.set = [&field, choices, this, name](const std::string& v) {
    if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
      std::string all;
      for (const auto& c : choices) all += (all.empty() ? "" : ", ") + c;
      throw Error(fmt::format("{}: option --{} must be one of {}, got '{}'", owner_, name, all, v));
    }
    field = v;
  };
  options_.push_back(std::move(o));
}

void OptionSet::limit(const std::string& name, double min, double max, bool min_exclusive) {
  Option* o = find_mutable(name);
  if (!o) throw Error(fmt::format("{}: limit on unknown option --{}", owner_, name));
  o->min = min;
  o->max = max;
  o->min_exclusive = min_exclusive;
}

std::string OptionSet::range_text(const Option& o) {
  const bool has_min = !std::isinf(o.min), has_max = !std::isinf(o.max);
  if (o.odd) {
    Option plain = o;
    plain.odd = false;
    const std::string r = range_text(plain);
    return r.empty() ? "odd" : "odd and " + r;
  }
  if (!has_min && !has_max) return "";
  if (!has_max) return fmt::format("{} {}", o.min_exclusive ? ">" : ">=", format_double(o.min));
  if (!has_min) return fmt::format("<= {}", format_double(o.max));
  if (o.min_exclusive) return fmt::format("> {} and <= {}", format_double(o.min), format_double(o.max));
  return fmt::format("between {} and {}", format_double(o.min), format_double(o.max));
}

std::string OptionSet::type_text(const Option& o) {
  if (o.type != "choice") return o.type;
  std::string all;
  for (const auto& c : o.choices) all += (all.empty() ? "" : "|") + c;
  return all;
}

void OptionSet::check_range(const Option& o, double x, const std::string& text) const {
  const bool low = o.min_exclusive ? !(x > o.min) : x < o.min;
  if (!low && !(x > o.max) && !(o.odd && std::fmod(x, 2.0) == 0.0)) return;
  throw Error(fmt::format("{}: option --{} must be {}, got {}", owner_, o.name, range_text(o), text));
}

OptionSet::Option* OptionSet::find_mutable(const std::string& name) {
  const std::string n = normalise(name);
  for (auto& o : options_)
    if (o.name == n) return &o;
  return nullptr;
}

const OptionSet::Option* OptionSet::find(const std::string& name) const {
  const std::string n = normalise(name);
  for (const auto& o : options_)
    if (o.name == n) return &o;
  return nullptr;
}

void OptionSet::require_odd(const std::string& name) {
  Option* o = find_mutable(name);
  if (!o || o->type != "int") throw Error(fmt::format("{}: no int option '{}' to require odd", owner_, name));
  o->odd = true;
}

bool OptionSet::has(const std::string& name) const { return find(name) != nullptr; }

void OptionSet::set(const std::string& name, const std::string& value) {
  const Option* o = find(name);
  if (!o) {
    std::string all;
    for (const auto& x : options_) all += (all.empty() ? "" : ", ") + ("--" + x.name);
    throw Error(fmt::format("{}: unknown option --{} (known: {})", owner_, normalise(name),
                            all.empty() ? "none" : all));
  }
  o->set(value);
  given_.insert(o->name);
}

std::string OptionSet::get(const std::string& name) const {
  const Option* o = find(name);
  if (!o) throw Error(fmt::format("{}: unknown option --{}", owner_, normalise(name)));
  return o->get();
}

nlohmann::json OptionSet::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& o : options_) {
    const std::string v = o.get();
    if (o.type == "int") j[o.name] = std::stol(v);
    else if (o.type == "double") j[o.name] = std::stod(v);
    else if (o.type == "bool") j[o.name] = (v == "true");
    else j[o.name] = v;
  }
  return j;
}

void OptionSet::from_json(const nlohmann::json& object) {
  if (!object.is_object()) throw Error(owner_ + ": options must be a JSON object");
  for (const auto& [key, value] : object.items()) {
    if (value.is_string()) set(key, value.get<std::string>());
    else if (value.is_boolean()) set(key, value.get<bool>() ? "true" : "false");
    // Unsigned beyond 2^63 - 1 must not wrap negative on the way: its own text goes to the range check.
    else if (value.is_number_unsigned()) set(key, std::to_string(value.get<unsigned long long>()));
    else if (value.is_number_integer()) set(key, std::to_string(value.get<long long>()));
    else if (value.is_number()) set(key, format_double(value.get<double>()));
    else throw Error(fmt::format("{}: option {} has an unsupported JSON value", owner_, key));
  }
}

void OptionSet::mark_at_prediction(const std::vector<std::string>& names) {
  for (const auto& n : names) {
    auto* o = find_mutable(n);
    if (!o) throw Error(fmt::format("{}: no option --{} to mark as acting at prediction", owner_, n));
    o->at_prediction = true;
  }
}

std::string OptionSet::help_text() const {
  std::ostringstream os;
  for (const auto& o : options_) {
    const std::string range = range_text(o);
    os << fmt::format("  --{:<22} {} (default {}) [{}{}]{}\n", o.name, o.help, o.default_value, type_text(o),
                      range.empty() ? "" : ", " + range, o.at_prediction ? " (at prediction)" : "");
  }
  return os.str();
}

}  // namespace lstfuse
