#include <gtest/gtest.h>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/error.hpp"
#include "test_support.hpp"

using namespace lstfuse;

TEST(Catalog, PairsAndCoarseOnlyDatesAndRoundTrip) {
  test::TempDir tmp;
  Catalog c(tmp.path());
  Grid g;
  g.width = 4;
  g.height = 3;
  c.set_grid(g);
  auto obs = [](const char* d, Role r) {
    Observation o;
    o.date = Date::parse(d);
    o.role = r;
    o.path = std::string(d) + (r == Role::Fine ? "_fine.tif" : "_coarse.tif");
    o.source = o.path;
    return o;
  };
  c.add(obs("2016-03-08", Role::Fine));
  c.add(obs("2016-02-05", Role::Coarse));
  c.add(obs("2016-02-18", Role::Coarse));
  c.add(obs("2016-02-05", Role::Fine));
  c.add(obs("2016-03-08", Role::Coarse));
  EXPECT_THROW(c.add(obs("2016-02-05", Role::Fine)), Error);  // two fine images on one date
  c.save();
  const Catalog d = Catalog::load(tmp.path());
  ASSERT_EQ(d.pair_dates().size(), 2u);
  EXPECT_EQ(d.pair_dates()[0].iso(), "2016-02-05");
  EXPECT_EQ(d.pair_dates()[1].iso(), "2016-03-08");
  ASSERT_EQ(d.coarse_only_dates().size(), 1u);
  EXPECT_EQ(d.coarse_only_dates()[0].iso(), "2016-02-18");
  EXPECT_EQ(d.grid().width, 4);
}

TEST(Catalog, MissingManifestIsAClearError) {
  test::TempDir tmp;
  try {
    Catalog::load(tmp.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.json"), std::string::npos);
  }
}
