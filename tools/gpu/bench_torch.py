"""tools/gpu/bench_torch.py: the PyTorch half of `make bench-gpu`.

Times, with PyTorch on the GPU, what tools/bench_gpu/main.cpp times for
skinmtl (that program runs this script after its own timings and prints both
side by side; see its header for the cases):

  infer_b1, infer_b64    ResNet-50 forward, eval, no autograd, 224
  train_b20, train_bmax  ResNet-50 step, frozen BN, softmax cross-entropy, SGD
  train_yang             Yang et al.'s model, 192x256, batch 8
  train_fpn              ResNet-50 + torchvision's FeaturePyramidNetwork, 1024, 2 images
  iter_song              torchvision's maskrcnn_resnet50_fpn training step, 1024, 2 images

The ResNet-50 is the one skinmtl trains (Keras/MSRA: "v1" strides, conv
biases, BN eps 1e-3), built by tests/reference/torch_reference.py; Yang's
network and the trunk + FPN are tools/bench_cpu/bench_torch.py's. Precisions:
fp32 (TF32 off), tf32 (TF32 on), bf16 (autocast to bfloat16, channels_last,
float32 weights). Eager mode, cudnn.benchmark on. Each case: --warmup untimed
runs, --reps timed ones, each ended by torch.cuda.synchronize(). Prints one
JSON object: {"torch": version, "device": name, PRECISION: {CASE: {"seconds":
[...], "batch": n, "peak_mb": max_memory_allocated} or {"error": why}}}.
--profile prints torch.profiler's table of one train_b20 step to stderr.
--device cpu and --smoke (tiny sizes) check the script on a machine without a GPU.

Python is a benchmark tool here, never part of the skinmtl runtime.
"""

import argparse
import importlib.util
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from torch_reference import build_resnet50  # noqa: E402

# The CPU benchmark's twins of skinmtl's networks (YangNet, TrunkFpn), loaded by path:
# both scripts are called bench_torch.py.
_spec = importlib.util.spec_from_file_location("bench_cpu_torch", os.path.join(ROOT, "tools", "bench_cpu", "bench_torch.py"))
cpu_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cpu_bench)

CASES = ("infer_b1", "infer_b64", "train_b20", "train_bmax", "train_yang", "train_fpn", "iter_song")


def sizes(smoke):
    """The same sizes as bench_gpu's (tools/bench_gpu/main.cpp, Sizes)."""
    if smoke:
        return dict(image=64, b64=4, b20=2, yang=(2, 64, 64), song=128, song_b=2)
    return dict(image=224, b64=64, b20=20, yang=(8, 192, 256), song=1024, song_b=2)


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


def timed(fn, dev, warmup, reps):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        sync(dev)
        t0 = time.perf_counter()
        fn()
        sync(dev)
        out.append(time.perf_counter() - t0)
    return out


def maskrcnn_case(dev, size, batch, fmt):
    """torchvision's Mask R-CNN training step: the nearest PyTorch twin of
    Song et al.'s iteration. Random weights; the trunk's BN frozen (eval mode),
    as skinmtl's; one box (and its mask) per image."""
    import torchvision
    m = torchvision.models.detection.maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=2, min_size=size, max_size=size).to(dev)
    m = m.to(memory_format=fmt)
    opt = torch.optim.SGD(m.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4)
    images = [torch.rand(3, size, size, device=dev) for _ in range(batch)]
    boxes = [[40, 50, 180, 200], [60, 30, 220, 170]]
    targets = []
    for i in range(batch):
        b = torch.tensor([boxes[i % 2]], dtype=torch.float32, device=dev) * (size / 256.0)
        mask = torch.zeros(1, size, size, dtype=torch.uint8, device=dev)
        x1, y1, x2, y2 = (int(v) for v in b[0].tolist())
        mask[0, y1:y2, x1:x2] = 1
        targets.append({"boxes": b, "labels": torch.tensor([1], device=dev), "masks": mask})

    def step(autocast):
        m.train()
        for mod in m.backbone.body.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.eval()
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = sum(m(images, targets).values())
        loss.backward()
        opt.step()
    return step


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--precision", default="fp32,tf32,bf16")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--bmax", type=int, default=128, help="train_bmax's batch (bench_gpu's largest)")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    dev = args.device
    if dev == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_torch.py: PyTorch sees no GPU")
    z = sizes(args.smoke)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    result = {"torch": torch.__version__, "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu"}
    cases = args.cases.split(",")

    for prec in args.precision.split(","):
        torch.backends.cuda.matmul.allow_tf32 = prec != "fp32"
        torch.backends.cudnn.allow_tf32 = prec != "fp32"
        fmt = torch.channels_last if prec == "bf16" else torch.contiguous_format

        def autocast():
            return torch.autocast(dev, dtype=torch.bfloat16, enabled=prec == "bf16")

        out = result[prec] = {}

        def run(case, batch, make):
            """Builds the case's step with make() and times it; frees it after."""
            if case not in cases:
                return
            try:
                if dev == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                fn = make()
                secs = timed(fn, dev, args.warmup, args.reps)
                peak = torch.cuda.max_memory_allocated() / 1e6 if dev == "cuda" else -1
                out[case] = {"seconds": secs, "batch": batch, "peak_mb": peak}
            except torch.cuda.OutOfMemoryError:
                out[case] = {"error": "out of memory"}
            except RuntimeError as e:
                out[case] = {"error": str(e).split("\n")[0][:200]}
            print(f"bench_torch.py: {prec} {case} done", file=sys.stderr)

        net = build_resnet50(cpu_bench.KERAS_META, 1000).to(dev).to(memory_format=fmt)
        opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)

        def infer(b):
            x = torch.randn(b, 3, z["image"], z["image"], device=dev).contiguous(memory_format=fmt)

            def fn():
                net.eval()
                with torch.no_grad(), autocast():
                    net(x)
            return lambda: fn

        def train(b):
            x = torch.randn(b, 3, z["image"], z["image"], device=dev).contiguous(memory_format=fmt)
            labels = torch.randint(0, 1000, (b,), device=dev)

            def fn():
                cpu_bench.frozen_bn(net)
                opt.zero_grad(set_to_none=True)
                with autocast():
                    loss = F.cross_entropy(net(x).float(), labels)
                loss.backward()
                opt.step()
            return lambda: fn

        run("infer_b1", 1, infer(1))
        run("infer_b64", z["b64"], infer(z["b64"]))
        run("train_b20", z["b20"], train(z["b20"]))
        run("train_bmax", args.bmax, lambda: train(args.bmax)())
        if args.profile and prec == args.precision.split(",")[-1] and "train_b20" in cases:
            step = train(z["b20"])()
            step()
            acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if dev == "cuda" else [])
            with torch.profiler.profile(activities=acts) as prof:
                step()
                sync(dev)
            print(f"PyTorch, train_b20, {prec}, by op:", file=sys.stderr)
            # The GPU column is "device" time from PyTorch 2.4 on, "cuda" time before.
            for key in (("self_device_time_total", "self_cuda_time_total") if dev == "cuda" else ("self_cpu_time_total",)):
                try:
                    print(prof.key_averages().table(sort_by=key, row_limit=25), file=sys.stderr)
                    break
                except (KeyError, AttributeError, RuntimeError):
                    continue
        del net, opt

        def other(model, inputs, loss_fn):
            model = model.to(dev).to(memory_format=fmt)
            o = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)

            def fn():
                model.train()
                cpu_bench.frozen_bn(model.trunk)
                o.zero_grad(set_to_none=True)
                with autocast():
                    loss = loss_fn(model(inputs[0]), *inputs[1:])
                loss.backward()
                o.step()
            return fn

        yb, yh, yw = z["yang"]

        def yang():
            data = (torch.randn(yb, 3, yh, yw, device=dev).contiguous(memory_format=fmt),
                    (torch.rand(yb, 1, yh, yw, device=dev) < 0.3).float(),
                    torch.tensor([0., 1.] * (yb // 2), device=dev), torch.tensor([0., 0., 1., 1.] * (yb // 4) or [0., 1.], device=dev))

            def loss(out, mask, mel, sk):
                m, a, b = (t.float() for t in out)
                return (F.binary_cross_entropy_with_logits(m, mask) + F.binary_cross_entropy_with_logits(a, mel) +
                        F.binary_cross_entropy_with_logits(b, sk))
            return other(cpu_bench.YangNet(), data, loss)

        def fpn():
            x = torch.randn(z["song_b"], 3, z["song"], z["song"], device=dev).contiguous(memory_format=fmt)
            return other(cpu_bench.TrunkFpn(), (x,), lambda levels: sum(level.float().mean() for level in levels))

        def song():
            step = maskrcnn_case(dev, z["song"], z["song_b"], fmt)
            return lambda: step(autocast())

        run("train_yang", yb, yang)
        run("train_fpn", z["song_b"], fpn)
        run("iter_song", z["song_b"], song)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
