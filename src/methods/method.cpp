#include "lstfuse/methods/method.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"

namespace lstfuse {

int SceneStats::index_of(const Date& d) const {
  for (size_t k = 0; k < dates.size(); ++k)
    if (dates[k] == d) return static_cast<int>(k);
  return -1;
}

double mean_difference(const Raster& a, const Raster& b, int band) {
  // The coarse bias's average, mean(coarse - fine) over the pixels valid in both, with a for
  // the coarse image and b for the fine one.
  return prep::measure_coarse_bias(b, a, band).bias;
}

SceneStats compute_scene_stats(const FusionInput& in) {
  SceneStats s;
  for (const auto& p : in.pairs) {
    s.dates.push_back(p.date);
    std::vector<BandStats> f, c;
    std::vector<prep::PairBias> bias;
    for (int b = 0; b < p.fine.bands(); ++b) f.push_back(band_stats(p.fine, b));
    for (int b = 0; b < p.coarse.bands(); ++b) c.push_back(band_stats(p.coarse, b));
    for (int b = 0; b < std::min(p.fine.bands(), p.coarse.bands()); ++b)
      bias.push_back(prep::measure_coarse_bias(p.fine, p.coarse, b));
    std::vector<double> change;
    for (int b = 0; b < std::min(p.coarse.bands(), in.coarse.bands()); ++b)
      change.push_back(mean_difference(in.coarse, p.coarse, b));
    s.fine.push_back(std::move(f));
    s.coarse.push_back(std::move(c));
    s.coarse_bias.push_back(std::move(bias));
    s.coarse_change.push_back(std::move(change));
  }
  for (int b = 0; b < in.coarse.bands(); ++b) s.target.push_back(band_stats(in.coarse, b));
  return s;
}

void Method::save(const std::filesystem::path& path) const {
  throw Error(fmt::format("{}: method '{}' has no trained model to save", path.string(), info().name));
}

void Method::load(const std::filesystem::path& path) {
  throw Error(fmt::format("{}: method '{}' does not load models", path.string(), info().name));
}

void Method::validate(const FusionInput& in) const {
  const auto& mi = info();
  const int n = static_cast<int>(in.pairs.size());
  if (n < mi.min_pairs || (mi.max_pairs >= 0 && n > mi.max_pairs)) {
    throw Error(fmt::format("{} needs {} pair(s){}, got {}", mi.name, mi.min_pairs,
                            mi.max_pairs < 0 ? " or more"
                            : mi.max_pairs != mi.min_pairs ? fmt::format(" to {}", mi.max_pairs)
                                                            : "",
                            n));
  }
  if (in.coarse.empty()) throw Error(mi.name + ": no coarse image for the target date");
  const Grid& g = in.coarse.grid();
  const int nb = in.coarse.bands();
  for (const auto& p : in.pairs) {
    for (const Raster* r : {&p.fine, &p.coarse}) {
      if (!r->grid().same_geometry(g)) {
        throw Error(fmt::format(
            "{}: the images of {} are not on the target's grid ({}); align them first with "
            "'lstfuse ingest'",
            mi.name, p.date.iso(), r->grid().describe_vs(g)));
      }
      if (r->bands() != nb) {
        throw Error(fmt::format("{}: the images of {} have {} band(s), the target coarse image {}",
                                mi.name, p.date.iso(), r->bands(), nb));
      }
    }
  }
  for (int b = 0; b < nb; ++b) {
    if (in.coarse.valid_count(b) == 0) {
      throw Error(fmt::format("{}: the coarse image of the target date {} has no valid pixel "
                              "(all cloud or nodata)", mi.name, in.date.iso()));
    }
  }
  for (const auto& p : in.pairs) {
    for (int b = 0; b < nb; ++b) {
      if (p.fine.valid_count(b) == 0 || p.coarse.valid_count(b) == 0) {
        throw Error(fmt::format("{}: the pair of {} has no valid pixel (all cloud or nodata)",
                                mi.name, p.date.iso()));
      }
    }
  }
}

void MethodRegistry::add(const std::string& name, Factory factory) {
  if (has(name)) throw Error("method '" + name + "' registered twice");
  factories_.emplace_back(name, std::move(factory));
}

bool MethodRegistry::has(const std::string& name) const {
  for (const auto& f : factories_)
    if (f.first == name) return true;
  return false;
}

std::unique_ptr<Method> MethodRegistry::create(const std::string& name) const {
  for (const auto& f : factories_)
    if (f.first == name) return f.second();
  std::string all;
  for (const auto& f : factories_) all += (all.empty() ? "" : ", ") + f.first;
  throw Error(fmt::format("unknown method '{}' (known: {})", name, all));
}

std::vector<std::string> MethodRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& f : factories_) out.push_back(f.first);
  return out;
}

}  // namespace lstfuse
