#pragma once
// Small text outputs (manifests, indexes, tables, reports) are written under a temporary name
// and renamed when complete, so a failure never leaves a half-written file.
#include <filesystem>
#include <functional>
#include <string>

namespace lstfuse {

// Throws Error naming the file when it cannot be written.
// The temporary name a file is written under before it is renamed into place:
// PATH.part-HOST-PID then `suffix` (an extension some writers need). The host and process id keep
// two runs writing the same output from sharing (and removing) one temporary file; ".part" is
// what cleanup looks for.
std::string temporary_name(const std::string& path, const std::string& suffix = "");
// Removes PATH's temporaries left by processes of this machine that are gone (a run killed with
// SIGKILL cannot remove its own); called before each new write of PATH.
void remove_stale_temporaries(const std::string& path);
// The same for every file of DIR (not its subfolders): a run resuming in its own output folder
// removes what a killed run left while writing files it will not write again.
void remove_stale_temporaries_in(const std::filesystem::path& dir);

void write_text_atomic(const std::filesystem::path& path, const std::string& text);

// Bytes (a serialised model or checkpoint) to a temporary name, checked to the last byte (a full disk
// or a file-size limit gives Error "PATH: cannot write (No space left on device)"), then renamed
// to PATH. The temporary file never survives a failure or an interruption.
void write_bytes_atomic(const std::filesystem::path& path, const std::string& bytes);

// A folder output (a catalog, a simulation) built whole in a hidden sibling ".NAME.TAG-PID" and
// moved into place only when complete: an error or an interruption (SIGINT, SIGTERM) leaves the
// earlier folder, or nothing, never a half-written one. An earlier `out` (the caller has checked
// that it may be replaced) is moved aside first and removed once the new one is in place. Build
// folders of dead processes of this machine are removed first. Errors name `out`, not the hidden
// folder. `what` names the output in errors ("the catalog").
void build_folder_atomically(const std::filesystem::path& out, const std::string& tag, const std::string& what,
                             const std::function<void(const std::filesystem::path& build_dir)>& build);
// Removes the build folders of `out` (".NAME.TAG-PID") that dead processes of this machine left.
void remove_stale_build_folders(const std::filesystem::path& out, const std::string& tag);

}  // namespace lstfuse
