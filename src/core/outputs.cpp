#include "lstfuse/core/outputs.hpp"

#include <cstring>
#include <algorithm>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "lstfuse/core/error.hpp"

namespace fs = std::filesystem;

namespace lstfuse {
namespace {

// Absolute, with symbolic links resolved for the part that exists.
fs::path resolved(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::absolute(p, ec), ec);
  if (ec) r = fs::absolute(p).lexically_normal();
  return strip_trailing_separators(r);
}

}  // namespace

fs::path strip_trailing_separators(const fs::path& p) {
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return fs::path(s);
}

bool same_path(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) {
    const bool eq = fs::equivalent(a, b, ec);
    if (!ec) return eq;
  }
  return resolved(a) == resolved(b);
}

bool path_within(const fs::path& inner, const fs::path& outer) {
  if (same_path(inner, outer)) return true;
  const fs::path i = resolved(inner), o = resolved(outer);
  auto ii = i.begin();
  for (auto oi = o.begin(); oi != o.end(); ++oi, ++ii) {
    if (ii == i.end() || *ii != *oi) return false;
  }
  return true;
}

void check_not_an_input(const std::string& output, const std::string& option,
                        const std::vector<std::string>& inputs) {
  if (output.empty()) return;
  for (const auto& in : inputs) {
    if (in.empty()) continue;
    if (same_path(output, in)) {
      throw file_error(output, option + " names one of the inputs (" + in +
                                   "); lstfuse never writes over its inputs: choose another output");
    }
  }
}

bool is_folder_of_kind(const fs::path& dir, const OutputFolderKind& kind) {
  // Never open anything but a file: a pipe of the marker's name would wait for a writer.
  std::error_code ec;
  if (!fs::is_regular_file(dir / kind.marker, ec)) return false;
  std::ifstream in(dir / kind.marker);
  if (!in) return false;
  try {
    const auto j = nlohmann::json::parse(in);
    return j.is_object() && j.value("format", "") == kind.format;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

OutputFolderKind catalog_kind() {
  return {"manifest.json", "lstfuse-catalog", "catalog made by 'lstfuse ingest' or 'lstfuse fill'"};
}
OutputFolderKind simulation_kind() {
  return {"simulation.json", "lstfuse-simulation", "simulation made by 'lstfuse simulate'"};
}
OutputFolderKind fuse_kind() { return {"index.json", "lstfuse-fuse-index", "folder made by 'lstfuse fuse'"}; }
OutputFolderKind benchmark_kind() {
  return {"results.json", "lstfuse-benchmark", "folder made by 'lstfuse benchmark'"};
}
OutputFolderKind demo_kind() { return {"demo.json", "lstfuse-demo", "folder made by 'lstfuse demo'"}; }

std::optional<EnclosingFolder> enclosing_output_folder(const fs::path& p) {
  const std::vector<OutputFolderKind> kinds{catalog_kind(), simulation_kind(), fuse_kind(), benchmark_kind()};
  const fs::path r = resolved(p);
  for (fs::path d = r.parent_path(); !d.empty(); d = d.parent_path()) {
    for (const auto& k : kinds)
      if (is_folder_of_kind(d, k)) return EnclosingFolder{d, k};
    if (d == d.root_path()) break;
  }
  return std::nullopt;
}

namespace {

void refuse_inside_an_output_folder(const fs::path& p, const std::string& shown, const std::string& option) {
  if (const auto e = enclosing_output_folder(p)) {
    throw file_error(shown, option + " lies inside " + e->dir.string() + ", a " + e->kind.what + " (" +
                                e->kind.marker + "); lstfuse changes such a folder only through the "
                                "command that made it: choose a path outside it");
  }
}

}  // namespace

void check_output_file(const fs::path& file, const std::string& option, const std::vector<std::string>& inputs,
                       const OutputFileKind& kind) {
  const std::string shown = file.string();
  if (shown.empty()) throw Error(option + " needs a file name; it was given an empty one");
  std::error_code ec;
  if (fs::is_directory(file, ec)) throw file_error(shown, option + " must name a file; this is a folder");
  // A link, even one to nowhere or to an lstfuse output: the file is written beside and renamed
  // over the name, which would replace the user's link with a file.
  if (fs::is_symlink(fs::symlink_status(file, ec)))
    throw file_error(shown, option + " is a symbolic link; lstfuse would replace the link with its file: give the "
                                     "file's own path or another name");
  const fs::path parent = file.parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw file_error(shown, option + ": the output folder " + parent.string() + " does not exist");
  check_not_an_input(shown, option, inputs);
  refuse_inside_an_output_folder(file, shown, option);
  // A pipe, device or socket: telling whether it is an lstfuse output would open it, and a pipe
  // blocks there until someone writes to it.
  if (fs::exists(file, ec) && !fs::is_regular_file(file, ec)) {
    throw file_error(shown, option + " exists and is not a regular file (a pipe, device or socket); lstfuse "
                                     "writes its outputs as files: choose another name");
  }
  if (fs::exists(file, ec) && !kind.made_by_lstfuse(file)) {
    throw file_error(shown, "exists and is not a " + kind.what +
                                "; lstfuse only replaces its own outputs: choose another name or remove it");
  }
}

bool torch_archive_holds(const fs::path& path, const std::string& needle) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, 4) || std::memcmp(magic, "PK\x03\x04", 4) != 0) return false;
  std::string carry(magic, 4);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const std::string chunk = carry + std::string(buf.data(), static_cast<size_t>(in.gcount()));
    if (chunk.find(needle) != std::string::npos) return true;
    carry = chunk.size() > needle.size() ? chunk.substr(chunk.size() - needle.size()) : chunk;
  }
  return false;
}

bool is_lstfuse_model_file(const fs::path& path) {
  // The meta record is JSON dumped with sorted keys: the format item appears as written.
  return torch_archive_holds(path, "\"format\":\"lstfuse-deep-model\"");
}

std::optional<fs::path> foreign_entry(const fs::path& dir, const std::vector<std::string>& own,
                                      const std::vector<std::string>& own_folders) {
  std::set<fs::path> files, folders;
  for (const auto& f : own_folders) folders.insert(fs::path(f).lexically_normal());
  for (const auto& o : own) {
    const fs::path rel = fs::path(o).lexically_normal();
    // Only a path inside `dir` names an entry of it: an absolute one (a hand-edited manifest) or
    // one leading out owns nothing here (and an absolute path's parents never end at "").
    if (rel.empty() || rel.is_absolute() || rel.has_root_path() || *rel.begin() == "..") continue;
    files.insert(rel);
    // GDAL's sidecar belongs to a raster of ours, not to a JSON file (a user's
    // manifest.json.aux.xml went with an ingest --overwrite).
    if (rel.extension() != ".json") files.insert(fs::path(rel.string() + ".aux.xml"));
    for (fs::path p = rel.parent_path(); !p.empty(); p = p.parent_path()) folders.insert(p);
  }
  std::vector<fs::path> foreign;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const fs::path rel = it->path().lexically_relative(dir);
    // A link is an entry of its own (never followed): a linked folder is not ours to empty.
    const bool folder = it->is_directory(ec) && !it->is_symlink(ec);
    if (folder ? folders.count(rel) : files.count(rel)) continue;
    foreign.push_back(rel);
    if (folder) it.disable_recursion_pending();
  }
  if (ec) throw file_error(dir.string(), "cannot list its contents (" + ec.message() + ")");
  if (foreign.empty()) return std::nullopt;
  return *std::min_element(foreign.begin(), foreign.end());
}

std::vector<std::string> catalog_own_files(const fs::path& dir) {
  std::vector<std::string> own{"manifest.json"};
  std::error_code ec;
  if (!fs::is_regular_file(dir / "manifest.json", ec)) return own;  // a pipe would wait for a writer
  std::ifstream in(dir / "manifest.json");
  try {
    const auto j = nlohmann::json::parse(in);
    for (const auto& o : j.value("observations", nlohmann::json::array())) {
      for (const char* key : {"path", "quality_path"}) {
        const std::string p = o.value(key, "");
        if (!p.empty()) own.push_back(p);
      }
    }
    if (j.contains("landcover")) {
      const std::string p = j["landcover"].value("path", "");
      if (!p.empty()) own.push_back(p);
    }
  } catch (const nlohmann::json::exception&) {
    // An unreadable manifest lists nothing: every other file counts as foreign.
  }
  return own;
}

std::vector<std::string> simulation_own_files(const fs::path& dir) {
  std::vector<std::string> own{"simulation.json"};
  std::error_code ec;
  if (!fs::is_regular_file(dir / "simulation.json", ec)) return own;  // a pipe would wait for a writer
  std::ifstream in(dir / "simulation.json");
  try {
    const auto j = nlohmann::json::parse(in);
    for (const char* list : {"observations", "truth"}) {
      for (const auto& o : j.value(list, nlohmann::json::array())) {
        for (const char* key : {"path", "qc_path", "qa_path"}) {
          const std::string p = o.value(key, "");
          if (!p.empty()) own.push_back(p);
        }
      }
    }
    if (j.contains("landcover")) {
      const std::string p = j["landcover"].value("path", "");
      if (!p.empty()) own.push_back(p);
    }
  } catch (const nlohmann::json::exception&) {
    // An unreadable manifest lists nothing: every other file counts as foreign.
  }
  return own;
}

void check_output_folder(const fs::path& dir_in, const std::string& option,
                         const std::vector<std::string>& inputs, const OutputFolderKind& kind,
                         FolderUse use, bool overwrite) {
  const fs::path dir = strip_trailing_separators(dir_in);
  const std::string shown = dir_in.string();
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw file_error(shown, option + " must name a folder; this is a file");
  }
  if (path_within(fs::current_path(), dir)) {
    throw file_error(shown, option + " is the current folder or holds it; choose a new folder");
  }
  for (const auto& in : inputs) {
    if (in.empty()) continue;
    if (path_within(in, dir)) {
      throw file_error(shown, option + " holds the input " + in +
                                  "; lstfuse never writes over its inputs: choose another folder");
    }
  }
  refuse_inside_an_output_folder(dir, shown, option);
  if (!fs::exists(dir, ec) || fs::is_empty(dir, ec)) return;
  const bool ours = is_folder_of_kind(dir, kind);
  if (!ours) {
    // Only the hidden build folder (.NAME.TAG-PID) of a first run killed while building it: the
    // folder is lstfuse's, and the message says how to go on.
    std::string build_folder;
    int entries = 0;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string f = e.path().filename().string();
      ++entries;
      const auto dash = f.rfind('-');
      if (f.size() > 1 && f[0] == '.' && dash != std::string::npos && dash + 1 < f.size() &&
          f.find_first_not_of("0123456789", dash + 1) == std::string::npos && e.is_directory(ec))
        build_folder = f;
    }
    if (entries == 1 && !build_folder.empty()) {
      throw file_error(shown, "holds only " + build_folder + ", the build folder of a run killed before it "
                                  "finished; a single-process run removes it once that process is gone, or "
                                  "remove it yourself");
    }
    const std::string why = fs::exists(dir / kind.marker, ec) ? "its " + kind.marker + " is not one lstfuse wrote"
                                                              : "no " + kind.marker;
    throw file_error(shown, "exists and is not a " + kind.what + " (" + why +
                                "); lstfuse only replaces or resumes its own outputs: choose a new "
                                "or empty folder");
  }
  if (use == FolderUse::Replace && !overwrite) {
    throw file_error(shown, "already holds a " + kind.what +
                                " (choose another folder, or --overwrite to replace it)");
  }
}

}  // namespace lstfuse
