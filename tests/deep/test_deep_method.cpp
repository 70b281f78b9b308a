// The engine's rules that hold for every deep family alike.
#include <gtest/gtest.h>

#include "lstfuse/deep/deep_method.hpp"
#include "lstfuse/deep/synthetic.hpp"
#include "lstfuse/methods/method.hpp"

using namespace lstfuse;

namespace {

std::unique_ptr<Method> tiny_trained(const std::string& name) {
  auto m = MethodRegistry::instance().create(name);
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"threads", "1"}, {"device", "cpu"}, {"quiet", "true"}, {"epochs", "1"},
           {"patch", "16"}, {"stride", "16"}, {"batch-size", "4"}, {"seed", "5"}})
    m->options().set(k, v);
  const auto s = deep::make_synthetic_series(40, 36, 3, 16, 8);
  FitContext ctx;
  ctx.show_progress = false;
  m->fit(s.pairs, ctx);
  return m;
}

}  // namespace

// Where one of the two references is cloudy, the prediction is the other reference's alone:
// the neutral fill under a cloud must not leak into any family's combination.
TEST(DeepMethod, ACloudInOneReferenceLeavesTheOtherAlone) {
  const auto s = deep::make_synthetic_series(40, 36, 3, 16, 8);
  for (const char* name : {"sttfn", "stfnet", "edcstfn", "mlffgan", "dlstfm"}) {
    SCOPED_TRACE(name);
    auto m = tiny_trained(name);
    FusionInput both;
    both.pairs = {s.pairs[0], s.pairs[2]};
    both.coarse = s.pairs[1].coarse;
    both.date = s.pairs[1].date;
    for (int y = 10; y < 20; ++y)
      for (int x = 12; x < 24; ++x) both.pairs[1].fine.set_valid(0, y, x, false);  // a cloud
    FusionInput first_only = both;
    first_only.pairs = {s.pairs[0]};
    const auto a = m->predict(both);
    const auto b = m->predict(first_only);
    for (int y = 10; y < 20; ++y)
      for (int x = 12; x < 24; ++x) {
        ASSERT_TRUE(a.fine.valid(y, x));
        EXPECT_FLOAT_EQ(a.fine.at(y, x), b.fine.at(y, x)) << y << "," << x;
        EXPECT_EQ(a.quality.at(0, y, x), 1.0f);  // one reference used
      }
    // Outside the cloud both references count, so the result differs from the first alone.
    EXPECT_NE(a.fine.at(30, 5), b.fine.at(30, 5));
  }
}
