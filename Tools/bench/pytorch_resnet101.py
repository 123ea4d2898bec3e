#!/usr/bin/env python3
"""PyTorch's side of issue 16's comparison: the dilated ResNet-101 backbone at 320² on the CPU.

torchvision's resnet101(replace_stride_with_dilation=[False, True, True]) is the DeepLab layout CMPC's
backbone has (output stride 8; res4 at rate 2, res5 at rate 4), without its classifier. channels_last,
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
import torchvision


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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = torchvision.models.resnet101(weights=None, replace_stride_with_dilation=[False, True, True])
    backbone = torch.nn.Sequential(*list(net.children())[:-2]).eval()   # up to layer4 (res5c), no pool/fc
    backbone = backbone.to(memory_format=torch.channels_last)
    x = torch.randn(1, 3, args.size, args.size).to(memory_format=torch.channels_last)
    cpu = open("/proc/cpuinfo").read()
    model = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("model name")), "?")
    flags = next((l.split(":", 1)[1].split() for l in cpu.splitlines() if l.startswith("flags")), [])
    isa = [f for f in flags if f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")]
    with torch.inference_mode():
        fp32 = best_time(lambda: backbone(x), args.repeats)
        print(json.dumps({"case": "pytorch-backbone", "seconds": round(fp32, 4), "threads": args.threads,
                          "torch": torch.__version__, "cpu": model, "isa": isa}))
        b16 = backbone.to(torch.bfloat16)
        xb = x.to(torch.bfloat16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = best_time(lambda: b16(xb), args.repeats)
        print(json.dumps({"case": "pytorch-backbone-bf16", "seconds": round(bf16, 4), "speedup": round(fp32 / bf16, 3),
                          "threads": args.threads}))


if __name__ == "__main__":
    main()
