#pragma once
// From a catalog and a target date to a FusionInput: which pairs to use and loading them.
// Shared by `predict`, `train`, `fuse` and `benchmark`, so every command picks pairs the same way.
#include <optional>
#include <vector>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/methods/method.hpp"

namespace lstfuse::pipeline {

struct PairChoice {
  std::vector<Date> dates;  // sorted
  std::string note;         // why these (for logs and indexes)
};

// Picks the pairs for `target` according to the method's needs: the nearest usable pair before
// and the nearest after (two-pair methods), or the nearest one (single-pair methods; ties go to
// the earlier). Pairs on the target date itself and dates in `exclude` are never used (the
// benchmark hides the date it predicts). A pair is usable when both images have at least
// `min_valid` valid fraction: a mostly cloudy pair would leave most of the prediction empty,
// so a clearer pair a revisit further away is preferred. Throws Error explaining what is missing.
constexpr double kMinPairValid = 0.3;
bool usable_pair(const Catalog& catalog, const Date& d, double min_valid = kMinPairValid);
PairChoice choose_pairs(const Catalog& catalog, const Date& target, const MethodInfo& info,
                        const std::vector<Date>& exclude = {}, double min_valid = kMinPairValid);

// Loads the pairs and the target coarse image. `pairs` may be given explicitly (--pairs).
FusionInput load_input(const Catalog& catalog, const Date& target, const std::vector<Date>& pairs);

// All pairs of the catalog (for series-mode training), except the excluded dates.
std::vector<ImagePair> load_pairs(const Catalog& catalog, const std::vector<Date>& dates);

}  // namespace lstfuse::pipeline
