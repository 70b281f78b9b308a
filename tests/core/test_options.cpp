#include <gtest/gtest.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/options.hpp"

using namespace lstfuse;

namespace {
struct Demo {
  int half_window = 25;
  double dn_max = 350.0;
  bool fixed_v = false;
  std::string weighting = "stc";
  void bind(OptionSet& o) {
    o.add("half-window", half_window, "window half size");
    o.add("dn-max", dn_max, "upper valid value");
    o.add("fixed-v", fixed_v, "V = 1");
    o.add_choice("weighting", weighting, {"stc", "tc"}, "combination");
  }
};
}  // namespace

TEST(Options, SetGetJsonRoundTrip) {
  Demo d;
  OptionSet o("demo");
  d.bind(o);
  o.set("--half-window", "10");
  o.set("dn_max", "340.5");
  o.set("fixed-v", "true");
  o.set("weighting", "tc");
  EXPECT_EQ(d.half_window, 10);
  EXPECT_DOUBLE_EQ(d.dn_max, 340.5);
  EXPECT_TRUE(d.fixed_v);
  EXPECT_EQ(d.weighting, "tc");
  const auto j = o.to_json();
  Demo e;
  OptionSet o2("demo");
  e.bind(o2);
  o2.from_json(j);
  EXPECT_EQ(e.half_window, 10);
  EXPECT_EQ(e.weighting, "tc");
}

TEST(Options, BadNamesAndValuesAreErrors) {
  Demo d;
  OptionSet o("estarfm");
  d.bind(o);
  try {
    o.set("--half-widow", "3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown option --half-widow"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("--half-window"), std::string::npos);
  }
  EXPECT_THROW(o.set("half-window", "3x"), Error);
  EXPECT_THROW(o.set("dn-max", "nan"), Error);
  EXPECT_THROW(o.set("weighting", "xyz"), Error);
  EXPECT_THROW(o.from_json(nlohmann::json{{"nope", 1}}), Error);
}
