#include "lstfuse/deep/register.hpp"

#include "lstfuse/deep/deep_method.hpp"
#include "lstfuse/deep/dlstfm.hpp"
#include "lstfuse/deep/edcstfn.hpp"
#include "lstfuse/deep/mlffgan.hpp"
#include "lstfuse/deep/stfnet.hpp"
#include "lstfuse/deep/sttfn.hpp"

#include <torch/torch.h>

#include "lstfuse/core/threads.hpp"

namespace lstfuse {
namespace {

// Every deep family runs through the same engine (training, model files, tiled prediction).
template <class Family>
void add_family(MethodRegistry& registry, const char* name) {
  registry.add(name, [] { return std::make_unique<deep::DeepMethod>(std::make_unique<Family>()); });
}

}  // namespace

void register_deep_methods(MethodRegistry& registry) {
  // torch's intra-op pool follows the process's thread count (fuse --rank-threads, MPI ranks).
  register_thread_pool([](int threads) { torch::set_num_threads(threads); });
  add_family<deep::SttfnFamily>(registry, "sttfn");
  add_family<deep::StfNetFamily>(registry, "stfnet");
  add_family<deep::EdcstfnFamily>(registry, "edcstfn");
  add_family<deep::MlffGanFamily>(registry, "mlffgan");
  add_family<deep::DlstfmFamily>(registry, "dlstfm");
}

}  // namespace lstfuse
