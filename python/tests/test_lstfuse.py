"""The Python module against the command line and hand-computed cases.

Run by CTest (`python_tests`) with PYTHONPATH=build/python and LSTFUSE_CLI=build/lstfuse."""
import json
import os
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lstfuse

CLI = os.environ.get("LSTFUSE_CLI", "lstfuse")


def run_cli(*args):
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def read_tif(path):
    from osgeo import gdal
    ds = gdal.Open(str(path))
    b = ds.GetRasterBand(1)
    a = b.ReadAsArray().astype(np.float32)
    nd = b.GetNoDataValue()
    if nd is not None and not np.isnan(nd):
        a[a == nd] = np.nan
    return a


def clear(cat, date):
    return np.isnan(cat.read(date, "coarse").values).mean() < 0.7


def clear_pairs(cat):
    return [d for d in cat.pairs if clear(cat, d) and np.isnan(cat.read(d, "fine").values).mean() < 0.3]


@pytest.fixture(scope="session")
def catalog(tmp_path_factory):
    d = tmp_path_factory.mktemp("cat")
    run_cli("simulate", "-o", d / "sim", "--size", "128", "--days", "120", "--seed", "3", "--cloud-cover", "0.05")
    run_cli("ingest", d / "sim", "-o", d / "cat")
    return d / "cat"


def test_methods_lists_every_method_with_its_options():
    ms = {m["name"]: m for m in lstfuse.methods()}
    for name in ("bilinear", "additive", "starfm", "estarfm", "series", "sttfn", "stfnet", "edcstfn", "mlffgan", "dlstfm"):
        assert name in ms
    hw = [o for o in ms["estarfm"]["options"] if o["name"] == "half-window"][0]
    assert hw["type"] == "int" and hw["default"] == "25"
    assert ms["sttfn"]["trainable"] and not ms["estarfm"]["trainable"]


def test_additive_on_numpy_is_the_hand_computed_sum():
    rng = np.random.default_rng(1)
    fine1 = (290 + rng.normal(0, 2, (30, 40))).astype(np.float32)
    coarse1 = np.full((30, 40), 291.0, np.float32)
    coarse0 = np.full((30, 40), 296.5, np.float32)
    coarse0[3, 4] = np.nan  # nodata
    out = lstfuse.predict("additive", [(fine1, coarse1)], coarse0)
    assert out.dtype == np.float32 and out.shape == (30, 40)
    expect = fine1 + 5.5
    ok = ~np.isnan(coarse0)
    np.testing.assert_allclose(out[ok], expect[ok], atol=1e-4)
    assert np.isnan(out[3, 4])


def test_catalog_prediction_is_byte_identical_to_the_cli(catalog, tmp_path):
    cat = lstfuse.Catalog(catalog)
    assert cat.pairs and set(cat.pairs) <= set(cat.dates)
    # A coarse-only date with pairs on both sides.
    cp = clear_pairs(cat)
    date = [d for d in cat.coarse_only_dates if cp[1] < d < cp[-1] and clear(cat, d)][0]
    for method in ("estarfm", "series"):
        out = tmp_path / f"{method}.tif"
        run_cli("predict", "--catalog", catalog, "--date", date, "--method", method, "-o", out)
        cli = read_tif(out)
        py = cat.predict(date, method)
        assert py.dims == ("y", "x")
        a = py.values
        assert np.array_equal(np.isnan(a), np.isnan(cli)), method
        assert np.array_equal(a[~np.isnan(a)].view(np.uint32), cli[~np.isnan(cli)].view(np.uint32)), method


def test_metrics_match_the_cli_json(catalog, tmp_path):
    cat = lstfuse.Catalog(catalog)
    cp = clear_pairs(cat)
    date, ref = cp[2], cp[1]
    fine = next(p for p in (catalog / f for f in os.listdir(catalog)) if date.replace("-", "") in p.name and "fine" in p.name)
    pred = cat.predict(date, "additive", pairs=[ref])
    run_cli("predict", "--catalog", catalog, "--date", date, "--method", "additive", "--pairs", ref,
            "-o", tmp_path / "q.tif")
    cli = json.loads(run_cli("metrics", tmp_path / "q.tif", fine, "--json"))
    py = lstfuse.metrics(pred, cat.read(date, "fine"))
    flat_cli, flat_py = cli.get("overall", cli), py.get("overall", py)
    for key in ("rmse", "ssim", "psnr", "cc", "bias", "sam", "ergas"):
        assert flat_py[key] == pytest.approx(flat_cli[key], rel=1e-12, abs=1e-12), key


def test_xarray_input_keeps_coordinates_and_crs(catalog):
    cat = lstfuse.Catalog(catalog)
    d1, d2 = clear_pairs(cat)[1:3]
    target = [d for d in cat.dates if d1 < d < d2 and clear(cat, d)][0]
    pairs = [(d, cat.read(d, "fine"), cat.read(d, "coarse")) for d in (d1, d2)]
    coarse = cat.read(target, "coarse")
    out = lstfuse.predict("starfm", pairs, coarse, date=target)
    assert out.dims == ("y", "x")
    np.testing.assert_array_equal(out.x.values, coarse.x.values)
    np.testing.assert_array_equal(out.y.values, coarse.y.values)
    assert out.attrs["crs"] == coarse.attrs["crs"] and "UTM" in out.attrs["crs"]
    assert out.attrs["transform"] == pytest.approx(cat.transform)


def test_arrays_on_other_grids_or_without_a_grid_are_refused(catalog):
    # Only one grid reached the library (the target's, or metrics' first argument's): a shifted,
    # flipped or reprojected pair or reference was used as if aligned, without a word.
    cat = lstfuse.Catalog(catalog)
    d1, d2 = clear_pairs(cat)[1:3]
    target = [d for d in cat.dates if d1 < d < d2 and clear(cat, d)][0]
    f1, c1, c0 = cat.read(d1, "fine"), cat.read(d1, "coarse"), cat.read(target, "coarse")
    shifted = f1.assign_coords(x=f1.x + 5000.0)
    with pytest.raises(ValueError, match="pair 1 fine: its grid"):
        lstfuse.predict("additive", [(d1, shifted, c1)], c0, date=target)
    with pytest.raises(ValueError, match="pair 1 coarse: its grid"):
        lstfuse.train("stfnet", [(d1, f1, c1.assign_coords(x=c1.x + 9999.0))], epochs=1)
    with pytest.raises(ValueError, match="ref: its grid"):
        lstfuse.metrics(f1, shifted)
    with pytest.raises(ValueError, match="ref: its grid"):
        lstfuse.metrics(f1, f1.isel(y=slice(None, None, -1)))  # flipped rows
    other = f1.copy()
    other.attrs["crs"] = "EPSG:4326"
    with pytest.raises(ValueError, match="ref: its CRS differs"):
        lstfuse.metrics(f1, other)
    # The same grid under another spelling of its CRS is the same grid.
    same = f1.copy()
    same.attrs["crs"] = "EPSG:32755"  # the simulation's UTM zone 55S, as WKT in f1
    assert lstfuse.metrics(f1, same)["rmse"] == 0.0
    # Coordinates that describe no grid, and a CRS GDAL cannot read.
    bad_x = c0.assign_coords(x=np.full(c0.sizes["x"], np.nan))
    with pytest.raises(ValueError, match="coarse: its x coordinates are not all finite"):
        lstfuse.predict("additive", [(d1, f1, c1)], bad_x, date=target)
    still = c0.assign_coords(x=np.full(c0.sizes["x"], 5.0))
    with pytest.raises(ValueError, match="coarse: its x coordinates are not evenly spaced"):
        lstfuse.predict("additive", [(d1, f1, c1)], still, date=target)
    garbage = c0.copy()
    garbage.attrs["crs"] = "not a crs"
    with pytest.raises(ValueError, match="coarse: its CRS 'not a crs' is not one GDAL reads"):
        lstfuse.predict("additive", [(d1, f1.values, c1.values)], garbage, date=target)
    # float32 coordinates (as netCDF files often hold them) are a regular grid within their
    # rounding; an array without a CRS (xarray drops attributes in arithmetic) takes the others'.
    lon = c0.assign_coords(x=(140.005 + 0.01 * np.arange(c0.sizes["x"])).astype(np.float32),
                           y=(-35.005 - 0.01 * np.arange(c0.sizes["y"])).astype(np.float32))
    lon.attrs["crs"] = "EPSG:4326"
    assert lstfuse.metrics(lon, lon)["rmse"] == 0.0
    assert lstfuse.metrics(f1, f1 + 0.0)["rmse"] == 0.0
    assert lstfuse.metrics(f1, f1, data_range=f1.max() - f1.min())["rmse"] == 0.0
    # numpy arrays of another size are named by their place, undated pairs included (the
    # library names pairs by date, and an undated pair's is made up).
    small = np.full((6, 8), 290.0, np.float32)
    with pytest.raises(ValueError, match="pair 2 fine: 8 x 6 pixels, the target coarse image"):
        lstfuse.predict("additive", [(c0.values, c0.values), (small, c0.values)], c0.values)
    # Aligned inputs still predict, as a DataArray on the target's grid.
    out = lstfuse.predict("additive", [(d1, f1, c1)], c0, date=target)
    np.testing.assert_array_equal(out.x.values, c0.x.values)


def test_arguments_of_the_wrong_type_raise_value_error_naming_them():
    # They reached pybind11, whose TypeError dumped the whole signature or said "Unable to cast
    # Python instance to C++ type" without naming the argument.
    a = np.full((8, 8), 290.0, np.float32)
    pairs = [("2024-01-01", a, a)]
    cases = [
        (lambda: lstfuse.metrics(a, a, data_range="x"), "data_range: expected a number"),
        (lambda: lstfuse.metrics(a, a, ergas_ratio=[1]), "ergas_ratio: expected a number"),
        (lambda: lstfuse.metrics(a, a, data_range=10**400), "data_range: .* is out of range"),
        (lambda: lstfuse.metrics(a, a, coarse_res=None), "coarse_res: expected a number"),
        (lambda: lstfuse.predict("additive", pairs, a, tile=1.5), "tile: expected an integer"),
        (lambda: lstfuse.predict("additive", pairs, a, tile=2**40), "tile: 1099511627776 is out of range"),
        (lambda: lstfuse.predict("additive", pairs, a, threads=None), "threads: expected an integer"),
        (lambda: lstfuse.predict(None, pairs, a), "method: expected a string"),
        (lambda: lstfuse.Model("stfnet").fit([("2024-01-01", a, a)], progress="yes"), "progress: expected True or False"),
        (lambda: lstfuse.Model("stfnet").fit([("2024-01-01", a, a)], progress=2), "progress: expected True or False"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_bad_options_raise_value_error_naming_them():
    a = np.full((8, 8), 290.0, np.float32)
    with pytest.raises(ValueError, match="half-window"):
        lstfuse.predict("estarfm", [("2024-01-01", a, a), ("2024-01-17", a, a)], a, date="2024-01-09", half_window=-3)
    with pytest.raises(ValueError, match="no-such-option"):
        lstfuse.predict("additive", [(a, a)], a, no_such_option=1)
    with pytest.raises(ValueError, match="nosuchmethod"):
        lstfuse.predict("nosuchmethod", [(a, a)], a)
    with pytest.raises(ValueError, match="2-D"):
        lstfuse.predict("additive", [(a, a)], np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="not a date|date"):
        lstfuse.Catalog.__new__(lstfuse.Catalog)  # noqa: B018 (no error: just an instance)
        lstfuse.predict("additive", [("2024-13-45", a, a)], a)
    # What the command line refuses, Python refuses too; odd arguments are named, not misread.
    with pytest.raises(ValueError, match="tile must be >= 0"):
        lstfuse.predict("additive", [(a, a)], a, tile=-1)
    with pytest.raises(ValueError, match="threads must be >= 0"):
        lstfuse.predict("additive", [(a, a)], a, threads=-5)
    with pytest.raises(ValueError, match="a pair on the target date 2024-01-01"):
        lstfuse.predict("additive", [("2024-01-01", a, a)], a, date="2024-01-01")
    with pytest.raises(ValueError, match="two pairs are dated 2024-01-01"):
        lstfuse.predict("estarfm", [("2024-01-01", a, a), ("2024-01-01", a, a)], a, date="2024-01-05")
    with pytest.raises(ValueError, match="pairs: expected a list"):
        lstfuse.predict("additive", "2024-01-07", a)
    with pytest.raises(ValueError, match="coarse: no array given"):
        lstfuse.predict("additive", [(a, a)], None)
    # A complex array would lose its imaginary part to the cast to float32 without an error.
    with pytest.raises(ValueError, match="coarse: expected an array of real numbers.*complex"):
        lstfuse.predict("additive", [(a, a)], a.astype(np.complex64))
    with pytest.raises(ValueError, match="expected an array of real numbers.*dtype <U"):
        lstfuse.predict("additive", [(a, a.astype(str))], a)
    with pytest.raises(ValueError, match="coarse: expected an array of real numbers.*complex"):
        lstfuse.predict("additive", [(a, a)], np.ma.masked_invalid(a.astype(np.complex64)))


def test_catalog_questions_with_bad_arguments_raise(catalog):
    cat = lstfuse.Catalog(catalog)
    assert 0 < cat.clear_fraction(cat.pairs[0], "fine") <= 1
    with pytest.raises(ValueError, match="unknown role 'bogus'"):
        cat.clear_fraction(cat.pairs[0], "bogus")
    with pytest.raises(ValueError, match="bad date 'garbage'"):
        cat.clear_fraction("garbage")
    with pytest.raises(ValueError, match="tile must be >= 0"):
        cat.predict(cat.pairs[1], "additive", tile=-3)
    # Named as the Python argument, not as the command line's flag.
    with pytest.raises(ValueError, match="Catalog.predict: pairs: a pair on the target date"):
        cat.predict(cat.pairs[1], "additive", pairs=[cat.pairs[1]])
    # One date as a string is that date (it was read as a list of characters: "bad date '2'"),
    # and an empty list is refused, as an empty --pairs is.
    target = [d for d in cat.coarse_only_dates if clear(cat, d)][0]
    pair = clear_pairs(cat)[0]
    one = cat.predict(target, "additive", pairs=pair)
    assert one.attrs["pairs"] == [pair]
    with pytest.raises(ValueError, match="pairs names no date"):
        cat.predict(target, "additive", pairs=[])
    # Not a fuse folder: the module's error, naming the folder.
    with pytest.raises(lstfuse.LstfuseError, match="not a folder written by lstfuse fuse"):
        lstfuse.open_fused(catalog)


def test_float32_inputs_are_not_converted_and_outputs_not_copied():
    a = np.full((16, 16), 290.0, np.float32)
    assert lstfuse._as_float32(a, "x") is a  # read in place
    out = lstfuse.predict("additive", [(a, a)], a)
    assert not out.flags.owndata  # a view of the library's result buffer


def test_memory_of_a_large_prediction():
    # Peak memory of predicting a 3000 x 3000 scene (36 MB per image) in a fresh process, against
    # the images' size. The library holds one working copy of each input (its Raster, with a
    # validity mask) and the result; no conversion copy is made for float32 input.
    code = textwrap.dedent("""
        import resource, numpy as np, lstfuse
        n = 3000
        imgs = [np.full((n, n), 290.0 + k, np.float32) for k in range(3)]
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out = lstfuse.predict("additive", [(imgs[0], imgs[1])], imgs[2], tile=0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((peak - base) / 1024.0, n * n * 4 / 2**20)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0, r.stderr
    extra_mb, image_mb = map(float, r.stdout.split())
    print(f"\npredict 3000 x 3000: {extra_mb:.0f} MB above the inputs ({image_mb:.0f} MB per image)")
    # Measured: about 3 images above the inputs (the validity masks of the three inputs, the
    # result and its quality layer, each with a mask); the inputs themselves are read in place
    # (see test_large_inputs_are_not_copied). More would mean a new copy somewhere.
    assert extra_mb < 7.5 * image_mb


# The peak memory of one prediction on 4000 x 4000 images (64 MB each), two pairs: five inputs,
# 320 MB. Run in a fresh process so that nothing earlier hides the peak: /proc's high-water
# mark is reset just before the call where the kernel allows it, else the peak is taken from the
# resident size before the call (which can only overstate the growth).
_PEAK_CODE = """
import sys, numpy as np, lstfuse
n = 4000
imgs = [np.full((n, n), 290.0 + k, np.float32) for k in range(5)]
for a in imgs:
    a[::97, ::89] = np.nan                      # some nodata, so that the masks are real work
def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key + ":")) / 1024.0
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                            # peak := current resident size
except OSError:
    pass
before = status("VmRSS")
out = lstfuse.predict("additive", [("2024-01-01", imgs[0], imgs[1]), ("2024-01-17", imgs[2], imgs[3])],
                      imgs[4], date="2024-01-09", tile=int(sys.argv[1]))
peak = status("VmHWM")
assert np.isnan(out[0, 0]) and out[1, 1] == np.float32(293.0)  # (290 + 3 + 292 + 1) / 2
print(peak - before, n * n * 4 / 2**20)
"""


@pytest.mark.parametrize("tile", [0, 512])
def test_large_inputs_are_not_copied(tile):
    r = subprocess.run([sys.executable, "-c", _PEAK_CODE, str(tile)], capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0, r.stderr
    extra_mb, image_mb = map(float, r.stdout.split())
    print(f"\npredict 4000 x 4000, 2 pairs, tile {tile}: peak {extra_mb:.0f} MB above the five inputs "
          f"({image_mb:.0f} MB each)")
    # Without copies: five 1-byte masks (1.25 images), the result and its quality layer with their
    # masks (2.5 images). A copy of the inputs' values would add 5 images, so stay under 5.
    assert extra_mb < 5.0 * image_mb


def test_inputs_are_left_as_they_were():
    # Methods may write to their input rasters (the bias step does; bilinear's result starts as
    # the target's coarse image and gets NaN for nodata): those writes go to the library's own
    # copy, never into the caller's arrays.
    f1 = np.full((6, 5), 290.0, np.float32)
    c1 = np.full((6, 5), 291.0, np.float32)
    c0 = np.full((6, 5), 295.0, np.float32)
    c0[1, 2] = np.inf                            # nodata that is not NaN
    c0[4, 0] = np.nan
    before = [a.copy() for a in (f1, c1, c0)]
    out = lstfuse.predict("bilinear", [], c0)
    assert np.isnan(out[1, 2]) and np.isnan(out[4, 0]) and out[0, 0] == np.float32(295.0)
    out = lstfuse.predict("additive", [(f1, c1)], c0)
    assert np.isnan(out[1, 2]) and out[0, 0] == np.float32(294.0)
    for a, b in zip((f1, c1, c0), before):
        np.testing.assert_array_equal(a, b)      # inf is still inf, NaN still NaN


def test_open_fused_reads_the_series_with_uncertainty(catalog, tmp_path):
    cat = lstfuse.Catalog(catalog)
    days = [d for d in cat.coarse_only_dates if d > clear_pairs(cat)[1] and clear(cat, d)][:3]
    out = tmp_path / "fused"
    run_cli("fuse", "--catalog", catalog, "--method", "additive", "--from", days[0], "--to", days[-1], "-o", out, "-q")
    ds = lstfuse.open_fused(out)
    assert ds["lst"].dims == ("time", "y", "x")
    assert "uncertainty" in ds and ds["uncertainty"].attrs["units"] == "K"
    index = json.load(open(out / "index.json"))
    first = sorted((e for e in index["entries"] if e["status"] == "done"), key=lambda e: e["date"])[0]
    np.testing.assert_array_equal(ds["lst"].sel(time=np.datetime64(first["date"])).values,
                                  read_tif(out / first["output"]))


def test_train_save_load_predict_deep(catalog, tmp_path):
    cat = lstfuse.Catalog(catalog)
    pairs = [(d, cat.read(d, "fine"), cat.read(d, "coarse")) for d in clear_pairs(cat)[:3]]
    model = lstfuse.train("stfnet", pairs, epochs=1, patches_per_epoch=8, patch=32, stride=16, threads=1, quiet=True)
    path = tmp_path / "m.pt"
    model.save(path)
    again = lstfuse.Model.load(path)
    assert again.name == "stfnet"
    target = [d for d in cat.dates if pairs[1][0] < d < pairs[2][0] and clear(cat, d)][0]
    p = [pairs[1], pairs[2]]
    a = model.predict(p, cat.read(target, "coarse"), date=target)
    b = again.predict(p, cat.read(target, "coarse"), date=target)
    np.testing.assert_array_equal(a.values, b.values)
    with pytest.raises(ValueError, match="not an lstfuse deep model"):
        lstfuse.Model.load(catalog / "manifest.json")


def test_model_files_stay_out_of_catalogs_and_damage_is_named(catalog, tmp_path):
    rng = np.random.default_rng(6)
    fine = [(290 + rng.normal(0, 2, (64, 64))).astype(np.float32) for _ in range(3)]
    pairs = [(f"2024-01-{1 + 8 * k:02d}", f, (f + 1.0).astype(np.float32)) for k, f in enumerate(fine)]
    model = lstfuse.train("stfnet", pairs, epochs=1, patches_per_epoch=8, patch=32, stride=16, threads=1, quiet=True)
    # A catalog holds only what ingest put there (the command line's rule).
    with pytest.raises(ValueError, match="catalog"):
        model.save(catalog / "m.pt")
    assert not (catalog / "m.pt").exists()
    # One changed byte in a record is found by its CRC-32 before torch parses the file.
    path = tmp_path / "m.pt"
    model.save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x5A
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged model file"):
        lstfuse.Model.load(damaged)


def test_model_save_keeps_the_command_lines_output_rules(tmp_path):
    rng = np.random.default_rng(5)
    fine = [(290 + rng.normal(0, 2, (64, 64))).astype(np.float32) for _ in range(3)]
    pairs = [(f"2024-01-{1 + 8 * k:02d}", f, (f + 1.0).astype(np.float32)) for k, f in enumerate(fine)]
    model = lstfuse.train("stfnet", pairs, epochs=1, patches_per_epoch=8, patch=32, stride=16, threads=1, quiet=True)
    # A file lstfuse did not make is never written over: it stays as it was.
    notes = tmp_path / "notes.txt"
    notes.write_text("field notes")
    with pytest.raises(ValueError, match="not a model file written by lstfuse"):
        model.save(notes)
    assert notes.read_text() == "field notes"
    with pytest.raises(ValueError, match="is a folder"):
        model.save(tmp_path)
    # A model file (its own earlier save) is replaced, as `lstfuse train -o` does.
    path = tmp_path / "m.pt"
    model.save(path)
    model.save(path)
    loaded = lstfuse.Model.load(path)
    assert loaded.name == "stfnet"
    # The file a model was loaded from is its input: never written over, whatever the spelling.
    size = path.stat().st_size
    with pytest.raises(ValueError, match="names one of the inputs"):
        loaded.save(tmp_path / "." / "m.pt")
    assert path.stat().st_size == size
    loaded.save(tmp_path / "copy.pt")
    assert lstfuse.Model.load(tmp_path / "copy.pt").name == "stfnet"


def test_implausible_temperatures_are_refused():
    # The command line's plausibility rule (150-380 K) holds for numpy inputs too: degrees
    # Celsius, or a garbage value, is named instead of being fused.
    f1 = np.full((6, 5), 290.0, np.float32)
    c1 = np.full((6, 5), 291.0, np.float32)
    c0 = np.full((6, 5), 295.0, np.float32)
    with pytest.raises(ValueError, match="degrees Celsius"):
        lstfuse.predict("additive", [(f1 - 273.15, c1)], c0)
    bad = c0.copy()
    bad[2, 3] = 1e30
    with pytest.raises(ValueError, match="coarse.*150-380 K"):
        lstfuse.predict("additive", [(f1, c1)], bad)
    with pytest.raises(ValueError, match="pred"):
        lstfuse.metrics(f1 - 273.15, f1)


def test_one_model_trained_and_used_from_several_threads():
    # A fit changes the network that predictions read: one beside them crashed the interpreter
    # (segmentation fault). They now wait for each other.
    import threading
    rng = np.random.default_rng(8)
    n = 64
    pairs = [(f"2024-01-{1 + 8 * k:02d}", (300 + 3 * rng.random((n, n))).astype(np.float32),
              np.full((n, n), 301.0 + k, np.float32)) for k in range(3)]
    target = np.full((n, n), 302.0, np.float32)
    model = lstfuse.train("stfnet", pairs, epochs=1, patches_per_epoch=8, patch=32, stride=16, threads=1, quiet=True)
    failures, outputs = [], []

    def run(call):
        try:
            outputs.append(call())
        except Exception as e:  # noqa: BLE001 (any error fails the test below)
            failures.append(e)

    calls = [lambda: model.fit(pairs)] * 2 + [lambda: model.predict(pairs[:2], target, date="2024-01-05")] * 3
    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    predictions = [o for o in outputs if isinstance(o, np.ndarray)]
    assert len(predictions) == 3 and all(p.shape == (n, n) and np.isfinite(p).all() for p in predictions)
    np.testing.assert_array_equal(model.predict(pairs[:2], target, date="2024-01-05"),
                                  model.predict(pairs[:2], target, date="2024-01-05"))


def test_dataarrays_are_read_by_their_dimension_names():
    xr = pytest.importorskip("xarray")
    rng = np.random.default_rng(0)
    n = 24
    x = 400015.0 + 30 * np.arange(n)
    y = 6159985.0 - 30 * np.arange(n)

    def da(v, dims=("y", "x")):
        return xr.DataArray(v.astype(np.float32), dims=dims, coords={"y": y, "x": x}, attrs={"crs": "EPSG:32755"})

    # A gradient along x: an image read transposed moves it along y (it was fused so, 12.7 K off).
    fine = da(300 + rng.random((n, n)) + np.linspace(0, 10, n)[None, :])
    coarse, target = da(np.full((n, n), 301.0)), da(np.full((n, n), 303.0))
    straight = lstfuse.predict("additive", [(fine, coarse)], target)
    np.testing.assert_allclose(straight.values, fine.values + 2.0, atol=1e-4)
    turned = lstfuse.predict("additive", [(fine.transpose("x", "y"), coarse)], target.transpose("x", "y"))
    assert turned.dims == ("y", "x")
    np.testing.assert_array_equal(turned.values, straight.values)
    # Bands last is bands first by name.
    bands = [fine.expand_dims(band=2).transpose("y", "x", "band"), coarse.expand_dims(band=2).transpose("y", "x", "band")]
    two = lstfuse.predict("additive", [tuple(bands)], target.expand_dims(band=2).transpose("y", "x", "band"))
    assert two.dims == ("band", "y", "x") and two.shape == (2, n, n)
    np.testing.assert_array_equal(two.values[1], straight.values)
    # x/y that are not the array's axes describe no grid of its pixels.
    curvilinear = xr.DataArray(fine.values, dims=("row", "col"),
                               coords={"x": (("row", "col"), np.tile(x, (n, 1))), "y": (("row", "col"), np.tile(y[:, None], (1, n)))})
    with pytest.raises(ValueError, match="pair 1 fine: its x coordinate is not its x dimension"):
        lstfuse.predict("additive", [(curvilinear, coarse)], target)
    with pytest.raises(ValueError, match="coarse: has a dimension x but no y"):
        lstfuse.predict("additive", [(fine, coarse)], target.rename(y="row"))


def test_dates_are_read_whole_and_given_for_every_image_or_none():
    a = np.full((8, 8), 290.0, np.float32)
    b = np.full((8, 8), 295.0, np.float32)
    pairs = [("2024-01-01", a, a), ("2024-01-17", b, b)]
    target = np.full((8, 8), 292.0, np.float32)
    # The library placed undated images one day apart before an undated target, so these were
    # weighed by made-up dates.
    with pytest.raises(ValueError, match="date: the pairs are dated, the target is not"):
        lstfuse.predict("additive", pairs, target)
    with pytest.raises(ValueError, match="the target has a date, the pairs none"):
        lstfuse.predict("additive", [(a, a), (b, b)], target, date="2024-01-05")
    with pytest.raises(ValueError, match="pair 1 has a date and pair 2 none"):
        lstfuse.predict("additive", [pairs[0], (b, b)], target, date="2024-01-05")
    # Every spelling of one date gives one result; text is read whole, not cut to ten characters.
    import datetime
    base = lstfuse.predict("additive", pairs, target, date="2024-01-05")
    for day in (datetime.date(2024, 1, 5), datetime.datetime(2024, 1, 5, 10, 30), np.datetime64("2024-01-05"),
                "20240105", 20240105, "2024-005", "2024-01-05T10:30:00",
                "2024-01-05T02:00:00+14:00", "2024-01-05 23:00:00Z"):  # a zone keeps the day's own date
        np.testing.assert_array_equal(lstfuse.predict("additive", pairs, target, date=day), base)
    np.testing.assert_array_equal(lstfuse.predict("additive", [(datetime.date(2024, 1, 1), a, a), (np.datetime64("2024-01-17"), b, b)],
                                                  target, date="2024-01-05"), base)
    with pytest.raises(ValueError, match="date: bad date '2024-01-05garbage'"):
        lstfuse.predict("additive", pairs, target, date="2024-01-05garbage")
    with pytest.raises(ValueError, match="date: bad date '2024-01-05T25:00'"):
        lstfuse.predict("additive", pairs, target, date="2024-01-05T25:00")
    import pandas as pd  # xarray's own dependency, installed with it
    with pytest.raises(ValueError, match="^date: NaT is no date"):
        lstfuse.predict("additive", pairs, target, date=pd.NaT)
    np.testing.assert_array_equal(lstfuse.predict("additive", pairs, target, date=pd.Timestamp("2024-01-05 10:00")), base)
    with pytest.raises(ValueError, match="date: expected a date .* got bytes"):
        lstfuse.predict("additive", pairs, target, date=b"2024-01-05")
    with pytest.raises(ValueError, match="pair 2 date: bad date"):
        lstfuse.predict("additive", [pairs[0], ("2024-02-30", b, b)], target, date="2024-01-05")


def test_values_beyond_float32_and_metric_options_out_of_range_are_refused():
    ref = np.full((8, 8), 290.0, np.float32)
    pred = ref.astype(np.float64)
    pred[2, 3] = 1e40  # became infinity in the cast, which is nodata: the pixel left the score
    with pytest.raises(ValueError, match=r"pred: value 1e\+40 at pixel \(2, 3\) is beyond float32's range"):
        lstfuse.metrics(pred, ref)
    masked = np.ma.masked_greater(pred, 1e30)  # masked, it is nodata as the caller says
    assert lstfuse.metrics(masked, ref)["valid_pixels"] == 63
    # The command line's bounds (its --data-range, --ergas-ratio, --coarse-res).
    for kwargs, message in (({"data_range": 1e-300}, "data_range must be 0.001 to 1000 K"),
                            ({"data_range": 1e308}, "data_range must be 0.001 to 1000 K"),
                            ({"ergas_ratio": float("inf")}, "ergas_ratio must be 1e-06 to 1000"),
                            ({"ergas_ratio": 1e-300}, "ergas_ratio must be 1e-06 to 1000"),
                            ({"coarse_res": float("inf")}, "coarse_res must be 0.001 to 1000000 m"),
                            ({"coarse_res": 1e-300}, "coarse_res must be 0.001 to 1000000 m"),
                            ({"coarse_res": 0}, "coarse_res must be 0.001")):
        with pytest.raises(ValueError, match=message):
            lstfuse.metrics(ref + 1, ref, **kwargs)


def test_catalog_dates_in_every_spelling(catalog):
    cat = lstfuse.Catalog(catalog)
    day = cat.pairs[0]
    compact = day.replace("-", "")
    share = cat.clear_fraction(day, "fine")
    assert share > 0  # a compact date read as an absent image: 0.0
    assert cat.clear_fraction(compact, "fine") == share == cat.clear_fraction(int(compact), "fine")
    assert cat.read(compact, "fine").attrs["date"] == day
    with pytest.raises(ValueError, match="Catalog: expected a folder path, got NoneType"):
        lstfuse.Catalog(None)


def fused_two_days(catalog, tmp_path):
    """A fuse folder of two days (additive), its index path, the index, and a function that
    writes the index back after a change to its done entries."""
    cat = lstfuse.Catalog(catalog)
    days = [d for d in cat.coarse_only_dates if d > clear_pairs(cat)[1] and clear(cat, d)][:2]
    out = tmp_path / "fused"
    run_cli("fuse", "--catalog", catalog, "--method", "additive", "--from", days[0], "--to", days[-1], "-o", out, "-q")
    index_path = out / "index.json"
    index = json.loads(index_path.read_text())

    def edited(change):
        j = json.loads(json.dumps(index))
        change([e for e in j["entries"] if e["status"] == "done"])
        index_path.write_text(json.dumps(j))

    return out, index_path, index, edited


def test_open_fused_names_a_damaged_or_edited_folder(catalog, tmp_path):
    out, index_path, index, edited = fused_two_days(catalog, tmp_path)
    # An index edited to name a catalog image read it as fused LST.
    edited(lambda d: d[0].update(output=str(catalog / os.listdir(catalog)[0])))
    with pytest.raises(ValueError, match="not a file of the folder"):
        lstfuse.open_fused(out)
    edited(lambda d: d[0].update(output="../x.tif"))
    with pytest.raises(ValueError, match="not a file of the folder"):
        lstfuse.open_fused(out)
    index_path.write_text("[]")
    with pytest.raises(ValueError, match="not the index of a folder written by lstfuse fuse"):
        lstfuse.open_fused(out)
    edited(lambda d: d[0].pop("date"))
    with pytest.raises(ValueError, match="an entry has no valid date"):
        lstfuse.open_fused(out)
    edited(lambda d: None)
    damaged = out / next(e for e in index["entries"] if e["status"] == "done")["output"]
    damaged.write_bytes(damaged.read_bytes()[:1000])
    with pytest.raises(ValueError, match=str(damaged)):
        lstfuse.open_fused(out)


def test_ctrl_c_stops_a_long_call_at_its_next_tile_or_batch():
    # Ctrl-C waited for the call's end (26 s of a STARFM prediction, a whole training) before
    # Python raised KeyboardInterrupt.
    import signal
    import threading
    import time
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in an interactive session
    try:
        rng = np.random.default_rng(4)
        n = 64
        pairs = [(f"2024-01-{1 + 8 * k:02d}", (300 + 3 * rng.random((n, n))).astype(np.float32),
                  np.full((n, n), 301.0 + k, np.float32)) for k in range(3)]
        # A training of a thousand epochs, stopped between batches: the model is left unfitted
        # (it kept the part-trained network, and predicted with it).
        model = lstfuse.Model("stfnet", epochs=1000, patches_per_epoch=64, patch=32, stride=16, threads=1, quiet=True)
        threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            model.fit(pairs)
        with pytest.raises(ValueError, match="no trained model"):
            model.predict(pairs[:2], pairs[2][2], date="2024-01-05")
        # A prediction of many tiles, stopped at the next one: well before the whole scene.
        big = 768
        f = (300 + rng.normal(0, 3, (big, big))).astype(np.float32)
        c = (300 + rng.normal(0, 1, (big, big))).astype(np.float32)
        t0 = time.monotonic()
        lstfuse.predict("starfm", [(f, c)], c + np.float32(2), window=61, tile=64, threads=1)
        whole = time.monotonic() - t0
        threading.Timer(whole / 10, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            lstfuse.predict("starfm", [(f, c)], c + np.float32(2), window=61, tile=64, threads=1)
        assert time.monotonic() - t0 < whole / 2
        # The library is ready for the next call.
        out = lstfuse.predict("additive", [(f, c)], c + np.float32(2))
        np.testing.assert_allclose(out, f + 2, atol=1e-4)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_open_fused_reads_only_the_folders_own_rasters_and_latlon_arrays_by_name(catalog, tmp_path):
    out, index_path, index, edited = fused_two_days(catalog, tmp_path)
    assert len([e for e in index["entries"] if e["status"] == "done"]) == 2

    # A link in the folder to a catalog image, a day's quality layer as its LST, a date twice:
    # each was read as fused LST without a word.
    os.symlink(catalog / os.listdir(catalog)[0], out / "link.tif")
    edited(lambda d: d[0].update(output="link.tif"))
    with pytest.raises(ValueError, match="not a file of the folder"):
        lstfuse.open_fused(out)
    edited(lambda d: d[0].update(output=d[0]["quality"]))
    with pytest.raises(ValueError, match="is a quality layer, listed as a day's LST"):
        lstfuse.open_fused(out)
    edited(lambda d: d[1].update(date=d[0]["date"]))
    with pytest.raises(ValueError, match="is listed twice"):
        lstfuse.open_fused(out)
    # lat/lon dimensions are y/x by name too: (lon, lat) was read transposed.
    xr = pytest.importorskip("xarray")
    rng = np.random.default_rng(2)
    f = xr.DataArray((300 + rng.random((6, 9))).astype(np.float32), dims=("lat", "lon"))
    c = xr.DataArray(np.full((6, 9), 301.0, np.float32), dims=("lat", "lon"))
    straight = lstfuse.predict("additive", [(f, c)], c + 2)
    np.testing.assert_array_equal(lstfuse.predict("additive", [(f.transpose("lon", "lat"), c)], c + 2), straight)
