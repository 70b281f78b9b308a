#pragma once
// From a catalog and a target date to a FusionInput: which pairs to use and loading them.
// Shared by `predict`, `train`, `fuse` and `benchmark`, so every command picks pairs the same way.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/streamed.hpp"
#include "lstfuse/prep/coarse_bias.hpp"

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

// A one-line reason when the catalog has too few usable pair dates for the method to predict
// any date (choose_pairs would refuse them all alike); nullopt otherwise. With `coarse_filled`
// every date with a usable fine image counts, since gap filling gives it a coarse image.
std::optional<std::string> too_few_pairs(const Catalog& catalog, const MethodInfo& info, bool coarse_filled);

// Loads the pairs and the target coarse image. `pairs` may be given explicitly (--pairs).
FusionInput load_input(const Catalog& catalog, const Date& target, const std::vector<Date>& pairs);

// Pairs kept from one date of a run to the next. Consecutive days mostly use the same pairs
// (every day between two revisits; every pair of the catalog for `series`), and reading and
// decoding them was most of a day's time. Only the pairs of the last call are kept, so memory
// stays that of one day's input; the inputs handed out share the kept values (a write, such as
// the bias step's, copies that raster first), and each pair is read as load_input reads it.
class PairCache {
 public:
  explicit PairCache(const Catalog& catalog) : catalog_(catalog) {}
  FusionInput load_input(const Date& target, const std::vector<Date>& pairs);
  long long reads() const { return reads_; }  // pairs read from files so far

 private:
  const Catalog& catalog_;
  std::map<long, ImagePair> kept_;  // by day
  long long reads_ = 0;
};

// The files of one prediction from a catalog, as `lstfuse predict --catalog` and the Python
// module's Catalog.predict take them: the target date's coarse image and the pairs `pairs` (any
// order), or when none are given those choose_pairs picks for the method (logged with why).
// Throws Error naming the catalog when the target has no coarse image or a date is not a pair;
// `what` names the pairs' argument in messages (the command line's flag by default).
StreamInput catalog_files(const Catalog& catalog, const Date& target, std::vector<Date> pairs,
                          const MethodInfo& info, const std::string& what = "--pairs");

// Pairs are dated apart from the target and from each other: a pair on the target date hands the
// method the answer it is asked for (its fine image is the truth), and two pairs of one date are
// one pair. Throws Error naming `what` (the flag or argument that gave the dates).
void check_pair_dates(const Date& target, const std::vector<Date>& pairs, const std::string& what);

// Reads the images of `files` into memory; grids and band counts are checked first, so that an
// error names the file before anything is read.
FusionInput read_files(const StreamInput& files);

// All pairs of the catalog (for series-mode training), except the excluded dates.
std::vector<ImagePair> load_pairs(const Catalog& catalog, const std::vector<Date>& dates);

// The bias step: before a method sees its input, each pair's coarse image is corrected by that
// date's measured coarse bias and the target's by the bias modelled in time from every other
// pair date of the catalog (prep/coarse_bias.hpp). Dates a benchmark holds out are left out of
// the model, so a predicted date's fine image never reaches it. Methods that use the whole
// series (MethodInfo::uses_series) correct the bias themselves and skip this step.
constexpr double kMinBiasShare = 0.05;  // as SeriesOptions::min_bias_share
class CoarseBiasStep {
 public:
  // `strips`: each pair's bias is measured from strips of rows (streamed prediction: memory
  // bounded by a strip, not an image), with the same result.
  explicit CoarseBiasStep(const Catalog& catalog, bool strips = false) : catalog_(catalog), strips_(strips) {}
  // The model from every pair date of the catalog except `exclude`.
  prep::BiasModel model(const std::vector<Date>& exclude = {}) const;
  // Corrects `in` in place; returns the target date's estimate.
  prep::BiasEstimate apply(FusionInput& in, const std::vector<Date>& exclude = {}) const;
  // The same correction for files read as streamed windows: sets each coarse image's shift.
  prep::BiasEstimate apply(StreamInput& in, const std::vector<Date>& exclude = {}) const;

 private:
  const prep::PairBias& measured(const Date& d) const;
  const Catalog& catalog_;
  bool strips_ = false;
  mutable std::map<long, prep::PairBias> cache_;  // by day; measuring loads both images
};

// "auto" (the method's default), "on" or "off"; throws Error naming the option otherwise.
bool coarse_bias_enabled(const std::string& setting, const MethodInfo& info);

}  // namespace lstfuse::pipeline
