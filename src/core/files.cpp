#include "lstfuse/core/files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <unistd.h>

#include <fmt/format.h>

#include "lstfuse/core/cleanup.hpp"
#include "lstfuse/core/error.hpp"

namespace lstfuse {

std::string temporary_name(const std::string& path, const std::string& suffix) {
  return fmt::format("{}.part-{}{}", path, ::getpid(), suffix);
}

void write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = temporary_name(path.string());
  TemporaryPath guard(tmp, true);  // removed on any failure and on an interruption
  {
    std::ofstream out(tmp);
    if (!out) throw file_error(path.string(), "cannot write (" + tmp.string() + ")");
    out << text;
    out.flush();
    if (!out) throw file_error(path.string(), "write failed (disk full or file too large?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw file_error(path.string(), "cannot move the finished file into place (" + ec.message() + ")");
  guard.release();
}

void write_bytes_atomic(const std::filesystem::path& path, const std::string& bytes) {
  const std::filesystem::path tmp = temporary_name(path.string());
  TemporaryPath guard(tmp, true);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw file_error(path.string(), fmt::format("cannot write ({})", std::strerror(errno)));
  errno = 0;
  const size_t n = std::fwrite(bytes.data(), 1, bytes.size(), f);
  int err = n == bytes.size() ? 0 : (errno ? errno : EIO);
  if (std::fflush(f) != 0 && !err) err = errno ? errno : EIO;
  if (::fsync(::fileno(f)) != 0 && !err) err = errno;
  if (std::fclose(f) != 0 && !err) err = errno ? errno : EIO;
  if (err) throw file_error(path.string(), fmt::format("cannot write ({})", std::strerror(err)));
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw file_error(path.string(), "cannot move the finished file into place (" + ec.message() + ")");
  guard.release();
}

}  // namespace lstfuse
