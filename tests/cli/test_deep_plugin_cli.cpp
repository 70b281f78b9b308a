// The lstfuse program loads the deep layer (and torch) only when a deep method is used: it must
// not depend on torch itself, must list and run the deep methods through the module, and must
// say clearly when the module cannot be loaded.
#include <gtest/gtest.h>

#include <algorithm>
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
  // Commands naming a deep method stop with one line (exit 1, not an abort of the program).
  for (const std::string cmd : {"methods sttfn", "predict --method sttfn --catalog C --date 2024-01-01 -o X.tif",
                                "benchmark --catalog C --methods additive,dlstfm -o B", "fuse --dlstfm.tile 64",
                                "benchmark --catalog C --methods all -o B", "predict --method=stfnet"}) {
    const auto r = test::run_shell("LSTFUSE_DEEP_PLUGIN=/nonexistent/liblstfuse_deep.so \"$L\" " + cmd);
    EXPECT_EQ(r.exit_code, 1) << cmd << ": " << r.output;
    EXPECT_EQ(r.output.find("terminate"), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_NE(r.output.find("lstfuse: error: /nonexistent/liblstfuse_deep.so: cannot load the deep methods' library"),
              std::string::npos)
        << r.output;
  }
  // A classic method needs no module at all, nor a path that contains a deep method's name.
  const auto c = test::run_shell("LSTFUSE_DEEP_PLUGIN=/nonexistent/liblstfuse_deep.so \"$L\" methods estarfm");
  EXPECT_EQ(c.exit_code, 0) << c.output;
  test::TempDir tmp;
  const auto s = test::run_shell("LSTFUSE_DEEP_PLUGIN=/nonexistent/liblstfuse_deep.so \"$L\" simulate -q --size 16 "
                                 "--coarse-factor 4 --days 2 -o " + (tmp / "sttfn-sim").string());
  EXPECT_EQ(s.exit_code, 0) << s.output;
}

TEST(DeepPlugin, WithoutTheModuleHelpAndTheListShowTheOtherMethodsAndSayWhy) {
  const std::string env = "LSTFUSE_DEEP_PLUGIN=/nonexistent/liblstfuse_deep.so \"$L\" ";
  for (const std::string cmd : {"--help", "fuse --help", "benchmark --help", "train --help"}) {
    const auto r = test::run_shell(env + cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.output;
    EXPECT_EQ(r.output.find("terminate"), std::string::npos) << cmd << ": " << r.output;
  }
  const auto fuse = test::run_shell(env + "fuse --help");
  EXPECT_NE(fuse.output.find("--series.denoise-radius"), std::string::npos) << fuse.output;
  EXPECT_EQ(fuse.output.find("--sttfn."), std::string::npos) << fuse.output;
  EXPECT_NE(fuse.output.find("the deep methods are left out: /nonexistent/liblstfuse_deep.so"), std::string::npos)
      << fuse.output;
  const auto list = test::run_shell(env + "methods");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("series [classic]"), std::string::npos) << list.output;
  EXPECT_EQ(list.output.find("sttfn [deep]"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("are left out: /nonexistent/liblstfuse_deep.so"), std::string::npos) << list.output;
  // The warning goes to stderr: the JSON on stdout stays a document of its own.
  const auto json = test::run_shell(env + "methods --json 2>/dev/null | python3 -c "
                                          "'import json,sys; print(sorted(m[\"method\"] for m in json.load(sys.stdin)))'");
  EXPECT_EQ(json.exit_code, 0) << json.output;
  EXPECT_EQ(json.output, "['additive', 'bilinear', 'estarfm', 'series', 'starfm']\n");
}
