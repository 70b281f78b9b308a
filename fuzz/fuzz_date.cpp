// The date parser: Date::parse / try_parse (--date, manifests), Date::from_filename and
// filename_date_problem (product names), Date(y, m, d) and from_year_doy.
// Input: any text. Invariants: parse and try_parse agree; a parsed date prints back to itself
// in both forms; a date found in a name is a valid calendar date; from_filename and
// filename_date_problem never throw (a name without a date is not an error).
#include <cstring>

#include "fuzz_support.hpp"
#include "lstfuse/core/date.hpp"

using namespace lstfuse;

namespace {

void check_valid(const Date& d) {
  fuzz::require(d.year() >= 1900 && d.year() <= 2200, "year within 1900-2200");
  fuzz::require(d.month() >= 1 && d.month() <= 12, "month 1-12");
  fuzz::require(d.day() >= 1 && d.day() <= days_in_month(d.year(), d.month()), "day within its month");
  fuzz::require(Date(d.year(), d.month(), d.day()) == d, "civil round trip");
  fuzz::require(Date::from_year_doy(d.year(), d.day_of_year()) == d, "day-of-year round trip");
  fuzz::require(Date::parse(d.iso()) == d, "iso round trip");
  fuzz::require(Date::parse(d.compact()) == d, "compact round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // File names are at most 255 bytes, dates on the command line shorter still.
  if (size > 512) return 0;
  const std::string text = fuzz::text_of(data, size);

  const auto maybe = Date::try_parse(text);
  bool refused = false;
  fuzz::expect_clear_errors("Date::parse", [&] {
    try {
      const Date d = Date::parse(text);
      fuzz::require(maybe && *maybe == d, "parse agrees with try_parse");
    } catch (const Error&) {
      refused = true;
      throw;
    }
  });
  fuzz::require(refused == !maybe.has_value(), "parse refuses exactly what try_parse does not find");
  if (maybe) check_valid(*maybe);

  std::optional<Date> named;
  std::string problem;
  try {
    named = Date::from_filename(text);
    problem = Date::filename_date_problem(text);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "a file name made the date search throw: %s\n", e.what());
    std::abort();
  }
  fuzz::require(!problem.empty(), "a reason is always given");
  if (named) check_valid(*named);

  // Numbers from the first bytes: the constructors accept valid dates and refuse the rest.
  if (size >= 8) {
    int32_t a, b;
    std::memcpy(&a, data, 4);
    std::memcpy(&b, data + 4, 4);
    fuzz::expect_clear_errors("Date(y, m, d)", [&] { check_valid(Date(a, b & 0xff, (b >> 8) & 0xff)); });
    fuzz::expect_clear_errors("Date::from_year_doy", [&] { check_valid(Date::from_year_doy(a, b)); });
  }
  return 0;
}
