#include "lstfuse/core/date.hpp"

#include <cctype>
#include <regex>

#include "lstfuse/core/error.hpp"

namespace lstfuse {
namespace {

// Howard Hinnant's civil-from-days algorithms (public domain description).
long days_from_civil(long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long>(doe) - 719468;
}

void civil_from_days(long z, int& y, int& m, int& d) {
  z += 719468;
  const long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long yy = static_cast<long>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(yy + (m <= 2));
}

bool valid_ymd(int y, int m, int d) {
  return y >= 1900 && y <= 2200 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

}  // namespace

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && is_leap_year(year)) return 29;
  return kDays[month - 1];
}

Date::Date(int year, int month, int day) {
  if (!valid_ymd(year, month, day)) {
    throw Error("invalid date " + std::to_string(year) + "-" + std::to_string(month) + "-" +
                std::to_string(day));
  }
  days_ = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
}

Date Date::from_year_doy(int year, int doy) {
  const int n = is_leap_year(year) ? 366 : 365;
  if (year < 1900 || year > 2200 || doy < 1 || doy > n) {
    throw Error("invalid day of year " + std::to_string(doy) + " in " + std::to_string(year));
  }
  return Date(year, 1, 1) + (doy - 1);
}

int Date::year() const { int y, m, d; civil_from_days(days_, y, m, d); return y; }
int Date::month() const { int y, m, d; civil_from_days(days_, y, m, d); return m; }
int Date::day() const { int y, m, d; civil_from_days(days_, y, m, d); return d; }
int Date::day_of_year() const { return static_cast<int>(days_ - Date(year(), 1, 1).days_) + 1; }

std::string Date::iso() const {
  int y, m, d;
  civil_from_days(days_, y, m, d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
  return buf;
}

std::string Date::compact() const {
  int y, m, d;
  civil_from_days(days_, y, m, d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d", y, m, d);
  return buf;
}

std::optional<Date> Date::try_parse(const std::string& text) {
  std::smatch m;
  static const std::regex ymd(R"(^(\d{4})-?(\d{2})-?(\d{2})$)");
  static const std::regex ydoy(R"(^(\d{4})-?(\d{3})$)");
  if (std::regex_match(text, m, ymd)) {
    const int y = std::stoi(m[1]), mo = std::stoi(m[2]), d = std::stoi(m[3]);
    if (!valid_ymd(y, mo, d)) return std::nullopt;
    return Date(y, mo, d);
  }
  if (std::regex_match(text, m, ydoy)) {
    const int y = std::stoi(m[1]), doy = std::stoi(m[2]);
    if (y < 1900 || y > 2200 || doy < 1 || doy > (is_leap_year(y) ? 366 : 365)) return std::nullopt;
    return from_year_doy(y, doy);
  }
  return std::nullopt;
}

Date Date::parse(const std::string& text) {
  auto d = try_parse(text);
  if (!d) throw Error("bad date '" + text + "' (expected YYYY-MM-DD, YYYYMMDD or YYYY-DDD)");
  return *d;
}

std::optional<Date> Date::from_filename(const std::string& name) {
  std::smatch m;
  // MODIS products: MOD11A1.A2019305.h14v09...
  static const std::regex modis(R"((?:^|[._])A(\d{4})(\d{3})(?:[._]|$))");
  if (std::regex_search(name, m, modis)) {
    const int y = std::stoi(m[1]), doy = std::stoi(m[2]);
    // The same years as every other date (from_year_doy refuses the rest): a name is no error.
    if (y >= 1900 && y <= 2200 && doy >= 1 && doy <= (is_leap_year(y) ? 366 : 365)) return from_year_doy(y, doy);
  }
  // Landsat C2: LC08_L2SP_PPPRRR_YYYYMMDD_YYYYMMDD_02_T1_...: the first date is acquisition.
  static const std::regex landsat(R"(L[COTEM]0\d_L\w{3}_\d{6}_([^_]*)_)");
  if (std::regex_search(name, m, landsat)) {
    // Never the processing date that follows: a name whose acquisition field is not a date of
    // 8 digits (20241399, 2024017, 20240107x) has no date.
    static const std::regex eight(R"(\d{8})");
    const std::string field = m[1].str();
    return std::regex_match(field, eight) ? try_parse(field) : std::nullopt;
  }
  // Any 8 digits that form a valid date and are not part of a longer number.
  static const std::regex any8(R"((?:^|\D)(\d{8})(?=\D|$))");
  for (auto it = std::sregex_iterator(name.begin(), name.end(), any8); it != std::sregex_iterator();
       ++it) {
    if (auto d = try_parse((*it)[1])) return d;
  }
  return std::nullopt;
}

std::string Date::filename_date_problem(const std::string& name) {
  std::smatch m;
  static const std::regex landsat(R"(L[COTEM]0\d_L\w{3}_\d{6}_([^_]*)_)");
  if (std::regex_search(name, m, landsat)) {
    return "the Landsat file name's acquisition date " + m[1].str() + " is not a valid date (YYYYMMDD)";
  }
  static const std::regex any8(R"((?:^|\D)(\d{8})(?=\D|$))");
  if (std::regex_search(name, m, any8)) {
    return "the file name holds " + m[1].str() + ", which is not a valid date (YYYYMMDD)";
  }
  static const std::regex modis(R"((?:^|[._])A(\d{4})(\d{3})(?:[._]|$))");
  if (std::regex_search(name, m, modis)) {
    return "the file name holds A" + m[1].str() + m[2].str() + ", which is not a valid year and day of year";
  }
  return "no date in the file name";
}

}  // namespace lstfuse
