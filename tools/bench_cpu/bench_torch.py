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
  train_frozen_b20  the same step with frozen batch norm (running statistics,
                gamma and beta trained): the step the three papers' models
                fine-tune with, Liao & Luo's at 224 x 224, batch 20
  train_yang_b8  Yang et al.'s model (skinmtl's nets/segcls.h, built here
                layer for layer: a U-Net decoder of four conv3x3-BN-ReLU x2
                blocks on the trunk's stages, a 1x1 mask head, two linear
                classifiers on pool5), 120x160, batch 8, trunk BN frozen;
                per-pixel BCE + two BCEs
  train_fpn_b2  ResNet-50 + torchvision's FeaturePyramidNetwork (P2-P5 and
                P6 by a 1x1 stride-2 max pool, as skinmtl's nets/fpn.h) at
                256 x 256, 2 images, frozen BN; loss the sum of the levels'
                means: the part of Song et al.'s network with a twin here
each in PyTorch's default layout and in channels_last ("<case>_cl").
--only CASE runs one case alone (a warm-up and one step) so that the caller
can read this process's peak resident memory.

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


def frozen_bn(net):
    """Fine-tuning with frozen batch norm, as the papers do: the running
    statistics normalise (BN modules in eval mode) while gamma and beta still
    train (requires_grad stays on), as in skinmtl's frozen mode."""
    net.train()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


CASES = ("forward_b1", "forward_b20", "train_b20", "train_frozen_b20", "train_yang_b8", "train_fpn_b2")


def stages(t, x):
    """The trunk's c1..c5, as skinmtl's ResNet50::stages()."""
    c1 = t.relu(t.bn1(t.conv1(x)))
    c2 = t.layer1(t.maxpool(c1))
    c3 = t.layer2(c2)
    c4 = t.layer3(c3)
    return c1, c2, c3, c4, t.layer4(c4)


class YangNet(torch.nn.Module):
    """nets/segcls.h: decoder blocks up(nearest, to the skip's size), concat
    the skip, conv3x3-BN-ReLU twice (256, 128, 64, 32 channels; no conv
    bias); a 1x1 mask head then up to the input size; melanoma and SK
    linear heads on pool5."""

    def __init__(self):
        super().__init__()
        self.trunk = build_resnet50(KERAS_META, 1000)
        blocks, cin = [], 2048
        for w, skip in zip((256, 128, 64, 32), (1024, 512, 256, 64)):
            blocks.append(torch.nn.Sequential(
                torch.nn.Conv2d(cin + skip, w, 3, padding=1, bias=False), torch.nn.BatchNorm2d(w),
                torch.nn.ReLU(inplace=True), torch.nn.Conv2d(w, w, 3, padding=1, bias=False),
                torch.nn.BatchNorm2d(w), torch.nn.ReLU(inplace=True)))
            cin = w
        self.blocks = torch.nn.ModuleList(blocks)
        self.mask = torch.nn.Conv2d(32, 1, 1)
        self.melanoma = torch.nn.Linear(2048, 1)
        self.sk = torch.nn.Linear(2048, 1)

    def forward(self, x):
        c1, c2, c3, c4, c5 = stages(self.trunk, x)
        y = c5
        for block, skip in zip(self.blocks, (c4, c3, c2, c1)):
            y = block(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="nearest"), skip], 1))
        mask = F.interpolate(self.mask(y), size=x.shape[-2:], mode="nearest")
        pool5 = c5.mean((2, 3))
        return mask, self.melanoma(pool5).squeeze(1), self.sk(pool5).squeeze(1)


class TrunkFpn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool
        self.trunk = build_resnet50(KERAS_META, 1000)
        self.fpn = FeaturePyramidNetwork([256, 512, 1024, 2048], 256, extra_blocks=LastLevelMaxPool())

    def forward(self, x):
        _, c2, c3, c4, c5 = stages(self.trunk, x)
        return list(self.fpn({"c2": c2, "c3": c3, "c4": c4, "c5": c5}).values())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--only", choices=CASES, help="run this case alone, once after a warm-up "
                   "(for its peak resident memory, which the parent reads)")
    p.add_argument("--cases", help="comma-separated cases to time (default: all)")
    p.add_argument("--channels-last", action="store_true", help="with --only: that layout")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    net = build_resnet50(KERAS_META, 1000)
    s = args.size
    x1 = torch.randn(1, 3, s, s)
    xb = torch.randn(args.batch, 3, s, s)
    labels = torch.randint(0, 1000, (args.batch,))
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)

    def in_layout(x, channels_last):
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    def forward(x):
        net.eval()
        with torch.no_grad():
            net(x)

    def train_step(x, frozen):
        if frozen:
            frozen_bn(net)
        else:
            net.train()
        opt.zero_grad()
        loss = F.cross_entropy(net(x), labels)
        loss.backward()
        opt.step()

    # The other two papers' steps, built on first use (so that a memory child
    # holds only its own network and the ResNet-50 above, as skinmtl's does).
    others = {}

    def other(name, channels_last):
        if name not in others:
            if name == "train_yang_b8":
                m = YangNet()
                data = (torch.randn(8, 3, 120, 160), (torch.rand(8, 1, 120, 160) < 0.3).float(),
                        torch.tensor([0., 1.] * 4), torch.tensor([0., 0., 1., 1.] * 2))
            else:
                m = TrunkFpn()
                data = (torch.randn(2, 3, 256, 256),)
            others[name] = (m, torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4), data)
        m, o, data = others[name]
        m.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        x = in_layout(data[0], channels_last)

        def step():
            m.train()
            frozen_bn(m.trunk)
            o.zero_grad()
            if name == "train_yang_b8":
                mask, mel, sk = m(x)
                loss = (F.binary_cross_entropy_with_logits(mask, data[1]) +
                        F.binary_cross_entropy_with_logits(mel, data[2]) +
                        F.binary_cross_entropy_with_logits(sk, data[3]))
            else:
                loss = sum(level.mean() for level in m(x))
            loss.backward()
            o.step()
        return step

    def case_fn(name, channels_last):
        if name in ("train_yang_b8", "train_fpn_b2"):
            return other(name, channels_last)
        a, b = in_layout(x1, channels_last), in_layout(xb, channels_last)
        return {"forward_b1": lambda: forward(a), "forward_b20": lambda: forward(b),
                "train_b20": lambda: train_step(b, False),
                "train_frozen_b20": lambda: train_step(b, True)}[name]

    if args.only:
        if args.channels_last:
            net.to(memory_format=torch.channels_last)
        case_fn(args.only, args.channels_last)()
        case_fn(args.only, args.channels_last)()
        # The peak resident memory of this process (its own high-water mark).
        with open("/proc/self/status") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        print("peak_rss_mb %.1f" % (hwm / 1024.0))
        return

    result = {"torch": torch.__version__, "threads": torch.get_num_threads(),
              "mkldnn": torch.backends.mkldnn.is_available()}
    # Each case in PyTorch's default layout (NCHW, as skinmtl) and in channels_last
    # (NHWC, what oneDNN prefers on a CPU): the table sets skinmtl against the better.
    for channels_last in (False, True):
        net.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        for name in (args.cases.split(",") if args.cases else CASES):
            key = name + ("_cl" if channels_last else "")
            result[key] = timed(case_fn(name, channels_last), args.warmup, args.reps)
    net.to(memory_format=torch.contiguous_format)
    if args.profile:
        with torch.autograd.profiler.profile() as prof:
            train_step(xb, True)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25),
              file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
