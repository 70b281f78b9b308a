#include "lstfuse/pipeline/fuse_work.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>
#include <omp.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/core/kill_point.hpp"
#include "lstfuse/core/threads.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/fuse.hpp"
#include "lstfuse/pipeline/fuse_mpi.hpp"
#include "lstfuse/pipeline/fuse_resume.hpp"
#include "lstfuse/pipeline/inputs.hpp"

namespace lstfuse::pipeline {
namespace fs = std::filesystem;
namespace {

class ShardWork : public FuseWork {
 public:
  ShardWork(Shard s, int catalog) : shard_(s), catalog_(catalog) {}
  ~ShardWork() override {
    // Still locked: the preparation failed (a refused folder or option). The folders this shard
    // made for the lock go again while empty (-o inside a catalog left an empty folder there).
    if (fd_ >= 0) {
      std::error_code ec;
      for (fs::path p = out_dir_; !made_top_.empty(); p = p.parent_path()) {
        if (!fs::is_directory(fs::symlink_status(p, ec)) || !fs::is_empty(p, ec) || ec || !fs::remove(p, ec)) break;
        if (p == made_top_) break;
      }
    }
    after_prepare();
  }
  bool prepares() const override { return true; }
  bool gathers() const override { return false; }
  // The first shard to take the lock prepares the folder; the others find it prepared. The lock
  // is on the folder itself (no file of ours beside the user's).
  void before_prepare(const fs::path& out_dir) override {
    out_dir_ = out_dir;
    for (fs::path p = fs::absolute(out_dir); !p.empty() && !fs::exists(fs::symlink_status(p)); p = p.parent_path()) {
      made_top_ = p;
      if (p == p.parent_path()) break;
    }
    if (!made_top_.empty()) out_dir_ = fs::absolute(out_dir);
    fs::create_directories(out_dir);
    fd_ = ::open(out_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) throw file_error(out_dir.string(), "cannot open the output folder to lock it");
    if (::flock(fd_, LOCK_EX) != 0) {
      spdlog::warn("{}: the file system does not lock folders; start shards after one has prepared it",
                   out_dir.string());
    }
  }
  void after_prepare() override {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
      fd_ = -1;
    }
  }
  void begin(long n_items) override {
    n_ = n_items;
    // The first item of this shard: i with (i + catalog) mod N == K - 1.
    i_ = ((shard_.k - 1 - catalog_) % shard_.n + shard_.n) % shard_.n;
  }
  long next() override {
    if (i_ >= n_) return -1;
    const long i = i_;
    i_ += shard_.n;
    return i;
  }
  std::string who() const override { return fmt::format("shard {}/{}", shard_.k, shard_.n); }

 private:
  Shard shard_;
  int catalog_;
  long n_ = 0, i_ = 0;
  int fd_ = -1;
  fs::path out_dir_, made_top_;  // made_top_: the outermost folder before_prepare created, if any
};

class AssembleWork : public FuseWork {
 public:
  bool prepares() const override { return false; }
  bool gathers() const override { return true; }
  bool works() const override { return false; }
  void begin(long) override {}
  long next() override { return -1; }
  std::string who() const override { return "assemble"; }
};

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (*end == '\0' && n > 0 && n < 1000000) ? static_cast<int>(n) : 0;
}

}  // namespace

std::string fuse_run_key(const Method& method, const FuseOptions& opts) {
  nlohmann::json o = method.options().to_json();
  if (o.is_object())
    for (const char* k : {"threads", "quiet"}) o.erase(k);
  const nlohmann::json key = {{"method", method.info().name}, {"options", o}, {"run", fuse_run_settings(opts)}};
  return fmt::format("{:016x}", fnv1a(key.dump()));
}

void write_item_record(const fs::path& out_dir, const Date& date, const std::string& run_key, nlohmann::json entry) {
  const fs::path dir = out_dir / kItemsFolder;
  fs::create_directories(dir);
  entry["run_key"] = run_key;
  write_text_atomic(dir / (date.iso() + ".json"), entry.dump(1) + "\n");
  kill_point("item-recorded");
}

std::map<long, nlohmann::json> read_item_records(const fs::path& out_dir, const std::string& run_key) {
  std::map<long, nlohmann::json> out;
  const fs::path dir = out_dir / kItemsFolder;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() != ".json") continue;  // temporaries of a record being written
    std::ifstream in(f.path());
    try {
      nlohmann::json j = nlohmann::json::parse(in);
      if (j.value("run_key", "") != run_key) continue;  // made with other settings
      j.erase("run_key");
      const Date d = Date::parse(j.at("date").get<std::string>());
      out[d.days()] = std::move(j);
    } catch (const std::exception& e) {
      // A damaged record counts as not done: the item is simply done again.
      spdlog::warn("{}: unreadable item record, its item is redone ({})", f.path().string(), e.what());
    }
  }
  return out;
}

bool item_recorded_done(const fs::path& out_dir, const Date& date, const std::string& run_key) {
  std::ifstream in(out_dir / kItemsFolder / (date.iso() + ".json"));
  if (!in) return false;
  try {
    const auto j = nlohmann::json::parse(in);
    return j.value("run_key", "") == run_key && j.value("status", "") == "done";
  } catch (const std::exception&) {
    return false;
  }
}

void clear_item_records(const fs::path& out_dir) {
  std::error_code ec;
  fs::remove_all(out_dir / kItemsFolder, ec);
}

Shard Shard::parse(const std::string& text) {
  Shard s;
  const auto slash = text.find('/');
  auto bad = [&] { return Error(fmt::format("--shard {}: expected K/N with 1 <= K <= N (e.g. 3/8)", text)); };
  if (slash == std::string::npos) throw bad();
  try {
    size_t a = 0, b = 0;
    const std::string ks = text.substr(0, slash), ns = text.substr(slash + 1);
    s.k = std::stoi(ks, &a);
    s.n = std::stoi(ns, &b);
    if (a != ks.size() || b != ns.size()) throw bad();
  } catch (const std::logic_error&) {
    throw bad();
  }
  if (s.n < 1 || s.k < 1 || s.k > s.n) throw bad();
  return s;
}

std::unique_ptr<FuseWork> shard_work(const Shard& shard, int catalog_index) {
  return std::make_unique<ShardWork>(shard, catalog_index);
}

std::unique_ptr<FuseWork> assemble_work() { return std::make_unique<AssembleWork>(); }

int default_process_threads(int affinity_cpus, int hardware_cpus, int local_ranks) {
  // A rank bound to a few cores uses those; ranks sharing the node's cores divide them.
  const int share = hardware_cpus / std::max(1, local_ranks);
  return std::max(1, std::min(std::max(1, affinity_cpus), share));
}

int set_process_threads(int requested) {
  int threads = requested;
  if (threads <= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    const int affinity = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : hardware_threads();
    int local = env_int("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!local) local = env_int("MPI_LOCALNRANKS");
    if (!local) local = env_int("SLURM_NTASKS_PER_NODE");
    threads = default_process_threads(affinity, hardware_threads(), local);
  }
  threads = usable_threads(threads);
  set_thread_pools(threads);  // OpenMP's and torch's (once the deep methods are loaded)
  // OpenBLAS (torch's BLAS on Debian) keeps its own pool, sized to the whole machine; its thread
  // count also changes the sums of a training, so it follows too. Looked up at run time: the
  // BLAS behind libblas.so.3 is chosen by the system, and may not be OpenBLAS.
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(threads);
  return threads;
}

bool launched_by_mpi(int min_ranks) {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (env_int(v) >= min_ranks) return true;
  // srun launching the ranks itself through PMIx.
  return std::getenv("PMIX_RANK") && env_int("SLURM_STEP_NUM_TASKS") >= min_ranks;
}

int rank_from_environment() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"}) {
    const char* v = std::getenv(name);
    if (!v || !*v) continue;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (*end == '\0' && n >= 0 && n < 1000000) return static_cast<int>(n);
  }
  return -1;
}

#ifndef LSTFUSE_HAVE_MPI
bool built_with_mpi() { return false; }
MpiSession::MpiSession() {
  throw Error("this lstfuse was built without MPI, so 'mpirun' would start independent copies of the "
              "same run: install Open MPI (libopenmpi-dev) and rebuild, or use --shard K/N and "
              "'lstfuse fuse --assemble' (docs/cluster.md)");
}
MpiSession::~MpiSession() = default;
std::unique_ptr<FuseWork> MpiSession::work() { return nullptr; }
void MpiSession::abort(int code) { std::exit(code); }
#endif

}  // namespace lstfuse::pipeline

namespace lstfuse::pipeline {

void pretrain_models(const Catalog& catalog, const MethodInfo& info, const std::vector<Date>& targets,
                     const std::map<long, FuseEntry>& previous,
                     const std::function<std::string(const std::vector<Date>&)>& ensure_model) {
  if (!info.trainable) return;
  for (const Date& d : targets) {
    const auto p = previous.find(d.days());
    if (p != previous.end() && p->second.status == "done") continue;
    if (!catalog.find(d, Role::Coarse)) continue;  // a day the filler could not fill: no data
    try {
      ensure_model(choose_pairs(catalog, d, info).dates);
    } catch (const Error&) {
      // The item fails on its turn and records why.
    }
  }
}

void gather_entries(const fs::path& out_dir, const std::string& run_key, const std::vector<Date>& targets,
                    const std::map<long, FuseEntry>& previous, FuseSummary& summary, const int counts[4],
                    const std::function<FuseEntry(const nlohmann::json&)>& parse) {
  const auto records = read_item_records(out_dir, run_key);
  summary.entries.clear();
  for (const Date& d : targets) {
    if (const auto r = records.find(d.days()); r != records.end()) {
      summary.entries.push_back(parse(r->second));
    } else if (const auto p = previous.find(d.days()); p != previous.end() && p->second.status != "failed") {
      summary.entries.push_back(p->second);
    }
  }
  summary.done = counts[0];
  summary.skipped = counts[1];
  summary.no_data = counts[2];
  summary.failed = counts[3];
  if (counts[0] + counts[1] + counts[2] + counts[3] == 0) {  // --assemble: what the entries say
    for (const auto& e : summary.entries) {
      if (e.status == "done") ++summary.skipped;
      else if (e.status == "no-data") ++summary.no_data;
      else ++summary.failed;
    }
  }
}

std::string missing_items_message(const std::vector<Date>& targets, const std::vector<FuseEntry>& entries,
                                  const fs::path& out_dir, const std::string& why) {
  size_t k = 0;
  std::string first;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (k < entries.size() && entries[k].date == targets[i]) {
      ++k;
      continue;
    }
    if (first.empty()) first = targets[i].iso();
  }
  if (!why.empty()) {
    return fmt::format("{}: {} of {} dates are not done yet (first: {}): {}", out_dir.string(),
                       targets.size() - entries.size(), targets.size(), first, why);
  }
  return fmt::format("{}: {} of {} dates are not done yet (first: {}); run the missing shards (or the "
                     "same command) again, then --assemble",
                     out_dir.string(), targets.size() - entries.size(), targets.size(), first);
}

}  // namespace lstfuse::pipeline
