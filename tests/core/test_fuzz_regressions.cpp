// Inputs the fuzz targets (fuzz/) found to break a rule, each kept as a seed in
// fuzz/corpus/TARGET/ and checked here on the library call it broke.
#include <gtest/gtest.h>

#include "lstfuse/core/date.hpp"
#include "lstfuse/core/error.hpp"

using namespace lstfuse;

// fuzz_date: a MODIS-style name with a year past 2200 made Date::from_filename throw instead of
// finding no date (ingest then failed on a file name instead of asking for --date).
TEST(FuzzRegressions, AModisNameWithAYearOutOfRangeHoldsNoDate) {
  const std::string name = "MOD11A1.A2219305.h14v09.006.2019306083024.hdf";
  std::optional<Date> d;
  EXPECT_NO_THROW(d = Date::from_filename(name));
  EXPECT_FALSE(d.has_value());
  EXPECT_EQ(Date::filename_date_problem(name),
            "the file name holds A2219305, which is not a valid year and day of year");
  // The valid neighbours are still found.
  EXPECT_EQ(Date::from_filename("MOD11A1.A2200001.h14v09.hdf")->iso(), "2200-01-01");
  EXPECT_EQ(Date::from_filename("MOD11A1.A2019305.h14v09.hdf")->iso(), "2019-11-01");
}
