#!/usr/bin/env python3
"""End-to-end CIFAR ResNet-32 training throughput in PyTorch on the CPU, as the baseline for the
TensorFlow.js backends.

Installs nothing: it needs a Python with torch (Debian/Ubuntu: `apt-get install -y python3-torch`,
then run it with /usr/bin/python3). The network is the one @mlaan/models builds
(docs/method.md §1, as the MLAAN and InfoPro authors' code): conv3x3 stem + BN +
ReLU, 3 stages of 5 basic blocks (16/32/64 channels, stride 2 at the first block of stages 2
and 3), conv1x1 (no bias) + BN shortcuts where the shape changes, global average pool, Linear.
Trained as METHOD §6: cross-entropy, SGD with Nesterov momentum 0.9 and weight decay 1e-4, on
random 32x32x3 images (uniform in [0, 1], normalised with the CIFAR-10 mean and std) and labels
i mod 10 — the step cost does not depend on the pixel values.

Prints one JSON object: images per second over the timed steps, the median step time, the CPU
time per step (all threads; on a shared machine the wall clock also counts waiting for a core),
and the process's peak resident memory.

  /usr/bin/python3 benchmarks/pytorch/resnet32_train.py --steps 20 --warmup 3 --batch 128 --threads 2

With --serve it is a worker driven over stdin/stdout, one step at a time (step_protocol.py);
benchmarks/native-vs-pytorch.ts runs it that way to alternate its steps with ours.
"""

import argparse
import json
import math
import os
import platform
import sys

# No __pycache__ beside these scripts (nor in the authors' folder, which is only read).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import step_protocol  # noqa: E402

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.exit(
        "torch is not importable from this Python (" + sys.executable + "). Install Debian's "
        "python3-torch (apt-get install -y python3-torch) and run this script with /usr/bin/python3."
    )

CIFAR10_MEAN = [125.3 / 255, 123.0 / 255, 113.9 / 255]
CIFAR10_STD = [63.0 / 255, 62.1 / 255, 66.7 / 255]


class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride, inplace=False):
        super().__init__()
        self.inplace = inplace
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = (
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))
            if stride != 1 or in_channels != out_channels
            else None
        )

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        if self.inplace:
            # As the authors' BasicBlock (nn.ReLU(inplace=True), `out += residual`): no new
            # activation-sized tensor for either ReLU or the sum.
            out = F.relu_(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += shortcut
            return F.relu_(out)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + shortcut)


class ResNet32(nn.Module):
    def __init__(self, classes=10, blocks_per_stage=5, inplace=False):
        super().__init__()
        self.inplace = inplace
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_channels = 16
        for stage, channels in enumerate((16, 32, 64)):
            blocks = []
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlock(in_channels, channels, stride, inplace))
                in_channels = channels
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)  # PyTorch's default init: U(±1/sqrt(fan_in))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                module.weight.data.normal_(0, math.sqrt(2.0 / fan_out))

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        x = F.relu_(x) if self.inplace else F.relu(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def random_batch(batch, memory_format):
    images01 = torch.rand(batch, 3, 32, 32)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    images = ((images01 - mean) / std).contiguous(memory_format=memory_format)
    labels = torch.arange(batch) % 10
    return images, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--lr", type=float, default=0.1, help="no effect on the step time; small, so that random data does not diverge"
    )
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format (as TensorFlow.js)")
    parser.add_argument(
        "--inplace",
        action="store_true",
        help="ReLUs and the residual sum in place, as the MLAAN authors' BasicBlock: ~1.4x faster on a 2-core CPU, "
        "where every new activation-sized tensor is fresh memory that page-faults",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--serve", action="store_true", help="worker mode: steps on command (step_protocol.py)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda [cpu]")
    args = parser.parse_args()

    if args.device not in ("cpu", "cuda") or (args.device == "cuda" and not torch.cuda.is_available()):
        sys.exit(f"--device {args.device}: choose cpu, or cuda where torch sees a CUDA GPU (torch.cuda.is_available()).")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = ResNet32(inplace=args.inplace).to(device=args.device, memory_format=memory_format)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    images, labels = random_batch(args.batch, memory_format)
    images, labels = images.to(args.device), labels.to(args.device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    description = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "model": "resnet32-cifar (conv1x1 + BN shortcuts, METHOD §1)",
        "code": "benchmarks/pytorch/resnet32_train.py",
        "method": "e2e",
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "optimizer": f"SGD lr {args.lr}, Nesterov momentum 0.9, weight decay 1e-4",
        "memory_format": "channels_last" if args.channels_last else "contiguous",
        "inplace": args.inplace,
        "parameters": sum(p.numel() for p in model.parameters()),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "machine": platform.machine(),
        "device": args.device,
        **({"cuda_device": torch.cuda.get_device_name(0), "cudnn": torch.backends.cudnn.version()} if args.device == "cuda" else {}),
    }
    if args.serve:
        step_protocol.serve(step, description)
        return
    result = {**description, **step_protocol.run(step, args.batch, args.warmup, args.steps)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
