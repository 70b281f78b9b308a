#include "lstfuse/core/cleanup.hpp"

#include <csignal>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace lstfuse {
namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::multiset<std::string>& registry() {
  static std::multiset<std::string> r;
  return r;
}

std::multiset<std::string>& new_folders() {
  static std::multiset<std::string> r;
  return r;
}

// One entry per registration (the same path may be registered twice, by two owners).
void add(std::multiset<std::string>& set, const fs::path& p) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  set.insert(p.string());
}

void remove_one(std::multiset<std::string>& set, const fs::path& p) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  const auto it = set.find(p.string());
  if (it != set.end()) set.erase(it);
}

}  // namespace

void register_new_folder(const fs::path& p) { add(new_folders(), p); }
void unregister_new_folder(const fs::path& p) { remove_one(new_folders(), p); }
void register_temporary(const fs::path& p) { add(registry(), p); }
void unregister_temporary(const fs::path& p) { remove_one(registry(), p); }

void remove_registered_temporaries() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const auto& p : registry()) {
    // Another thread may still add a file to a folder being removed: try a few times.
    for (int attempt = 0; attempt < 5; ++attempt) {
      std::error_code ec;
      fs::remove_all(p, ec);
      if (!fs::exists(p, ec)) break;
    }
  }
  // After the temporaries, which may be inside them. A real folder only, never through a link.
  for (const auto& p : new_folders()) {
    std::error_code ec;
    if (fs::is_directory(fs::symlink_status(p, ec)) && fs::is_empty(p, ec) && !ec) fs::remove(p, ec);
  }
}

TemporaryPath::TemporaryPath(fs::path p, bool remove_on_exit) : path_(std::move(p)), remove_(remove_on_exit) {
  register_temporary(path_);
}

TemporaryPath::~TemporaryPath() {
  if (remove_) {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  unregister_temporary(path_);
}

namespace {

volatile std::sig_atomic_t g_signal = 0;
sem_t g_wake;

// Async-signal-safe: note the signal and wake the cleanup thread.
void on_signal(int sig) {
  g_signal = sig;
  sem_post(&g_wake);
}

}  // namespace

bool interrupted() { return g_signal != 0; }

void await_interrupt_exit() {
  for (;;) pause();  // the cleanup thread ends the process with _exit
}

void install_interrupt_handling() {
  std::signal(SIGXFSZ, SIG_IGN);
  // Libraries may start threads before main (thread pools created by static initialisers), so
  // the signals cannot be confined to one thread by masking: a handler on whatever thread
  // receives them wakes a dedicated thread, which does the cleanup.
  if (sem_init(&g_wake, 0, 0) != 0) return;
  std::thread([] {
    while (sem_wait(&g_wake) != 0) {
    }
    const int sig = g_signal;
    remove_registered_temporaries();
    const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    std::fprintf(stderr, "\nlstfuse: interrupted (%s); temporary files removed\n", name);
    std::fflush(stderr);
    _exit(128 + sig);
  }).detach();
  for (int sig : {SIGINT, SIGTERM}) {
    struct sigaction old {};
    // A signal the parent set to be ignored (nohup, a shell's background job) stays ignored.
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(sig, &sa, nullptr);
  }
}

}  // namespace lstfuse
