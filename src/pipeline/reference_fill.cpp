#include "lstfuse/pipeline/reference_fill.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/catalog_io.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/pipeline/inputs.hpp"

namespace lstfuse::pipeline {
namespace {

// Pairs with any clear pixel: a mostly cloudy pair is still worth it where it is clear.
bool any_clear_pair(const Catalog& catalog, const Date& d) {
  const auto f = catalog.find(d, Role::Fine);
  const auto c = catalog.find(d, Role::Coarse);
  return f && c && f->valid_fraction > 0.0 && c->valid_fraction > 0.0;
}

bool needs_every_pair(const MethodInfo& info) { return info.min_pairs >= 2; }

}  // namespace

std::vector<std::vector<Date>> reference_candidates(const Catalog& catalog, const Date& target,
                                                    const MethodInfo& info,
                                                    const std::vector<Date>& first, int max_steps) {
  std::vector<std::vector<Date>> out;
  if (max_steps <= 0 || info.min_pairs == 0) return out;
  std::vector<Date> before, after;
  for (const Date& d : catalog.pair_dates()) {
    if (d == target || !any_clear_pair(catalog, d)) continue;
    (d < target ? before : after).push_back(d);
  }
  std::reverse(before.begin(), before.end());  // nearest first
  const size_t reach = static_cast<size_t>(max_steps) + 1;
  if (before.size() > reach) before.resize(reach);
  if (after.size() > reach) after.resize(reach);
  auto add = [&](std::vector<Date> set) {
    std::sort(set.begin(), set.end());
    if (set == first || std::find(out.begin(), out.end(), set) != out.end()) return;
    out.push_back(set);
  };
  if (!needs_every_pair(info)) {
    // Single pairs by distance (ties: the earlier).
    std::vector<Date> all = before;
    all.insert(all.end(), after.begin(), after.end());
    std::stable_sort(all.begin(), all.end(), [&](const Date& a, const Date& b) {
      const long da = std::labs(a - target), db = std::labs(b - target);
      return da != db ? da < db : a < b;
    });
    for (const Date& d : all) add({d});
    return out;
  }
  // Two pairs: (before i, after j) by the farther rank, then the summed rank; with pairs on one
  // side only, two of that side.
  struct Combo {
    size_t i, j;
  };
  std::vector<Combo> combos;
  const bool both = !before.empty() && !after.empty();
  const std::vector<Date>& side = before.empty() ? after : before;
  if (both) {
    for (size_t i = 0; i < before.size(); ++i)
      for (size_t j = 0; j < after.size(); ++j) combos.push_back({i, j});
  } else if (!info.needs_pairs_both_sides || side.size() >= 2) {
    for (size_t j = 1; j < side.size(); ++j)
      for (size_t i = 0; i < j; ++i) combos.push_back({i, j});
  }
  std::stable_sort(combos.begin(), combos.end(), [](const Combo& a, const Combo& b) {
    const size_t ma = std::max(a.i, a.j), mb = std::max(b.i, b.j);
    return ma != mb ? ma < mb : a.i + a.j < b.i + b.j;
  });
  for (const Combo& c : combos) add(both ? std::vector<Date>{before[c.i], after[c.j]}
                                         : std::vector<Date>{side[c.i], side[c.j]});
  return out;
}

std::string ReferenceFill::note() const {
  if (filled == 0) return holes > 0 ? fmt::format("{} pixels without a clear reference", holes) : "";
  std::string sets;
  for (const auto& s : used) {
    std::string one;
    for (const Date& d : s) one += (one.empty() ? "" : "+") + d.iso();
    sets += (sets.empty() ? "" : " ") + one;
  }
  return fmt::format("{} of {} pixels without a clear reference filled from farther pairs ({})",
                     filled, holes, sets);
}

void append_quality_band(FusionResult& res, const std::string& name, const Raster& flags) {
  const Grid& g = res.fine.grid();
  if (res.quality.empty()) {
    res.quality = Raster(g, 0, 0.0f, true);
    res.quality.units = "";
  }
  Raster q(g, res.quality.bands() + 1, 0.0f, true);
  q.units = res.quality.units;
  const size_t n = q.band_size();
  for (int b = 0; b < res.quality.bands(); ++b) {
    std::copy_n(res.quality.band(b), n, q.band(b));
    std::copy_n(res.quality.mask(b), n, q.mask(b));
  }
  const int nb = res.quality.bands();
  for (size_t i = 0; i < n; ++i) q.band(nb)[i] = flags.mask(0)[i] && flags.band(0)[i] != 0.0f ? 1.0f : 0.0f;
  q.band_names = res.quality.band_names;
  q.band_names.resize(static_cast<size_t>(nb));
  q.band_names.push_back(name);
  res.quality = std::move(q);
}

Raster coarse_filled_flags(const Catalog& catalog, const Date& date) {
  const auto c = catalog.find(date, Role::Coarse);
  const bool filled_catalog = c && !c->quality_path.empty() && c->sensor.size() >= 7 &&
                              c->sensor.compare(c->sensor.size() - 7, 7, "+filled") == 0;
  if (!filled_catalog) return Raster(catalog.grid(), 1, 0.0f, true);
  Raster r = io::read_raster(catalog.absolute(c->quality_path).string());
  if (r.width() != catalog.grid().width || r.height() != catalog.grid().height) {
    throw file_error(catalog.absolute(c->quality_path).string(), "is not on the catalog grid");
  }
  r.grid() = catalog.grid();
  return r;
}

ReferenceFill fill_reference_gaps(const Catalog& catalog, Method& method, const FusionInput& in,
                                  FusionResult& res, int max_steps,
                                  const std::function<void(const std::vector<Date>&)>& prepare) {
  const MethodInfo& info = method.info();
  const size_t n = res.fine.band_size();
  // Holes: pixels with a coarse value that the prediction left invalid.
  std::vector<uint8_t> hole(n, 0);
  ReferenceFill rf;
  for (size_t i = 0; i < n; ++i) {
    hole[i] = in.coarse.mask(0)[i] && !res.fine.mask(0)[i];
    rf.holes += hole[i];
  }
  Raster flags(res.fine.grid(), 1, 0.0f, true);
  std::vector<Date> first;
  for (const auto& p : in.pairs) first.push_back(p.date);
  std::map<long, Raster> fine_cache;
  const auto fine_of = [&](const Date& d) -> const Raster& {
    auto it = fine_cache.find(d.days());
    if (it == fine_cache.end())
      it = fine_cache.emplace(d.days(), io::load_observation(catalog, *catalog.find(d, Role::Fine))).first;
    return it->second;
  };
  long long left = rf.holes;
  if (left > 0) {
    for (const auto& set : reference_candidates(catalog, in.date, info, first, max_steps)) {
      // Predict only when the set is clear at some hole (all of it for two-pair methods).
      long long reachable = 0;
      std::vector<const Raster*> fines;
      for (const Date& d : set) fines.push_back(&fine_of(d));
      for (size_t i = 0; i < n && reachable == 0; ++i) {
        if (!hole[i]) continue;
        bool all = true, any = false;
        for (const Raster* f : fines) {
          all = all && f->mask(0)[i];
          any = any || f->mask(0)[i];
        }
        reachable += needs_every_pair(info) ? all : any;
      }
      if (reachable == 0) continue;
      if (prepare) prepare(set);
      const FusionInput in2 = load_input(catalog, in.date, set);
      method.clear_scene_stats();
      FusionResult r2;
      try {
        r2 = method.predict(in2);
      } catch (const Error& e) {
        spdlog::debug("{}: reference set {} skipped: {}", in.date.iso(), set.front().iso(), e.what());
        continue;
      }
      const bool same_quality = r2.quality.bands() == res.quality.bands() && !res.quality.empty();
      long long taken = 0;
      for (size_t i = 0; i < n; ++i) {
        if (!hole[i] || !r2.fine.mask(0)[i]) continue;
        for (int b = 0; b < res.fine.bands(); ++b) {
          res.fine.band(b)[i] = r2.fine.band(b)[i];
          res.fine.mask(b)[i] = r2.fine.mask(b)[i];
        }
        if (same_quality) {
          for (int b = 0; b < res.quality.bands(); ++b) {
            res.quality.band(b)[i] = r2.quality.band(b)[i];
            res.quality.mask(b)[i] = r2.quality.mask(b)[i];
          }
        }
        flags.band(0)[i] = 1.0f;
        hole[i] = 0;
        ++taken;
      }
      if (taken > 0) rf.used.push_back(set);
      rf.filled += taken;
      left -= taken;
      if (left == 0) break;
    }
  }
  append_quality_band(res, "reference_filled", flags);
  return rf;
}

}  // namespace lstfuse::pipeline
