#pragma once
// `mpirun -n N lstfuse fuse ...`: the items of a run shared over MPI ranks (fuse_work.hpp).
// Compiled with MPI when CMake finds it (LSTFUSE_HAVE_MPI); without it, launched_by_mpi() still
// recognises an MPI launcher so that the command can say this build cannot use it.
#include <memory>
#include <string>

#include "lstfuse/pipeline/fuse_work.hpp"

namespace lstfuse::pipeline {

// True when this build has MPI.
bool built_with_mpi();
// True when the process was started by an MPI launcher with at least `min_ranks` ranks
// (environment of Open MPI, MPICH/Hydra, or Slurm's srun with PMIx).
bool launched_by_mpi(int min_ranks = 1);
// The process's rank as the launcher's environment gives it before MPI starts (Open MPI, PMI,
// PMIx); -1 when none does.
int rank_from_environment();

// MPI for the life of the object: MPI_Init_thread on construction, MPI_Finalize on destruction.
// Throws Error without MPI support.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }
  // One catalog's run shared over every rank (collective: every rank makes it in the same order).
  std::unique_ptr<FuseWork> work();
  // Ends every rank (after an error on one of them, the others would wait for it for ever).
  [[noreturn]] void abort(int code);

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace lstfuse::pipeline
