#include "lstfuse/methods/classic/estarfm.hpp"
#include "lstfuse/methods/classic/series.hpp"
#include "lstfuse/methods/classic/starfm.hpp"
#include "lstfuse/methods/method.hpp"

namespace lstfuse {

void register_classic_methods(MethodRegistry& registry) {
  registry.add("starfm", [] { return std::make_unique<StarfmMethod>(); });
  registry.add("estarfm", [] { return std::make_unique<EstarfmMethod>(); });
  registry.add("series", [] { return std::make_unique<SeriesMethod>(); });
}

}  // namespace lstfuse
