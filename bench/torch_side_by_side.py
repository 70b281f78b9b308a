#!/usr/bin/env python3
"""STTFN in LibTorch (lstfuse) against the same network in PyTorch, timed interleaved.

Builds Table I's network in PyTorch, writes random weights (batch-normalisation statistics
included, so folding matters) and inputs for bench_deep --side-by-side, and then alternates:
one LibTorch run, one run of each PyTorch path, for --reps rounds, so that load from other work
on the machine falls on both alike. Reports medians and the ratios.

  prediction: both networks (forward for the reference before the target, backward for the one
              after) and per-pixel STC weighting over a 1300 x 1300 scene in 256-px tiles
              with the 6-px halo, the way DeepMethod tiles it;
  training:   train_step on 16 patches of 40 x 40 (8 forward, 8 backward), Adam, Huber loss.

PyTorch paths: eager (BN folded, no_grad), eager channels-last, and
torch.jit.optimize_for_inference (freezing, conv-BN folding, oneDNN layouts), the fastest
inference PyTorch 1.13 offers on the CPU; "best" is the lowest median of the three.

Needs Debian's python3-torch (the same libtorch_cpu as libtorch-dev) and a built bench_deep:
  python3 bench/torch_side_by_side.py [--bench build/bench/bench_deep] [--threads 2] [--reps 5]
"""
import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn


class ConvBn(nn.Module):
    def __init__(self, cin, cout, k, bn, relu):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=True)
        self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.relu = relu

    def forward(self, x):
        x = self.bn(self.conv(x))
        return torch.relu(x) if self.relu else x

    def fold(self):
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        with torch.no_grad():
            s = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
            self.conv.weight.mul_(s.view(-1, 1, 1, 1))
            self.conv.bias.copy_((self.conv.bias - self.bn.running_mean) * s + self.bn.bias)
        self.bn = nn.Identity()


class Sttfn(nn.Module):
    """Table I; the attribute names give the same state keys as SttfnNetImpl's modules."""

    def __init__(self, bands=1):
        super().__init__()
        self.e1, self.e2 = ConvBn(bands, 32, 3, True, True), ConvBn(32, 32, 3, False, False)
        self.sr1 = ConvBn(2 * bands, 32, 3, False, False)
        self.sr2, self.sr3 = ConvBn(32, 64, 1, True, True), ConvBn(64, 25, 1, True, True)
        self.sr4, self.sr5 = ConvBn(25, 32, 1, True, True), ConvBn(32, 32, 3, True, True)
        self.sr6 = ConvBn(32, 32, 3, False, False)
        self.f1, self.f2 = ConvBn(32, 32, 3, True, True), ConvBn(32, 16, 3, True, True)
        self.f3 = ConvBn(16, bands, 3, False, False)

    def forward(self, fine_ref, coarse_ref, coarse_target):
        change = coarse_target - coarse_ref
        f_fine = self.e2(self.e1(fine_ref))
        s1 = self.sr1(torch.cat([change, fine_ref], 1))
        s4 = s1 + self.sr4(self.sr3(self.sr2(s1)))
        s6 = s4 + self.sr6(self.sr5(s4))
        return self.f3(self.f2(self.f1(f_fine + s6))) + (fine_ref + change)

    def fold(self):
        for m in self.children():
            m.fold()


def stc(preds, target):
    """Per-pixel STC weighting of two predictions, as lstfuse::deep::stc_weights (window 0)."""
    inv = [(p - target).abs().clamp_min(1e-6).reciprocal() for p in preds]
    s = inv[0] + inv[1]
    w = [torch.where(s > 0, i / s.clamp_min(1e-30), torch.full_like(i, 0.5)) for i in inv]
    return w[0] * preds[0] + w[1] * preds[1]


def tiled(run, scene, tile, halo=6):
    t = scene["target"]
    H, W = t.shape[2], t.shape[3]
    out = torch.empty(1, 1, H, W)
    for y in range(0, H, tile):
        for x in range(0, W, tile):
            y0, x0 = max(0, y - halo), max(0, x - halo)
            y1, x1 = min(H, y + tile + halo), min(W, x + tile + halo)
            c = {k: v[:, :, y0:y1, x0:x1].contiguous() for k, v in scene.items()}
            p = run(c)
            th, tw = min(tile, H - y), min(tile, W - x)
            out[:, :, y:y + th, x:x + tw] = p[:, :, y - y0:y - y0 + th, x - x0:x - x0 + tw]
    return out


def huber_masked(pred, target, mask, delta=1.0):
    d = pred - target
    a = d.abs()
    lm = torch.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    m = (mask > 0).to(lm.dtype).expand_as(lm)
    return torch.where(m > 0, lm, torch.zeros((), dtype=lm.dtype)).sum() / m.sum().clamp_min(1.0)


def random_init(net, gen):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics, so that folding is exercised
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0, 0.1, generator=gen)
                m.running_mean.normal_(0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)


def write_tensors(path, tensors):
    with open(os.path.join(path, "tensors.txt"), "w") as names, open(os.path.join(path, "tensors.bin"), "wb") as data:
        for k, v in tensors.items():
            if not v.is_floating_point():
                continue
            names.write(" ".join([k] + [str(d) for d in v.shape]) + "\n")
            data.write(v.detach().float().contiguous().numpy().tobytes())


class Cpp:
    def __init__(self, bench, folder, threads, extra=()):
        self.p = subprocess.Popen([bench, "--side-by-side", folder, "--threads", str(threads), *extra], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        ready = self.p.stdout.readline().split()
        if not ready or ready[0] != "ready":
            sys.exit("bench_deep --side-by-side did not start")

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().split()

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.close()
        self.p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default="build/bench/bench_deep")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--size", type=int, default=1300)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--train-steps", type=int, default=20, help="train_step calls per timed training run")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-predict", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS",
                    help="another LibTorch run in the rounds, bench_deep --side-by-side with FLAGS "
                         "(e.g. 'malloc-128k=--malloc-128k')")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=PATH",
                    help="another bench_deep binary in the same rounds (e.g. a build of the previous "
                         "commit), so that a change is measured against the same PyTorch runs")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(20)
    torch.manual_seed(20)
    nets = {"forward": Sttfn(), "backward": Sttfn()}
    for n in nets.values():
        random_init(n, gen)
    S = a.size
    # Smooth-ish fields plus noise, so that predictions and STC weights are not degenerate.
    base = torch.randn(1, 1, S // 10 + 1, S // 10 + 1, generator=gen)
    smooth = nn.functional.interpolate(base, size=(S, S), mode="bilinear", align_corners=False)
    scene = {k: smooth + 0.3 * torch.randn(1, 1, S, S, generator=gen) for k in ("fine1", "coarse1", "fine2", "coarse2", "target")}
    batch = {k: torch.randn(16, 1, 40, 40, generator=gen) for k in ("fine_ref", "coarse_ref", "coarse_target", "fine_target")}
    batch["mask"] = (torch.rand(16, 1, 40, 40, generator=gen) > 0.1).float()
    batch["dt"] = torch.tensor([16.0 if i % 2 == 0 else -16.0 for i in range(16)])
    tensors = {f"{d}.{k}": v for d, n in nets.items() for k, v in n.state_dict().items()}
    tensors.update({f"scene.{k}": v for k, v in scene.items()})
    tensors.update({f"train.{k}": v for k, v in batch.items()})
    folder = tempfile.mkdtemp(prefix="sttfn_side_")
    atexit.register(shutil.rmtree, folder, True)  # 34 MB of weights and scenes, ours alone
    write_tensors(folder, tensors)
    cpps = {"libtorch": Cpp(a.bench, folder, a.threads)}
    for v in a.variant:
        name, _, flags = v.partition("=")
        cpps["libtorch " + name] = Cpp(a.bench, folder, a.threads, flags.split())
    for v in a.compare:
        name, _, path = v.partition("=")
        cpps["libtorch " + name] = Cpp(path, folder, a.threads)
    load = os.getloadavg()
    print(f"torch {torch.__version__}, {a.threads} thread(s), {a.reps} rounds, load average at start "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    figures = {"torch": torch.__version__, "threads": a.threads, "reps": a.reps, "load_start": load}

    if not a.skip_predict:
        import copy

        folded = {k: copy.deepcopy(n).eval() for k, n in nets.items()}
        for n in folded.values():
            n.fold()
        cl = {k: copy.deepcopy(n).to(memory_format=torch.channels_last) for k, n in folded.items()}
        ofi = {}
        for k, n in nets.items():
            e = copy.deepcopy(n).eval()
            ofi[k] = torch.jit.optimize_for_inference(torch.jit.script(e))

        def run_with(models, channels_last=False):
            def run(c):
                if channels_last:
                    c = {k: v.contiguous(memory_format=torch.channels_last) for k, v in c.items()}
                p = [models["forward"](c["fine1"], c["coarse1"], c["target"]),
                     models["backward"](c["fine2"], c["coarse2"], c["target"])]
                return stc(p, c["target"])
            return run

        paths = {"pytorch eager": run_with(folded), "pytorch channels-last": run_with(cl, True),
                 "pytorch jit optimize_for_inference": run_with(ofi)}
        times = {k: [] for k in cpps}
        times.update({k: [] for k in paths})
        outs = {}
        with torch.no_grad():
            for c in cpps.values():
                c.ask(f"predict {a.tile}")  # warm-up
            for k, run in paths.items():
                outs[k] = tiled(run, scene, a.tile)
            for r in range(a.reps):
                order = list(cpps) + list(paths)
                if r % 2:
                    order.reverse()
                for k in order:
                    if k in cpps:
                        times[k].append(float(cpps[k].ask(f"predict {a.tile}")[1]))
                    else:
                        t0 = time.perf_counter()
                        outs[k] = tiled(paths[k], scene, a.tile)
                        times[k].append(time.perf_counter() - t0)
        dump = os.path.join(folder, "cpp.bin")
        cpps["libtorch"].ask(f"dump {dump}")
        cpp_out = torch.from_numpy(np.fromfile(dump, dtype=np.float32).reshape(1, 1, S, S))
        med = {k: statistics.median(v) for k, v in times.items()}
        best = min((v, k) for k, v in med.items() if k not in cpps)
        print(f"prediction {S} x {S}, both nets + STC, tiles {a.tile} (median of {a.reps}, s):")
        for k, v in med.items():
            diff = (cpp_out - outs[k]).abs().max().item() if k in outs else 0.0
            extra = f"   max |libtorch - this| {diff:.2e}" if k in outs else ""
            print(f"  {k:36s} {v:6.2f}   (runs {', '.join(f'{x:.2f}' for x in times[k])}){extra}")
        print(f"  libtorch / best PyTorch ({best[1]}): {med['libtorch'] / best[0]:.2f} x the time "
              f"= {best[0] / med['libtorch']:.2f} x the speed", flush=True)
        figures["predict"] = {"times": times, "median": med, "best_pytorch": best[1],
                              "speed_ratio": best[0] / med["libtorch"]}

    if not a.skip_train:
        opts = {k: torch.optim.Adam(n.parameters(), lr=1e-4, betas=(0.9, 0.999)) for k, n in nets.items()}

        def train_steps(steps):
            loss = 0.0
            for _ in range(steps):
                total, count = 0.0, 0
                for k, fwd in (("forward", True), ("backward", False)):
                    idx = (batch["dt"] > 0 if fwd else batch["dt"] < 0).nonzero().view(-1)
                    b = {n: v.index_select(0, idx) for n, v in batch.items()}
                    net, opt = nets[k], opts[k]
                    net.train(True)
                    opt.zero_grad()
                    l = huber_masked(net(b["fine_ref"], b["coarse_ref"], b["coarse_target"]), b["fine_target"], b["mask"])
                    l.backward()
                    opt.step()
                    total += l.item() * idx.numel()
                    count += idx.numel()
                loss = total / count
            return loss

        times = {k: [] for k in cpps}
        times["pytorch"] = []
        losses = {}
        # One step each first (warm-up, and the first losses must agree: same weights, same batch).
        for k, c in cpps.items():
            losses[k] = float(c.ask("train 1")[2])
        losses["pytorch"] = train_steps(1)
        for r in range(a.reps):
            order = list(times)
            for k in (order if r % 2 == 0 else order[::-1]):
                if k in cpps:
                    times[k].append(float(cpps[k].ask(f"train {a.train_steps}")[1]))
                else:
                    t0 = time.perf_counter()
                    train_steps(a.train_steps)
                    times[k].append(time.perf_counter() - t0)
        rate = {k: 16 * a.train_steps / statistics.median(v) for k, v in times.items()}
        print(f"training, 16 patches 40 x 40 per step, {a.train_steps} steps per run (median of {a.reps}, patches/s):")
        for k in times:
            print(f"  {k:10s} {rate[k]:7.1f}   (runs {', '.join(f'{16 * a.train_steps / x:.1f}' for x in times[k])}) "
                  f"first-step loss {losses[k]:.9g}")
        for k in cpps:
            print(f"  {k} / pytorch: {rate[k] / rate['pytorch']:.2f} x the patches/s", flush=True)
        figures["train"] = {"times": times, "patches_per_s": rate, "first_loss": losses,
                            "speed_ratio": rate["libtorch"] / rate["pytorch"]}
    for c in cpps.values():
        c.close()
    figures["load_end"] = os.getloadavg()
    print(f"load average at end {figures['load_end'][0]:.2f} {figures['load_end'][1]:.2f} {figures['load_end'][2]:.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
