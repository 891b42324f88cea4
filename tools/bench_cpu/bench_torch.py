#!/usr/bin/python3
"""tools/bench_cpu/bench_torch.py: the PyTorch half of `make bench-cpu`.

Times, with Debian's python3-torch on the CPU, exactly what
tools/bench_cpu/main.cpp times for skinmtl (that program runs this script and
prints both side by side):

  forward_b1    ResNet-50 forward, batch 1, 224x224, eval mode, no autograd
  forward_b20   the same at batch 20
  train_b20     one SGD training step at batch 20: zero_grad, forward in
                training mode (batch statistics), softmax cross-entropy on
                random labels, backward, SGD update (lr 1e-3, momentum 0.9,
                weight decay 1e-4: Liao & Luo's settings)

The network is the one skinmtl trains: the Keras/MSRA ResNet-50 ("v1" stride
placement, conv biases, BatchNorm eps 1e-3), built from torchvision by
tests/reference/torch_reference.py (the same adaptation as the reference
tests). Each case runs --warmup untimed repetitions, then --reps timed ones;
the script prints one JSON object on stdout: {"torch": version, "threads": n,
"<case>": [seconds, ...], ...}. --profile prints torch.autograd.profiler's
per-op table of one training step to stderr, to set against skinmtl's
--breakdown.

Python is a benchmark tool here, never part of the skinmtl runtime.
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "reference"))
from torch_reference import build_resnet50  # noqa: E402

KERAS_META = {"stride_placement": "v1", "conv_bias": "true", "bn_eps": "0.001"}


def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    net = build_resnet50(KERAS_META, 1000)
    s = args.size
    x1 = torch.randn(1, 3, s, s)
    xb = torch.randn(args.batch, 3, s, s)
    labels = torch.randint(0, 1000, (args.batch,))
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)

    def forward(x):
        net.eval()
        with torch.no_grad():
            net(x)

    def train_step():
        net.train()
        opt.zero_grad()
        loss = F.cross_entropy(net(xb), labels)
        loss.backward()
        opt.step()

    result = {"torch": torch.__version__, "threads": torch.get_num_threads(),
              "mkldnn": torch.backends.mkldnn.is_available()}
    result["forward_b1"] = timed(lambda: forward(x1), args.warmup, args.reps)
    result["forward_b20"] = timed(lambda: forward(xb), args.warmup, args.reps)
    result["train_b20"] = timed(train_step, args.warmup, args.reps)
    if args.profile:
        with torch.autograd.profiler.profile() as prof:
            train_step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25),
              file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
