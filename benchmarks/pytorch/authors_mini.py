#!/usr/bin/env python3
"""The MLAAN authors' own networks trained on the `mini` protocol of mlaan-bench, for accuracy.

`benchmarks/mini/` trains our rows on a protocol a 2-core CPU can run (ResNet-32, 10,000
class-balanced CIFAR-10 training images, the full test set, 10 epochs, batch 128, lr 0.1 with
per-epoch cosine annealing, SGD Nesterov 0.9, weight decay 1e-4, reflect-pad-4 crop + flip). This
script trains one of the authors' networks on exactly that protocol, so that their number sits
beside ours:

  /usr/bin/python3 benchmarks/pytorch/authors_mini.py --authors-code /tmp/mlaan-authors/CIFAR-SVHN-STL \\
      --configuration mlaan-k8 --seed 0

Same as mlaan-bench's `mini` preset: the training subset (the first 10,000 images taken class by
class in turn, `balancedSubset` of @mlaan/data), the normalisation, the augmentation, the schedule
(epoch e, 0-based, trains at 0.05 (1 + cos(pi e / 10))), the optimizer and the batch order's rule
(a fresh shuffle each epoch, the last batch short). Not the same: the random draws (initial weights,
shuffles, crops) come from torch and numpy seeded with --seed, not from ours; and the networks are
the authors' files (authors_models.py lists them and how they differ from our rows).

Their train.py is not used: it needs torchvision and a GPU. The loop here is theirs in every step
that matters: `optimizer.zero_grad()`, `model(img, target, ixx_1, ixy_1, ixx_2, ixy_2)` (their
forward runs every local backward itself), `optimizer.step()`; evaluation in `model.eval()` with
their forward's evaluation branch.

After every epoch the run's state goes to <out>.checkpoint.pt; rerun the same command to continue
from it (it is deleted when the run ends). Writes one JSON file (--out) with every epoch's learning
rate, training loss, test error and test loss.
"""

import argparse
import json
import math
import os
import platform
import sys
import time

# No __pycache__ beside these scripts (nor in the authors' folder, which is only read).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from authors_models import (  # noqa: E402
    CIFAR10_MEAN,
    CIFAR10_STD,
    CONFIGURATIONS,
    SetupError,
    find_authors_code,
    load_model,
    require_torch,
)

REPOSITORY_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CIFAR10_RECORD_BYTES = 1 + 3 * 32 * 32
CLASSES = 10
# Broadcast over (N, 3, H, W) batches.
CIFAR10_MEAN_NCHW = [[[m]] for m in CIFAR10_MEAN]
CIFAR10_STD_NCHW = [[[s]] for s in CIFAR10_STD]


def read_cifar10(folder, files):
    """Images as uint8 (N, 3, 32, 32) and labels as int64, from the official binary files."""
    import numpy as np

    images, labels = [], []
    for name in files:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise SetupError(
                f"--data-dir: {path} is missing. Pass the folder that holds cifar10/cifar-10-batches-bin "
                "(the official CIFAR-10 binary version), as for mlaan-bench's --data-dir."
            )
        records = np.fromfile(path, dtype=np.uint8).reshape(-1, CIFAR10_RECORD_BYTES)
        labels.append(records[:, 0].astype(np.int64))
        images.append(records[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(images), np.concatenate(labels)


def balanced_subset(labels, limit):
    """The indices @mlaan/data's balancedSubset chooses: one of each class in turn, file order."""
    if limit >= len(labels):
        return list(range(len(labels)))
    by_class = [[i for i, label in enumerate(labels) if label == c] for c in range(CLASSES)]
    chosen = []
    round_index = 0
    while len(chosen) < limit:
        for c in range(CLASSES):
            if len(chosen) >= limit:
                break
            if round_index < len(by_class[c]):
                chosen.append(by_class[c][round_index])
        round_index += 1
    return sorted(chosen)


def normalise(images_uint8):
    import numpy as np

    return (images_uint8.astype(np.float32) / 255.0 - np.float32(CIFAR10_MEAN_NCHW)) / np.float32(CIFAR10_STD_NCHW)


def augment(images_uint8, generator, padding=4):
    """Reflect-pad (no edge repeat), a random 32x32 window, a horizontal flip with probability 1/2."""
    import numpy as np

    count = images_uint8.shape[0]
    padded = np.pad(images_uint8, ((0, 0), (0, 0), (padding, padding), (padding, padding)), mode="reflect")
    tops = generator.integers(0, 2 * padding + 1, size=count)
    lefts = generator.integers(0, 2 * padding + 1, size=count)
    flips = generator.random(count) < 0.5
    out = np.empty_like(images_uint8)
    for n in range(count):
        window = padded[n, :, tops[n]:tops[n] + 32, lefts[n]:lefts[n] + 32]
        out[n] = window[:, :, ::-1] if flips[n] else window
    return out


def cosine_annealing(lr, epoch, epochs):
    """mlaan-bench's `cosine-annealing`: epoch (0-based) e trains at lr/2 (1 + cos(pi e / E))."""
    return 0.5 * lr * (1 + math.cos(math.pi * epoch / epochs))


def evaluate(model, images, labels, batch):
    import torch

    model.eval()
    errors = 0
    loss_sum = 0.0
    with torch.no_grad():
        for start in range(0, len(labels), batch):
            x = torch.from_numpy(normalise(images[start:start + batch]))
            y = torch.from_numpy(labels[start:start + batch])
            logits, _ = model(img=x, target=y)
            errors += int((logits.argmax(dim=1) != y).sum())
            loss_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
    model.train()
    return 100.0 * errors / len(labels), loss_sum / len(labels)


def recorded_command():
    """The command line as run, with the machine's own path to the authors' code left out."""
    words = sys.argv[1:]
    for index, word in enumerate(words):
        if word == "--authors-code" and index + 1 < len(words):
            words[index + 1] = "<their CIFAR-SVHN-STL folder>"
        elif word.startswith("--authors-code="):
            words[index] = "--authors-code=<their CIFAR-SVHN-STL folder>"
    return " ".join(["/usr/bin/python3", os.path.relpath(os.path.abspath(__file__), REPOSITORY_ROOT)] + words)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authors-code", required=True, help="the CIFAR-SVHN-STL folder of github Wendy231015/MLAAN")
    parser.add_argument("--configuration", required=True, help=f"one of: {', '.join(CONFIGURATIONS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("MLAAN_DATA_DIR", os.path.join(REPOSITORY_ROOT, "..", "shared", "datasets")),
        help="the folder holding cifar10/cifar-10-batches-bin [$MLAAN_DATA_DIR, else ../shared/datasets]",
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-limit", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--eval-batch", type=int, default=500)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads [1: run one process per core]")
    parser.add_argument("--out", help="result JSON [benchmarks/mini/authors/<configuration>-s<seed>.json]")
    args = parser.parse_args()

    require_torch()
    if args.configuration not in CONFIGURATIONS:
        raise SetupError(f"--configuration {args.configuration}: unknown. Known: {', '.join(CONFIGURATIONS)}.")
    args.authors_code = find_authors_code(args.authors_code)
    out = args.out or os.path.join(REPOSITORY_ROOT, "benchmarks", "mini", "authors", f"{args.configuration}-s{args.seed}.json")
    checkpoint_path = out + ".checkpoint.pt"

    import numpy as np
    import torch

    folder = os.path.join(args.data_dir, "cifar10", "cifar-10-batches-bin")
    train_images, train_labels = read_cifar10(folder, [f"data_batch_{i}.bin" for i in range(1, 6)])
    test_images, test_labels = read_cifar10(folder, ["test_batch.bin"])
    keep = balanced_subset(train_labels.tolist(), args.train_limit)
    train_images, train_labels = train_images[keep], train_labels[keep]

    model, spec, _ = load_model(args.configuration, args.authors_code, args.batch, args.threads, args.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    generator = np.random.default_rng(args.seed)
    ixx_1, ixy_1, ixx_2, ixy_2 = spec["lambda"]
    epochs_done = []
    start_epoch = 0
    if os.path.isfile(checkpoint_path):
        state = torch.load(checkpoint_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.bit_generator.state = state["numpy_generator"]
        torch.set_rng_state(state["torch_generator"])
        epochs_done = state["epochs"]
        start_epoch = len(epochs_done)
        print(f"resuming at epoch {start_epoch + 1} from {checkpoint_path}", flush=True)

    load_start = os.getloadavg()
    run_start = time.time()
    batches = math.ceil(len(train_labels) / args.batch)
    for epoch in range(start_epoch, args.epochs):
        lr = cosine_annealing(args.lr, epoch, args.epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr
        epoch_start = time.time()
        order = generator.permutation(len(train_labels))
        loss_sum = 0.0
        for b in range(batches):
            index = order[b * args.batch:(b + 1) * args.batch]
            x = torch.from_numpy(normalise(augment(train_images[index], generator)))
            y = torch.from_numpy(train_labels[index])
            optimizer.zero_grad()
            _, loss = model(img=x, target=y, ixx_1=ixx_1, ixy_1=ixy_1, ixx_2=ixx_2, ixy_2=ixy_2)
            optimizer.step()
            loss_sum += float(loss)
        train_seconds = time.time() - epoch_start
        test_error, test_loss = evaluate(model, test_images, test_labels, args.eval_batch)
        epochs_done.append({
            "epoch": epoch + 1,
            "lr": lr,
            "train_loss_last_module": loss_sum / batches,
            "test_error": test_error,
            "test_loss": test_loss,
            "train_seconds": train_seconds,
            "images_per_second": len(train_labels) / train_seconds,
            "load_average": os.getloadavg()[0],
        })
        print(
            f"{args.configuration} seed {args.seed} · epoch {epoch + 1}/{args.epochs} · lr {lr:.4g} · "
            f"train loss {loss_sum / batches:.4f} · test error {test_error:.2f}% · "
            f"{len(train_labels) / train_seconds:.1f} img/s",
            flush=True,
        )
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        torch.save({
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "numpy_generator": generator.bit_generator.state,
            "torch_generator": torch.get_rng_state(),
            "epochs": epochs_done,
        }, checkpoint_path + ".tmp")
        os.replace(checkpoint_path + ".tmp", checkpoint_path)

    trained = sum(p.numel() for p in model.parameters() if p.grad is not None)
    report = {
        "benchmark": "mlaan-authors-mini",
        "command": recorded_command(),
        "configuration": args.configuration,
        "code": spec["file"],
        "arguments": spec["arguments"],
        "what": spec["what"],
        "seed": args.seed,
        "protocol": {
            "network": "ResNet-32 (the authors' file)",
            "train_images": len(train_labels),
            "test_images": len(test_labels),
            "epochs": args.epochs,
            "batch": args.batch,
            "lr": args.lr,
            "schedule": "cosine-annealing per epoch, no warm-up",
            "optimizer": "SGD, Nesterov momentum 0.9, weight decay 1e-4, over model.parameters()",
            "augmentation": "reflect-pad 4, random 32x32 crop, horizontal flip",
            "lambda": list(spec["lambda"]),
            "ema_momentum": spec["momentum"],
        },
        "trained_parameters": trained,
        "final_test_error": epochs_done[-1]["test_error"],
        "best_test_error": min(e["test_error"] for e in epochs_done),
        "epochs": epochs_done,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
            "wall_seconds_this_invocation": time.time() - run_start,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    with open(out, "w") as handle:
        json.dump(report, handle, indent=2)
    if os.path.isfile(checkpoint_path):
        os.remove(checkpoint_path)
    print(f"wrote {out}: test error {report['final_test_error']:.2f}% after epoch {args.epochs}", flush=True)


if __name__ == "__main__":
    main()
