#pragma once
// Gap filling of a coarse LST series from the series itself (docs/gap-filling.md).
//
// Each pixel gets an annual temperature cycle (ATC): a mean plus one or two harmonics of the
// year, fitted by least squares to its clear days. A pixel with too few clear days (or clear days
// that do not pin the harmonics down) takes the cycle pooled over its residual cell, shifted by
// its own mean departure from it, and failing that the cycle pooled over the scene. A gap is
// filled with the pixel's ATC plus that day's departure from the ATC ("residual"), interpolated
// in space from the clear pixels of the same day: clear residuals are summed per cell of
// `cell` x `cell` pixels, smoothed with a Gaussian kernel over cells (normalised by the clear
// counts) and interpolated bilinearly to the pixel. A day with too few clear pixels (or no image
// at all) takes the residual field interpolated linearly in time from the nearest days with one,
// within `window` days; beyond that the day is not filled.
//
// Observed pixels are never changed. The series is read tile by tile (tiles are whole cells, so
// every sum has the same terms in the same order whatever the tile size), and the result does
// not depend on tile size or thread count.
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "lstfuse/core/date.hpp"
#include "lstfuse/core/grid.hpp"
#include "lstfuse/core/raster.hpp"

namespace lstfuse::prep {

struct FillOptions {
  int harmonics = 1;         // 1: annual cycle; 2: plus the semi-annual one
  int min_clear_days = 30;   // fewer clear days: the pooled cycle of the cell (then the scene)
  int cell = 32;             // pixels per side of a residual cell (about a MODIS pixel at 30 m)
  double sigma_cells = 2.0;  // Gaussian kernel of the spatial residual interpolation, in cells
  int window = 8;            // days: temporal interpolation of residuals, at most this far
  int tile = 256;            // pixels per side read at once (rounded up to whole cells)
  // A day's residual field is spatial when at least this share of the scene is clear (and at
  // least one cell's worth of pixels); otherwise it is interpolated in time.
  double min_clear_fraction = 0.02;
  bool show_progress = false;

  // Throws Error naming the option when a value is out of range.
  void validate() const;
};

// The coarse series to fill: dates with an image (sorted) on one grid, read by window. Band 0 is
// the LST in K; invalid pixels are cloud or fill.
struct FillSource {
  Grid grid;
  std::vector<Date> dates;
  std::function<Raster(size_t index, int x0, int y0, int w, int h)> read_window;
};

// The per-pixel model: mean + annual harmonics, or, for a series too short to pin an annual
// cycle down (its dates must spread over enough of a year), mean + linear trend over the series
// (time scaled to -1..1).
struct CycleModel {
  int harmonics = 1;  // 0: trend model
  double t_mid = 0.0, t_half = 1.0;
  int terms() const { return harmonics == 0 ? 2 : 1 + 2 * harmonics; }
  void basis(long day, double* x) const;
  std::string describe() const;
};

// How a day's residual field was obtained.
enum class ResidualKind { None, Spatial, Temporal };
std::string to_string(ResidualKind k);

struct FilledDay {
  Raster lst;              // observed where observed, filled elsewhere (invalid: not fillable)
  Raster filled;           // 1 where the value was filled, 0 elsewhere (band "coarse_filled")
  ResidualKind residual = ResidualKind::None;
  double observed_fraction = 0.0;
  double filled_fraction = 0.0;
};

class GapFiller {
 public:
  // Reads the series and fits the cycles and residual fields. Throws Error when no pixel has
  // a single clear day.
  GapFiller(const FillSource& source, const FillOptions& opts);

  const FillOptions& options() const { return opts_; }
  const Grid& grid() const { return grid_; }
  const CycleModel& model() const { return model_; }
  // Whether day `d` (with or without an image) has a residual field, so its gaps can be filled.
  bool can_fill(const Date& d) const;
  ResidualKind residual_kind(const Date& d) const;
  // The filled day; `observed` is that day's image (nullptr: no image, everything is filled).
  FilledDay fill(const Date& d, const Raster* observed) const;

  // The fitted cycle of a pixel on day d (NaN when it has none) and how it was fitted:
  // 0 none, 1 own fit, 2 pooled over its cell, 3 pooled over the scene.
  double cycle(int x, int y, const Date& d) const;
  int cycle_source(int x, int y) const;
  // The interpolated residual at a pixel on day d (NaN when the day has no field).
  double residual(int x, int y, const Date& d) const;

  // How well a day without any clear pixel is filled, checked on the days that had some. The
  // days the series leaves without a field of their own (clouded whole, or without an image,
  // within its span) are filled from the fields at some distance before
  // and after them (their gap). For each such gap, every day with a spatial field whose own
  // neighbours at those distances have one too is filled again from them alone, and the
  // clear-count-weighted mean of that field over the day's cells is compared with the mean of
  // its observed residuals. A series without such days checks each day against its nearest
  // fields instead (docs/gap-filling.md).
  struct WholeDayCheck {
    Date date;            // the clear day filled again
    int before = 0;       // days back to the field it was filled from (0: none on that side)
    int after = 0;        // days ahead to the other one (0: none)
    double error = 0.0;   // K: the temporal field's mean minus the observed mean residual
    long long clear = 0;  // clear pixels it was measured on
  };
  const std::vector<WholeDayCheck>& whole_day_checks() const { return whole_day_checks_; }
  // Mean squared error of the checks (K^2), each gap weighing as many times as days filled
  // whole have it (the checks of a gap averaged first); NaN without any check.
  double whole_day_mean_square_error() const { return whole_day_mse_; }
  // Days filled whole whose gap has checks (0: the series has none, and the nearest fields
  // were checked instead).
  int whole_days_checked() const { return whole_days_checked_; }

 private:
  struct Field {
    ResidualKind kind = ResidualKind::None;
    std::vector<float> values;  // per cell
  };
  Field field_for(const Date& d) const;
  // Indices of the nearest spatial fields strictly before and after `day` within the window
  // (-1: none on that side).
  std::pair<long, long> nearest_fields(long day) const;
  // The temporal field of `day` from those fields; kind None when there is none.
  Field temporal_field(long day) const;
  double field_at(const Field& f, int x, int y) const;
  // Fills whole_day_checks_ and its mean squared error from the per-day, per-cell clear
  // residual sums and counts of the fit.
  void check_whole_days(const std::vector<Date>& dates, const std::vector<double>& resS, const std::vector<int>& resN);

  FillOptions opts_;
  Grid grid_;
  CycleModel model_;
  int nterms_ = 3;
  int ncx_ = 0, ncy_ = 0;
  std::vector<float> coef_;      // [term][pixel]
  std::vector<uint8_t> source_;  // per pixel, see cycle_source
  std::vector<long> days_;       // day numbers of the series' dates
  std::vector<Field> spatial_;   // per series date: spatial field or None
  std::vector<WholeDayCheck> whole_day_checks_;
  double whole_day_mse_ = std::numeric_limits<double>::quiet_NaN();
  int whole_days_checked_ = 0;
};

}  // namespace lstfuse::prep
