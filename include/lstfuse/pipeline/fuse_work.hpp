#pragma once
// A fuse run as data: a list of work items (catalog, tile, date), computed the same way by every
// process from the inputs and the options, and the ways to share it between processes.
//
// - One process (no FuseWork): every item in order, the index rewritten after each.
// - MPI (fuse_mpi.hpp): rank 0 prepares the folder (index, filled catalog, models, uncertainty
//   model), then every rank asks rank 0 for its next item (dynamic balance: cloudy days are
//   cheap), writes the item's files and a record of it, and rank 0 assembles the index (and the
//   netCDF cube) once every item is done.
// - Shards (--shard K/N, job arrays): the K-th of N disjoint parts of the same list; the
//   preparation is done under a lock on the folder, so it happens once; `fuse --assemble` then
//   builds the index and the cube from the records.
// A finished item (done, no data, or failed with its error) is recorded in OUT/items/DATE.json,
// written atomically after the item's rasters: a process that dies loses only unfinished items,
// and the same command run again does only what is missing. With --work-tile the items are the
// tiles of the dates, stored in OUT/tiles until their date is assembled (fuse_tiles.hpp).
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lstfuse/core/date.hpp"
#include "lstfuse/pipeline/fuse.hpp"

namespace lstfuse::pipeline {

// One unit of work. Without --work-tile a date is one item (tile 0). With it (fuse_tiles.hpp),
// item i of a catalog is tile i mod T of date i / T, T tiles a date: the method runs tile by tile,
// the whole-scene steps (coarse bias, scene statistics, reference fill, consistency score,
// uncertainty) see the whole scene, so the files equal the whole-scene run's byte for byte.
struct WorkItem {
  int catalog = 0;
  int tile = 0;
  Date date;
};

// What end() sums: dates done, skipped, without data, failed; tiles done, tiles found stored.
constexpr int kFuseCounts = 6;

// Records of finished items, kept in OUT/items.
constexpr const char* kItemsFolder = "items";

// Identifies the settings a record was made with (method, its options except threads/quiet,
// run settings): a record of other settings never counts as done.
std::string fuse_run_key(const Method& method, const FuseOptions& opts);

// How the items of one catalog's run are shared between processes.
class FuseWork {
 public:
  virtual ~FuseWork() = default;
  // Writes the initial index and trains the models before any item (MPI rank 0, every shard
  // under the folder lock); false: reads what the preparing process made.
  virtual bool prepares() const = 0;
  // Builds the index (and cube) from every process's records at the end (MPI rank 0, assemble).
  virtual bool gathers() const = 0;
  // Does items (false for --assemble).
  virtual bool works() const { return true; }
  // Around the preparation: non-preparing ranks wait for rank 0; shards lock the folder.
  virtual void before_prepare(const std::filesystem::path& out_dir) {}
  virtual void after_prepare() {}
  // Items are 0 .. n-1 of the catalog's list; next() gives this process's next one, -1 at the end.
  virtual void begin(long n_items) = 0;
  virtual long next() = 0;
  // After this process's last item; sums counts[kFuseCounts] over the processes (MPI) and
  // returns when every process is done.
  virtual void end(int counts[]) {}
  // Who this process is, for logs ("rank 1/4", "shard 2/8").
  virtual std::string who() const = 0;
};

// Writes a finished item's record (the index entry as JSON, with the run key).
void write_item_record(const std::filesystem::path& out_dir, const Date& date, const std::string& run_key,
                       nlohmann::json entry);
// The records made with `run_key`, by day number (entries as written).
std::map<long, nlohmann::json> read_item_records(const std::filesystem::path& out_dir, const std::string& run_key);
// True when the date's record was made with `run_key` and says done.
bool item_recorded_done(const std::filesystem::path& out_dir, const Date& date, const std::string& run_key);
// Removes OUT/items (a run redone from scratch).
void clear_item_records(const std::filesystem::path& out_dir);

// Steps of fuse() for shared runs.
// Trains (or finds) the model of every target not done yet, so that no two processes train one.
void pretrain_models(const Catalog& catalog, const MethodInfo& info, const std::vector<Date>& targets,
                     const std::map<long, FuseEntry>& previous,
                     const std::function<std::string(const std::vector<Date>&)>& ensure_model);
// The run's entries in target order from the records (and the earlier index for the rest);
// counts[4] (done, skipped, no data, failed) summed over the processes, or for --assemble taken
// from the entries. Targets without an entry are left out (missing_items_message names them).
void gather_entries(const std::filesystem::path& out_dir, const std::string& run_key,
                    const std::vector<Date>& targets, const std::map<long, FuseEntry>& previous,
                    FuseSummary& summary, const int counts[4],
                    const std::function<FuseEntry(const nlohmann::json&)>& parse);
// `why`, when given, says what kept them from being done (other_tiling_note).
std::string missing_items_message(const std::vector<Date>& targets, const std::vector<FuseEntry>& entries,
                                  const std::filesystem::path& out_dir, const std::string& why = {});

// --shard K/N: item i of catalog c belongs to shard ((i + c) mod N) + 1.
struct Shard {
  int k = 1, n = 1;
  static Shard parse(const std::string& text);  // "K/N", 1 <= K <= N; Error naming --shard
};
std::unique_ptr<FuseWork> shard_work(const Shard& shard, int catalog_index);
// --assemble: no item is done, the index and cube are built from the records.
std::unique_ptr<FuseWork> assemble_work();

// OpenMP and torch threads of this process: `requested` (> 0), or from the cores this process
// may use (its CPU affinity) shared by the ranks on this node (OMPI_COMM_WORLD_LOCAL_SIZE,
// MPI_LOCALNRANKS, SLURM_NTASKS_PER_NODE), at least 1. Sets both and returns the count.
int set_process_threads(int requested);
// The count set_process_threads(0) would choose, from these numbers (testable).
int default_process_threads(int affinity_cpus, int hardware_cpus, int local_ranks);

}  // namespace lstfuse::pipeline
