#include "lstfuse/pipeline/reference_fill.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <tuple>

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
  // Two pairs: every two of the candidates, the nearer the farther one (then the nearer one) the
  // sooner; methods that want pairs on both sides try bracketing sets first.
  std::vector<Date> all = before;
  all.insert(all.end(), after.begin(), after.end());
  std::vector<std::vector<Date>> sets;
  for (size_t i = 0; i < all.size(); ++i)
    for (size_t j = i + 1; j < all.size(); ++j) {
      std::vector<Date> s{all[i], all[j]};
      std::sort(s.begin(), s.end());
      sets.push_back(s);
    }
  const auto key = [&](const std::vector<Date>& s) {
    const bool brackets = s[0] < target && s[1] > target;
    const long d0 = std::labs(s[0] - target), d1 = std::labs(s[1] - target);
    return std::make_tuple(info.needs_pairs_both_sides && !brackets, std::max(d0, d1), std::min(d0, d1), s[0], s[1]);
  };
  std::stable_sort(sets.begin(), sets.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
  for (const auto& set : sets) add(set);
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
      // Only the bounding box of those holes is predicted (window methods read around it).
      std::vector<const Raster*> fines;
      for (const Date& d : set) fines.push_back(&fine_of(d));
      const int W = res.fine.width();
      int x0 = W, y0 = res.fine.height(), x1 = -1, y1 = -1;
      for (size_t i = 0; i < n; ++i) {
        if (!hole[i]) continue;
        bool all = true, any = false;
        for (const Raster* f : fines) {
          all = all && f->mask(0)[i];
          any = any || f->mask(0)[i];
        }
        if (!(needs_every_pair(info) ? all : any)) continue;
        const int x = static_cast<int>(i % W), y = static_cast<int>(i / W);
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
      }
      if (x1 < 0) continue;
      if (prepare) prepare(set);
      FusionInput in2 = load_input(catalog, in.date, set);
      in2.region = {x0, y0, x1 - x0 + 1, y1 - y0 + 1};
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
