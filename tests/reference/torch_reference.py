#!/usr/bin/python3
"""tests/reference/torch_reference.py: an independent PyTorch reference for skinmtl.

The C++ test tests/nets/test_torch_reference.cpp writes weights and inputs to
safetensors files, runs this script (with Debian's /usr/bin/python3 and its
python3-torch / python3-torchvision), reads back what PyTorch computed from the
same numbers, and compares. Nothing here imports or calls skinmtl: the networks
are built from torchvision and torch.nn alone, so a mistake in skinmtl cannot
hide in the reference. Python is only used by tests and benchmarks, never by
the skinmtl runtime.

Three jobs:

  resnet50 --weights W --input X --out O
      Builds torchvision's resnet50 and adapts it to the checkpoint's metadata
      (io/resnet50_import.h documents the keys):
        stride_placement "v1": in the first block of layer2..4 the stride 2 moves
          from the 3x3 conv (torchvision's "v1.5") to the first 1x1 conv;
        conv_bias "true": every conv gets a bias (the Keras-converted weights);
        bn_eps: every BatchNorm's epsilon;
        num_classes: the fc layer's size.
      Loads the tensors of W by name (strictly: every tensor of the model must be
      in the file and every tensor of the file in the model), runs X (an
      "input" tensor (N, 3, H, W)) in eval mode, in the dtype of W's tensors
      (float32 or float64), and writes O with
      "features" (N, 2048) (pool5) and "logits" (N, classes).

  tiny --init I --data D --steps S --lr LR --momentum M --weight-decay WD --out O
      The TinyMtlNet of nets/tiny_net.h, rebuilt in torch.nn (its layers are
      listed in tiny_forward below), with the parameters and BatchNorm buffers
      of I. Trains S steps of torch.optim.SGD on the batches of D ("images.i",
      "lesions.i", "sites.i"; step s uses batch s mod B), in training mode,
      with loss = sigmoid cross-entropy (summed over classes, averaged over
      images) + softmax cross-entropy (averaged over images whose label is not
      -1). The dtype is that of I (float32 or float64). Writes O with
      "loss.total", "loss.lesion", "loss.site" (S,) and every parameter and
      buffer after the last step, by name.

      skinmtl's SGD is Caffe's (kernels/sgd.h):  v = m v + lr (g + wd w); w -= v.
      torch.optim.SGD (dampening 0, no Nesterov): b = m b + (g + wd w); w -= lr b.
      With a constant lr, v = lr b after every step (both start at zero; torch's
      first step sets b = g + wd w, which is m * 0 + (g + wd w)), so the weights
      are the same up to rounding: the comparison is exact in exact arithmetic.

  roi_align --input I --spatial-scale S --out O
      torchvision.ops.roi_align on the "features" (N, C, H, W) and "rois" (R, 5)
      ([batch_index, x1, y1, x2, y2]) of I, with the output size of I's
      "grad_out" (R, C, out_h, out_w), for aligned True and False and
      sampling_ratio 2 and 0 (adaptive), in the dtype of I's tensors; then the
      gradient of sum(grad_out * y) with respect to the features. Writes O with
      "y.aligned{0,1}.sr{2,0}" and "dx.aligned{0,1}.sr{2,0}".
  ops --input I --out O
      Single ops of the detector and segmentation heads (Song et al. 2019),
      each written here from torch's own functions. I holds cases named
      "<kind>.<k>.<field>": the input "x", the upstream gradient "dy", and the
      kind's other operands and hyperparameters (scalars as 0-d tensors):
        upsample           F.interpolate(x, size=(size[0], size[1]), mode='nearest')
        smooth_l1          sum(F.smooth_l1_loss(x, t, beta=beta, reduction='none') * w)
        focal              sum(w * FL), FL = -alpha [(1-p)^gamma y log p + p^gamma (1-y) log(1-p)]
                           (Song eq. 2; log p and log(1-p) by F.logsigmoid)
        focal_torchvision  torchvision.ops.sigmoid_focal_loss(x, y, alpha, gamma, reduction='sum')
                           (RetinaNet's alpha / 1 - alpha weighting)
        softmax_focal      mean over rows of -alpha (1-p)^gamma log p, log p = F.log_softmax(x)[label]
                           (the Classify subnet's eq. 2 over three classes)
        jaccard            mean over rows of smooth (1 - (sum p t + smooth) / (sum (p + t - p t) + smooth))
      For each case writes "<kind>.<k>.y" (the output) and "<kind>.<k>.dx" (the
      gradient of x after y.backward(dy)), in the dtype of x.

Files: safetensors (8-byte little-endian header length, JSON header, raw
little-endian data), read and written by the small numpy functions below
(Debian bookworm has no python3-safetensors).
"""

import argparse
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

# ---- safetensors, the subset skinmtl writes and reads ----------------------------------

_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64}
_NAMES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}


def read_safetensors(path):
    """Returns ({name: numpy array}, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dt = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(data[begin:end], dtype=dt).reshape(info["shape"])
        tensors[name] = arr.astype(arr.dtype.newbyteorder("="))
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: numpy float32/float64 array}; packed back to back, aligned header."""
    header = {"__metadata__": metadata or {}}
    chunks, offset = [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name]).reshape(np.shape(tensors[name]))  # keeps 0-d as 0-d
        if a.dtype not in _NAMES:
            a = a.astype(np.float32)
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)  # the data starts 8-aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def load_strict(module, tensors):
    """Copies every parameter and buffer of `module` from `tensors` by name; both
    sides must list exactly the same names and shapes (num_batches_tracked, an
    integer counter skinmtl does not keep, excepted)."""
    state = module.state_dict()
    wanted = {k for k in state if not k.endswith("num_batches_tracked")}
    missing = sorted(wanted - set(tensors))
    extra = sorted(set(tensors) - wanted - {k for k in tensors if k.endswith("num_batches_tracked")})
    if missing or extra:
        sys.exit(f"torch_reference: names differ: missing {missing[:5]}, unexpected {extra[:5]}")
    with torch.no_grad():
        for k in wanted:
            t = torch.from_numpy(np.array(tensors[k]))
            if tuple(t.shape) != tuple(state[k].shape):
                sys.exit(f"torch_reference: {k}: file {tuple(t.shape)} vs model {tuple(state[k].shape)}")
            state[k].copy_(t.to(state[k].dtype))


# ---- ResNet-50 ----------------------------------------------------------------------------


def with_bias(conv):
    """The same nn.Conv2d with a bias."""
    return nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                     padding=conv.padding, dilation=conv.dilation, bias=True)


def build_resnet50(meta, num_classes):
    net = torchvision.models.resnet50(weights=None, num_classes=num_classes)
    placement = meta.get("stride_placement", "v1.5")
    if placement == "v1":
        for layer in (net.layer2, net.layer3, net.layer4):
            block = layer[0]
            stride = block.conv2.stride
            block.conv1.stride, block.conv2.stride = stride, (1, 1)
    elif placement != "v1.5":
        sys.exit(f"torch_reference: unknown stride_placement {placement!r}")
    if meta.get("conv_bias", "false") == "true":
        net.conv1 = with_bias(net.conv1)
        for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
            for block in layer:
                block.conv1, block.conv2, block.conv3 = (with_bias(block.conv1), with_bias(block.conv2),
                                                         with_bias(block.conv3))
                if block.downsample is not None:
                    block.downsample[0] = with_bias(block.downsample[0])
    eps = float(meta.get("bn_eps", "1e-5"))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = eps
    return net


def resnet50_job(args):
    weights, meta = read_safetensors(args.weights)
    num_classes = weights["fc.weight"].shape[0]
    dtype = torch.float64 if weights["conv1.weight"].dtype == np.float64 else torch.float32
    net = build_resnet50(meta, num_classes).to(dtype)
    load_strict(net, weights)
    net.eval()
    x = torch.from_numpy(read_safetensors(args.input)[0]["input"]).to(dtype)
    with torch.no_grad():
        h = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        h = net.layer4(net.layer3(net.layer2(net.layer1(h))))
        features = torch.flatten(net.avgpool(h), 1)
        logits = net.fc(features)
    write_safetensors(args.out, {"features": features.numpy(), "logits": logits.numpy()},
                      {"producer": "torch_reference.py", "torch": torch.__version__,
                       "torchvision": torchvision.__version__})


# ---- TinyMtlNet ----------------------------------------------------------------------------


class TinyMtlNet(nn.Module):
    """nets/tiny_net.h in torch.nn, with the same parameter names."""

    def __init__(self, width, lesion_types, sites):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.conv3 = nn.Conv2d(2 * width, 2 * width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(2 * width)
        self.lesion_head = nn.Linear(2 * width, lesion_types)
        self.site_head = nn.Linear(2 * width, sites)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2, 2)
        h = F.avg_pool2d(F.relu(self.bn2(self.conv2(h))), 2, 2)
        h = F.relu(self.bn3(self.conv3(h)) + h)
        f = h.mean(dim=(2, 3))
        return self.lesion_head(f), self.site_head(f)


def tiny_job(args):
    init, _ = read_safetensors(args.init)
    dtype = torch.float64 if init["conv1.weight"].dtype == np.float64 else torch.float32
    width = init["conv1.weight"].shape[0]
    net = TinyMtlNet(width, init["lesion_head.weight"].shape[0], init["site_head.weight"].shape[0])
    net = net.to(dtype)
    load_strict(net, init)
    net.train()
    data, _ = read_safetensors(args.data)
    batches = sorted(int(k.split(".")[1]) for k in data if k.startswith("images."))
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    total, lesion, site = [], [], []
    for s in range(args.steps):
        b = batches[s % len(batches)]
        x = torch.from_numpy(data[f"images.{b}"]).to(dtype)
        t = torch.from_numpy(data[f"lesions.{b}"]).to(dtype)
        labels = torch.from_numpy(data[f"sites.{b}"]).long()
        opt.zero_grad()
        lesion_logits, site_logits = net(x)
        l_les = F.binary_cross_entropy_with_logits(lesion_logits, t, reduction="sum") / x.shape[0]
        l_site = F.cross_entropy(site_logits, labels, ignore_index=-1)
        loss = l_les + l_site
        loss.backward()
        opt.step()
        total.append(loss.item())
        lesion.append(l_les.item())
        site.append(l_site.item())
    out = {k: v.detach().numpy() for k, v in net.state_dict().items()
           if not k.endswith("num_batches_tracked")}
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    out["loss.total"] = np.array(total, dtype=np_dtype)
    out["loss.lesion"] = np.array(lesion, dtype=np_dtype)
    out["loss.site"] = np.array(site, dtype=np_dtype)
    write_safetensors(args.out, out, {"producer": "torch_reference.py", "torch": torch.__version__})


# ---- RoIAlign ------------------------------------------------------------------------------


def roi_align_job(args):
    t, _ = read_safetensors(args.input)
    x = torch.from_numpy(t["features"])
    rois = torch.from_numpy(t["rois"])
    grad_out = torch.from_numpy(t["grad_out"])
    out = {}
    for aligned in (True, False):
        for sr in (2, 0):
            xg = x.clone().requires_grad_(True)
            y = torchvision.ops.roi_align(xg, rois, output_size=tuple(grad_out.shape[2:]),
                                          spatial_scale=args.spatial_scale, sampling_ratio=sr,
                                          aligned=aligned)
            y.backward(grad_out)
            key = f"aligned{int(aligned)}.sr{sr}"
            out["y." + key] = y.detach().numpy()
            out["dx." + key] = xg.grad.numpy()
    write_safetensors(args.out, out, {"producer": "torch_reference.py", "torch": torch.__version__,
                                      "torchvision": torchvision.__version__})


# ---- single ops of the detector and segmentation heads ------------------------------------


def ops_case(kind, get):
    """Returns (x, y) for one case: x the leaf that requires a gradient, y its output."""
    x = get("x").clone().requires_grad_(True)
    if kind == "upsample":
        size = tuple(int(v) for v in get("size").tolist())
        return x, F.interpolate(x, size=size, mode="nearest")
    if kind == "smooth_l1":
        beta = float(get("beta"))
        return x, (F.smooth_l1_loss(x, get("t"), beta=beta, reduction="none") * get("w")).sum()
    if kind == "focal":
        y, w = get("y"), get("w")
        alpha, gamma = float(get("alpha")), float(get("gamma"))
        p, q = torch.sigmoid(x), torch.sigmoid(-x)  # p and 1 - p
        fl = -alpha * (q ** gamma * y * F.logsigmoid(x) + p ** gamma * (1 - y) * F.logsigmoid(-x))
        return x, (w * fl).sum()
    if kind == "focal_torchvision":
        return x, torchvision.ops.sigmoid_focal_loss(x, get("y"), alpha=float(get("alpha")),
                                                     gamma=float(get("gamma")), reduction="sum")
    if kind == "softmax_focal":
        labels = get("labels").long()
        alpha, gamma = float(get("alpha")), float(get("gamma"))
        log_p = F.log_softmax(x, dim=1).gather(1, labels[:, None])[:, 0]
        return x, (-alpha * (1 - log_p.exp()) ** gamma * log_p).mean()
    if kind == "jaccard":
        t, smooth = get("t"), float(get("smooth"))
        inter = (x * t).flatten(1).sum(1)
        union = (x + t - x * t).flatten(1).sum(1)
        return x, (smooth * (1 - (inter + smooth) / (union + smooth))).mean()
    sys.exit(f"torch_reference: unknown op case kind {kind!r}")


def ops_job(args):
    tensors, _ = read_safetensors(args.input)
    cases = sorted({name.rsplit(".", 1)[0] for name in tensors})
    out = {}
    for case in cases:
        def get(field, case=case):
            return torch.from_numpy(np.array(tensors[f"{case}.{field}"]))
        x, y = ops_case(case.split(".")[0], get)
        y.backward(get("dy"))
        out[f"{case}.y"] = y.detach().numpy()
        out[f"{case}.dx"] = x.grad.numpy()
    write_safetensors(args.out, out, {"producer": "torch_reference.py", "torch": torch.__version__,
                                      "torchvision": torchvision.__version__})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    sub = p.add_subparsers(dest="job", required=True)
    r = sub.add_parser("resnet50")
    r.add_argument("--weights", required=True)
    r.add_argument("--input", required=True)
    r.add_argument("--out", required=True)
    t = sub.add_parser("tiny")
    t.add_argument("--init", required=True)
    t.add_argument("--data", required=True)
    t.add_argument("--steps", type=int, required=True)
    t.add_argument("--lr", type=float, required=True)
    t.add_argument("--momentum", type=float, required=True)
    t.add_argument("--weight-decay", type=float, required=True)
    t.add_argument("--out", required=True)
    a = sub.add_parser("roi_align")
    a.add_argument("--input", required=True)
    a.add_argument("--spatial-scale", type=float, required=True)
    a.add_argument("--out", required=True)
    o = sub.add_parser("ops")
    o.add_argument("--input", required=True)
    o.add_argument("--out", required=True)
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    jobs = {"resnet50": resnet50_job, "tiny": tiny_job, "roi_align": roi_align_job, "ops": ops_job}
    jobs[args.job](args)


if __name__ == "__main__":
    main()
