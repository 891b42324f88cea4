#!/usr/bin/python3
"""tests/reference/torch_boxes.py: torchvision's box operations as an independent
reference for nets/boxes.h (run by tests/nets/test_boxes.cpp, BoxesTorchReference.*).

    torch_boxes.py --input IN --out OUT --iou T --weights WX,WY,WW,WH

IN (safetensors, float32 or float64) holds
    "a" (M, 4), "b" (K, 4)           -> "iou" (M, K) = torchvision.ops.box_iou(a, b)
    "boxes" (n, 4), "scores" (n)     -> "keep" (k) = torchvision.ops.nms(boxes, scores, T),
                                        the kept indices by descending score, as float64
    "ref" (R, 4), "tgt" (R, 4),      -> "encoded" (R, 4), "decoded" (R, 4) with
    "deltas" (R, 4)                     torchvision.models.detection._utils.BoxCoder(weights):
                                        encode_single(tgt, ref) and decode_single(deltas, ref)
Nothing here imports skinmtl. torchvision uses the same conventions as skinmtl:
boxes (x1, y1, x2, y2), width x2 - x1 (no "+ 1"), IoU > T suppresses, the
decode clamp log(1000 / 16). torchvision's nms sorts the scores with an
unstable sort, so the test gives distinct scores.
"""

import argparse
import os
import sys

import numpy as np
import torch
import torchvision
from torchvision.models.detection._utils import BoxCoder

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import read_safetensors, write_safetensors  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--iou", type=float, required=True)
    p.add_argument("--weights", required=True, help="wx,wy,ww,wh")
    args = p.parse_args()
    t, _ = read_safetensors(args.input)
    x = {k: torch.from_numpy(np.array(v)) for k, v in t.items()}
    weights = tuple(float(w) for w in args.weights.split(","))
    coder = BoxCoder(weights)
    with torch.no_grad():
        iou = torchvision.ops.box_iou(x["a"], x["b"])
        keep = torchvision.ops.nms(x["boxes"], x["scores"], args.iou)
        encoded = coder.encode_single(x["tgt"], x["ref"])
        decoded = coder.decode_single(x["deltas"], x["ref"])
    write_safetensors(args.out, {"iou": iou.numpy(), "keep": keep.numpy().astype(np.float64),
                                 "encoded": encoded.numpy(), "decoded": decoded.numpy()},
                      {"producer": "torch_boxes.py", "torch": torch.__version__,
                       "torchvision": torchvision.__version__})


if __name__ == "__main__":
    main()
