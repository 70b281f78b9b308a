#pragma once
// The report section of a fuse run's daily series (HTML with inline SVG, like report.hpp):
// coverage of the series before fusion (observed coarse pixels) and after (what fuse wrote),
// the truth-free score of each day, the calibration of the uncertainty band (expected against
// observed share within k sigma: against the truth where the catalog has it, and as estimated
// leave-one-out), and the time series of a few pixels with their error band.
#include <filesystem>
#include <string>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/pipeline/fuse.hpp"

namespace lstfuse::pipeline {

std::string fuse_quality_html(const Catalog& catalog, const FuseSummary& summary,
                              const std::filesystem::path& fuse_dir, int pixels = 3);

// SVG of expected against observed shares (0..1) with the diagonal; one polyline per series.
struct CalibrationSeries {
  std::string name;
  std::vector<double> expected, observed;
};
std::string svg_calibration_chart(const std::vector<CalibrationSeries>& series, int size = 360);

}  // namespace lstfuse::pipeline
