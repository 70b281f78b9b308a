#pragma once
// Temporary files and folders of the running process (".part" files, ingest's hidden build
// folder, streamed outputs): they are registered while they exist, so that an interruption
// (SIGINT, SIGTERM) removes them instead of leaving them behind. Normal error paths remove them
// through their owners' destructors as before; this registry covers the signals.
#include <filesystem>
#include <string>

namespace lstfuse {

void register_temporary(const std::filesystem::path& p);
void unregister_temporary(const std::filesystem::path& p);
// Removes every registered path (files and folders); safe to call more than once.
void remove_registered_temporaries();

// Registers a path for its lifetime. With remove_on_exit, the destructor also deletes it
// (for temporaries whose owner does not remove them on an exception).
class TemporaryPath {
 public:
  explicit TemporaryPath(std::filesystem::path p, bool remove_on_exit = false);
  ~TemporaryPath();
  TemporaryPath(const TemporaryPath&) = delete;
  TemporaryPath& operator=(const TemporaryPath&) = delete;
  const std::filesystem::path& path() const { return path_; }
  void release() { remove_ = false; }  // the path became an output: keep it

 private:
  std::filesystem::path path_;
  bool remove_;
};

// A folder this process created for its outputs: an interruption removes it, after the
// temporaries, when nothing is left in it (a run stopped before its first file leaves no empty
// folder behind); a folder holding anything stays. A pair of calls, as for temporaries.
void register_new_folder(const std::filesystem::path& p);
void unregister_new_folder(const std::filesystem::path& p);

// CLI start-up: SIGINT and SIGTERM wake one thread that removes the registered temporaries,
// prints "lstfuse: interrupted" and exits with 128 + signal; SIGXFSZ is ignored so that a
// file-size limit becomes a write error (EFBIG) with a message instead of a kill.
void install_interrupt_handling();

// True once SIGINT or SIGTERM has arrived. An error raised since may be the interruption's own
// doing (its cleanup removed the folder a file was being moved into): the program then leaves
// the exit to the cleanup thread (await_interrupt_exit), which says "interrupted".
bool interrupted();
[[noreturn]] void await_interrupt_exit();

}  // namespace lstfuse
