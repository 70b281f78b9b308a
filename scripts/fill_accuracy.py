#!/usr/bin/env python3
"""Accuracy of `lstfuse fuse --fill` against a simulated truth, by fill status.

    scripts/fill_accuracy.py FUSE_DIR CATALOG_DIR

For every fused day that has a truth image, the fused pixels are split by the quality layer's
`coarse_filled` band: RMSE against the truth of pixels fused from filled coarse data and of
pixels fused from observed coarse data, over the days that have both (so that both figures come
from the same days), then the days without any coarse image, and the reference-filled pixels.
Needs Python's GDAL bindings and numpy (Debian: python3-gdal, python3-numpy).
"""
import json
import os
import sys

import numpy as np
from osgeo import gdal


def read(path):
    ds = gdal.Open(path)
    bands = []
    names = []
    for b in range(1, ds.RasterCount + 1):
        band = ds.GetRasterBand(b)
        a = band.ReadAsArray().astype(np.float64)
        nd = band.GetNoDataValue()
        if nd is not None:
            a[a == nd] = np.nan
        bands.append(a)
        names.append(band.GetDescription())
    return bands, names


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    fuse_dir, cat_dir = sys.argv[1], sys.argv[2]
    index = json.load(open(os.path.join(fuse_dir, "index.json")))
    manifest = json.load(open(os.path.join(cat_dir, "manifest.json")))
    truth = {o["date"]: os.path.join(cat_dir, o["path"]) for o in manifest["observations"] if o["role"] == "truth"}
    acc = {k: [0.0, 0] for k in ("filled", "observed", "no_image", "reference_filled", "all")}
    days_both = days_none = 0
    for e in index["entries"]:
        if e["status"] != "done" or e["date"] not in truth:
            continue
        (p,), _ = read(os.path.join(fuse_dir, e["output"]))
        q, names = read(os.path.join(fuse_dir, e["quality"]))
        (t,), _ = read(truth[e["date"]])
        cf = q[names.index("coarse_filled")] == 1
        rf = q[names.index("reference_filled")] == 1
        ok = np.isfinite(p) & np.isfinite(t)
        err2 = (p - t) ** 2

        def add(key, sel):
            acc[key][0] += float(err2[sel & ok].sum())
            acc[key][1] += int((sel & ok).sum())

        add("all", np.ones_like(cf))
        add("reference_filled", rf)
        if cf.all():  # no coarse image, or a fully clouded one
            add("no_image", np.ones_like(cf))
            days_none += 1
        elif cf.any() and (~cf).any():
            add("filled", cf)
            add("observed", ~cf)
            days_both += 1
    rmse = {k: (np.sqrt(s / n) if n else float("nan"), n) for k, (s, n) in acc.items()}
    print(f"days with truth and both filled and observed coarse pixels: {days_both}")
    print(f"  RMSE fused from filled coarse:   {rmse['filled'][0]:.3f} K  ({rmse['filled'][1]} px)")
    print(f"  RMSE fused from observed coarse: {rmse['observed'][0]:.3f} K  ({rmse['observed'][1]} px)")
    print(f"  ratio filled / observed:         {rmse['filled'][0] / rmse['observed'][0]:.2f}")
    print(f"days with truth and no observed coarse pixel: {days_none}, RMSE {rmse['no_image'][0]:.3f} K")
    print(f"reference-filled pixels (days with truth): RMSE {rmse['reference_filled'][0]:.3f} K "
          f"({rmse['reference_filled'][1]} px)")
    print(f"all fused pixels (days with truth): RMSE {rmse['all'][0]:.3f} K ({rmse['all'][1]} px)")


if __name__ == "__main__":
    main()
