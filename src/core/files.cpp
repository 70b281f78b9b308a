#include "lstfuse/core/files.hpp"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include "lstfuse/core/cleanup.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/outputs.hpp"

namespace lstfuse {

namespace {

// This machine's name, reduced to characters safe in a file name (outputs may sit on a file
// system shared by several machines, whose process ids are unrelated).
const std::string& host_tag() {
  static const std::string tag = [] {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || !name[0]) return std::string("host");
    std::string s(name);
    for (char& c : s)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    return s;
  }();
  return tag;
}

}  // namespace

std::string temporary_name(const std::string& path, const std::string& suffix) {
  return fmt::format("{}.part-{}-{}{}", path, host_tag(), ::getpid(), suffix);
}

namespace {

// True while process `pid` of this machine runs (or is not ours to signal). A killed process
// that its parent has not reaped yet (a zombie: seconds where PID 1 reaps slowly) has ended:
// its run was refused again as "still running" until the zombie went.
bool process_alive(long pid) {
  if (pid == ::getpid()) return true;
  if (!(::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no /proc: alive, as kill says
  const size_t close = line.rfind(')');      // "PID (name) STATE ...": the name may hold spaces
  return !(close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z');
}

// True when `rest` (what follows ".part-HOST-" in a temporary's name) starts with the id of a
// process of this machine that is gone: its temporary is a killed run's half-written file.
bool left_by_a_gone_process(const std::string& rest) {
  size_t digits = 0;
  while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
  if (digits == 0 || digits > 9) return false;
  return !process_alive(std::stol(rest.substr(0, digits)));  // alive (or not ours): leave it
}

}  // namespace

void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string prefix = p.filename().string() + ".part-" + host_tag() + "-";
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0 || !left_by_a_gone_process(name.substr(prefix.size()))) continue;
    std::error_code rm;
    fs::remove(it->path(), rm);
  }
}

void remove_stale_temporaries_in(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const std::string tag = ".part-" + host_tag() + "-";
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t at = name.rfind(tag);
    if (at == std::string::npos || at == 0 || !left_by_a_gone_process(name.substr(at + tag.size()))) continue;
    std::error_code rm;
    if (it->is_regular_file(rm)) fs::remove(it->path(), rm);
  }
}

void write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  // A file that already says exactly this is left as it is: a resumed run with nothing new to
  // record then writes nothing, and so also works in a folder it may only read.
  {
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == text.size() && !ec) {
      std::ifstream in(path, std::ios::binary);
      std::string have(text.size(), '\0');
      if (in.read(have.data(), static_cast<std::streamsize>(have.size())) && have == text) return;
    }
  }
  remove_stale_temporaries(path.string());
  const std::filesystem::path tmp = temporary_name(path.string());
  TemporaryPath guard(tmp, true);  // removed on any failure and on an interruption
  {
    errno = 0;
    std::ofstream out(tmp);
    if (!out)
      throw file_error(path.string(), fmt::format("cannot write ({}: {})", tmp.string(),
                                                  errno ? std::strerror(errno) : "unknown reason"));
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
  remove_stale_temporaries(path.string());
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

namespace {

void remove_stale_build_folders_with(const std::filesystem::path& parent, const std::string& prefix) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string f = e.path().filename().string();
    if (f.rfind(prefix, 0) != 0 || !e.is_directory(ec)) continue;
    const std::string pid_text = f.substr(prefix.size());
    if (pid_text.empty() || pid_text.size() > 9 || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    if (process_alive(std::stol(pid_text))) continue;
    fs::remove_all(e.path(), ec);
  }
}

}  // namespace

void remove_stale_build_folders(const std::filesystem::path& out_in, const std::string& tag) {
  const std::filesystem::path out = strip_trailing_separators(out_in);
  const std::filesystem::path parent = out.has_parent_path() ? out.parent_path() : std::filesystem::path(".");
  remove_stale_build_folders_with(parent, "." + out.filename().string() + "." + tag + "-");
}

void build_folder_atomically(const std::filesystem::path& out_in, const std::string& tag, const std::string& what,
                             const std::function<void(const std::filesystem::path& build_dir)>& build) {
  namespace fs = std::filesystem;
  const fs::path out = strip_trailing_separators(out_in);
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec || !fs::is_directory(parent)) {
    throw file_error(out.string(), "cannot create its parent folder " + parent.string() +
                                       (ec ? " (" + ec.message() + ")" : ""));
  }
  const std::string prefix = "." + out.filename().string() + "." + tag + "-";
  remove_stale_build_folders_with(parent, prefix);
  const fs::path tmp = parent / (prefix + std::to_string(::getpid()));
  TemporaryPath tmp_guard(tmp, true);  // removed on failure and on SIGINT/SIGTERM
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw file_error(out.string(), "cannot create the temporary folder " + tmp.string() + " (" + ec.message() + ")");
  try {
    try {
      build(tmp);
    } catch (const fs::filesystem_error& e) {
      throw file_error(out.string(), "cannot write " + what + " (" + e.code().message() + ")");
    }
    const fs::path old = parent / fmt::format(".{}.old-{}", out.filename().string(), ::getpid());
    const bool replacing = fs::exists(out) && !fs::is_empty(out);
    if (fs::exists(out)) {
      if (replacing) fs::rename(out, old);
      else fs::remove(out);
    }
    try {
      fs::rename(tmp, out);
    } catch (...) {
      if (replacing) fs::rename(old, out, ec);  // the earlier folder goes back
      throw;
    }
    tmp_guard.release();
    if (replacing) fs::remove_all(old, ec);
  } catch (const fs::filesystem_error& e) {
    throw file_error(out.string(), "cannot put " + what + " in place (" + e.code().message() + ")");
  } catch (const Error& e) {
    // Name the folder the user asked for, not the hidden build folder (it is removed).
    std::string msg = e.what();
    const std::string hidden = tmp.string();
    for (auto at = msg.find(hidden); at != std::string::npos; at = msg.find(hidden, at + out.string().size()))
      msg.replace(at, hidden.size(), out.string());
    throw Error(msg);
  }
}

}  // namespace lstfuse
