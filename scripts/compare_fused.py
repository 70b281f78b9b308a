#!/usr/bin/env python3
"""Two `lstfuse fuse` runs against a simulated truth, on the pixels both predicted.

    scripts/compare_fused.py FUSE_A FUSE_B CATALOG_DIR [--days]

Methods that predict different pixels (ESTARFM needs both references clear, `series` does not)
cannot be compared by each run's own RMSE. For every date that both runs wrote and the catalog
has a truth image for, the pixels valid in both predictions and in the truth are kept; the RMSE
of each run over all those pixels is printed, and with --days each date's as well.
Needs Python's GDAL bindings and numpy (Debian: python3-gdal, python3-numpy).
"""
import json
import os
import sys

import numpy as np
from osgeo import gdal


def read(path):
    ds = gdal.Open(path)
    if ds is None:
        sys.exit(f"{path}: cannot be opened")
    band = ds.GetRasterBand(1)
    x = band.ReadAsArray().astype(np.float64)
    nodata = band.GetNoDataValue()
    if nodata is not None:
        x[x == nodata] = np.nan
    return x


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"{path}: {e}")


def outputs(fuse_dir):
    index = load_json(os.path.join(fuse_dir, "index.json"))
    return {e["date"]: os.path.join(fuse_dir, e["output"])
            for e in index["entries"] if e.get("status") == "done" and e.get("output")}


def truths(catalog_dir):
    manifest = load_json(os.path.join(catalog_dir, "manifest.json"))
    return {o["date"]: os.path.join(catalog_dir, o["path"]) for o in manifest["observations"] if o["role"] == "truth"}


def main():
    args = [a for a in sys.argv[1:] if a != "--days"]
    if len(args) != 3:
        sys.exit(__doc__)
    a, b, truth = outputs(args[0]), outputs(args[1]), truths(args[2])
    sq_a = sq_b = 0.0
    n = days = 0
    for date in sorted(set(a) & set(b) & set(truth)):
        pa, pb, t = read(a[date]), read(b[date]), read(truth[date])
        if not pa.shape == pb.shape == t.shape:
            sys.exit(f"{date}: the two runs and the truth differ in size ({pa.shape}, {pb.shape}, {t.shape})")
        ok = np.isfinite(pa) & np.isfinite(pb) & np.isfinite(t)
        k = int(ok.sum())
        if k == 0:
            continue
        ea, eb = float(((pa - t)[ok] ** 2).sum()), float(((pb - t)[ok] ** 2).sum())
        if "--days" in sys.argv:
            print(f"{date}  {k:9d} px  A {np.sqrt(ea / k):.3f} K  B {np.sqrt(eb / k):.3f} K")
        sq_a, sq_b, n, days = sq_a + ea, sq_b + eb, n + k, days + 1
    if n == 0:
        sys.exit("no date with pixels predicted by both runs and a truth image")
    print(f"{days} dates, {n} pixels predicted by both: RMSE A {np.sqrt(sq_a / n):.3f} K, B {np.sqrt(sq_b / n):.3f} K")


if __name__ == "__main__":
    main()
