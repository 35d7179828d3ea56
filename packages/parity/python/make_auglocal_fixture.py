#!/usr/bin/python3
"""Write an AugLocal parity fixture (kind `auglocal`) from the AugLocal authors' own PyTorch code.

Their repository (github ChenxiangMA/AugLocal, ICLR 2024) is imported at run time from
--authors-code (the folder holding `networks/resnet.py`); nothing of it is copied here and it runs
unchanged: its AugLocal model (`rule='AugLocal'`, auxiliary networks `unifSamp`) builds on the CPU
as it is. The model is built exactly as their `train.py` builds it: `local_module_num` is
`--K` minus `--depth` (`args.local_module_num - args.aux_net_depth`), the first K - depth - 1
layers are the local modules, `--pyramid` depths with `--pyramid-coefficient`.

What is written (the format of shared/golden/README.md, in the folder --out):
  weights.safetensors    the backbone (PyTorch names) and every auxiliary network as
                         `auglocal.<module>.independent.head.<k>.*` (their `head` Sequential's names),
                         after every BatchNorm (2d and 1d) was moved away from 1/0/0/1 (seeded);
  batch.safetensors      --batch synthetic images: pixels drawn uniformly in [0, 1] (seeded), then
                         normalised with the CIFAR-10 mean/std, and labels 0-9 (no dataset image:
                         the fixture is committed to the repository);
  expected.safetensors   one training step of their forward (every local loss and the final loss
                         back-propagated, no optimizer step): `logits`, `loss` (the final
                         cross-entropy), `grad.*` of the local modules, their auxiliary networks and
                         fc, `after.*` the running statistics of those after the step;
  expected-f64.safetensors  the same step in float64 (stored as float32): the verdict's truth;
  fixture.json           configuration, cut points, each module's auxiliary depth and the backbone
                         layers its network is built from, and `authors_architectures`: their
                         depth list and every auxiliary network's blocks (width, stride) and
                         BatchNorm1d for a grid of (network, K, depth, coefficient), built by their
                         constructor, which the parity runner checks this library's rule against.

The gradients of the last module's blocks (plain back-propagation of the final loss, which the
e2e fixture checks) are left out to keep the committed fixture small.

Run with the Python that has torch (Debian: apt-get install -y python3-torch):
  git --git-dir=<mirror of ChenxiangMA/AugLocal> archive HEAD | tar -x -C /tmp/auglocal-authors
  /usr/bin/python3 packages/parity/python/make_auglocal_fixture.py --authors-code /tmp/auglocal-authors \\
      --K 7 --depth 3 --pyramid-coefficient 1 --seed 0 --out packages/parity/fixtures/auglocal-resnet32-k7-d3
"""

import argparse
import hashlib
import json
import logging
import os
import re
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixture import (  # noqa: E402  (the shared safetensors, naming and precision helpers)
    CIFAR_MEAN,
    CIFAR_STD,
    LAYOUTS,
    FixtureGenerationError,
    backbone_entries,
    numpy_of,
    precision_report,
    state_entries,
    write_float64_expected,
    write_safetensors,
)

NET_FILES = ["resnet.py", "auxiliary_nets.py", "configs.py", "losses.py"]

# The grid of architectures recorded from their constructor: (network, modules K - depth, depth, coefficient).
ARCHITECTURE_GRID = (
    [("resnet32", modules, depth, coefficient) for modules in range(3, 16) for depth in (1, 2, 3, 5) for coefficient in (0.5, 1.0)]
    + [("resnet32", modules, depth, 0.0) for modules in (4, 14) for depth in (2, 3)]
    + [("resnet110", modules, 3, 0.5) for modules in (4, 16, 32, 52)]
)


def import_authors_resnet(authors_code):
    root = os.path.abspath(authors_code)
    if not os.path.isfile(os.path.join(root, "networks", "resnet.py")) or not os.path.isfile(os.path.join(root, "networks", "auxiliary_nets.py")):
        raise FixtureGenerationError(
            f"{root}/networks/resnet.py not found: --authors-code must be the root of github ChenxiangMA/AugLocal "
            "(e.g. `git --git-dir=<mirror> archive HEAD | tar -x -C /tmp/auglocal-authors`, then --authors-code /tmp/auglocal-authors)."
        )
    sys.path.insert(0, root)
    module = __import__("networks.resnet", fromlist=["resnet"])
    digest = hashlib.sha256()
    for name in NET_FILES:
        with open(os.path.join(root, "networks", name), "rb") as f:
            digest.update(f.read())
    return module, digest.hexdigest()[:12]


def build_model(networks, net, modules, depth, coefficient, batch):
    """Their LocalResNet as train.py builds it for `--rule AugLocal --pyramid` (modules = K - depth)."""
    constructor = getattr(networks, net)
    return constructor(
        local_module_num=modules, batch_size=batch, image_size=32, dataset="cifar10", class_num=10,
        wide_list=(16, 16, 32, 64), dropout_rate=0, aux_net_config="unifSamp", rule="AugLocal",
        aux_net_depth=depth, is_pyramid=True, paramid_coeff=coefficient,
    )


def auxiliary_networks(model):
    """(module index, (stage, layer), their AuxNetwork) for every local module, in order."""
    return [(i, (int(stage), int(layer)), getattr(model, f"aux_classifier_{stage}_{layer}")) for i, (stage, layer, _) in enumerate(model.net_config)]


def describe_auxiliary(aux):
    """[[output channels, stride], ...] of its residual blocks and whether a BatchNorm1d precedes the Linear."""
    blocks = [[int(m.conv1.out_channels), int(m.conv1.stride[0])] for m in aux.head if isinstance(m, nn.Module) and hasattr(m, "conv1")]
    return blocks, any(isinstance(m, nn.BatchNorm1d) for m in aux.head)


def record_architectures(networks):
    table = []
    for net, modules, depth, coefficient in ARCHITECTURE_GRID:
        try:
            model = build_model(networks, net, modules, depth, coefficient, 2)
        except (ZeroDivisionError, AssertionError, IndexError, KeyError) as error:
            table.append({"net": net, "modules": modules, "depth": depth, "coefficient": coefficient, "error": type(error).__name__})
            continue
        entries = []
        for i, (stage, layer), aux in auxiliary_networks(model):
            blocks, batch_norm = describe_auxiliary(aux)
            entries.append({"cut": [stage, layer], "depth": int(model.aux_depth_list[i]), "blocks": blocks, "batch_norm": batch_norm})
        table.append({"net": net, "modules": modules, "depth": depth, "coefficient": coefficient, "auxiliary": entries})
    return table


def compact_json(value):
    """Indented JSON with lists of numbers (shapes, [width, stride] pairs) on one line each."""
    text = json.dumps(value, indent=1)
    return re.sub(r"\[\s*(-?[\d.]+(?:,\s*-?[\d.]+)*)\s*\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)


def perturb_batch_norms(model, generator):
    """Move every BatchNorm (2d and 1d: affine and running statistics) away from 1/0/0/1."""

    def uniform(tensor, low, high):
        return torch.rand(tensor.shape, generator=generator) * (high - low) + low

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
                module.weight.copy_(uniform(module.weight, 0.8, 1.2))
                module.bias.copy_(uniform(module.bias, -0.15, 0.15))
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.15)
                module.running_var.copy_(uniform(module.running_var, 1.0, 1.25))


def synthetic_batch(count, seed):
    generator = np.random.default_rng(seed)
    pixels = generator.random((count, 3, 32, 32), dtype=np.float32)
    mean = np.array(CIFAR_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(CIFAR_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    images = ((pixels - mean) / std).astype(np.float32)
    labels = (np.arange(count) % 10).astype(np.int32)
    generator.shuffle(labels)
    return images, labels


def run_step(args, networks, images, labels, weights, dtype):
    """Build their model (seeded), set its state (perturbed, or `weights`), run their training
    forward once (it back-propagates every local loss itself, then the final loss) and return
    (weights, expected, module cut points)."""
    torch.manual_seed(args.seed)
    modules = args.K - args.depth
    model = build_model(networks, args.net, modules, args.depth, args.pyramid_coefficient, args.batch)
    model.train()
    auxiliaries = auxiliary_networks(model)
    entries = backbone_entries(model, model.fc)
    for i, _, aux in auxiliaries:
        entries += state_entries(f"auglocal.{i}.independent.", aux)
    if weights is None:
        perturb_batch_norms(model, torch.Generator().manual_seed(1_000_003 * (args.seed + 1)))
    else:
        with torch.no_grad():
            for name, tensor in entries:
                tensor.copy_(torch.from_numpy(weights[name].copy()))
    written = [(name, numpy_of(tensor)) for name, tensor in entries]
    if dtype != torch.float32:
        model.to(dtype)

    logits, loss, *_ = model(img=torch.from_numpy(images.copy()).to(dtype), target=torch.from_numpy(labels.astype(np.int64)), ixx_1=0, ixy_1=1, ixx_2=0, ixy_2=1)

    # The local modules are layers 0 .. modules-2; their parameters are those of the blocks the cut points name.
    cuts = [[stage, layer] for _, (stage, layer), _ in auxiliaries]
    local_prefixes = tuple(("conv1.", "bn1.") if stage == 0 else (f"layer{stage}.{layer}.",) for stage, layer in cuts)
    local_prefixes = tuple(p for group in local_prefixes for p in group)
    gradients = []
    # Looked up after the step: model.to(float64) replaces parameter data but keeps the modules.
    named = backbone_entries(model, model.fc) + [e for i, _, aux in auxiliaries for e in state_entries(f"auglocal.{i}.independent.", aux)]
    checked = [(name, tensor) for name, tensor in named if name.startswith(local_prefixes + ("fc.", "auglocal."))]
    for name, tensor in checked:
        if not isinstance(tensor, nn.Parameter):
            continue
        if tensor.grad is None:
            raise FixtureGenerationError(f"{name} received no gradient in their step")
        gradients.append(("grad." + name, numpy_of(tensor.grad)))
    after = [("after." + name, numpy_of(tensor)) for name, tensor in checked if "running_" in name]
    expected = [("logits", numpy_of(logits)), ("loss", np.array([float(loss)], dtype=np.float32))] + gradients + after
    return written, expected, model, auxiliaries


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authors-code", required=True, help="the root of github ChenxiangMA/AugLocal (holds networks/resnet.py)")
    parser.add_argument("--net", default="resnet32", choices=["resnet32", "resnet110"])
    parser.add_argument("--K", type=int, required=True, help="train.py's --local_module_num; their model has K - depth modules")
    parser.add_argument("--depth", type=int, required=True, help="--aux_net_depth")
    parser.add_argument("--pyramid-coefficient", type=float, default=0.5, help="--pyramid_coeff (with --pyramid)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.disable(logging.CRITICAL)  # their constructor logs its configuration

    networks, digest = import_authors_resnet(args.authors_code)
    images, labels = synthetic_batch(args.batch, args.seed)
    weights, expected, model, auxiliaries = run_step(args, networks, images, labels, None, torch.float32)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "weights.safetensors"), weights)
    write_safetensors(os.path.join(out, "batch.safetensors"), [("images", images), ("labels", labels)])
    write_safetensors(os.path.join(out, "expected.safetensors"), expected)
    _, reference, _, _ = run_step(args, networks, images, labels, dict(weights), torch.float64)
    write_float64_expected(out, reference)

    modules = args.K - args.depth
    fixture = {
        "kind": "auglocal",
        "net": args.net,
        "seed": args.seed,
        "batch": args.batch,
        "layouts": LAYOUTS,
        "source": (
            f"github ChenxiangMA/AugLocal, networks/ (resnet.py, auxiliary_nets.py), unchanged, run on the CPU (torch {torch.__version__.split('+')[0]}); "
            f"written by packages/parity/python/make_auglocal_fixture.py, network files sha256 {digest}"
        ),
        "images": "synthetic: uniform [0, 1] pixels (numpy default_rng(seed)), normalised with the CIFAR-10 mean/std",
        "train_arguments": f"--model resnet --layers {args.net[6:]} --rule AugLocal --local_module_num {args.K} --aux_net_depth {args.depth} --pyramid --pyramid_coeff {args.pyramid_coefficient:g}",
        "K": modules,
        "depth": args.depth,
        "pyramid_coefficient": args.pyramid_coefficient,
        "cut_points": [list(cut) for _, cut, _ in auxiliaries],
        "auxiliary": [
            {"module": i, "depth": int(model.aux_depth_list[i]), "blocks": describe_auxiliary(aux)[0], "batch_norm": describe_auxiliary(aux)[1]}
            for i, _, aux in auxiliaries
        ],
        "notes": (
            f"One AugLocal training step without the optimizer, their forward with ixy = 1, ixx = 0 (train.py's defaults): each of the "
            f"{modules - 1} one-layer local modules back-propagates the cross-entropy of its auxiliary network, the last module (the "
            "remaining layers) the cross-entropy of fc. grad.* = the gradients of the local modules, of their auxiliary networks and "
            "of fc (the last module's blocks are left out: plain back-propagation, checked by e2e-resnet32). loss = the final "
            "cross-entropy; logits = fc's. after.* = the running statistics of the local modules and auxiliary networks after the step "
            "(momentum 0.1, unbiased variance)."
        ),
        "weights": {name: list(array.shape) for name, array in weights},
        "expected": {name: list(array.shape) for name, array in expected},
        "authors_architectures": record_architectures(networks),
    }
    with open(os.path.join(out, "fixture.json"), "w") as f:
        f.write(compact_json(fixture) + "\n")
    print(f"wrote {out}: {len(weights)} weights, {len(expected)} expected tensors, loss {float(expected[1][1][0]):.6f}")
    precision_report(reference, expected)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FixtureGenerationError as error:
        print(f"make_auglocal_fixture.py: {error}", file=sys.stderr)
        sys.exit(2)
