#!/usr/bin/env python3
"""Where the error of a fused image comes from, on a simulated catalog (truth on every day).

    scripts/error_breakdown.py bench BENCH_DIR CATALOG_DIR
    scripts/error_breakdown.py fuse FUSE_DIR CATALOG_DIR [--day-variance-gap V]

bench: for every method and date of a `lstfuse benchmark --reference truth` run (on the pixels
  every method predicted, as its tables): the RMSE, its day offset (the mean error over the
  pixels, which every pixel of the day shares) and the RMSE left once that offset is removed;
  beside them, the coarse sensor's true offset that day (coarse minus the block means of the
  truth, 1 km blocks wholly clear), which no method sees on a date without a fine image.
fuse: for the fused days with truth of a `lstfuse fuse` run (days with a fine image left out),
  the share of pixels within 1 and 2 sigma of the uncertainty band, per land-cover class and per
  distance to the nearest reference pair; the day offset of each day against the error of the
  coarse bias the run removed (true offset as above minus the bias in index.csv's note); and
  the same shares with the band's day variance raised by V K^2 (`--day-variance-gap`, default:
  the gap between the day offsets' mean square on the fused days and the model's day variance
  times its calibration scale squared), which shows what an exact day variance would give.
Needs Python's GDAL bindings and numpy (Debian: python3-gdal, python3-numpy).
"""
import csv
import datetime
import json
import os
import re
import sys
import warnings

import numpy as np
from osgeo import gdal

warnings.simplefilter("ignore", RuntimeWarning)  # means of all-NaN blocks


def read(path, band=1):
    ds = gdal.Open(path)
    b = ds.GetRasterBand(band)
    a = b.ReadAsArray().astype(np.float64)
    a[b.GetMaskBand().ReadAsArray() == 0] = np.nan
    return a, abs(ds.GetGeoTransform()[1])


def band_named(path, name):
    ds = gdal.Open(path)
    for i in range(1, ds.RasterCount + 1):
        if ds.GetRasterBand(i).GetDescription() == name:
            return read(path, i)[0]
    return None


def block_means(a, b):
    h, w = a.shape
    p = np.full((-(-h // b) * b, -(-w // b) * b), np.nan)
    p[:h, :w] = a
    x = p.reshape(p.shape[0] // b, b, p.shape[1] // b, b)
    return np.nanmean(x, axis=(1, 3)), np.isfinite(x).mean(axis=(1, 3))


def coarse_offset(catalog, day, block):
    """Coarse minus truth over the 1 km blocks wholly clear in the coarse image (K)."""
    c_path, t_path = f"{catalog}/{day}_coarse.tif", f"{catalog}/{day}_truth.tif"
    if not (os.path.exists(c_path) and os.path.exists(t_path)):
        return np.nan
    cb, cf = block_means(read(c_path)[0], block)
    tb, _ = block_means(read(t_path)[0], block)
    ok = (cf > 0.99) & np.isfinite(tb)
    return float(np.mean((cb - tb)[ok])) if ok.any() else np.nan


def block_of(catalog):
    _, px = read(f"{catalog}/landcover.tif") if os.path.exists(f"{catalog}/landcover.tif") else (None, 30.0)
    return max(1, int(round(1000.0 / px)))


def bench(bench_dir, catalog):
    rows = json.load(open(os.path.join(bench_dir, "results.json")))["rows"]
    files = {(r["method"], r["date"]): r["prediction"] for r in rows if r.get("prediction")}
    methods = sorted({r["method"] for r in rows}, key=lambda m: [r["method"] for r in rows].index(m))
    dates = sorted({r["date"] for r in rows})
    block = block_of(catalog)
    print("| date | coarse offset (K) | " + " | ".join(f"{m}: RMSE / day offset / RMSE without it" for m in methods) + " |")
    print("|---|---:|" + "---:|" * len(methods))
    sums = {m: np.zeros(2) for m in methods}
    for d in dates:
        day = d.replace("-", "")
        truth, _ = read(f"{catalog}/{day}_truth.tif")
        preds = {m: read(f"{bench_dir}/{files[(m, d)]}")[0] for m in methods if (m, d) in files}
        mask = np.isfinite(truth)
        for p in preds.values():
            mask &= np.isfinite(p)
        cells = []
        for m in methods:
            e = (preds[m] - truth)[mask]
            rmse, off = np.sqrt(np.mean(e ** 2)), np.mean(e)
            sums[m] += [rmse, np.sqrt(np.mean((e - off) ** 2))]
            cells.append(f"{rmse:.3f} / {off:+.3f} / {np.sqrt(np.mean((e - off) ** 2)):.3f}")
        print(f"| {d} | {coarse_offset(catalog, day, block):+.3f} | " + " | ".join(cells) + " |")
    print("| mean | | " + " | ".join(f"{sums[m][0] / len(dates):.3f} / - / {sums[m][1] / len(dates):.3f}" for m in methods) + " |")


def fuse(fuse_dir, catalog, gap):
    block = block_of(catalog)
    lc_path = f"{catalog}/landcover.tif"
    lc = read(lc_path)[0] if os.path.exists(lc_path) else None
    names = {}
    manifest = json.load(open(f"{catalog}/manifest.json"))
    for k, v in manifest.get("landcover", {}).get("classes", {}).items():
        names[int(k)] = v
    model = json.load(open(f"{fuse_dir}/uncertainty_model.json"))
    errs, sigmas, classes, dists, offsets = [], [], [], [], []
    days = []
    for r in csv.DictReader(open(f"{fuse_dir}/index.csv")):
        day = r["date"].replace("-", "")
        if r["status"] != "done" or not r["quality"] or os.path.exists(f"{catalog}/{day}_fine.tif"):
            continue
        if not os.path.exists(f"{catalog}/{day}_truth.tif"):
            continue
        s = band_named(f"{fuse_dir}/{r['quality']}", "uncertainty")
        if s is None:
            continue
        truth, _ = read(f"{catalog}/{day}_truth.tif")
        pred, _ = read(f"{fuse_dir}/{r['output']}")
        m = np.isfinite(truth) & np.isfinite(pred) & np.isfinite(s)
        if not m.any():
            continue
        date = datetime.date.fromisoformat(r["date"])
        dist = min(abs((datetime.date.fromisoformat(p) - date).days) for p in r["pairs"].split())
        e = (pred - truth)[m]
        errs.append(e)
        sigmas.append(s[m])
        classes.append(lc[m].astype(int) if lc is not None else np.zeros(e.size, int))
        dists.append(np.full(e.size, dist))
        offsets.append(np.full(e.size, e.mean()))
        found = re.search(r"coarse bias (-?[0-9.]+) K", r["note"])
        removed = float(found.group(1)) if found else 0.0
        days.append((r["date"], dist, e.mean(), coarse_offset(catalog, day, block) - removed))
    if not errs:
        sys.exit("error_breakdown: no fused day with truth and an uncertainty band in " + fuse_dir)
    e, s, c, d, off = map(np.concatenate, (errs, sigmas, classes, dists, offsets))

    def table(sig, title):
        print(f"\n{title}\n")
        print("| pixels | n | within 1 sigma | within 2 sigma | RMSE (K) | rms sigma (K) | rms day offset (K) |")
        print("|---|---:|---:|---:|---:|---:|---:|")

        def line(label, k):
            z = np.abs(e[k]) / sig[k]
            print(f"| {label} | {k.sum()} | {100 * np.mean(z <= 1):.1f} % | {100 * np.mean(z <= 2):.1f} % | "
                  f"{np.sqrt(np.mean(e[k] ** 2)):.3f} | {np.sqrt(np.mean(sig[k] ** 2)):.3f} | {np.sqrt(np.mean(off[k] ** 2)):.3f} |")
        line("all", np.ones(e.size, bool))
        for cls in sorted(set(np.unique(c)) - {0}):
            line(names.get(int(cls), str(cls)), c == cls)
        for lo, hi in ((0, 4), (4, 8), (8, 12), (12, 16), (16, 10000)):
            line(f"{lo}-{hi - 1 if hi < 10000 else ''} days to a pair", (d >= lo) & (d < hi))

    table(s, "As written (the run's uncertainty band):")
    day_off = np.array([x[2] for x in days])
    bias_err = np.array([x[3] for x in days])
    k = np.isfinite(bias_err)
    scale = model.get("scale", 1.0)
    print(f"\n{len(days)} fused days with truth. Day offset rms {np.sqrt(np.mean(day_off ** 2)):.3f} K; "
          f"error of the removed coarse bias rms {np.sqrt(np.mean(bias_err[k] ** 2)):.3f} K "
          f"(correlation with the day offset {np.corrcoef(day_off[k], bias_err[k])[0, 1]:.2f}, {k.sum()} days with a clear block); "
          f"model day variance {model.get('day_variance', 0.0):.3f} K^2 from {model.get('days', 0)} hidden pair dates, "
          f"scale {scale:.3f}.")
    if gap is None:
        gap = max(0.0, float(np.mean(day_off ** 2)) / scale ** 2 - model.get("day_variance", 0.0))
    table(np.sqrt(s ** 2 + scale ** 2 * gap), f"With the day variance raised by {gap:.3f} K^2 (what an exact day variance would give):")


def main(argv):
    if len(argv) < 4 or argv[1] not in ("bench", "fuse"):
        sys.exit(__doc__)
    if argv[1] == "bench":
        bench(argv[2], argv[3])
    else:
        gap = float(argv[argv.index("--day-variance-gap") + 1]) if "--day-variance-gap" in argv else None
        fuse(argv[2], argv[3], gap)


if __name__ == "__main__":
    main(sys.argv)
