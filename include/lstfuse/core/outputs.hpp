#pragma once
// One rule for every output path, so that no command can destroy what it did not make:
//  - an output is never one of the run's inputs (same file identity, whatever the spelling:
//    relative, absolute, "./", symbolic or hard links);
//  - an output folder that is replaced as a whole never holds an input nor the current folder;
//  - an existing, non-empty output folder is only reused or replaced when it is a previous
//    output of the same kind, recognised by the marker file lstfuse writes into it (a catalog's
//    manifest.json, a fuse run's index.json); any other folder is refused.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lstfuse {

// True when a and b name the same file or folder (equivalent when both exist, else the same
// lexically normal absolute path after resolving what exists of it).
bool same_path(const std::filesystem::path& a, const std::filesystem::path& b);
// True when `inner` is `outer` or lies somewhere below it.
bool path_within(const std::filesystem::path& inner, const std::filesystem::path& outer);

// Throws Error "OUTPUT: is also an input (INPUT) ..." when `output` names one of `inputs`
// (empty entries are ignored). `option` names the flag that gave the output (e.g. "-o").
void check_not_an_input(const std::string& output, const std::string& option,
                        const std::vector<std::string>& inputs);

struct OutputFolderKind {
  std::string marker;  // file inside the folder, e.g. "manifest.json"
  std::string format;  // its "format" field, e.g. "lstfuse-catalog"
  std::string what;    // for messages, e.g. "catalog made by 'lstfuse ingest'"
};

// True when `dir` holds `kind.marker` with the expected "format" field.
bool is_folder_of_kind(const std::filesystem::path& dir, const OutputFolderKind& kind);

enum class FolderUse {
  Replace,  // the folder is removed and rebuilt (ingest): --overwrite needed when not empty
  Reuse,    // the folder is written into and resumed (fuse): ours or empty
};

// Checks an output folder before any work: refuses one that is a file, the current folder or
// one holding it, one that is or holds an input, and an existing non-empty folder that is not a
// previous output of `kind` (Replace also refuses one of `kind` without `overwrite`), and one
// inside a catalog, simulation, fuse or benchmark folder.
void check_output_folder(const std::filesystem::path& dir, const std::string& option,
                         const std::vector<std::string>& inputs, const OutputFolderKind& kind,
                         FolderUse use, bool overwrite);

// Every folder kind lstfuse writes, by its marker: catalog (ingest), simulation (simulate), fuse
// output (fuse), benchmark output (benchmark), demo output (demo).
OutputFolderKind catalog_kind();
OutputFolderKind simulation_kind();
OutputFolderKind fuse_kind();
OutputFolderKind benchmark_kind();
OutputFolderKind demo_kind();

struct EnclosingFolder {
  std::filesystem::path dir;
  OutputFolderKind kind;
};
// The nearest folder strictly above `p` that is a catalog, simulation, fuse or benchmark output
// (what lstfuse manages file by file; a demo folder only holds such folders). None: nullopt.
std::optional<EnclosingFolder> enclosing_output_folder(const std::filesystem::path& p);

struct OutputFileKind {
  std::string what;  // for messages, e.g. "raster written by lstfuse"
  // True when the existing file is one lstfuse wrote (its marker): only such a file is replaced.
  std::function<bool(const std::filesystem::path&)> made_by_lstfuse;
};

// Checks a single-file output before any work: refuses a folder, one of `inputs`, a path inside
// a catalog, simulation, fuse or benchmark folder (enclosing_output_folder), and an existing
// file that `kind` does not recognise as lstfuse's own.
void check_output_file(const std::filesystem::path& file, const std::string& option,
                       const std::vector<std::string>& inputs, const OutputFileKind& kind);

// A torch archive (zip) in which `needle` appears: torch stores its records uncompressed, so a
// record's name or a string it holds is found as written. Read in blocks.
bool torch_archive_holds(const std::filesystem::path& path, const std::string& needle);
// An lstfuse deep model file: a torch archive whose meta record says
// "format": "lstfuse-deep-model".
bool is_lstfuse_model_file(const std::filesystem::path& path);

// The first entry (in sorted order) below `dir` that its maker did not write: not one of `own`
// (paths relative to `dir`), not GDAL's OWN.aux.xml beside one, not a folder on the way to one.
// A folder made by lstfuse and then added to by the user gives the user's first file or folder.
// `own_folders` are folders of the maker's layout, its own even when empty (a simulation without
// a Landsat date still has its landsat/).
std::optional<std::filesystem::path> foreign_entry(const std::filesystem::path& dir,
                                                   const std::vector<std::string>& own,
                                                   const std::vector<std::string>& own_folders = {});
// What a catalog folder's manifest says the catalog made: manifest.json and every observation,
// quality and land-cover file it names (relative paths).
std::vector<std::string> catalog_own_files(const std::filesystem::path& dir);
// The same for a simulation folder: simulation.json, landcover.tif and every image it names.
std::vector<std::string> simulation_own_files(const std::filesystem::path& dir);

// "yanco/" and "yanco" are one folder: trailing separators removed (the root stays "/").
std::filesystem::path strip_trailing_separators(const std::filesystem::path& p);

}  // namespace lstfuse
