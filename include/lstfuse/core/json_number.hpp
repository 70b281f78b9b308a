#pragma once
// Whole numbers read from JSON files that users hand over (catalog and simulation manifests,
// model files). nlohmann's get<long long>() turns a floating-point value such as 4e64 into an
// integer with a cast whose result is undefined; a width like that must be an error naming the
// field instead.
#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "lstfuse/core/error.hpp"

namespace lstfuse {

inline long long json_whole_number(const nlohmann::json& v, const std::string& field) {
  constexpr auto kMax = std::numeric_limits<long long>::max();
  if (v.is_number_unsigned()) {
    const auto u = v.get<unsigned long long>();
    if (u > static_cast<unsigned long long>(kMax)) throw Error("'" + field + "' is far too large");
    return static_cast<long long>(u);
  }
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 is exactly representable; anything at or beyond it does not fit.
    if (!std::isfinite(d) || std::fabs(d) >= 9223372036854775808.0) throw Error("'" + field + "' is far too large");
    if (d != std::floor(d)) throw Error("'" + field + "' is not a whole number");
    return static_cast<long long>(d);
  }
  throw Error("'" + field + "' is not a number");
}

inline int json_int(const nlohmann::json& v, const std::string& field) {
  const long long n = json_whole_number(v, field);
  if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max()) {
    throw Error("'" + field + "' is out of range");
  }
  return static_cast<int>(n);
}

}  // namespace lstfuse
