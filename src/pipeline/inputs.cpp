#include "lstfuse/pipeline/inputs.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <limits>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/threads.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/io/products.hpp"

namespace lstfuse::pipeline {

bool usable_pair(const Catalog& catalog, const Date& d, double min_valid) {
  const auto f = catalog.find(d, Role::Fine);
  const auto c = catalog.find(d, Role::Coarse);
  return f && c && f->valid_fraction >= min_valid && c->valid_fraction >= min_valid;
}

namespace {

// Pairs exist but are all too cloudy: say so, rather than "0 before and 0 after".
std::string cloudy_note(int cloudy, double min_valid) {
  if (cloudy == 0) return "";
  return fmt::format(" ({} pair date(s) set aside: fewer than {:.0f} % of their fine or coarse pixels are "
                     "valid, i.e. cloud or fill)", cloudy, 100.0 * min_valid);
}

// The fine and coarse observations of pair date d; an Error naming the catalog when either is
// missing.
std::pair<Observation, Observation> pair_observations(const Catalog& catalog, const Date& d) {
  const auto f = catalog.find(d, Role::Fine);
  const auto c = catalog.find(d, Role::Coarse);
  if (!f || !c) {
    throw Error(fmt::format("{}: {} is not a pair date (needs a fine and a coarse image)",
                            catalog.root().string(), d.iso()));
  }
  return {*f, *c};
}

}  // namespace

std::optional<std::string> too_few_pairs(const Catalog& catalog, const MethodInfo& info, bool coarse_filled) {
  if (info.min_pairs == 0) return std::nullopt;  // bilinear: the target's coarse image alone
  // The thresholds choose_pairs applies: any clear pixel for series methods, kMinPairValid else.
  const double min_valid = info.uses_series ? 1e-9 : kMinPairValid;
  const int needed = info.uses_series ? std::max(1, info.min_pairs) : info.needs_pairs_both_sides ? 2 : 1;
  int usable = 0, cloudy = 0;
  for (const Date& d : catalog.dates(Role::Fine)) {
    const auto f = catalog.find(d, Role::Fine);
    const auto c = catalog.find(d, Role::Coarse);
    if (!coarse_filled && !c) continue;
    if (f->valid_fraction >= min_valid && (coarse_filled || c->valid_fraction >= min_valid))
      ++usable;
    else
      ++cloudy;
  }
  if (usable >= needed) return std::nullopt;
  return fmt::format("{}: {} needs at least {} usable pair date(s) (a fine and a coarse image on one date), "
                     "the catalog has {}{}", catalog.root().string(), info.name, needed, usable,
                     info.uses_series ? (cloudy ? fmt::format(" ({} without a clear pixel)", cloudy) : "")
                                      : cloudy_note(cloudy, min_valid));
}

PairChoice choose_pairs(const Catalog& catalog, const Date& target, const MethodInfo& info,
                        const std::vector<Date>& exclude, double min_valid) {
  if (!catalog.find(target, Role::Coarse)) {
    throw Error(fmt::format("{}: no coarse image on {} in the catalog", catalog.root().string(),
                            target.iso()));
  }
  if (info.uses_series) {
    // Every pair with any clear pixel: a cloudy pair still tells the method about its clear part.
    PairChoice all;
    for (const Date& d : catalog.pair_dates()) {
      if (d == target || std::find(exclude.begin(), exclude.end(), d) != exclude.end()) continue;
      if (usable_pair(catalog, d, 1e-9)) all.dates.push_back(d);
    }
    if (static_cast<int>(all.dates.size()) < std::max(1, info.min_pairs)) {
      throw Error(fmt::format("{} needs at least {} pair(s) with clear pixels other than {}, the "
                              "catalog has {}", info.name, std::max(1, info.min_pairs),
                              target.iso(), all.dates.size()));
    }
    all.note = fmt::format("every pair of the series ({})", all.dates.size());
    return all;
  }
  std::vector<Date> before, after;
  int cloudy = 0;  // pair dates set aside because too few of their pixels are valid
  for (const Date& d : catalog.pair_dates()) {
    if (d == target || std::find(exclude.begin(), exclude.end(), d) != exclude.end()) continue;
    if (!usable_pair(catalog, d, min_valid)) {
      ++cloudy;
      continue;
    }
    (d < target ? before : after).push_back(d);
  }
  std::reverse(before.begin(), before.end());  // nearest first
  PairChoice choice;
  const int want = info.max_pairs < 0 ? 2 : std::min(info.max_pairs, 2);
  if (info.needs_pairs_both_sides || want >= 2) {
    if (!before.empty() && !after.empty()) {
      choice.dates = {before.front(), after.front()};
      choice.note = "nearest pair before and after";
    } else if (info.needs_pairs_both_sides) {
      // Both on one side: still two pairs, the nearest two (extrapolation, noted).
      std::vector<Date> all = before.empty() ? after : before;
      if (all.size() < 2) {
        throw Error(fmt::format("{} needs two usable pairs around {}, the catalog has {} before "
                                "and {} after{}", info.name, target.iso(), before.size(), after.size(),
                                cloudy_note(cloudy, min_valid)));
      }
      choice.dates = {all[0], all[1]};
      choice.note = "no pair on one side: the two nearest on the other (extrapolation)";
    }
  }
  if (choice.dates.empty()) {
    std::vector<Date> all = before;
    all.insert(all.end(), after.begin(), after.end());
    if (all.empty() && info.min_pairs == 0) {
      choice.note = "no pair (none needed)";
      return choice;
    }
    if (all.empty()) {
      throw Error(fmt::format("{} needs a usable pair (fine and coarse on one date) other than {}, "
                              "the catalog has none{}", info.name, target.iso(), cloudy_note(cloudy, min_valid)));
    }
    std::sort(all.begin(), all.end(), [&](const Date& a, const Date& b) {
      const long da = std::labs(a - target), db = std::labs(b - target);
      return da != db ? da < db : a < b;
    });
    choice.dates = {all[0]};
    choice.note = "nearest pair";
  }
  std::sort(choice.dates.begin(), choice.dates.end());
  return choice;
}

std::vector<ImagePair> load_pairs(const Catalog& catalog, const std::vector<Date>& dates) {
  std::vector<ImagePair> pairs;
  for (const Date& d : dates) {
    const auto [f, c] = pair_observations(catalog, d);
    pairs.push_back({d, io::load_observation(catalog, f), io::load_observation(catalog, c)});
  }
  return pairs;
}

namespace {

// The target date's coarse image, the part of an input no other date shares.
Raster load_target_coarse(const Catalog& catalog, const Date& target) {
  const auto c = catalog.find(target, Role::Coarse);
  if (!c) {
    throw Error(fmt::format("{}: no coarse image on {} in the catalog", catalog.root().string(),
                            target.iso()));
  }
  return io::load_observation(catalog, *c);
}

}  // namespace

FusionInput load_input(const Catalog& catalog, const Date& target, const std::vector<Date>& pairs) {
  FusionInput in;
  in.date = target;
  in.coarse = load_target_coarse(catalog, target);
  std::vector<Date> sorted = pairs;
  std::sort(sorted.begin(), sorted.end());
  in.pairs = load_pairs(catalog, sorted);
  return in;
}

namespace {

// The same raster with its values held behind a shared pointer, so that copies share them
// until one of them is written to.
Raster shared_values(Raster r) {
  auto values = std::make_shared<std::vector<float>>(std::move(r.data()));
  Raster s = Raster::borrowing(r.grid(), r.bands(), std::shared_ptr<const float>(values, values->data()));
  s.mask_data() = std::move(r.mask_data());
  s.units = std::move(r.units);
  s.band_names = std::move(r.band_names);
  return s;
}

}  // namespace

FusionInput PairCache::load_input(const Date& target, const std::vector<Date>& pairs) {
  FusionInput in;
  in.date = target;
  in.coarse = load_target_coarse(catalog_, target);
  std::vector<Date> sorted = pairs;
  std::sort(sorted.begin(), sorted.end());
  std::map<long, ImagePair> keep;
  for (const Date& d : sorted) {
    auto it = kept_.find(d.days());
    if (it != kept_.end()) {
      keep.emplace(d.days(), std::move(it->second));
      kept_.erase(it);
    }
  }
  kept_.clear();  // pairs this date does not use: their memory before any new one is read
  for (const Date& d : sorted) {
    if (keep.count(d.days())) continue;
    ImagePair p = std::move(load_pairs(catalog_, {d}).front());
    ++reads_;
    keep.emplace(d.days(), ImagePair{p.date, shared_values(std::move(p.fine)), shared_values(std::move(p.coarse))});
  }
  for (const Date& d : sorted) in.pairs.push_back(keep.at(d.days()));
  kept_ = std::move(keep);
  return in;
}

StreamInput catalog_files(const Catalog& catalog, const Date& target, std::vector<Date> pairs,
                          const MethodInfo& info, const std::string& what) {
  if (pairs.empty() && info.min_pairs > 0) {
    const auto choice = choose_pairs(catalog, target, info);
    pairs = choice.dates;
    std::string list;
    for (const Date& d : pairs) list += (list.empty() ? "" : ", ") + d.iso();
    spdlog::info("pairs {} ({})", list, choice.note);
  }
  check_pair_dates(target, pairs, what);
  StreamInput in;
  in.date = target;
  const auto c0 = catalog.find(target, Role::Coarse);
  if (!c0) {
    throw Error(fmt::format("{}: no coarse image on {} in the catalog", catalog.root().string(), target.iso()));
  }
  in.coarse = catalog.absolute(c0->path).string();
  std::sort(pairs.begin(), pairs.end());
  for (const Date& d : pairs) {
    const auto [f, c] = pair_observations(catalog, d);
    in.pairs.push_back({d, catalog.absolute(f.path).string(), catalog.absolute(c.path).string()});
  }
  return in;
}

void check_pair_dates(const Date& target, const std::vector<Date>& pairs, const std::string& what) {
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (pairs[i] == target) {
      throw Error(fmt::format("{}: a pair on the target date {} would hand the method its answer; pairs are "
                              "other dates", what, target.iso()));
    }
    for (size_t k = 0; k < i; ++k)
      if (pairs[k] == pairs[i]) throw Error(fmt::format("{}: two pairs are dated {}", what, pairs[i].iso()));
  }
}

FusionInput read_files(const StreamInput& files) {
  check_stream_input(files);
  // The files are read at once, each on its own thread (GDAL datasets are independent): one
  // after the other, decoding them took a tenth of an ESTARFM prediction. Errors are reported
  // for the first bad file in the usual order (target, then each pair's fine and coarse).
  std::vector<const std::string*> paths{&files.coarse};
  for (const auto& p : files.pairs) paths.insert(paths.end(), {&p.fine, &p.coarse});
  const int n = static_cast<int>(paths.size());
  std::vector<Raster> rasters(n);
  std::vector<std::exception_ptr> errors(n);
#pragma omp parallel for schedule(dynamic) num_threads(std::max(1, std::min(n, usable_threads(omp_get_max_threads()))))
  for (int i = 0; i < n; ++i) {
    try {
      rasters[i] = io::read_raster(*paths[i], files.read);
      io::check_plausible_lst(rasters[i], *paths[i]);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  FusionInput in;
  in.date = files.date;
  in.coarse = std::move(rasters[0]);
  if (files.coarse_shift != 0.0) prep::remove_bias(in.coarse, files.coarse_shift);
  for (size_t k = 0; k < files.pairs.size(); ++k) {
    in.pairs.push_back({files.pairs[k].date, std::move(rasters[1 + 2 * k]), std::move(rasters[2 + 2 * k])});
    if (files.pairs[k].coarse_shift != 0.0) prep::remove_bias(in.pairs.back().coarse, files.pairs[k].coarse_shift);
  }
  return in;
}

const prep::PairBias& CoarseBiasStep::measured(const Date& d) const {
  const auto it = cache_.find(d.days());
  if (it != cache_.end()) return it->second;
  const auto f = catalog_.find(d, Role::Fine);
  const auto c = catalog_.find(d, Role::Coarse);
  prep::PairBias pb{std::numeric_limits<double>::quiet_NaN(), 0};
  if (f && c && f->valid_fraction > 0.0 && c->valid_fraction > 0.0) {
    if (!strips_) {
      pb = prep::measure_coarse_bias(io::load_observation(catalog_, *f), io::load_observation(catalog_, *c));
    } else {
      // Strip by strip: the same value to the bit, two strips in memory instead of two images.
      const Grid& g = catalog_.grid();
      constexpr int kStripRows = 256;
      prep::CoarseBiasSum sum;
      long long fine_valid = 0, coarse_valid = 0;
      for (int y = 0; y < g.height; y += kStripRows) {
        const int rows = std::min(kStripRows, g.height - y);
        const Raster fine = io::load_observation_window(catalog_, *f, 0, y, g.width, rows);
        const Raster coarse = io::load_observation_window(catalog_, *c, 0, y, g.width, rows);
        sum.add(fine, coarse);
        fine_valid += static_cast<long long>(fine.valid_count(0));
        coarse_valid += static_cast<long long>(coarse.valid_count(0));
      }
      io::check_not_emptied(catalog_, *f, fine_valid);  // as load_observation checks a whole image
      io::check_not_emptied(catalog_, *c, coarse_valid);
      pb = sum.result();
    }
  }
  return cache_.emplace(d.days(), pb).first->second;
}

prep::BiasModel CoarseBiasStep::model(const std::vector<Date>& exclude) const {
  std::vector<Date> dates;
  std::vector<prep::PairBias> values;
  for (const Date& d : catalog_.pair_dates()) {
    if (std::find(exclude.begin(), exclude.end(), d) != exclude.end()) continue;
    dates.push_back(d);
    values.push_back(measured(d));
  }
  return prep::BiasModel::fit_measured(dates, values, kMinBiasShare);
}

prep::BiasEstimate CoarseBiasStep::apply(FusionInput& in, const std::vector<Date>& exclude) const {
  const prep::BiasModel m = model(exclude);
  // Each pair by the model's value on its date: the measurement itself where it counted.
  for (auto& p : in.pairs) prep::remove_bias(p.coarse, m.at(p.date).value);
  const prep::BiasEstimate target = m.at(in.date);
  prep::remove_bias(in.coarse, target.value);
  return target;
}

prep::BiasEstimate CoarseBiasStep::apply(StreamInput& in, const std::vector<Date>& exclude) const {
  const prep::BiasModel m = model(exclude);
  for (auto& p : in.pairs) p.coarse_shift = m.at(p.date).value;
  const prep::BiasEstimate target = m.at(in.date);
  in.coarse_shift = target.value;
  return target;
}

bool coarse_bias_enabled(const std::string& setting, const MethodInfo& info) {
  if (setting == "on") return !info.uses_series;
  if (setting == "off") return false;
  if (setting == "auto") return info.coarse_bias_step && !info.uses_series;
  throw Error(fmt::format("--coarse-bias must be auto, on or off, got '{}'", setting));
}

}  // namespace lstfuse::pipeline
