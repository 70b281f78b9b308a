#include "fuzz_support.hpp"

#include <fstream>

#include <cpl_error.h>
#include <gdal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace lstfuse::fuzz {

namespace {

// Removes the folder when the process ends (a static's destructor, so the path is still alive).
struct ScratchFolder {
  fs::path path;
  ScratchFolder() {
    std::error_code ec;
    const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    path = base / ("lstfuse-fuzz-" + std::to_string(getpid()));
    fs::remove_all(path, ec);
    fs::create_directories(path);
  }
  ~ScratchFolder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

fs::path scratch() {
  static const ScratchFolder folder;
  return folder.path;
}

void quiet() {
  spdlog::set_level(spdlog::level::off);
  GDALAllRegister();
  CPLSetErrorHandler(CPLQuietErrorHandler);
}

void write_file(const fs::path& p, const uint8_t* data, size_t size) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace lstfuse::fuzz
