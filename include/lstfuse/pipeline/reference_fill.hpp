#pragma once
// Fine reference gaps and the fill flags of fused days.
//
// A method predicts a pixel only where its reference pairs are clear there (ESTARFM needs both
// fine images, additive and STARFM one). Where the chosen pairs are clouded, fuse predicts again
// with pairs further away and takes those pixels only, flagged `reference_filled`: single-pair
// capable methods try single pairs by distance, two-pair methods every two pairs by the farther
// one's distance (bracketing sets first for methods that want both sides), among the `max_steps`
// + 1 nearest pairs with any clear pixel on each side. A candidate is predicted only when its fine
// images are clear at some remaining hole, and only over the bounding box of those holes.
#include <functional>
#include <string>
#include <vector>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/methods/method.hpp"

namespace lstfuse::pipeline {

// Candidate reference sets for `target` after `first` (which is not repeated), nearest first.
std::vector<std::vector<Date>> reference_candidates(const Catalog& catalog, const Date& target,
                                                    const MethodInfo& info,
                                                    const std::vector<Date>& first, int max_steps);

struct ReferenceFill {
  long long holes = 0;     // pixels with coarse data left invalid by the first prediction
  long long filled = 0;    // of which predicted from farther pairs
  std::vector<std::vector<Date>> used;  // the sets that filled something
  std::string note() const;  // for the fuse index ("" when nothing was filled)
};

// Fills the holes of `res` (predicted from `in`) and appends the 0/1 band `reference_filled` to
// res.quality. `prepare` is called with each candidate set before predicting with it (trainable
// methods load or train their model there). max_steps 0 only appends the band.
ReferenceFill fill_reference_gaps(const Catalog& catalog, Method& method, const FusionInput& in,
                                  FusionResult& res, int max_steps,
                                  const std::function<void(const std::vector<Date>&)>& prepare);

// Appends a 0/1 band named `name` to res.quality (a quality raster is created when empty).
void append_quality_band(FusionResult& res, const std::string& name, const Raster& flags);

// The `coarse_filled` flags of the target date: the quality layer of a filled catalog's coarse
// image (lstfuse fill), zeros for a catalog that was not filled.
Raster coarse_filled_flags(const Catalog& catalog, const Date& date);

}  // namespace lstfuse::pipeline
