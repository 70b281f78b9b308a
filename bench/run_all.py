#!/usr/bin/env python3
"""Run the whole benchmark set and write one JSON of figures, to compare a change with the last run.

    bench/run_all.py [--build build] [--out bench_results.json] [--quick] [--against OLD.json]

Runs bench_probe, bench_classic, bench/predict_overhead.py and the network benchmarks
(bench_deep's speed part, bench_nets). Programs that write JSON are stored as such, the others
as their printed lines. With --against, the classic and end-to-end timings are printed beside the
old run's. --quick: one repetition per case and no networks (a minute, for a smoke run).
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(p.stdout)
    if p.returncode != 0:
        raise SystemExit(f"run_all: {cmd[0]} failed with exit code {p.returncode}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default="bench_results.json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--against")
    a = ap.parse_args()
    b = lambda name: os.path.join(a.build, "bench", name)
    repeat = "1" if a.quick else "5"
    here = os.path.dirname(os.path.abspath(__file__))
    res = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "processor": platform.processor(),
                       "load_average_at_start": os.getloadavg()}}
    with tempfile.TemporaryDirectory() as d:
        j = os.path.join(d, "f.json")
        run([b("bench_probe"), "--json", j])
        res["probe"] = json.load(open(j))
        run([b("bench_classic"), "--repeat", repeat, "--json", j])
        res["classic"] = json.load(open(j))
        run([sys.executable, os.path.join(here, "predict_overhead.py"), "--build", a.build,
             "--repeat", repeat, "--json", j])
        res["predict_end_to_end"] = json.load(open(j))
        if not a.quick:
            res["deep"] = run([b("bench_deep"), "--skip-eval"]).splitlines()
            res["nets"] = run([b("bench_nets")]).splitlines()
    res["machine"]["load_average_at_end"] = os.getloadavg()
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
    print(f"run_all: figures in {a.out}")
    if a.against:
        old = json.load(open(a.against))
        key = lambda r: (r["method"], r["threads"])
        before = {key(r): r["seconds_median"] for r in old.get("classic", []) if "method" in r}
        for r in res["classic"]:
            if "method" in r and key(r) in before:
                print(f"{r['method']:9s} {r['threads']} threads: {before[key(r)]:.3f} s -> "
                      f"{r['seconds_median']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
