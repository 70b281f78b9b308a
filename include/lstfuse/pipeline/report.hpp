#pragma once
// The benchmark's HTML report: one self-contained HTML file (tables, inline SVG charts) with
// the PNG maps beside it in maps/. Charts: RMSE per date per method, and the absolute-error
// distribution per method (as the STTFN paper's Fig. 10).
#include <filesystem>
#include <string>

#include "lstfuse/pipeline/benchmark.hpp"

namespace lstfuse::pipeline {

struct ReportExtras {
  std::string title = "lstfuse benchmark";
  std::string intro_html;   // inserted after the header (e.g. what the demo did)
  std::string extra_html;   // inserted before the per-date tables (e.g. the fuse section)
};

// Writes DIR/report.html; returns its path.
std::filesystem::path write_html_report(const BenchmarkResult& result,
                                        const std::filesystem::path& dir,
                                        const ReportExtras& extras = {});

// SVG line chart: one polyline per series over x labels (exposed for tests and other reports).
struct ChartSeries {
  std::string name;
  std::vector<double> values;  // NaN = gap
};
std::string svg_line_chart(const std::vector<std::string>& x_labels,
                           const std::vector<ChartSeries>& series, const std::string& y_label,
                           int width = 760, int height = 340);
// SVG grouped bar chart: groups along x, one bar per series in each group.
std::string svg_bar_chart(const std::vector<std::string>& groups,
                          const std::vector<ChartSeries>& series, const std::string& y_label,
                          int width = 760, int height = 340);

std::string html_escape(const std::string& s);

}  // namespace lstfuse::pipeline
