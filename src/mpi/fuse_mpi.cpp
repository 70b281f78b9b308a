// Compiled only when CMake finds MPI (LSTFUSE_HAVE_MPI).
#include "lstfuse/pipeline/fuse_mpi.hpp"

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"

namespace lstfuse::pipeline {
namespace {

constexpr int kTagRequest = 71, kTagReply = 72;

// Dynamic balance without giving up a rank to scheduling: rank 0 works on items like the others,
// and a thread of rank 0 answers the other ranks' requests for their next item from the same
// counter. Only that thread calls MPI between begin() and end() on rank 0, so
// MPI_THREAD_SERIALIZED is enough. It polls with short sleeps rather than a blocking receive,
// which in Open MPI spins and would take a core from rank 0's own work.
class MpiWork : public FuseWork {
 public:
  MpiWork(int rank, int size) : rank_(rank), size_(size) {}
  ~MpiWork() override {
    if (server_.joinable()) server_.join();
  }
  bool prepares() const override { return rank_ == 0; }
  bool gathers() const override { return rank_ == 0; }
  // Rank 0 prepares the folder while the others wait; then they read what it made.
  void before_prepare(const std::filesystem::path&) override {
    if (rank_ != 0) MPI_Barrier(MPI_COMM_WORLD);
  }
  void after_prepare() override {
    if (rank_ == 0) MPI_Barrier(MPI_COMM_WORLD);
  }
  void begin(long n_items) override {
    n_ = n_items;
    counter_ = 0;
    if (rank_ == 0 && size_ > 1) server_ = std::thread([this] { serve(); });
  }
  long next() override {
    if (rank_ == 0) return take();
    long ask = 0, item = -1;
    MPI_Send(&ask, 1, MPI_LONG, 0, kTagRequest, MPI_COMM_WORLD);
    MPI_Recv(&item, 1, MPI_LONG, 0, kTagReply, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return item;
  }
  void end(int counts[]) override {
    if (server_.joinable()) server_.join();
    int sum[kFuseCounts] = {};
    MPI_Allreduce(counts, sum, kFuseCounts, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    for (int k = 0; k < kFuseCounts; ++k) counts[k] = sum[k];
  }
  std::string who() const override { return fmt::format("rank {}/{}", rank_, size_); }

 private:
  long take() {
    const long i = counter_.fetch_add(1);
    return i < n_ ? i : -1;
  }
  void serve() {
    int finished = 0;  // ranks told that nothing is left
    long buf = 0;
    MPI_Request req;
    MPI_Irecv(&buf, 1, MPI_LONG, MPI_ANY_SOURCE, kTagRequest, MPI_COMM_WORLD, &req);
    while (true) {
      int flag = 0;
      MPI_Status st;
      MPI_Test(&req, &flag, &st);
      if (!flag) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
        continue;
      }
      const long item = take();
      MPI_Send(&item, 1, MPI_LONG, st.MPI_SOURCE, kTagReply, MPI_COMM_WORLD);
      if (item < 0 && ++finished == size_ - 1) break;
      MPI_Irecv(&buf, 1, MPI_LONG, MPI_ANY_SOURCE, kTagRequest, MPI_COMM_WORLD, &req);
    }
  }

  int rank_, size_;
  long n_ = 0;
  std::atomic<long> counter_{0};
  std::thread server_;
};

}  // namespace

bool built_with_mpi() { return true; }

MpiSession::MpiSession() {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  if (provided < MPI_THREAD_SERIALIZED && size_ > 1) {
    MPI_Finalize();
    throw Error("the MPI library does not allow calls from a second thread (MPI_THREAD_SERIALIZED), "
                "which rank 0 needs to hand out items while it works; use --shard K/N instead");
  }
}

MpiSession::~MpiSession() { MPI_Finalize(); }

std::unique_ptr<FuseWork> MpiSession::work() { return std::make_unique<MpiWork>(rank_, size_); }

void MpiSession::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

}  // namespace lstfuse::pipeline
