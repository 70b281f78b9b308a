#include <gtest/gtest.h>

#include "lstfuse/core/date.hpp"
#include "lstfuse/core/error.hpp"

using lstfuse::Date;

TEST(Date, ParsesIsoCompactAndDayOfYear) {
  EXPECT_EQ(Date::parse("2016-02-05"), Date(2016, 2, 5));
  EXPECT_EQ(Date::parse("20160308"), Date(2016, 3, 8));
  EXPECT_EQ(Date::parse("2019-305"), Date(2019, 11, 1));  // MOD11A1.A2019305 is 1 Nov 2019
  EXPECT_EQ(Date::parse("2016060").iso(), "2016-02-29");   // leap year
  EXPECT_EQ(Date(2016, 3, 8) - Date(2016, 2, 5), 32);
  EXPECT_EQ(Date(1970, 1, 1).days(), 0);
  EXPECT_EQ(Date(2000, 3, 1).day_of_year(), 61);
}

TEST(Date, RejectsBadDates) {
  EXPECT_THROW(Date::parse("2019-02-29"), lstfuse::Error);
  EXPECT_THROW(Date::parse("2019-13-01"), lstfuse::Error);
  EXPECT_THROW(Date::parse("2019-367"), lstfuse::Error);
  EXPECT_THROW(Date::parse("yesterday"), lstfuse::Error);
  EXPECT_THROW(Date(2021, 4, 31), lstfuse::Error);
}

TEST(Date, FindsDatesInProductNames) {
  EXPECT_EQ(Date::from_filename("MOD11A1.A2019305.h14v09.006.hdf")->iso(), "2019-11-01");
  EXPECT_EQ(Date::from_filename("MYD11A1.A2020001.h08v05.061.2020003.hdf")->iso(), "2020-01-01");
  EXPECT_EQ(Date::from_filename("LC08_L2SP_092084_20160205_20200907_02_T1_ST_B10.TIF")->iso(),
            "2016-02-05");
  EXPECT_EQ(Date::from_filename("Landsat_LST_cloudrm_20160308.tif")->iso(), "2016-03-08");
  EXPECT_FALSE(Date::from_filename("scene_12345.tif").has_value());
  EXPECT_FALSE(Date::from_filename("scene_20161399.tif").has_value());  // not a date
  // A Landsat name whose acquisition date is not one has no date: the processing date after it
  // is another day (it was taken silently), and the problem names the acquisition date.
  const std::string bad = "LC08_L2SP_092084_20241399_20240415_02_T1_ST_B10.TIF";
  EXPECT_FALSE(Date::from_filename(bad).has_value());
  EXPECT_EQ(Date::filename_date_problem(bad), "the Landsat file name's acquisition date 20241399 is not a valid date (YYYYMMDD)");
  for (const char* odd : {"LC08_L2SP_092084_2024017_20240215_02_T1_ST_B10.TIF", "LC08_L2SP_092084_20240107x_20240215_02_T1_ST_B10.TIF"})
    EXPECT_FALSE(Date::from_filename(odd).has_value()) << odd;
}
