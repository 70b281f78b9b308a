#pragma once
// Calendar dates (UTC days). Fusion works with day counts between observations, so a Date is
// stored as days since 1970-01-01 and converted to and from civil form on demand.
#include <optional>
#include <string>

namespace lstfuse {

class Date {
 public:
  Date() = default;
  Date(int year, int month, int day);  // throws Error when the date does not exist
  static Date from_days(long days) { Date d; d.days_ = days; return d; }
  static Date from_year_doy(int year, int doy);  // doy 1..365/366
  // Accepts YYYY-MM-DD, YYYYMMDD and YYYY-DDD / YYYYDDD (day of year); throws Error otherwise.
  static Date parse(const std::string& text);
  static std::optional<Date> try_parse(const std::string& text);
  // Finds a date in a file name: MODIS "AYYYYDDD", Landsat "_YYYYMMDD_", or any 8-digit
  // YYYYMMDD that is a valid date. Empty when none is found.
  static std::optional<Date> from_filename(const std::string& name);
  // Why from_filename found no date, for messages: "the file name holds 20160230, which is not
  // a valid date" when it has 8 digits (or a MODIS AYYYYDDD) that are no date, else "no date in
  // the file name".
  static std::string filename_date_problem(const std::string& name);

  long days() const { return days_; }
  int year() const;
  int month() const;
  int day() const;
  int day_of_year() const;
  std::string iso() const;      // YYYY-MM-DD
  std::string compact() const;  // YYYYMMDD

  friend long operator-(const Date& a, const Date& b) { return a.days_ - b.days_; }
  friend Date operator+(const Date& a, long d) { return from_days(a.days_ + d); }
  friend bool operator==(const Date& a, const Date& b) { return a.days_ == b.days_; }
  friend bool operator!=(const Date& a, const Date& b) { return a.days_ != b.days_; }
  friend bool operator<(const Date& a, const Date& b) { return a.days_ < b.days_; }
  friend bool operator<=(const Date& a, const Date& b) { return a.days_ <= b.days_; }
  friend bool operator>(const Date& a, const Date& b) { return a.days_ > b.days_; }
  friend bool operator>=(const Date& a, const Date& b) { return a.days_ >= b.days_; }

 private:
  long days_ = 0;
};

bool is_leap_year(int year);
int days_in_month(int year, int month);

}  // namespace lstfuse
