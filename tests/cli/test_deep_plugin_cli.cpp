// The lstfuse program loads the deep layer (and torch) only when a deep method is used: it must
// not depend on torch itself, must list and run the deep methods through the module, and must
// say clearly when the module cannot be loaded.
#include <gtest/gtest.h>

#include <filesystem>

#include "lstfuse/pipeline/registry.hpp"
#include "test_support.hpp"

using namespace lstfuse;

TEST(DeepPlugin, TheProgramDoesNotLinkTorch) {
  // The dynamic section lists every library loaded at start; torch must not be among them.
  const auto r = test::run_shell("readelf -d \"$L\" | grep NEEDED");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("libgdal"), std::string::npos) << r.output;  // the listing is real
  EXPECT_EQ(r.output.find("torch"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libc10"), std::string::npos) << r.output;
}

TEST(DeepPlugin, EveryDeepMethodOfTheLibraryIsListedAndDescribedByTheProgram) {
  // This test links the deep layer itself: its registry is the reference for the program's.
  for (const std::string& name : method_registry().names()) {
    if (method_registry().create(name)->info().family != "deep") continue;
    const auto r = test::run_cli("methods " + name);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.output;
    EXPECT_NE(r.output.find(name + " [deep]"), std::string::npos) << r.output;
  }
}

TEST(DeepPlugin, AMissingModuleIsAOneLineErrorNamingIt) {
  const auto r = test::run_shell("LSTFUSE_DEEP_PLUGIN=/nonexistent/liblstfuse_deep.so \"$L\" methods sttfn");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("/nonexistent/liblstfuse_deep.so"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("cannot load the deep methods' library"), std::string::npos) << r.output;
  // A classic method needs no module at all.
  const auto c = test::run_shell("LSTFUSE_DEEP_PLUGIN=/nonexistent/liblstfuse_deep.so \"$L\" methods estarfm");
  EXPECT_EQ(c.exit_code, 0) << c.output;
}
