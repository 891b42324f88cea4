"""PyTorch's speed for the training steps tools/gpu/run.sh times on skinmtl.

Same shapes as run.sh's CUDA training checks: ResNet-50 with frozen batch norm
(eval mode), SGD with momentum, batch 20 at 224x224 (the Liao & Luo step).
Prints images/s, median of the timed steps, for fp32 (TF32 off, skinmtl's
current math), TF32, and bf16 autocast with channels_last (PyTorch's best).
Run on the GPU machine:  python3 tools/gpu/bench_torch.py
"""
import statistics
import time

import torch
import torchvision


def step_speed(batch, size, mode, steps=12):
    torch.backends.cuda.matmul.allow_tf32 = mode != "fp32"
    torch.backends.cudnn.allow_tf32 = mode != "fp32"
    torch.backends.cudnn.benchmark = True
    net = torchvision.models.resnet50(num_classes=8).cuda().eval()  # eval: frozen BN
    fmt = torch.channels_last if mode == "bf16" else torch.contiguous_format
    net = net.to(memory_format=fmt)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device="cuda").to(memory_format=fmt)
    y = torch.rand(batch, 8, device="cuda").round()
    times = []
    for i in range(steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=mode == "bf16"):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


if __name__ == "__main__":
    print(torch.__version__, torch.cuda.get_device_name())
    for mode in ("fp32", "tf32", "bf16"):
        print(f"resnet50 train step, batch 20 at 224, frozen BN, {mode}: "
              f"{step_speed(20, 224, mode):.1f} images/s")
