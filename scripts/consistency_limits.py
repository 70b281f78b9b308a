#!/usr/bin/env python3
"""What the truth-free score (consistency with the coarse image) can and cannot see, measured
on a benchmark of a simulated catalog.

    scripts/consistency_limits.py BENCH_DIR CATALOG_DIR [--psf-fwhm 1000]

For every method and date of BENCH_DIR/results.json (a `lstfuse benchmark --reference truth`
run), on the pixels where the prediction, the coarse image, the references and the truth are all
valid, with blocks of 1 km (as the score):
  - the score itself (ubRMSE of block means of prediction - coarse) and the same score of the
    simulated truth (a perfect prediction), the floor no method can go below;
  - the same score with the prediction first smoothed by a Gaussian point-spread function of
    the coarse sensor (FWHM --psf-fwhm metres), a candidate for a better score;
  - the RMSE against the truth split into its block-mean part (what any comparison with the
    coarse image could see at best) and its part below the block size;
and the Spearman correlations, across methods for each date then averaged over dates, of each
score with the truth RMSE, with and without `bilinear` (the coarse image itself).
Needs Python's GDAL bindings and numpy (Debian: python3-gdal, python3-numpy).
"""
import collections
import json
import sys
import warnings

import numpy as np
from osgeo import gdal


def read(path):
    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    a = band.ReadAsArray().astype(np.float64)
    a[band.GetMaskBand().ReadAsArray() == 0] = np.nan
    return a, abs(ds.GetGeoTransform()[1])


def ranks(v):
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(1, len(v) + 1)
    for x in np.unique(v):  # ties: their average rank
        r[v == x] = r[v == x].mean()
    return r


def spearman(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    k = np.isfinite(a) & np.isfinite(b)
    if k.sum() < 3:
        return np.nan
    ra, rb = ranks(a[k]), ranks(b[k])
    if ra.std() == 0 or rb.std() == 0:
        return np.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def blocks(a, b):
    h, w = a.shape
    p = np.full((-(-h // b) * b, -(-w // b) * b), np.nan)
    p[:h, :w] = a
    return p.reshape(p.shape[0] // b, b, p.shape[1] // b, b).transpose(0, 2, 1, 3).reshape(p.shape[0] // b, p.shape[1] // b, b * b)


def block_means(a, b):
    x = blocks(a, b)
    n = np.isfinite(x).sum(axis=2)
    with np.errstate(all="ignore"):
        m = np.nanmean(x, axis=2)
    m[n < b * b / 2] = np.nan  # as the score: at least half of the block
    return m, x


def gaussian_blur(a, sigma):
    r = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    valid = np.isfinite(a).astype(float)
    def conv(x):
        x = np.apply_along_axis(lambda t: np.convolve(t, k, mode="same"), 1, x)
        return np.apply_along_axis(lambda t: np.convolve(t, k, mode="same"), 0, x)
    num, den = conv(np.where(valid > 0, a, 0.0)), conv(valid)
    with np.errstate(all="ignore"):
        out = num / den
    out[den < 0.5] = np.nan
    return out


def ub(m):
    v = m[np.isfinite(m)]
    return float(np.std(v)) if v.size else np.nan


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    bench, cat = argv[1], argv[2]
    fwhm = float(argv[argv.index("--psf-fwhm") + 1]) if "--psf-fwhm" in argv else 1000.0
    rows = [r for r in json.load(open(f"{bench}/results.json"))["rows"] if r.get("status") == "ok"]
    cache = {}
    def img(p):
        if p not in cache:
            cache[p] = read(p)
        return cache[p]
    out = []
    for r in rows:
        d = r["date"].replace("-", "")
        f, px = img(f"{bench}/{r['prediction']}")
        c, _ = img(f"{cat}/{d}_coarse.tif")
        t, _ = img(f"{cat}/{d}_truth.tif")
        ok = np.isfinite(f) & np.isfinite(c) & np.isfinite(t)
        for p in r["pairs"]:
            ok &= np.isfinite(img(f"{cat}/{p.replace('-', '')}_fine.tif")[0])
        if not ok.any():
            continue  # nothing in common (a method that predicted none of the shared pixels)
        b = max(1, round(1000.0 / px))
        sigma = fwhm / 2.354820045 / px
        score = ub(block_means(np.where(ok, f - c, np.nan), b)[0])
        truth_score = ub(block_means(np.where(ok, t - c, np.nan), b)[0])
        smooth = gaussian_blur(f, sigma)
        psf_score = ub(block_means(np.where(ok & np.isfinite(smooth), smooth - c, np.nan), b)[0])
        tsmooth = gaussian_blur(t, sigma)
        truth_psf_score = ub(block_means(np.where(ok & np.isfinite(tsmooth), tsmooth - c, np.nan), b)[0])
        em, ex = block_means(np.where(ok, f - t, np.nan), b)
        good = np.isfinite(em)
        below = float(np.sqrt(np.nanmean((ex - em[:, :, None])[good] ** 2)))
        out.append(dict(method=r["label"] if "label" in r else r["method"], date=r["date"],
                        rmse=float(np.sqrt(np.nanmean((f - t)[ok] ** 2))), score=score, truth_score=truth_score,
                        psf_score=psf_score, truth_psf_score=truth_psf_score, block=ub(em), below=below))
    by_date = collections.defaultdict(list)
    for x in out:
        by_date[x["date"]].append(x)
    print(f"{len(out)} predictions, {len(by_date)} dates; means over them:")
    for key, what in [("score", "score of the methods (ubRMSE of block means, K)"),
                      ("truth_score", "score of the truth itself (K)"),
                      ("psf_score", "PSF-smoothed score of the methods (K)"),
                      ("truth_psf_score", "PSF-smoothed score of the truth (K)"),
                      ("block", "truth error, block-mean part, unbiased (K)"),
                      ("below", "truth error below the block size (K)")]:
        print(f"  {what:48s} {np.nanmean([x[key] for x in out]):.3f}")
    share = np.nanmean([x["below"] ** 2 / (x["below"] ** 2 + x["block"] ** 2) for x in out])
    print(f"  share of the squared error below the block size       {share:.2f}")
    print("Spearman with the truth RMSE across methods (mean over dates): all methods / without bilinear")
    for key in ["score", "psf_score", "block", "below"]:
        v = []
        for skip in [False, True]:
            rho = [spearman([x[key] for x in L if not (skip and x["method"] == "bilinear")],
                            [x["rmse"] for x in L if not (skip and x["method"] == "bilinear")]) for L in by_date.values()]
            v.append(np.nanmean(rho))
        print(f"  {key:12s} {v[0]:6.2f} / {v[1]:6.2f}")
    rho = [spearman([x["score"] for x in L], [x["block"] for x in L]) for L in by_date.values()]
    print(f"Spearman of the score with the block-mean part of the truth error: {np.nanmean(rho):.2f}")


if __name__ == "__main__":
    warnings.simplefilter("ignore", RuntimeWarning)  # empty blocks are NaN by design
    main(sys.argv)
