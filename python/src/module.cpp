// The `lstfuse._core` extension: the C++ library's methods, catalog prediction, training and
// metrics on numpy arrays. The Python package (python/lstfuse/__init__.py) adds xarray handling
// and the friendly signatures; this file only moves arrays and calls the library.
//
// Arrays: inputs are (H, W) or (bands, H, W), float32 or anything numpy can cast to it, NaN for
// nodata. A C-contiguous float32 input is read in place: the library's Raster borrows the
// array's memory (no copy of its values; only a 1-byte validity mask per pixel is built). Outputs
// are handed to numpy without a copy: the array views the result's own buffer and keeps it alive.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/serialize.h>

#include "lstfuse/pipeline/registry.hpp"
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/core/stop.hpp"
#include "lstfuse/deep/archive.hpp"
#include "lstfuse/eval/metrics.hpp"
#include "lstfuse/io/products.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/methods/tiling.hpp"
#include "lstfuse/pipeline/inputs.hpp"

namespace py = pybind11;
using namespace lstfuse;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// A Grid for an array: the caller's geotransform and CRS when given, else unit pixels without a
// CRS (methods that work in metres then see 1 m pixels; STARFM's --search-distance says so).
// A transform that is not a number or has no pixel size, or a CRS GDAL cannot read, is refused
// naming the array, as the command line refuses such files (it was carried into the result).
Grid make_grid(int width, int height, const std::vector<double>& transform, const std::string& crs,
               const std::string& what) {
  Grid g;
  g.width = width;
  g.height = height;
  if (transform.size() == 6) {
    for (size_t i = 0; i < 6; ++i) {
      if (!std::isfinite(transform[i]))
        throw Error(fmt::format("{}: its geotransform (from its x/y coordinates) is not a number", what));
      g.transform[i] = transform[i];
    }
    if (g.transform[1] == 0.0 || g.transform[5] == 0.0)
      throw Error(fmt::format("{}: its pixel size (from its x/y coordinates) is 0", what));
  } else if (!transform.empty()) {
    throw Error("transform must have 6 numbers (GDAL's geotransform)");
  }
  // Checked as a manifest's CRS is (no file or URL read). WKT (what Catalog.read gives) is kept
  // as given, to the byte: models with series context store it and compare it with the grid they
  // predict on. Other forms ("EPSG:4326", PROJ strings) become WKT, which the library reads
  // (they were taken for a projected CRS in metres).
  if (!crs.empty()) {
    std::string wkt;
    try {
      wkt = io::crs_to_wkt(crs, /*from_a_file=*/true);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: its CRS '{}' is not one GDAL reads", what, crs.substr(0, 80)));
    }
    const size_t bracket = crs.find('[');
    const bool is_wkt = bracket != std::string::npos && bracket > 0 &&
                        std::all_of(crs.begin(), crs.begin() + static_cast<long>(bracket),
                                    [](char c) { return std::isupper(static_cast<unsigned char>(c)) || c == '_'; });
    g.crs = is_wkt ? crs : wkt;
  }
  return g;
}

// numpy (H, W) or (B, H, W) -> Raster that reads the array in place (no copy of its values):
// the raster holds a reference to the array, dropped under the GIL whenever the last copy of the
// raster goes, and copies the values only if something writes to them. Only the validity mask is
// built: NaN (and +-inf) are invalid pixels, whose values the library never reads.
Raster to_raster(const FloatArray& a, const std::string& what, const std::vector<double>& transform,
                 const std::string& crs) {
  if (a.ndim() != 2 && a.ndim() != 3) {
    throw Error(what + ": expected a 2-D (rows, columns) or 3-D (bands, rows, columns) array, got " +
                std::to_string(a.ndim()) + "-D");
  }
  const int bands = a.ndim() == 3 ? static_cast<int>(a.shape(0)) : 1;
  const int h = static_cast<int>(a.shape(a.ndim() - 2)), w = static_cast<int>(a.shape(a.ndim() - 1));
  if (bands < 1 || h < 1 || w < 1) throw Error(what + ": empty array");
  auto* ref = new py::object(a);
  std::shared_ptr<const float> values(a.data(), [ref](const float*) {
    py::gil_scoped_acquire gil;
    delete ref;
  });
  Raster r = Raster::borrowing(make_grid(w, h, transform, crs, what), bands, std::move(values));
  {
    py::gil_scoped_release nogil;  // the raster's reference keeps the array alive
    const float* v = std::as_const(r).band(0);
    uint8_t* m = r.mask(0);
    const size_t n = r.band_size() * static_cast<size_t>(bands);
    for (size_t i = 0; i < n; ++i) m[i] = std::isfinite(v[i]) ? 1 : 0;
    io::check_plausible_lst(r, what);  // the rule the command line applies to its files
  }
  return r;
}

// Raster -> numpy without a copy: invalid pixels are set to NaN in the raster's own buffer,
// which the array then views; a capsule owns the raster.
py::array to_numpy(Raster&& r, bool squeeze) {
  auto* owner = new Raster(std::move(r));
  const size_t n = owner->data().size();
  float* v = owner->data().data();
  const uint8_t* m = owner->mask_data().data();
  for (size_t i = 0; i < n; ++i)
    if (!m[i]) v[i] = std::numeric_limits<float>::quiet_NaN();
  py::capsule keep(owner, [](void* p) { delete static_cast<Raster*>(p); });
  const auto h = static_cast<py::ssize_t>(owner->height()), w = static_cast<py::ssize_t>(owner->width());
  if (squeeze && owner->bands() == 1) return py::array_t<float>({h, w}, v, keep);
  return py::array_t<float>({static_cast<py::ssize_t>(owner->bands()), h, w}, v, keep);
}

std::string option_text(const py::handle& v) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>() ? "true" : "false";
  return py::str(v).cast<std::string>();
}

void apply_options(Method& m, const py::dict& options) {
  for (const auto& [k, v] : options) {
    const std::string name = OptionSet::normalise(py::str(k).cast<std::string>());
    if (!m.options().has(name)) {
      std::string known;
      for (const auto& o : m.options().list()) known += (known.empty() ? "" : ", ") + o.name;
      throw Error(m.info().name + ": unknown option '" + name + "' (known: " + known + ")");
    }
    m.options().set(name, option_text(v));
  }
  m.check_options();
}

py::dict result_dict(FusionResult&& r) {
  py::dict d;
  std::vector<std::string> names = r.quality.band_names;
  d["fine"] = to_numpy(std::move(r.fine), true);
  d["quality"] = r.quality.empty() ? py::none().cast<py::object>() : to_numpy(std::move(r.quality), false);
  d["quality_names"] = names;
  return d;
}

// The method a model file was trained for (its "meta" record), so Model.load needs no name.
std::string model_method(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw file_error(path, "no such model file");
  if (!is_lstfuse_model_file(path)) throw file_error(path, "not an lstfuse deep model file");
  // Checked record by record first, as the engine does: torch's parsers crash on some damaged
  // records (deep/archive.hpp).
  std::istringstream bytes(deep::read_checked_archive(path, "model file"));
  torch::serialize::InputArchive a;
  nlohmann::json meta;
  try {
    a.load_from(bytes);
    c10::IValue v;
    a.read("meta", v);
    meta = nlohmann::json::parse(v.toStringRef());
  } catch (const std::exception&) {
    throw file_error(path, "not an lstfuse deep model file");
  }
  if (meta.value("format", "") != "lstfuse-deep-model") throw file_error(path, "not an lstfuse deep model file");
  return meta.value("method", "");
}

unsigned long g_main_thread = 0;  // Python's main thread, where its signal handlers run

// While a long call runs without the GIL on Python's main thread, Ctrl-C asks the library to stop
// at its next safe point (between tiles, between training batches: core/stop.hpp); the call
// used to run to its end first, minutes on a large scene. Python then raises KeyboardInterrupt as
// for any Ctrl-C. Calls from other threads are not interrupted, as Python's own are not.
class CtrlCStops {
 public:
  CtrlCStops() {
    if (PyThread_get_thread_ident() != g_main_thread) return;
    // Only over Python's own KeyboardInterrupt: a program that ignores SIGINT (a worker of a
    // multiprocessing pool) or handles it its own way keeps that.
    const py::module_ signal = py::module_::import("signal");
    if (!signal.attr("getsignal")(signal.attr("SIGINT")).is(signal.attr("default_int_handler"))) return;
    clear_stop_request();
    struct sigaction ours {};
    ours.sa_handler = [](int) { request_stop(); };
    sigemptyset(&ours.sa_mask);
    active_ = sigaction(SIGINT, &ours, &previous_) == 0;
  }
  ~CtrlCStops() { restore(); }
  CtrlCStops(const CtrlCStops&) = delete;
  CtrlCStops& operator=(const CtrlCStops&) = delete;

  // Runs `work` (without the GIL), then hands a Ctrl-C that came meanwhile to Python's handler.
  template <class F>
  void run(F&& work) {
    bool stopped = false;
    std::string why;
    try {
      py::gil_scoped_release nogil;
      std::optional<StopScope> scope;
      if (active_) scope.emplace();
      work();
    } catch (const Stopped& e) {
      stopped = true;
      why = e.what();
    }
    restore();
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();  // KeyboardInterrupt
    if (stopped) throw Error(why);  // not expected: the handler was Python's, which raises
  }

 private:
  void restore() {
    if (!active_) return;
    sigaction(SIGINT, &previous_, nullptr);
    active_ = false;
    if (stop_requested()) {
      clear_stop_request();
      raise(SIGINT);  // to Python's handler, which marks it for PyErr_CheckSignals
    }
  }
  struct sigaction previous_ {};
  bool active_ = false;
};

// A method instance that Python holds between fit and predict (deep methods) or just once.
class PyMethod {
 public:
  PyMethod(const std::string& name, const py::dict& options) : m_(method_registry().create(name)) {
    apply_options(*m_, options);
  }
  std::string name() const { return m_->info().name; }
  bool trainable() const { return m_->info().trainable; }
  bool fitted() const {
    return reading([&] { return m_->fitted(); });
  }
  std::string fit_note() const {
    return reading([&] { return m_->fit_note(); });
  }
  void set_options(const py::dict& options) {
    std::unique_lock<std::shared_mutex> lock = writer();
    apply_options(*m_, options);
  }
  py::dict options() const {
    const auto values = reading([&] {
      std::vector<std::pair<std::string, std::string>> out;
      for (const auto& o : m_->options().list()) out.emplace_back(o.name, m_->options().get(o.name));
      return out;
    });
    py::dict d;
    for (const auto& [name, value] : values) d[py::str(name)] = value;
    return d;
  }

  void fit(const py::list& pairs, const std::vector<double>& transform, const std::string& crs, bool progress) {
    std::vector<ImagePair> ps = make_pairs(pairs, transform, crs);
    FitContext ctx;
    ctx.show_progress = progress;
    CtrlCStops ctrl_c;
    ctrl_c.run([&] {
      std::unique_lock<std::shared_mutex> lock(mutex_);
      m_->fit(ps, ctx);
    });
  }

  py::dict predict(const py::list& pairs, const FloatArray& coarse, const std::string& date,
                   const std::vector<double>& transform, const std::string& crs, int tile, int threads) {
    if (tile < 0) throw Error(fmt::format("predict: tile must be >= 0 (0: whole scene), got {}", tile));
    if (threads < 0) throw Error(fmt::format("predict: threads must be >= 0 (0: all), got {}", threads));
    FusionInput in;
    in.pairs = make_pairs(pairs, transform, crs);
    in.coarse = to_raster(coarse, "coarse", transform, crs);
    in.date = date.empty() ? Date(2000, 1, 1) : Date::parse(date);
    if (!date.empty()) {
      std::vector<Date> dates;
      for (const auto& p : in.pairs) dates.push_back(p.date);
      pipeline::check_pair_dates(in.date, dates, "predict: pairs");
    }
    std::sort(in.pairs.begin(), in.pairs.end(), [](const ImagePair& a, const ImagePair& b) { return a.date < b.date; });
    FusionResult r;
    CtrlCStops ctrl_c;
    ctrl_c.run([&] {
      std::shared_lock<std::shared_mutex> lock(mutex_);
      r = predict_tiled(*m_, in, TilingOptions{tile, threads});
    });
    return result_dict(std::move(r));
  }

  py::dict predict_catalog(const std::string& root, const std::string& date, const std::vector<std::string>& pair_dates,
                           const std::string& coarse_bias, int tile, int threads) {
    if (tile < 0) throw Error(fmt::format("Catalog.predict: tile must be >= 0 (0: whole scene), got {}", tile));
    if (threads < 0) throw Error(fmt::format("Catalog.predict: threads must be >= 0 (0: all), got {}", threads));
    // As `lstfuse predict --catalog`: the same pair choice, files, bias step and tiling (the
    // pipeline's functions that command uses), so the two give the same bytes.
    const MethodInfo& info = m_->info();
    FusionResult r;
    Grid grid;
    StreamInput files;
    CtrlCStops ctrl_c;
    ctrl_c.run([&] {
      std::shared_lock<std::shared_mutex> lock(mutex_);
      const Catalog cat = Catalog::load(root);
      const Date target = Date::parse(date);
      std::vector<Date> dates;
      for (const auto& d : pair_dates) dates.push_back(Date::parse(d));
      files = pipeline::catalog_files(cat, target, dates, info, "Catalog.predict: pairs");
      FusionInput in = pipeline::read_files(files);
      if (pipeline::coarse_bias_enabled(coarse_bias, info)) pipeline::CoarseBiasStep(cat).apply(in, {in.date});
      grid = in.coarse.grid();
      r = predict_tiled(*m_, in, TilingOptions{tile, threads});
    });
    py::dict d = result_dict(std::move(r));
    d["transform"] = std::vector<double>(grid.transform.begin(), grid.transform.end());
    d["crs"] = grid.crs;
    std::vector<std::string> used;
    for (const auto& p : files.pairs) used.push_back(p.date.iso());
    d["pairs"] = used;
    return d;
  }

  // The command line's output rules (core/outputs.hpp): never over an input (the model file this
  // one was loaded from), and never over a file lstfuse did not make: an existing file is
  // replaced only when it is an lstfuse model file.
  void save(const std::string& path) const {
    check_output_file(path, "Model.save", {loaded_from_},
                      {"model file written by lstfuse", [](const std::filesystem::path& p) { return is_lstfuse_model_file(p); }});
    py::gil_scoped_release nogil;
    std::shared_lock<std::shared_mutex> lock(mutex_);
    m_->save(path);
  }
  void load(const std::string& path) {
    {
      py::gil_scoped_release nogil;
      std::unique_lock<std::shared_mutex> lock(mutex_);
      m_->load(path);
    }
    loaded_from_ = path;
  }

 private:
  static std::vector<ImagePair> make_pairs(const py::list& pairs, const std::vector<double>& transform,
                                           const std::string& crs) {
    std::vector<ImagePair> out;
    int k = 0;
    for (const auto& item : pairs) {
      const auto t = item.cast<py::tuple>();
      if (t.size() != 3) throw Error("pairs: each pair is (date, fine, coarse)");
      ++k;
      ImagePair p;
      const std::string ds = t[0].is_none() ? std::string() : py::str(t[0]).cast<std::string>();
      // Undated pairs are placed one day apart before the target, in the order given.
      p.date = ds.empty() ? Date(1999, 12, 1) + static_cast<long>(k) : Date::parse(ds);
      p.fine = to_raster(t[1].cast<FloatArray>(), "pair " + std::to_string(k) + " fine", transform, crs);
      p.coarse = to_raster(t[2].cast<FloatArray>(), "pair " + std::to_string(k) + " coarse", transform, crs);
      out.push_back(std::move(p));
    }
    return out;
  }

  // Python threads may share one Model: predictions run side by side, while a fit or load
  // changes the network and waits for them (and they for it); one that ran beside them crashed.
  // Locks are taken with the GIL released, so a thread waiting here never holds up the others.
  template <class F>
  std::invoke_result_t<F> reading(F&& f) const {
    py::gil_scoped_release nogil;
    std::shared_lock<std::shared_mutex> lock(mutex_);
    return f();
  }
  std::unique_lock<std::shared_mutex> writer() {
    py::gil_scoped_release nogil;
    return std::unique_lock<std::shared_mutex>(mutex_);
  }

  std::unique_ptr<Method> m_;
  std::string loaded_from_;
  mutable std::shared_mutex mutex_;
};

py::list methods() {
  py::list out;
  auto& reg = method_registry();
  for (const auto& name : reg.names()) {
    auto m = reg.create(name);
    const MethodInfo& i = m->info();
    py::list opts;
    for (const auto& o : m->options().list()) {
      py::dict od;
      od["name"] = o.name;
      od["type"] = o.type;
      od["default"] = o.default_value;
      od["help"] = o.help;
      if (!o.choices.empty()) od["choices"] = o.choices;
      if (std::isfinite(o.min)) od["min"] = o.min;
      if (std::isfinite(o.max)) od["max"] = o.max;
      opts.append(od);
    }
    py::dict d;
    d["name"] = i.name;
    d["family"] = i.family;
    d["summary"] = i.summary;
    d["min_pairs"] = i.min_pairs;
    d["max_pairs"] = i.max_pairs;
    d["trainable"] = i.trainable;
    d["uses_series"] = i.uses_series;
    d["options"] = opts;
    out.append(d);
  }
  return out;
}

std::string metrics_json(const FloatArray& pred, const FloatArray& ref, const std::vector<double>& transform,
                         const std::string& crs, py::object data_range, py::object ergas_ratio, double coarse_res) {
  const Raster p = to_raster(pred, "pred", transform, crs);
  const Raster r = to_raster(ref, "ref", transform, crs);
  eval::MetricsOptions o;
  if (!data_range.is_none()) o.data_range = data_range.cast<double>();
  if (!ergas_ratio.is_none()) o.ergas_ratio = ergas_ratio.cast<double>();
  o.coarse_res_m = coarse_res;
  eval::check_metrics_options(o, "metrics", {"data_range", "ergas_ratio", "coarse_res"});  // the command line's bounds
  eval::MetricsResult res;
  {
    py::gil_scoped_release nogil;
    res = eval::compute_metrics(p, r, o);
  }
  return res.to_json().dump();
}

py::dict catalog_info(const std::string& root) {
  const Catalog cat = Catalog::load(root);
  auto iso = [](const std::vector<Date>& ds) {
    std::vector<std::string> out;
    for (const Date& d : ds) out.push_back(d.iso());
    return out;
  };
  py::dict d;
  d["pair_dates"] = iso(cat.pair_dates());
  d["coarse_only_dates"] = iso(cat.coarse_only_dates());
  d["fine_dates"] = iso(cat.dates(Role::Fine));
  d["coarse_dates"] = iso(cat.dates(Role::Coarse));
  d["truth_dates"] = iso(cat.dates(Role::Truth));
  py::dict vf;  // "role|date" -> share of valid pixels, from the manifest
  for (const auto& o : cat.observations()) vf[py::str(to_string(o.role) + "|" + o.date.iso())] = o.valid_fraction;
  d["valid_fraction"] = vf;
  const Grid& g = cat.grid();
  d["width"] = g.width;
  d["height"] = g.height;
  d["transform"] = std::vector<double>(g.transform.begin(), g.transform.end());
  d["crs"] = g.crs;
  return d;
}

// A catalog observation as an array with its grid, read the way the library reads it.
py::dict read_observation(const std::string& root, const std::string& date, const std::string& role) {
  const Catalog cat = Catalog::load(root);
  const auto o = cat.find(Date::parse(date), role_from_string(role));
  if (!o) throw Error(root + ": no " + role + " image on " + date);
  Raster r = io::read_raster(cat.absolute(o->path).string());
  py::dict d;
  d["transform"] = std::vector<double>(r.grid().transform.begin(), r.grid().transform.end());
  d["crs"] = r.grid().crs;
  d["values"] = to_numpy(std::move(r), true);
  return d;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "lstfuse's C++ library (use the lstfuse package, not this module directly)";
  spdlog::set_level(spdlog::level::warn);  // the library's info logs are for the command line
  g_main_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  // Errors keep their one-line message; bad values (options, dates, shapes) are ValueError.
  py::register_exception<Error>(m, "LstfuseError", PyExc_ValueError);
  m.attr("__version__") = LSTFUSE_VERSION;
  m.def("methods", &methods);
  m.def("metrics_json", &metrics_json, py::arg("pred"), py::arg("ref"), py::arg("transform"), py::arg("crs"),
        py::arg("data_range"), py::arg("ergas_ratio"), py::arg("coarse_res"));
  // Two CRS given as WKT or authority strings ("EPSG:32755") that GDAL takes as the same.
  m.def("same_crs", [](const std::string& a, const std::string& b) {
    return io::same_crs(a.empty() ? a : io::crs_to_wkt(a, true), b.empty() ? b : io::crs_to_wkt(b, true));
  });
  m.def("catalog_info", &catalog_info);
  // A date as the library reads it (YYYY-MM-DD, YYYYMMDD, YYYY-DDD), in ISO form.
  m.def("parse_date", [](const std::string& text) { return Date::parse(text).iso(); });
  m.def("model_method", &model_method);
  m.def("read_observation", &read_observation);
  py::class_<PyMethod>(m, "Method")
      .def(py::init<const std::string&, const py::dict&>())
      .def_property_readonly("name", &PyMethod::name)
      .def_property_readonly("trainable", &PyMethod::trainable)
      .def_property_readonly("fitted", &PyMethod::fitted)
      .def_property_readonly("fit_note", &PyMethod::fit_note)
      .def("options", &PyMethod::options)
      .def("set_options", &PyMethod::set_options)
      .def("fit", &PyMethod::fit)
      .def("predict", &PyMethod::predict)
      .def("predict_catalog", &PyMethod::predict_catalog)
      .def("save", &PyMethod::save)
      .def("load", &PyMethod::load);
}
