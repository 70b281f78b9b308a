#pragma once
// Flags several subcommands share, spelled as GDAL's own command line (the `gdal` program of
// GDAL 3.11+) spells them, so that users of GDAL meet what they know: -o/--output, --of FORMAT,
// --co NAME=VALUE (repeatable), -q/--quiet. Old spellings stay accepted for one release, hidden
// from --help, with a one-line warning on stderr. Also the one parser of comma-separated dates.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "lstfuse/core/date.hpp"
#include "lstfuse/core/outputs.hpp"

namespace lstfuse::cli {

// Prints, once per process and flag, "lstfuse: warning: OLD is deprecated, use NEW ...".
void warn_deprecated(const std::string& old_name, const std::string& new_name);

// An old spelling bound to the same variable as its new one: hidden from --help, warns when used.
template <typename T>
CLI::Option* add_deprecated(CLI::App* cmd, const std::string& old_name, T& variable,
                            const std::string& new_name) {
  auto* o = cmd->add_option(old_name, variable, "Deprecated spelling of " + new_name);
  o->group("");  // hidden
  o->each([old_name, new_name](const std::string&) { warn_deprecated(old_name, new_name); });
  return o;
}

// -o/--output; with `old_out` also the old spelling --out. CLI11's required() cannot see the old
// spelling: a required output is checked by require_output() in the subcommand's callback.
CLI::Option* add_output(CLI::App* cmd, std::string& out, const std::string& help, bool old_out);
// CLI11's own "--output is required" error (exit code 106) when `out` is empty.
void require_output(const std::string& out);

struct RasterOutput {
  std::string format;                          // --of
  std::vector<std::string> creation_options;   // --co
  bool quiet = false;                          // -q
};

// --of (choices `formats`, default `r.format`; with `old_format` also --format), --co and
// -q/--quiet. An empty `formats` adds no --of (the subcommand's formats are fixed).
void add_raster_output(CLI::App* cmd, RasterOutput& r, const std::vector<std::string>& formats,
                       bool old_format, const std::string& quiet_help = "No progress bar, no informational log lines");

// First thing in a callback, before any work: --co checked against the driver that will write
// (a COG's options against the COG driver; netCDF output writes its per-date rasters as COG);
// -q lowers the log to warnings. The format and the creation options themselves go into the
// stage's options, and each stage hands them to its writers (io::WriteOptions).
void apply_raster_output(const RasterOutput& r);

// Single-file outputs for check_output_file: an existing file is replaced only when lstfuse wrote
// it, known by its mark (a raster's LSTFUSE_* metadata, a PNG's text chunk, a model's format).
OutputFileKind raster_file_kind();
OutputFileKind png_file_kind();
OutputFileKind model_file_kind();

// "2020-01-01,2020-02-03" -> dates; blanks around items and empty items are ignored. Errors name
// the flag and the item.
// A number within [lo, hi] (lo excluded when lo_open), finite: CLI11's own number checks let
// "nan" and "1e308" through.
CLI::Validator finite_range(double lo, double hi, bool lo_open = false);

// The extension of a file name in lower case (".tif" for "A.TIF"), to tell what a name says it is.
std::string lower_extension(const std::string& path);

// A value that is not empty: `--pairs ''` (an unset shell variable) read as the option left out.
CLI::Validator non_empty();

// Options given an explicitly empty value on the command line (`--gain ''`, `--gain=`), by long
// name without dashes. CLI11 gives an optional-value flag the same empty result for those as for
// the bare flag, so the command line is read for them before parsing.
void note_empty_values(int argc, char** argv);
bool given_empty(const CLI::Option& flag);

std::vector<Date> parse_date_list(const std::string& text, const std::string& flag);
// One date given to `flag`; a bad one is an error naming the flag.
Date parse_date_flag(const std::string& text, const std::string& flag);

}  // namespace lstfuse::cli
