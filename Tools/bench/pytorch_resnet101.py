#!/usr/bin/env python3
"""PyTorch's side of issue 16's comparison: the dilated ResNet-101 backbone at 320² on the CPU.

torchvision's resnet101(replace_stride_with_dilation=[False, True, True]) is the DeepLab layout CMPC's
backbone has (output stride 8; res4 at rate 2, res5 at rate 4), without its classifier. torchvision is
used when it imports; otherwise (a torchvision built for another torch) the same network is built here,
layer for layer as torchvision's (`--builtin` forces that). channels_last,
2 threads (or --threads), fp32 and bf16 (bf16 weights and input under torch.autocast), best of --repeats
after warm-ups. Prints JSON rows like `cmpc-video bench`:

    pip install torch torchvision      # CPU wheels; never needed by cmpc-video itself
    python3 Tools/bench/pytorch_resnet101.py --threads 2
    cmpc-video bench image-model --threads 2          # backbone / backbone-bf16 rows, same minutes

Run by hand; not part of the tests.
"""
import argparse
import json
import time

import torch
from torch import nn


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (stride on the 3×3, as ResNet v1.5), with its dilation."""

    def __init__(self, cin, width, stride, dilation, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + shortcut)


def dilated_resnet101():
    """resnet101(replace_stride_with_dilation=[False, True, True]) up to layer4, as torchvision builds it."""
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    cin, dilation = 64, 1
    for width, blocks, stride, dilate in [(64, 3, 1, False), (128, 4, 2, False), (256, 23, 2, True), (512, 3, 2, True)]:
        previous = dilation
        if dilate:
            dilation, stride = dilation * stride, 1
        downsample = nn.Sequential(nn.Conv2d(cin, width * 4, 1, stride, bias=False), nn.BatchNorm2d(width * 4))
        layers.append(Bottleneck(cin, width, stride, previous, downsample))
        cin = width * 4
        layers += [Bottleneck(cin, width, 1, dilation, None) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def best_time(fn, repeats):
    fn()
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--builtin", action="store_true", help="build the network here, not with torchvision")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    source = "builtin"
    backbone = None
    if not args.builtin:
        try:
            import torchvision
            net = torchvision.models.resnet101(weights=None, replace_stride_with_dilation=[False, True, True])
            backbone = torch.nn.Sequential(*list(net.children())[:-2])   # up to layer4 (res5c), no pool/fc
            source = "torchvision " + torchvision.__version__
        except Exception as error:   # e.g. a torchvision built for another torch
            print(json.dumps({"note": f"torchvision unusable ({type(error).__name__}); building the same network"}))
    if backbone is None:
        backbone = dilated_resnet101()
    backbone = backbone.eval()
    backbone = backbone.to(memory_format=torch.channels_last)
    x = torch.randn(1, 3, args.size, args.size).to(memory_format=torch.channels_last)
    cpu = open("/proc/cpuinfo").read()
    model = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("model name")), "?")
    flags = next((l.split(":", 1)[1].split() for l in cpu.splitlines() if l.startswith("flags")), [])
    isa = [f for f in flags if f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")]
    with torch.inference_mode():
        fp32 = best_time(lambda: backbone(x), args.repeats)
        print(json.dumps({"case": "pytorch-backbone", "seconds": round(fp32, 4), "threads": args.threads,
                          "torch": torch.__version__, "network": source, "cpu": model, "isa": isa}))
        b16 = backbone.to(torch.bfloat16)
        xb = x.to(torch.bfloat16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = best_time(lambda: b16(xb), args.repeats)
        print(json.dumps({"case": "pytorch-backbone-bf16", "seconds": round(bf16, 4), "speedup": round(fp32 / bf16, 3),
                          "threads": args.threads}))


if __name__ == "__main__":
    main()
