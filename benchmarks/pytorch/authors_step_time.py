#!/usr/bin/env python3
"""Training-step time and peak memory of the MLAAN authors' own PyTorch code on the CPU.

The authors' code (github Wendy231015/MLAAN, folder CIFAR-SVHN-STL) is not part of this
repository and this script installs nothing: extract it anywhere and pass its folder, e.g.

  mkdir -p /tmp/mlaan-authors
  git clone https://github.com/Wendy231015/MLAAN /tmp/mlaan-authors      # or: git archive | tar -x
  /usr/bin/python3 benchmarks/pytorch/authors_step_time.py --authors-code /tmp/mlaan-authors/CIFAR-SVHN-STL

It needs a Python with torch (Debian/Ubuntu: `apt-get install -y python3-torch`, run with
/usr/bin/python3); torchvision and tqdm, which their train.py imports, are not needed: this script
imports only their `networks` package.

One training step is what their train.py does per batch: `optimizer.zero_grad()`, then
`model(img=x, target=y, ixx_1=.., ixy_1=.., ixx_2=.., ixy_2=..)` (the forward runs every local
loss's backward pass itself), then `optimizer.step()`, with SGD over `model.parameters()`
(Nesterov momentum 0.9, weight decay 1e-4). Their code calls `.cuda()`; here `Module.cuda` and
`Tensor.cuda` return their argument unchanged (patched at run time, their files are not edited),
so it runs on the CPU, without `DataParallel`. Random 32x32 images (uniform in [0, 1], normalised
with their CIFAR-10 mean and std, which their InfoPro decoder undoes) and labels i mod 10.

Configurations (authors_models.py has their files and arguments):
  e2e               networks/resnetMLAAN.py, local_module_num=1 (how train.py trains E2E)
  infopro-k4        networks/resnetInfoPro.py, K=4, contrastive 1c2f heads + decoder, λ (6, 0, 1, 2)
  dgl-k8            networks/resnetDGL.py, K=8: GAP + Linear cross-entropy heads ('0c1f')
  mlaan-k8          networks/resnetMLAAN.py, K=8 (train.py's model; run32-cifar10.txt's arguments)
  infopro+mlaan-k8  networks/resnetInfoProbin.py, K=8: InfoPro heads + cascades (kc=3) + leap nets

Each configuration runs in its own process, so that its peak resident memory (ru_maxrss) is its
own. Prints one JSON line per configuration and writes them all to --out.

With --serve CONFIGURATION it is instead a worker for one configuration, driven one step at a time
over stdin/stdout (step_protocol.py): benchmarks/native-vs-pytorch.ts runs it that way to
alternate the authors' steps with ours.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

# No __pycache__ beside these scripts (nor in the authors' folder, which is only read).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import step_protocol  # noqa: E402

from authors_models import (  # noqa: E402
    CIFAR10_MEAN,
    CIFAR10_STD,
    CONFIGURATIONS,
    SetupError,
    find_authors_code,
    load_model,
    require_torch,
)


def build(configuration, authors_code, batch, threads, lr, seed, device="cpu"):
    """The authors' model, their optimizer and one training step, on `device` (cpu or cuda)."""
    import torch

    model, spec, build_seconds = load_model(configuration, authors_code, batch, threads, seed, device)
    # train.py's optimizer (its lr is 0.8 for CIFAR-10; the lr does not change the step time and a
    # smaller one keeps random data from diverging).
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    images01 = torch.rand(batch, 3, 32, 32)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    images = ((images01 - mean) / std).to(device)
    labels = (torch.arange(batch) % 10).to(device)
    ixx_1, ixy_1, ixx_2, ixy_2 = spec["lambda"]

    def step():
        optimizer.zero_grad()
        _, loss = model(img=images, target=labels, ixx_1=ixx_1, ixy_1=ixy_1, ixx_2=ixx_2, ixy_2=ixy_2)
        optimizer.step()
        # .item() waits for the GPU: the step's time is the device's, as in their train loop.
        return loss.item()

    parameters = list(model.parameters())

    def finish():
        # Parameters that ever received a gradient (zero_grad keeps them as zero tensors): the rest
        # are heads the authors' constructors create for every possible module but never use.
        trained = sum(p.numel() for p in parameters if p.grad is not None)
        if device == "cuda":
            return {"trained_parameters": trained, "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20}
        return {"trained_parameters": trained}

    description = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "configuration": configuration,
        "code": spec["file"],
        "arguments": spec["arguments"],
        "what": spec["what"],
        "local_module_num": spec["local_module_num"],
        "lambda": list(spec["lambda"]),
        "local_loss_mode": spec["local_loss_mode"],
        "ema_momentum": spec["momentum"],
        "optimizer": f"SGD lr {lr}, Nesterov momentum 0.9, weight decay 1e-4 over model.parameters()",
        "batch": batch,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in parameters),
        "parameters_mib": sum(p.numel() * p.element_size() for p in parameters) / 2**20,
        "build_seconds": build_seconds,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "device": device,
        **({"cuda_device": torch.cuda.get_device_name(0), "cudnn": torch.backends.cudnn.version()} if device == "cuda" else {}),
    }
    return step, finish, description


def worker_command(configuration, args):
    return [
        sys.executable,
        os.path.abspath(__file__),
        "--serve",
        configuration,
        "--authors-code",
        args.authors_code,
        "--batch",
        str(args.batch),
        "--threads",
        str(args.threads),
        "--lr",
        str(args.lr),
        "--seed",
        str(args.seed),
        "--device",
        args.device,
    ]


def drive(configuration, args):
    """Run one configuration in its own worker process: warm-up, timed steps, peak memory."""
    process = subprocess.Popen(worker_command(configuration, args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def receive():
        for line in process.stdout:
            if line.startswith(step_protocol.PROTOCOL_PREFIX):
                message = json.loads(line[len(step_protocol.PROTOCOL_PREFIX):])
                if message["event"] == "error":
                    raise RuntimeError(f"{configuration}: {message['message']}")
                return message
        raise RuntimeError(f"{configuration}: the worker exited (status {process.wait()}); its error is above")

    def send(command):
        process.stdin.write(command + "\n")
        process.stdin.flush()

    try:
        ready = receive()
        samples = []
        for index in range(args.warmup + args.steps):
            send("step")
            sample = receive()
            if index >= args.warmup:
                samples.append(sample)
        send("finish")
        final = receive()
    finally:
        process.stdin.close()
        process.wait()
    ready.pop("event")
    ready.pop("pid")
    final.pop("event")
    return {**ready, **step_protocol.summarise(samples, args.batch), "warmup": args.warmup, **final}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authors-code", required=True, help="the CIFAR-SVHN-STL folder of github Wendy231015/MLAAN")
    parser.add_argument("--configurations", default=",".join(CONFIGURATIONS), help="comma-separated; default: all")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (their .cuda() calls become no-ops) or cuda [cpu]")
    parser.add_argument(
        "--out",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "results", "native-vs-pytorch-authors.json"),
    )
    parser.add_argument("--serve", metavar="CONFIGURATION", help="worker mode for one configuration (step_protocol.py)")
    args = parser.parse_args()

    require_torch()
    args.authors_code = find_authors_code(args.authors_code)
    if args.serve:
        if args.serve not in CONFIGURATIONS:
            raise SetupError(f"Unknown configuration '{args.serve}'. Known: {', '.join(CONFIGURATIONS)}.")
        step, finish, description = build(args.serve, args.authors_code, args.batch, args.threads, args.lr, args.seed, args.device)
        step_protocol.serve(step, description, finish)
        return

    configurations = [c for c in args.configurations.split(",") if c]
    unknown = [c for c in configurations if c not in CONFIGURATIONS]
    if unknown:
        raise SetupError(f"Unknown configuration(s) {', '.join(unknown)}. Known: {', '.join(CONFIGURATIONS)}.")
    results = []
    for configuration in configurations:
        result = drive(configuration, args)
        print(json.dumps(result), flush=True)
        results.append(result)
    import torch

    report = {
        "benchmark": "mlaan-authors-step-time",
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "authors_code": args.authors_code,
        "machine": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average": os.getloadavg(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "results": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(report, handle, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
