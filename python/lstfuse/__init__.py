"""lstfuse from Python: spatio-temporal fusion of land surface temperature.

The same C++ library as the ``lstfuse`` command, on numpy arrays and xarray objects::

    import lstfuse
    cat = lstfuse.Catalog("lstfuse-demo/catalog")
    lst = cat.predict("2024-08-18", "series")        # xarray.DataArray (y, x), kelvin

Arrays are (rows, columns) or (bands, rows, columns), NaN for nodata (a numpy masked array's
mask counts too). C-contiguous float32 arrays are read in place, without a copy; don't change
them from another thread while a call runs. Results are float32 with NaN where nothing was
predicted. Errors raise ``ValueError`` (``lstfuse.LstfuseError``) with the command line's
messages.
"""
from __future__ import annotations

import datetime as _dt
import json
import operator
import os
from typing import Any, Iterable, Sequence

import numpy as np

from . import _core

__version__ = _core.__version__
LstfuseError = _core.LstfuseError

__all__ = ["methods", "predict", "metrics", "train", "Model", "Catalog", "open_fused",
           "LstfuseError", "__version__"]


# --- arrays and georeference -------------------------------------------------------------------

def _is_dataarray(a: Any) -> bool:
    return type(a).__name__ == "DataArray" and hasattr(a, "dims")


def _as_float32(a: Any, what: str) -> np.ndarray:
    """A float32 C-contiguous view of `a` where it already is one (no copy), NaN for masked."""
    if a is None:
        raise ValueError(f"{what}: no array given (None)")
    if _is_dataarray(a):
        # xarray names its axes: (x, y) or (y, x, band) is the same image as (y, x) or
        # (band, y, x), and was read in the order stored, its pixels transposed.
        dims = tuple(a.dims)
        for ydim, xdim in (("y", "x"), ("lat", "lon"), ("latitude", "longitude")):
            if (xdim in dims) != (ydim in dims):
                raise ValueError(f"{what}: has a dimension {xdim if xdim in dims else ydim} but no "
                                 f"{ydim if xdim in dims else xdim} (dims {dims})")
            if xdim in dims:
                if dims[-2:] != (ydim, xdim):
                    a = a.transpose(..., ydim, xdim)
                break
        a = a.values
    # Temperatures are real numbers: a complex array would lose its imaginary part to the cast
    # (with only a numpy warning), and text or objects would fail inside numpy.
    dtype = np.asarray(a).dtype
    if dtype.kind not in "fiu":
        raise ValueError(f"{what}: expected an array of real numbers (float or integer), got dtype {dtype}")
    source = a
    if isinstance(a, np.ma.MaskedArray):
        with np.errstate(over="ignore", invalid="ignore"):
            a = np.ma.filled(a.astype(np.float32), np.nan)
    arr = np.asarray(a)
    if arr.dtype != np.float32 or not arr.flags.c_contiguous:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.ascontiguousarray(arr, dtype=np.float32)
    if dtype.kind == "f" and dtype.itemsize > 4:
        _check_float32_range(source, arr, what)
    if arr.ndim not in (2, 3):
        raise ValueError(f"{what}: expected a 2-D (rows, columns) or 3-D (bands, rows, columns) "
                         f"array, got {arr.ndim}-D")
    return arr


def _check_float32_range(source: Any, arr: np.ndarray, what: str) -> None:
    """A finite value beyond float32's range became infinity in the cast, which reads as
    nodata: an absurd pixel would have been dropped instead of refused."""
    over = np.isinf(arr)
    if not over.any():
        return
    values = np.asarray(np.ma.getdata(source))
    over &= np.isfinite(values)
    if isinstance(source, np.ma.MaskedArray):
        over &= ~np.ma.getmaskarray(source)
    if over.any():
        at = tuple(int(i) for i in np.argwhere(over)[0])
        raise ValueError(f"{what}: value {values[at]:.6g} at pixel {at} is beyond float32's range "
                         "(no land surface temperature)")


def _geo_of(a: Any, what: str = "array") -> tuple[list[float], str] | None:
    """GDAL geotransform and CRS (WKT or authority string) of a DataArray with x/y coordinates."""
    if not _is_dataarray(a) or "x" not in a.coords or "y" not in a.coords:
        return None
    # 2-D coordinates (a curvilinear grid), or x/y that are not the array's axes, describe no
    # geotransform of its pixels.
    for name in ("x", "y"):
        if a.coords[name].dims != (name,):
            raise ValueError(f"{what}: its {name} coordinate is not its {name} dimension "
                             f"(dims {tuple(a.coords[name].dims)}); lstfuse needs a regular grid")
    x = np.asarray(a.coords["x"].values, dtype=float)
    y = np.asarray(a.coords["y"].values, dtype=float)
    if x.size < 2 or y.size < 2:
        return None
    dx, dy = x[1] - x[0], y[1] - y[0]
    # A geotransform describes a regular grid: coordinates that are not numbers, stand still or
    # step unevenly have none, and were carried into the result as NaN or a 0 pixel size. Each
    # coordinate may be off the line through the ends by a hundredth of a pixel: float32
    # coordinates (netCDF) round to a few ten-thousandths of a pixel.
    for name, c, d in (("x", x, dx), ("y", y, dy)):
        if not np.all(np.isfinite(c)):
            raise ValueError(f"{what}: its {name} coordinates are not all finite numbers")
        step = (c[-1] - c[0]) / (c.size - 1)
        line = c[0] + step * np.arange(c.size)
        if step == 0 or abs(d - step) > 0.01 * abs(step) or np.max(np.abs(c - line)) > 0.01 * abs(step):
            raise ValueError(f"{what}: its {name} coordinates are not evenly spaced and increasing or "
                             "decreasing (lstfuse needs a regular grid)")
    transform = [x[0] - dx / 2, dx, 0.0, y[0] - dy / 2, 0.0, dy]
    crs = a.attrs.get("crs", "")
    if not crs and "spatial_ref" in a.coords:
        crs = a.coords["spatial_ref"].attrs.get("crs_wkt", "")
    if not crs and hasattr(a, "rio"):
        try:
            crs = a.rio.crs.to_wkt() if a.rio.crs else ""
        except Exception:  # rioxarray present but no CRS set
            crs = ""
    return transform, str(crs)


def _to_dataarray(values: np.ndarray, transform: Sequence[float], crs: str, name: str,
                  band_names: Sequence[str] | None = None, attrs: dict | None = None):
    import xarray as xr
    h, w = values.shape[-2:]
    x = transform[0] + (np.arange(w) + 0.5) * transform[1]
    y = transform[3] + (np.arange(h) + 0.5) * transform[5]
    coords: dict[str, Any] = {"y": y, "x": x}
    dims: tuple[str, ...] = ("y", "x")
    if values.ndim == 3:
        dims = ("band", "y", "x")
        coords["band"] = list(band_names) if band_names else list(range(1, values.shape[0] + 1))
    a = xr.DataArray(values, dims=dims, coords=coords, name=name)
    a.attrs.update(attrs or {})
    a.attrs["crs"] = crs
    a.attrs["transform"] = list(transform)
    return a


def _common_geo(named: Sequence[tuple[str, Any]]) -> tuple[list[float], str] | None:
    """The grid every georeferenced DataArray of ``named`` ((what, array) pairs) shares. Arrays on
    other grids are refused, as the command line refuses files on other grids: only one grid
    reached the library, so a shifted, flipped or reprojected array was fused as if aligned."""
    first: tuple[str, list[float]] | None = None
    crs_first: tuple[str, str] | None = None
    for what, a in named:
        geo = _geo_of(a, what)
        if geo is None:
            continue
        t, crs = geo
        if crs:
            try:
                _core.same_crs(crs, crs)
            except ValueError:
                raise ValueError(f"{what}: its CRS {crs[:80]!r} is not one GDAL reads") from None
        if first is None:
            first = (what, t)
        else:
            t0 = first[1]
            pixel = min(abs(t0[1]), abs(t0[5]))
            if not np.allclose(t, t0, rtol=0, atol=1e-3 * pixel):
                raise ValueError(f"{what}: its grid (origin {t[0]:.6g}, {t[3]:.6g}, pixel {t[1]:.6g} x {t[5]:.6g}) "
                                 f"differs from {first[0]}'s (origin {t0[0]:.6g}, {t0[3]:.6g}, pixel "
                                 f"{t0[1]:.6g} x {t0[5]:.6g}); lstfuse never resamples: align them first")
        # An array without a CRS (xarray drops attributes in arithmetic) says nothing about it.
        if crs and crs_first is None:
            crs_first = (what, crs)
        elif crs and not _core.same_crs(crs, crs_first[1]):
            raise ValueError(f"{what}: its CRS differs from {crs_first[0]}'s; lstfuse never reprojects: "
                             "align them first")
    if first is None:
        return None
    return first[1], crs_first[1] if crs_first else ""


def _named_pairs(pairs: Sequence) -> list[tuple[str, Any]]:
    out = []
    for k, p in enumerate(pairs, 1):
        out += [(f"pair {k} fine", p[-2]), (f"pair {k} coarse", p[-1])]
    return out


# Arguments of the wrong type reached pybind11, whose TypeError or "Unable to cast" named no
# argument: checked here, as ValueError like every other bad value.
def _int_arg(v: Any, what: str) -> int:
    try:
        if isinstance(v, (bool, np.bool_)):
            raise TypeError
        n = operator.index(v)  # int, numpy integers, 0-d integer arrays
    except TypeError:
        raise ValueError(f"{what}: expected an integer, got {type(v).__name__} {str(v)[:40]}") from None
    if not -2**31 <= n < 2**31:
        raise ValueError(f"{what}: {n} is out of range")
    return n


def _float_arg(v: Any, what: str, allow_none: bool = True) -> float | None:
    if v is None and allow_none:
        return None
    # Anything that is a number (numpy scalars, 0-d arrays and DataArrays such as ref.max()), not
    # text or truth values.
    if isinstance(v, (str, bytes, bool, np.bool_)):
        raise ValueError(f"{what}: expected a number, got {type(v).__name__} {str(v)[:40]}")
    try:
        return float(v)
    except OverflowError:
        raise ValueError(f"{what}: {str(v)[:40]} is out of range") from None
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected a number, got {type(v).__name__} {str(v)[:40]}") from None


def _bool_arg(v: Any, what: str) -> bool:
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1)):
        return bool(v)
    raise ValueError(f"{what}: expected True or False, got {type(v).__name__} {str(v)[:40]}")


def _str_arg(v: Any, what: str) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{what}: expected a string, got {type(v).__name__} {v!r:.40}")
    return v


def _date_arg(v: Any, what: str, required: bool = False) -> str | None:
    """A date as text YYYY-MM-DD (also YYYYMMDD, YYYY-DDD, an ISO date and time), an integer
    YYYYMMDD, datetime.date or numpy.datetime64, in ISO form; None stays None. Text was cut to
    ten characters ("2024-01-09garbage" passed, b"2024-01-09" became "b'2024-01-")."""
    if v is None:
        if required:
            raise ValueError(f"{what}: no date given (None)")
        return None
    if type(v).__name__ == "NaTType":  # pandas' missing time, a datetime by its class
        raise ValueError(f"{what}: NaT is no date")
    if isinstance(v, _dt.datetime):  # pandas.Timestamp too
        return v.date().isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, np.datetime64):
        if np.isnat(v):
            raise ValueError(f"{what}: NaT is no date")
        return str(v.astype("datetime64[D]"))
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        v = str(int(v))
    if not isinstance(v, str):
        raise ValueError(f"{what}: expected a date (text YYYY-MM-DD, datetime.date or numpy.datetime64), "
                         f"got {type(v).__name__} {v!r:.40}")
    text = v.strip()
    try:
        return _core.parse_date(text)
    except ValueError as e:
        # An ISO date and time ("2024-01-09T10:30", with or without a zone) is its own calendar
        # date, as a datetime's .date() is (not the UTC date numpy would convert it to); the
        # rest must be a valid time. Anything else is named.
        if len(text) > 10 and text[10] in "T ":
            try:
                _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
                return _core.parse_date(text[:10])
            except ValueError:
                pass
        raise ValueError(f"{what}: {e}") from None


def _options(options: dict) -> dict:
    return {k.replace("_", "-"): v for k, v in options.items()}


_NO_TARGET = object()  # a fit: pairs without a target date to agree with


def _pairs(pairs: Iterable, target: Any = _NO_TARGET) -> list[tuple]:
    # A string is iterable too: "2024-01-07" was read as pairs of characters ("bad date '2'").
    if isinstance(pairs, (str, bytes)) or pairs is None:
        raise ValueError("pairs: expected a list of (fine, coarse) or (date, fine, coarse) tuples, "
                         f"got {type(pairs).__name__}")
    out = []
    for k, p in enumerate(pairs, 1):
        if isinstance(p, (str, bytes)) or not hasattr(p, "__len__"):
            raise ValueError(f"pairs: pair {k} must be (fine, coarse) or (date, fine, coarse), got {type(p).__name__}")
        p = tuple(p)
        if len(p) == 2:
            date, fine, coarse = None, p[0], p[1]
        elif len(p) == 3:
            date, fine, coarse = p
        else:
            raise ValueError(f"pairs: pair {k} must be (fine, coarse) or (date, fine, coarse)")
        out.append((_date_arg(date, f"pair {k} date"),
                    _as_float32(fine, f"pair {k} fine"), _as_float32(coarse, f"pair {k} coarse")))
    # Dates weigh the pairs of methods that weigh by time; the library places undated pairs one
    # day apart before an undated target. A mix of dated and undated images (the target
    # included) was weighed by those made-up dates: dates are given for all or for none.
    dated = [k for k, p in enumerate(out, 1) if p[0] is not None]
    if dated and len(dated) < len(out):
        undated = next(k for k, p in enumerate(out, 1) if p[0] is None)
        raise ValueError(f"pairs: pair {dated[0]} has a date and pair {undated} none: date every pair or none")
    if target is not _NO_TARGET and out and (target is None) != (not dated):
        if target is None:
            raise ValueError("date: the pairs are dated, the target is not: give its date (date=...)")
        raise ValueError("pairs: the target has a date, the pairs none: date them too ((date, fine, coarse))")
    return out


# --- the API -----------------------------------------------------------------------------------

def methods() -> list[dict]:
    """Every registered method: name, family, summary, pair needs and its options (name, type,
    default, range, help), as ``lstfuse methods`` lists them."""
    return _core.methods()


class Model:
    """A method instance with its options, for methods that train (``fit``) or repeated use."""

    def __init__(self, method: str, **options):
        self._m = _core.Method(_str_arg(method, "method"), _options(options))

    @property
    def name(self) -> str:
        return self._m.name

    @property
    def options(self) -> dict:
        return self._m.options()

    @property
    def fit_note(self) -> str:
        """What the fit reported (for example that training did not beat the baseline)."""
        return self._m.fit_note

    def fit(self, pairs: Iterable, progress: bool = False) -> "Model":
        """Train on ``(date, fine, coarse)`` pairs (deep methods; a no-op for classic ones)."""
        pairs = list(pairs) if not isinstance(pairs, (str, bytes)) and pairs is not None else pairs
        ps = _pairs(pairs)
        geo = _common_geo(_named_pairs([tuple(p) for p in pairs]))
        t, crs = geo if geo else ([], "")
        self._m.fit(ps, t, crs, _bool_arg(progress, "progress"))
        return self

    def predict(self, pairs: Iterable, coarse: Any, date: str | None = None, tile: int = 512,
                threads: int = 0, return_quality: bool = False):
        """Predict the fine image of ``date`` from the pairs and that date's coarse image (all on
        the fine grid). numpy in, numpy out; a DataArray ``coarse`` gives a DataArray result with
        its coordinates and CRS."""
        pairs = list(pairs) if not isinstance(pairs, (str, bytes)) and pairs is not None else pairs
        tile, threads = _int_arg(tile, "tile"), _int_arg(threads, "threads")
        date = _date_arg(date, "date")
        ps = _pairs(pairs, date)
        target = _as_float32(coarse, "coarse")
        # Sizes named by the pair's place in the list: the library names pairs by date, and an
        # undated pair's date is made up.
        for k, (_, fine, crs_) in enumerate(ps, 1):
            for what, arr in ((f"pair {k} fine", fine), (f"pair {k} coarse", crs_)):
                if arr.shape[-2:] != target.shape[-2:]:
                    raise ValueError(f"{what}: {arr.shape[-1]} x {arr.shape[-2]} pixels, the target coarse "
                                     f"image {target.shape[-1]} x {target.shape[-2]}: align them first")
        # The target's grid first: the result takes its coordinates.
        geo = _common_geo([("coarse", coarse)] + _named_pairs([tuple(p) for p in pairs]))
        t, crs = geo if geo else ([], "")
        r = self._m.predict(ps, target,
                            "" if date is None else date, t, crs, tile, threads)
        fine, quality = r["fine"], r["quality"]
        if geo and _geo_of(coarse) is not None:  # a numpy target gives a numpy result
            attrs = {"method": self.name, "units": "K"}
            if date is not None:
                attrs["date"] = date
            fine = _to_dataarray(fine, t, crs, "lst", attrs=attrs)
            if quality is not None:
                quality = _to_dataarray(quality, t, crs, "quality", r["quality_names"])
        if return_quality:
            return fine, quality, r["quality_names"]
        return fine

    def save(self, path: str | os.PathLike) -> None:
        """Write the trained model to ``path`` under the command line's output rules: an existing
        file is replaced only when it is an lstfuse model file, and never the file this model
        was loaded from (``ValueError`` otherwise, the file left as it was)."""
        self._m.save(os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike, method: str | None = None) -> "Model":
        """A trained model file written by ``lstfuse train`` or ``Model.save``."""
        if method is None:
            method = _model_method(os.fspath(path))
        m = cls(method)
        m._m.load(os.fspath(path))
        return m


def _model_method(path: str) -> str:
    return _core.model_method(path)


def predict(method: str, pairs: Iterable, coarse: Any, date: str | None = None, **options):
    """Predict one fine image with ``method`` from ``pairs`` — ``(fine, coarse)`` or
    ``(date, fine, coarse)`` tuples; dates matter only to methods that weigh by time — and the
    target date's ``coarse`` image, everything on the fine grid.

    Options are the method's own (``half_window=25`` or ``"half-window": 25``); ``tile`` and
    ``threads`` set the tiling. Trained methods need ``model=PATH``.
    """
    tile = options.pop("tile", 512)
    threads = options.pop("threads", 0)
    model = options.pop("model", None)
    m = Model(method, **options)
    if model is not None:
        m._m.load(os.fspath(model))
    return m.predict(pairs, coarse, date, tile=tile, threads=threads)


def train(method: str, pairs: Iterable, progress: bool = False, **options) -> Model:
    """Train a deep method on ``(date, fine, coarse)`` pairs; returns the Model."""
    return Model(method, **options).fit(pairs, progress=progress)


def metrics(pred: Any, ref: Any, data_range: float | None = None, ergas_ratio: float | None = None,
            coarse_res: float = 1000.0) -> dict:
    """The metrics of ``lstfuse metrics --json`` (RMSE, SSIM, PSNR, SAM, CC, ERGAS, ...) of a
    prediction against a reference on the pixels valid in both. ERGAS needs the fine pixel size:
    from DataArray coordinates, or give ``ergas_ratio`` (fine / coarse resolution)."""
    geo = _common_geo([("pred", pred), ("ref", ref)])
    t, crs = geo if geo else ([], "")
    return json.loads(_core.metrics_json(_as_float32(pred, "pred"), _as_float32(ref, "ref"), t, crs,
                                         _float_arg(data_range, "data_range"),
                                         _float_arg(ergas_ratio, "ergas_ratio"),
                                         _float_arg(coarse_res, "coarse_res", allow_none=False)))


class Catalog:
    """A catalog folder made by ``lstfuse ingest`` (or ``simulate`` + ``ingest``)."""

    def __init__(self, path: str | os.PathLike):
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"Catalog: expected a folder path, got {type(path).__name__} {path!r:.40}")
        self.path = os.fspath(path)
        self._info = _core.catalog_info(self.path)

    @property
    def dates(self) -> list[str]:
        """Every date with a coarse image (the days that can be predicted)."""
        return list(self._info["coarse_dates"])

    @property
    def pairs(self) -> list[str]:
        """Dates with both a fine and a coarse image."""
        return list(self._info["pair_dates"])

    @property
    def coarse_only_dates(self) -> list[str]:
        return list(self._info["coarse_only_dates"])

    @property
    def crs(self) -> str:
        return self._info["crs"]

    @property
    def transform(self) -> list[float]:
        return list(self._info["transform"])

    def clear_fraction(self, date: str, role: str = "coarse") -> float:
        """Share of the image's pixels that are valid (not cloud or nodata); 0 when absent.
        A role other than fine, coarse or truth, or a text that is no date, raises (as ``read``
        does) instead of reading as an absent image."""
        if role not in ("fine", "coarse", "truth"):
            raise ValueError(f"clear_fraction: unknown role '{role}' (fine, coarse or truth)")
        day = _date_arg(date, "clear_fraction: date", required=True)
        return float(self._info["valid_fraction"].get(f"{role}|{day}", 0.0))

    def read(self, date: str, role: str = "coarse"):
        """One image of the catalog (role fine, coarse or truth) as a DataArray."""
        day = _date_arg(date, "read: date", required=True)
        r = _core.read_observation(self.path, day, _str_arg(role, "read: role"))
        return _to_dataarray(r["values"], r["transform"], r["crs"], role, attrs={"date": day, "units": "K"})

    def predict(self, date: str, method: str, pairs: Sequence[str] | None = None,
                coarse_bias: str = "auto", model: str | os.PathLike | None = None,
                tile: int = 512, threads: int = 0, return_quality: bool = False, **options):
        """Predict ``date`` as ``lstfuse predict --catalog`` does (same pairs, bias step and
        tiling, same bytes) and return it as a DataArray (y, x) with coordinates and CRS."""
        # One date as a string ("2024-01-07") is a list of one, not of characters; an empty list
        # is refused as the command line refuses an empty --pairs.
        if isinstance(pairs, (str, bytes, int, np.integer, np.datetime64)) or hasattr(pairs, "year"):
            pairs = [pairs]
        if pairs is not None and len(pairs) == 0:
            raise LstfuseError("Catalog.predict: pairs names no date (leave it out to let the method choose)")
        m = Model(method, **options)
        if model is not None:
            m._m.load(os.fspath(model))
        date = _date_arg(date, "Catalog.predict: date", required=True)
        pair_dates = [_date_arg(p, "Catalog.predict: pairs", required=True) for p in (pairs or [])]
        r = m._m.predict_catalog(self.path, date, pair_dates,
                                 _str_arg(coarse_bias, "coarse_bias"), _int_arg(tile, "tile"),
                                 _int_arg(threads, "threads"))
        attrs = {"method": m.name, "date": date, "pairs": list(r["pairs"]), "units": "K"}
        lst = _to_dataarray(r["fine"], r["transform"], r["crs"], "lst", attrs=attrs)
        if not return_quality:
            return lst
        q = r["quality"]
        quality = None if q is None else _to_dataarray(q, r["transform"], r["crs"], "quality", r["quality_names"])
        return lst, quality


def open_fused(folder: str | os.PathLike):
    """The output folder of ``lstfuse fuse`` as an xarray Dataset (time, y, x): ``lst`` and every
    quality band by its name (``uncertainty`` in K, ``coarse_filled``, ``reference_filled``, the
    method's own diagnostics). Dates come from the folder's index.json, in date order; days that
    failed are left out."""
    import xarray as xr
    from osgeo import gdal

    folder = os.fspath(folder)
    try:
        with open(os.path.join(folder, "index.json"), encoding="utf-8") as f:
            index = json.load(f)
    except OSError as e:
        raise LstfuseError(f"{folder}: not a folder written by lstfuse fuse (no readable index.json: "
                           f"{e.strerror})") from None
    except json.JSONDecodeError as e:
        raise LstfuseError(f"{os.path.join(folder, 'index.json')}: malformed fuse index ({e.msg})") from None
    index_path = os.path.join(folder, "index.json")
    if not isinstance(index, dict) or index.get("format") != "lstfuse-fuse-index" \
            or not isinstance(index.get("entries", []), list):
        raise LstfuseError(f"{index_path}: not the index of a folder written by lstfuse fuse")

    def own_file(e: dict, key: str) -> str | None:
        # A plain name in the folder, as fuse writes them: an index edited to name a file
        # elsewhere (another folder, a catalog image) would be read as fused LST.
        name = e.get(key)
        if not name:
            return None
        if not isinstance(name, str) or os.path.basename(name) != name or name in (".", "..") \
                or os.path.islink(os.path.join(folder, name)):
            raise LstfuseError(f"{index_path}: entry {e.get('date')!r} names {name!r}, not a file of the folder")
        return os.path.join(folder, name)

    entries, seen = [], set()
    for e in index.get("entries", []):
        if not isinstance(e, dict) or e.get("status") != "done" or not e.get("output"):
            continue
        try:
            day = _core.parse_date(str(e.get("date", "")))
        except ValueError:
            raise LstfuseError(f"{index_path}: an entry has no valid date ({e.get('date')!r})") from None
        if day in seen:
            raise LstfuseError(f"{index_path}: {day} is listed twice")
        seen.add(day)
        entries.append(dict(e, date=day, output=own_file(e, "output"), quality=own_file(e, "quality")))
    entries.sort(key=lambda e: e["date"])
    if not entries:
        raise ValueError(f"{folder}: index.json lists no finished day (a run still going, or stopped before "
                         "its first day was listed: run the same lstfuse fuse again to finish it)")

    def read(path: str, lst: bool = True):
        try:
            return read_bands(path, lst)
        except RuntimeError as e:  # GDAL's, where the caller turned its exceptions on
            raise ValueError(f"{path}: {str(e).strip()}") from None

    def read_bands(path: str, lst: bool):
        ds = gdal.Open(path)
        if ds is None:
            raise ValueError(f"{path}: cannot be opened")
        if ds.RasterCount < 1:
            raise ValueError(f"{path}: holds no raster band (not a fused day's GeoTIFF)")
        meta = ds.GetMetadata() or {}
        # Only fuse's own rasters, and a day's LST is not its quality layer (an edited index).
        if not any(k.startswith("LSTFUSE_") for k in meta):
            raise ValueError(f"{path}: not a raster written by lstfuse")
        if lst and ("QUALITY_BANDS" in meta or "LSTFUSE_QUALITY_BANDS" in meta):
            raise ValueError(f"{path}: is a quality layer, listed as a day's LST")
        arrays, names = [], []
        for b in range(1, ds.RasterCount + 1):
            band = ds.GetRasterBand(b)
            a = band.ReadAsArray()
            if a is None:
                raise ValueError(f"{path}: read failed (the file is truncated or damaged)")
            a = a.astype(np.float32)
            nd = band.GetNoDataValue()
            if nd is not None and not np.isnan(nd):
                a[a == nd] = np.nan
            arrays.append(a)
            names.append(band.GetDescription() or f"band_{b}")
        return arrays, names, list(ds.GetGeoTransform()), ds.GetProjection()

    times, lst, quality = [], [], {}
    t = crs = None
    for e in entries:
        arrays, _, t, crs = read(e["output"])
        times.append(np.datetime64(e["date"]))
        lst.append(arrays[0])
        if e.get("quality"):
            qa, qn, _, _ = read(e["quality"], lst=False)
            for a, n in zip(qa, qn):
                quality.setdefault(n, {})[e["date"]] = a
    h, w = lst[0].shape
    coords = {"time": np.array(times),
              "y": t[3] + (np.arange(h) + 0.5) * t[5],
              "x": t[0] + (np.arange(w) + 0.5) * t[1]}
    data = {"lst": (("time", "y", "x"), np.stack(lst), {"units": "K", "long_name": "land surface temperature"})}
    for name, by_date in quality.items():
        stack = np.stack([by_date.get(e["date"], np.full((h, w), np.nan, np.float32)) for e in entries])
        attrs = {"units": "K"} if name == "uncertainty" else {}
        data[name] = (("time", "y", "x"), stack, attrs)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update({"crs": crs, "transform": t, "method": index.get("method", ""),
                     "catalog": index.get("catalog", "")})
    return ds
