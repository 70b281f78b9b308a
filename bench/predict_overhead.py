#!/usr/bin/env python3
"""End-to-end `lstfuse predict` against the kernel alone, on bench_classic's 1300 x 1300 scene.

For each method: the median wall time of `lstfuse predict` (process start, reading five
GeoTIFFs, checks, the prediction, writing the DEFLATE GeoTIFF and its quality layer) and the
median of bench_classic's in-memory prediction with the same thread count, and their ratio.

    bench/predict_overhead.py [--build build] [--repeat 5] [--methods estarfm,starfm] [--json F]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--methods", default="estarfm,starfm")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json")
    a = ap.parse_args()
    lstfuse = os.path.join(a.build, "lstfuse")
    bench = os.path.join(a.build, "bench", "bench_classic")
    results = []
    with tempfile.TemporaryDirectory(prefix="lstfuse_overhead_") as d:
        subprocess.run([bench, "--write-scene", d], check=True)
        for method in a.methods.split(","):
            kernel_json = os.path.join(d, "kernel.json")
            subprocess.run([bench, "--methods", method, "--threads", str(a.threads), "--repeat",
                            str(a.repeat), "--json", kernel_json], check=True, stdout=subprocess.DEVNULL)
            with open(kernel_json) as f:
                kernel = json.load(f)[0]["seconds_median"]
            walls = []
            for i in range(a.repeat):
                out = os.path.join(d, f"out_{method}_{i}.tif")
                cmd = [lstfuse, "predict", "-m", method, "--threads", str(a.threads),
                       "--fine1", os.path.join(d, "fine_20200501.tif"),
                       "--coarse1", os.path.join(d, "coarse_20200501.tif"),
                       "--fine2", os.path.join(d, "fine_20200517.tif"),
                       "--coarse2", os.path.join(d, "coarse_20200517.tif"),
                       "--coarse0", os.path.join(d, "coarse_20200509.tif"), "-o", out]
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                walls.append(time.perf_counter() - t0)
            e2e = statistics.median(walls)
            print(f"{method:8s} threads {a.threads}: kernel {kernel:.3f} s, lstfuse predict {e2e:.3f} s, "
                  f"ratio {e2e / kernel:.2f} (medians of {a.repeat})")
            results.append({"method": method, "threads": a.threads, "kernel_s": kernel,
                            "predict_s": e2e, "ratio": e2e / kernel, "repeat": a.repeat})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
