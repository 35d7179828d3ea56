#!/usr/bin/env python3
"""End-to-end CIFAR ResNet-32 training throughput in PyTorch on the CPU, as the baseline for the
TensorFlow.js backends.

Installs nothing: it needs a Python with torch (Debian/Ubuntu: `apt-get install -y python3-torch`,
then run it with /usr/bin/python3). The network is He et al.'s CIFAR ResNet-32 (3 stages of 5 basic
blocks, 16/32/64 channels, option-A shortcuts: stride-2 subsampling plus zero channel padding),
trained with SGD (momentum 0.9, weight decay 5e-4) and cross-entropy on random 32x32x3 inputs.

Prints one JSON object: images per second over the timed steps, the median step time, the CPU
time per step (all threads; on a shared machine the wall clock also counts waiting for a core),
and the process's peak resident memory.

  /usr/bin/python3 benchmarks/pytorch/resnet32_train.py --steps 20 --warmup 3 --batch 128 --threads 2
"""

import argparse
import json
import platform
import resource
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.exit(
        "torch is not importable from this Python (" + sys.executable + "). Install Debian's "
        "python3-torch (apt-get install -y python3-torch) and run this script with /usr/bin/python3."
    )


class ShortcutA(nn.Module):
    """Option-A shortcut: take every other pixel and zero-pad the new channels (no parameters)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.extra = out_channels - in_channels

    def forward(self, x):
        x = x[:, :, ::2, ::2]
        half = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, half, self.extra - half))


class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = (
            ShortcutA(in_channels, out_channels)
            if stride != 1 or in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet32(nn.Module):
    def __init__(self, classes=10, blocks_per_stage=5):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        layers = []
        in_channels = 16
        for stage, channels in enumerate((16, 32, 64)):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(in_channels, channels, stride))
                in_channels = channels
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.blocks(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format (as TensorFlow.js)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    model = ResNet32()
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(args.batch, 3, 32, 32).contiguous(memory_format=memory_format)
    labels = torch.randint(0, 10, (args.batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    step_seconds = []
    # CPU time next to wall time: on a shared machine the wall clock includes waiting for a core.
    cpu_before = time.process_time()
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = step()
        step_seconds.append(time.perf_counter() - start)
    cpu_seconds = time.process_time() - cpu_before
    total = sum(step_seconds)
    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "model": "resnet32-cifar",
        "method": "e2e",
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "memory_format": "channels_last" if args.channels_last else "contiguous",
        "steps": args.steps,
        "images_per_second": args.steps * args.batch / total,
        "median_step_ms": sorted(step_seconds)[len(step_seconds) // 2] * 1000,
        "cpu_ms_per_step": cpu_seconds / args.steps * 1000,
        "final_loss": loss,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "machine": platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
