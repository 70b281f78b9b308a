#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "gdal_handles.hpp"
#include "lstfuse/core/error.hpp"

namespace lstfuse::io::detail {
namespace {

constexpr int kChildOpened = 0;
constexpr int kChildRefused = 42;  // GDAL declined the file cleanly: the parent reports GDAL's reason

// Whether GDAL would read `name` with its HDF4 drivers: a subdataset name of theirs, or a file
// with HDF4's signature. Decided here, without GDAL: GDAL's driver identification calls the
// HDF4Image driver's open (it has no identify function), which is where the library crashes.
bool read_by_hdf4(const std::string& name) {
  if (name.rfind("HDF4_", 0) == 0) return true;  // HDF4_SDS:, HDF4_EOS:, HDF4_GR:, ...
  std::error_code ec;
  if (!std::filesystem::is_regular_file(name, ec)) return false;  // no pipe is read here
  std::ifstream in(name, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "\x0e\x03\x13\x01", 4) == 0;
}

// In the child: the default action for the crash signals (no handler of a sanitizer or fuzzer
// inherited from the parent reports the child's crash as the parent's), no core file, then the
// open and one read of every band, where damaged HDF4 structures are decoded. _exit: nothing of
// the parent's (buffers, atexit handlers) runs twice.
[[noreturn]] void probe_in_child(const std::string& name, int report_fd) {
  for (const int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTRAP}) std::signal(sig, SIG_DFL);
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  // The library's own last words ("stack smashing detected") are not the user's business: the
  // parent says what happened, naming the file.
  const int devnull = open("/dev/null", O_WRONLY);
  if (devnull >= 0) dup2(devnull, STDERR_FILENO);
  CPLSetErrorHandler(CPLQuietErrorHandler);
  GDALDatasetH ds = GDALOpenEx(name.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY, nullptr, nullptr, nullptr);
  if (!ds) {
    // GDAL's reason goes to the parent, which reports it without opening the file itself: a
    // failed open can leave the HDF4 library's tables half made, and a later open in the same
    // process then crash (seen under ASan on the fuzz seed crash-hdf4-under-asan-2).
    const std::string why = CPLGetLastErrorMsg();
    for (size_t done = 0; done < why.size();) {
      const ssize_t n = write(report_fd, why.data() + done, why.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    _exit(kChildRefused);
  }
  const int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
  if (w > 0 && h > 0 && static_cast<long long>(w) * h <= (1LL << 28)) {
    std::vector<double> row(static_cast<size_t>(w));
    for (int b = 1; b <= GDALGetRasterCount(ds); ++b)
      for (int y = 0; y < h; ++y)
        if (GDALRasterIO(GDALGetRasterBand(ds, b), GF_Read, 0, y, w, 1, row.data(), w, 1, GDT_Float64, 0, 0) != CE_None)
          break;
  }
  GDALClose(ds);
  _exit(kChildOpened);
}

// What a successful check is remembered by: the dataset name and a digest of its file's bytes,
// so that a file rewritten under the same name is checked again. Empty (never remembered) when
// the file cannot be told from the name.
std::string checked_key(const std::string& name) {
  std::string path = name;
  if (name.rfind("HDF4_", 0) == 0) {  // HDF4_EOS:EOS_GRID:"FILE":GRID:LAYER and the like
    const auto open = name.find('"');
    const auto close = open == std::string::npos ? std::string::npos : name.find('"', open + 1);
    if (close == std::string::npos) return "";
    path = name.substr(open + 1, close - open - 1);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  uint64_t digest = 1469598103934665603ull;  // FNV-1a, 64 bits
  std::vector<char> buffer(1 << 16);
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      digest ^= static_cast<unsigned char>(buffer[static_cast<size_t>(i)]);
      digest *= 1099511628211ull;
    }
  }
  return fmt::format("{}|{:016x}", name, digest);
}

// What the child found: the file opened and read, GDAL declined it (with GDAL's reason), or no
// child could be started (then the file is opened in this process as without the guard).
struct Probe {
  enum Outcome { opened, refused, unchecked } outcome = unchecked;
  std::string reason;
};

// Throws when the child died reading `name`.
Probe probe_hdf4(const std::string& name, const std::string& shown) {
  static std::mutex mutex;
  // Datasets a child opened and read: ingest opens each layer twice, one check. A declined one
  // is never remembered: its next open is checked again, from the library's state of then.
  static std::set<std::string> opened;
  const std::string key = checked_key(name);
  if (!key.empty()) {
    std::lock_guard<std::mutex> lock(mutex);
    if (opened.count(key)) return {Probe::opened, ""};
  }
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return {};
  const pid_t pid = fork();
  if (pid < 0) {
    close(report[0]);
    close(report[1]);
    return {};
  }
  if (pid == 0) {
    close(report[0]);
    probe_in_child(name, report[1]);
  }
  close(report[1]);
  Probe probe;
  char buffer[512];
  for (ssize_t n; (n = read(report[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (probe.reason.size() < 4096) probe.reason.append(buffer, static_cast<size_t>(n));
  }
  close(report[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return {};
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kChildOpened) {
    if (!key.empty()) {
      std::lock_guard<std::mutex> lock(mutex);
      opened.insert(key);
    }
    probe.outcome = Probe::opened;  // a child that opened the file wrote no reason
    return probe;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kChildRefused) {
    probe.outcome = Probe::refused;
    return probe;
  }
  const std::string how = WIFSIGNALED(status) ? fmt::format("{}", strsignal(WTERMSIG(status)))
                                              : fmt::format("exit status {}", WEXITSTATUS(status));
  throw file_error(shown, fmt::format("is a damaged HDF4 file: the HDF4 library crashed reading it ({}, in a "
                                      "separate process; lstfuse did not read it)",
                                      how));
}

}  // namespace

DatasetPtr open_dataset(const std::string& name, const std::string& shown) {
  // GDAL says only that it cannot open such a file ("no reason"), which reads as a damaged one.
  std::error_code ec;
  if (std::filesystem::is_regular_file(name, ec) && ::access(name.c_str(), R_OK) != 0 && errno == EACCES)
    throw file_error(shown, "permission denied: this user may not read it");
  if (read_by_hdf4(name)) {
    const Probe probe = probe_hdf4(name, shown);
    if (probe.outcome == Probe::refused) {
      // As if GDAL had declined it here: the callers report GDAL's last error.
      CPLErrorReset();
      CPLError(CE_Failure, CPLE_OpenFailed, "%s",
               probe.reason.empty() ? "GDAL cannot open it as an HDF4 file" : probe.reason.c_str());
      return DatasetPtr(nullptr);
    }
  }
  CPLErrorReset();
  return DatasetPtr(GDALDataset::Open(name.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY));
}

}  // namespace lstfuse::io::detail
