#!/usr/bin/python3
"""Write a parity fixture (the format of shared/golden/README.md) from the authors' own PyTorch code.

The MLAAN authors' repository (github Wendy231015/MLAAN) is imported at run time from
--authors-code; nothing of it is copied here. One training step of their model runs on the CPU
(their `.cuda()` calls are made no-ops), on real CIFAR-10 test images, after every BatchNorm,
leap copy and EMA twin has been moved away from its initial value (seeded), so that a wrong name
mapping or a wrong formula on our side cannot pass by accident.

Kinds:
  mlaan-reference  networks/resnetMLAAN.py: cut points from config2.py, leap lists from
                   configAuxPlus_new.py (their code supports K = 8 and 15 for resnet32, 32 and 54
                   for resnet110; any other K fails inside their constructor).
  infopro          networks/resnetInfoPro.py: cut points from configs.py (resnet32: K = 2, 3, 4,
                   8, 16), contrastive or cross-entropy local task loss, λ = (ixx_1, ixy_1,
                   ixx_2, ixy_2).
  e2e              networks/resnetInfoPro.py with K = 1 (plain back-propagation), plus an
                   eval-mode forward and the BatchNorm running statistics after the step.

Checks:
  --compare-with DIR   after writing, compare fixture.json key set, tensor names, shapes and
                       dtypes (and the safetensors headers) with an existing fixture, e.g. a
                       golden one; exit 1 on any difference.
  --weights-from DIR   use that fixture's weights.safetensors instead of fresh perturbed ones; with
                       --compare-with on the same folder this re-derives its expected tensors and
                       reports the largest relative difference: the proof that this generator runs
                       the same computation with the same name mapping as the one that made DIR.
  --batch-from DIR     take that fixture's images too (the golden images differ from a fresh
                       normalisation by one float32 ulp, enough to flip ReLU ties).
  --float64            also write expected-f64.safetensors: the same step on the same weights and
                       images in float64 (stored as float32), the exact-arithmetic answer that
                       `mlaan-parity` measures both float32 implementations against.
  --float64-check      re-run the step in float64 from the written weights and list the tensors on
                       which the float32 fixture itself is only tie-accurate (~1e-2).

Run with the Python that has torch (here the Debian one):
  /usr/bin/python3 make_fixture.py --authors-code /tmp/mlaan-authors/CIFAR-SVHN-STL \\
      --kind mlaan-reference --K 8 --seed 1 --data-dir .../cifar-10-batches-bin --out /tmp/fixtures/x
"""

import argparse
import hashlib
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

CIFAR_MEAN = [x / 255.0 for x in [125.3, 123.0, 113.9]]
CIFAR_STD = [x / 255.0 for x in [63.0, 62.1, 66.7]]
LAYOUTS = "PyTorch: conv OIHW, linear [out, in], images NCHW normalised with the CIFAR mean/std"
NET_FILES = {
    "mlaan-reference": ["resnetMLAAN.py", "config2.py", "configAuxPlus_new.py", "auxMLAAN.py"],
    "infopro": ["resnetInfoPro.py", "configs.py", "auxiliary_nets.py", "losses.py"],
    "e2e": ["resnetInfoPro.py", "configs.py", "auxiliary_nets.py", "losses.py"],
}


class FixtureGenerationError(Exception):
    """A problem with the inputs; the message says what to change."""


# ---------------------------------------------------------------- safetensors (no dependency)

_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.int64): "I64"}
_NUMPY = {"F32": np.float32, "I32": np.int32, "I64": np.int64}


def write_safetensors(path, tensors):
    """tensors: list of (name, numpy array) in the order wanted in the file."""
    header, blobs, offset = {}, [], 0
    for name, array in tensors:
        array = np.ascontiguousarray(array)
        if array.dtype not in _DTYPES:
            raise FixtureGenerationError(f"{name}: dtype {array.dtype} is not one of float32/int32/int64")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # The data section should start 8-byte aligned; the format allows trailing spaces in the header.
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path, with_data=True):
    with open(path, "rb") as f:
        raw = f.read()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + length])
    header.pop("__metadata__", None)
    if not with_data:
        return header
    out = {}
    for name, entry in header.items():
        start, end = entry["data_offsets"]
        out[name] = np.frombuffer(raw[8 + length + start : 8 + length + end], dtype=_NUMPY[entry["dtype"]]).reshape(entry["shape"])
    return out


# ---------------------------------------------------------------- inputs


def import_authors_networks(authors_code, kind):
    """Import networks.<file> from the authors' CIFAR-SVHN-STL folder, CPU only."""
    root = os.path.abspath(authors_code)
    if os.path.basename(root) == "networks":
        root = os.path.dirname(root)
    module_name = "resnetMLAAN" if kind == "mlaan-reference" else "resnetInfoPro"
    if not os.path.isfile(os.path.join(root, "networks", module_name + ".py")):
        raise FixtureGenerationError(
            f"{root}/networks/{module_name}.py not found: --authors-code must be the CIFAR-SVHN-STL folder of "
            "github Wendy231015/MLAAN (e.g. `git --git-dir=<mirror> archive HEAD | tar -x -C /tmp/mlaan-authors`, "
            "then --authors-code /tmp/mlaan-authors/CIFAR-SVHN-STL)."
        )
    # Their constructors move masks and sub-networks to the GPU; on this CPU-only run that is the identity.
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    nn.Module.cuda = lambda self, *args, **kwargs: self
    sys.path.insert(0, root)
    module = __import__("networks." + module_name, fromlist=[module_name])
    digest = hashlib.sha256()
    for name in NET_FILES[kind]:
        with open(os.path.join(root, "networks", name), "rb") as f:
            digest.update(f.read())
    return module, digest.hexdigest()[:12]


def load_cifar_test_batch(data_dir, first, count):
    path = os.path.join(data_dir, "test_batch.bin")
    if not os.path.isfile(path):
        raise FixtureGenerationError(f"{path} not found: --data-dir must be the folder cifar-10-batches-bin of the binary CIFAR-10 release.")
    record = 1 + 3 * 32 * 32
    with open(path, "rb") as f:
        f.seek(first * record)
        raw = f.read(count * record)
    if len(raw) != count * record:
        raise FixtureGenerationError(f"test_batch.bin has fewer than {first + count} images: lower --first-test-image or --batch.")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(count, record)
    labels = rows[:, 0].astype(np.int32)
    pixels = rows[:, 1:].reshape(count, 3, 32, 32).astype(np.float32) / np.float32(255.0)
    mean = np.array(CIFAR_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(CIFAR_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    images = ((pixels - mean) / std).astype(np.float32)
    return images, labels


# ---------------------------------------------------------------- perturbation


def perturb(model, generator, noisy_copies):
    """Move every BatchNorm (affine and running statistics) away from 1/0/0/1, and add noise to the
    convolutions of every leap copy / EMA twin, so that no copy equals the block it was copied from."""

    def uniform(tensor, low, high):
        return torch.rand(tensor.shape, generator=generator) * (high - low) + low

    with torch.no_grad():
        for module in noisy_copies:
            for sub in module.modules():
                if isinstance(sub, nn.Conv2d):
                    w = sub.weight
                    w.add_(torch.randn(w.shape, generator=generator) * (0.5 * float(w.std())))
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(uniform(module.weight, 0.8, 1.2))
                module.bias.copy_(uniform(module.bias, -0.15, 0.15))
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.15)
                module.running_var.copy_(uniform(module.running_var, 1.0, 1.25))


# ---------------------------------------------------------------- naming


def state_entries(prefix, module):
    """(name, tensor) of a module's parameters and running statistics, in PyTorch's order."""
    return [(prefix + name, tensor) for name, tensor in module.state_dict(keep_vars=True).items() if not name.endswith("num_batches_tracked")]


def backbone_entries(model, classifier):
    entries = []
    for prefix in ["conv1", "bn1", "layer1", "layer2", "layer3"]:
        entries += state_entries(prefix + ".", getattr(model, prefix))
    return entries + state_entries("fc.", classifier)


def numpy_of(tensor):
    """float32 copy (float64 stays float64: the precision report's reference run)."""
    array = tensor.detach().cpu().numpy()
    return array.astype(np.float64 if array.dtype == np.float64 else np.float32, copy=True)


def load_weights_into(entries, path):
    stored = read_safetensors(path)
    names = [name for name, _ in entries]
    missing = [n for n in names if n not in stored]
    unused = [n for n in stored if n not in set(names)]
    if missing or unused:
        raise FixtureGenerationError(f"--weights-from {path}: missing {missing[:5]}, unused {unused[:5]} (is it the same kind, net and K?)")
    with torch.no_grad():
        for name, tensor in entries:
            tensor.copy_(torch.from_numpy(stored[name].copy()))


# ---------------------------------------------------------------- kinds


def lam_layout(module):
    return [list(map(int, entry)) for entry in module]


def build_mlaan(args, networks):
    constructor = getattr(networks, args.net)
    model = constructor(
        local_module_num=args.K, batch_size=args.batch, dataset="cifar10", class_num=10,
        momentum=args.ema_decay, wx=args.wx, wy=args.wy,
    )
    K = args.K
    cuts = [list(map(int, c)) for c in model.infopro_config]
    if len(model.Encoder_Net) != K:
        raise FixtureGenerationError(f"their config for K={K} builds {len(model.Encoder_Net)} modules")
    # Their loop trains modules 1..K-2 with (independent, cascade) heads and leap network i; leap
    # network 0 and the heads of module 0 are built but never used, module K-1 uses fc64.
    used = range(1, K - 1)
    entries = backbone_entries(model, model.fc64)
    head_entries, lam_block_entries, ema_entries = {}, {}, {}
    for i in used:
        stage, layer = cuts[i]
        head_entries[i] = (
            state_entries(f"independent_head.{i}.", getattr(model, f"net_classifier_{stage}_{layer}")),
            state_entries(f"cascade_head.{i}.", getattr(model, f"aux_classifier_{stage}_{layer}_{i}")),
        )
        lam_block_entries[i] = [state_entries(f"lam.{i}.blocks.{j}.", block) for j, block in enumerate(model.Aug_Net[i])]
        ema_entries[i] = state_entries(f"lam.{i}.ema.", model.EMA_Net[i][0])
        entries += head_entries[i][0] + head_entries[i][1] + sum(lam_block_entries[i], []) + ema_entries[i]
    config = {
        "K": K,
        "cut_points": cuts,
        "leap_blocks": {str(i): lam_layout(model.aux_config[i]) for i in used},
        "wx": args.wx,
        "wy": args.wy,
        "ema_decay": args.ema_decay,
        # Their cascade: y passes through module i-1 and module i (window 2) before each loss.
        "cascade_window": 2,
        "notes": (
            "One training step of resnetMLAAN.py (the reference profile) without the optimizer: grad.* = gradients "
            "accumulated over all local losses; loss = the final cascaded CE; logits = fc(cascade output). "
            "after.lam.<K-2>.ema.* = the last EMA twin after its update (the reference updates only that one). "
            "lam.<i>.blocks.<j>.* = leap block j of module i (block 0 is paired with lam.<i>.ema.*). Heads: GAP + Linear."
        ),
    }
    noisy = list(model.Aug_Net) + list(model.EMA_Net)
    grouped_gradient_names = (
        [n for i in used for n, _ in head_entries[i][1]]
        + [n for i in used for n, _ in head_entries[i][0]]
        + [n for i in used for block in lam_block_entries[i] for n, _ in block]
    )

    def step(images, labels):
        logits, loss = model(img=images, target=labels)
        after = [("after." + n, numpy_of(t)) for n, t in ema_entries[K - 2] if "running_" not in n]
        return logits, loss, after, []

    return model, entries, noisy, grouped_gradient_names, step, config


def build_infopro(args, networks, kind):
    constructor = getattr(networks, args.net)
    K = 1 if kind == "e2e" else args.K
    model = constructor(
        local_module_num=K, batch_size=args.batch, dataset="cifar10", class_num=10,
        aux_net_config="1c2f", local_loss_mode=args.task_loss, aux_net_widen=1, aux_net_feature_dim=128,
    )
    cuts = [list(map(int, c)) for c in model.infopro_config]
    entries = backbone_entries(model, model.fc)
    grouped = []
    for m, (stage, layer) in enumerate(cuts):
        decoder = state_entries(f"infopro.{m}.decoder.", getattr(model, f"decoder_{stage}_{layer}"))
        aux = state_entries(f"infopro.{m}.aux.", getattr(model, f"aux_classifier_{stage}_{layer}"))
        entries += decoder + aux
        grouped += [n for n, _ in decoder + aux]
    lam = [float(x) for x in args.lam]
    if kind == "e2e":
        config = {
            "notes": (
                "One training-mode forward of the plain backbone, CE loss, backward. grad.* = gradients; after.* = BN running "
                "stats after that forward (momentum 0.1, unbiased variance); eval_logits = eval-mode forward with the running "
                "stats from weights.safetensors."
            )
        }
    else:
        config = {
            "K": K,
            "cut_points": cuts,
            "lambda": [int(x) if x.is_integer() else x for x in lam],
            "task_loss": "contrast (SupCon, temperature 0.07, 128-d)" if args.task_loss == "contrast" else "cross_entropy (1c2f head, 10 outputs)",
            "decoder_target": "x*std+mean in [0,1]",
            "notes": (
                "One InfoPro training step without the optimizer: every local loss back-propagated into its own module and "
                "heads, last module plain CE. grad.* = the accumulated gradients. loss = the last module CE. "
                "infopro.<module>.decoder.* / .aux.* keep the reference inner names."
            ),
        }

    def step(images, labels):
        eval_logits = []
        if kind == "e2e":
            model.eval()
            with torch.no_grad():
                eval_logits = [("eval_logits", numpy_of(model(img=images, target=labels)[0]))]
            model.train()
        logits, loss = model(img=images, target=labels, ixx_1=lam[0], ixy_1=lam[1], ixx_2=lam[2], ixy_2=lam[3])
        # Looked up after the step: model.to(float64) replaces buffer tensors (parameters keep identity).
        after = [("after." + n, numpy_of(t)) for n, t in backbone_entries(model, model.fc) if "running_" in n] if kind == "e2e" else []
        return logits, loss, after, eval_logits

    return model, entries, [], grouped, step, config


# ---------------------------------------------------------------- one step


def relative_error(value, truth, scale):
    """parity's measure: max |difference| / max |truth|, where a truth below 1e-6 of the fixture's
    scale (largest |value| of all expected tensors) is rounding noise and is measured at that scale
    (a conv bias right before a training-mode BatchNorm has an exactly zero gradient)."""
    largest = float(np.abs(truth).max()) if truth.size else 0.0
    normaliser = largest if largest > 1e-6 * scale else scale
    difference = float(np.abs(value.astype(np.float64) - truth.astype(np.float64)).max()) if truth.size else 0.0
    return difference / normaliser if normaliser > 0 else difference


def run_step(args, networks, images, labels, weights_path, dtype):
    """Build the authors' model (seeded), set its state (perturbed, or loaded from weights_path),
    run their training forward once (it calls backward itself) and return (weights, expected,
    fixture config), each tensor list in the golden order."""
    torch.manual_seed(args.seed)
    try:
        if args.kind == "mlaan-reference":
            model, entries, noisy, grouped, step, extra = build_mlaan(args, networks)
        else:
            model, entries, noisy, grouped, step, extra = build_infopro(args, networks, args.kind)
    except (TypeError, NotImplementedError, KeyError) as error:
        raise FixtureGenerationError(
            f"the authors' {args.net} does not build with local_module_num={args.K} for kind {args.kind} "
            f"({type(error).__name__}: {error}). Their configs support: mlaan-reference resnet32 K=8, 15; resnet110 K=32, 54; "
            "infopro resnet32 K=2, 3, 4, 8, 16; resnet110 K=2, 3, 4, 8, 16, 32, 54."
        ) from error
    model.train()
    if weights_path:
        load_weights_into(entries, weights_path)
    elif not args.no_perturb:
        perturb(model, torch.Generator().manual_seed(1_000_003 * (args.seed + 1)), noisy)
    weights = [(name, numpy_of(tensor)) for name, tensor in entries]
    if dtype != torch.float32:
        model.to(dtype)

    logits, loss, after, eval_logits = step(torch.from_numpy(images.copy()).to(dtype), torch.from_numpy(labels.astype(np.int64)))

    parameters = {name: tensor for name, tensor in entries if isinstance(tensor, nn.Parameter)}
    backbone_names = [n for n, _ in backbone_entries(model, model.fc64 if args.kind == "mlaan-reference" else model.fc)]
    gradients, missing = [], []
    for name in [n for n in backbone_names if n in parameters] + grouped:
        tensor = parameters.get(name)
        if tensor is None:
            continue
        if tensor.grad is None:
            missing.append(name)
            continue
        gradients.append(("grad." + name, numpy_of(tensor.grad)))
    if missing:
        print(f"note: {len(missing)} exported parameters received no gradient: {missing[:6]}", file=sys.stderr)
    expected = eval_logits + [("logits", numpy_of(logits)), ("loss", np.array([float(loss)], dtype=np.float32))] + gradients + after
    return weights, expected, extra


def float64_step(args, networks, images, labels, out):
    """The same step in float64 from the written weights and the same images: [(name, float64 array)]
    in the order of expected.safetensors."""
    _, reference, _ = run_step(args, networks, images, labels, os.path.join(out, "weights.safetensors"), torch.float64)
    return reference


def write_float64_expected(out, reference):
    """expected-f64.safetensors: the float64 step rounded once to float32 (the format holds float32)."""
    write_safetensors(os.path.join(out, "expected-f64.safetensors"), [(name, value.astype(np.float32)) for name, value in reference])


def precision_report(reference, expected, tolerance=1e-4):
    """Print the rows where the float32 fixture differs from the float64 step by more than
    `tolerance` (parity's measure): those rows are only as exact as float32 rounding at ReLU inputs
    near zero (ties) allows, whatever implementation is compared with them."""
    reference = dict(reference)
    scale = max(float(np.abs(t).max()) for t in reference.values() if t.size)
    rows = [(relative_error(value, reference[name], scale), name) for name, value in expected]
    rows.sort(reverse=True)
    over = [r for r in rows if r[0] > tolerance]
    print(f"float32 vs float64 (same weights and images): {len(over)} of {len(rows)} tensors differ by more than {tolerance:g}")
    for error, name in rows[:8]:
        print(f"  {name}  {error:.2e}")
    return over


# ---------------------------------------------------------------- comparison


def compare_fixtures(ours, theirs, values):
    """Return a list of differences between two fixture folders (schema; values when asked)."""
    problems = []
    a = json.load(open(os.path.join(ours, "fixture.json")))
    b = json.load(open(os.path.join(theirs, "fixture.json")))
    if list(a) != list(b):
        problems.append(f"fixture.json keys differ: ours {list(a)} vs {list(b)}")
    for key in ["kind", "net", "batch", "K", "cut_points", "leap_blocks", "lambda", "wx", "wy", "ema_decay", "cascade_window", "layouts", "task_loss", "decoder_target"]:
        if key in b and a.get(key) != b[key]:
            problems.append(f"fixture.json {key}: ours {a.get(key)!r} vs {b[key]!r}")
    for section in ["weights", "expected"]:
        if list(a.get(section, {})) != list(b.get(section, {})):
            only_a = [n for n in a.get(section, {}) if n not in b.get(section, {})]
            only_b = [n for n in b.get(section, {}) if n not in a.get(section, {})]
            problems.append(f"{section} names/order differ: only ours {only_a[:8]}, only theirs {only_b[:8]}")
        for name, shape in b.get(section, {}).items():
            if name in a.get(section, {}) and a[section][name] != shape:
                problems.append(f"{section} {name}: shape {a[section][name]} vs {shape}")
    for file in ["weights", "batch", "expected"]:
        ha = read_safetensors(os.path.join(ours, file + ".safetensors"), with_data=False)
        hb = read_safetensors(os.path.join(theirs, file + ".safetensors"), with_data=False)
        if {k: (v["dtype"], v["shape"]) for k, v in ha.items()} != {k: (v["dtype"], v["shape"]) for k, v in hb.items()}:
            problems.append(f"{file}.safetensors headers differ (names, dtypes or shapes)")
        if file != "batch" and list(ha) != list(a[file if file == "weights" else "expected"]):
            problems.append(f"{file}.safetensors order differs from fixture.json")
    report = []
    if values:
        for file in ["batch", "expected"] if values == "all" else ["batch"]:
            ta = read_safetensors(os.path.join(ours, file + ".safetensors"))
            tb = read_safetensors(os.path.join(theirs, file + ".safetensors"))
            worst = (0.0, None)
            scale = max(float(np.abs(t).max()) for t in tb.values() if t.size)
            for name, x in tb.items():
                if name not in ta:
                    continue
                error = relative_error(ta[name], x, scale)
                report.append((file, name, error))
                if error > worst[0]:
                    worst = (error, name)
            print(f"compare {file}: worst relative difference {worst[0]:.2e} ({worst[1]})")
    return problems, report


# ---------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authors-code", required=True, help="the CIFAR-SVHN-STL folder of github Wendy231015/MLAAN")
    parser.add_argument("--kind", required=True, choices=["mlaan-reference", "infopro", "e2e"])
    parser.add_argument("--net", default="resnet32", choices=["resnet32", "resnet110"])
    parser.add_argument("--K", type=int, default=None, help="local modules (their configs: MLAAN 8/15 on resnet32; InfoPro 2/3/4/8/16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--first-test-image", type=int, default=0)
    parser.add_argument("--data-dir", help="cifar-10-batches-bin (binary CIFAR-10)")
    parser.add_argument("--out", required=True, help="folder to write; created if needed (never inside the repository: it holds CIFAR images)")
    parser.add_argument("--lambda", dest="lam", type=float, nargs=4, default=[6, 0, 1, 2], metavar=("IXX_1", "IXY_1", "IXX_2", "IXY_2"))
    parser.add_argument("--task-loss", default="contrast", choices=["contrast", "cross_entropy"], help="InfoPro local task loss")
    parser.add_argument("--ema-decay", type=float, default=0.995, help="resnetMLAAN `momentum` (their run script: 0.995-0.999)")
    parser.add_argument("--wx", type=float, default=0.001)
    parser.add_argument("--wy", type=float, default=0.999)
    parser.add_argument("--no-perturb", action="store_true", help="keep the authors' initial values (BN 1/0/0/1, copies equal)")
    parser.add_argument("--weights-from", help="use this fixture folder's weights.safetensors instead of fresh ones")
    parser.add_argument("--batch-from", help="use this fixture folder's batch.safetensors instead of reading --data-dir (for re-deriving a fixture bit for bit)")
    parser.add_argument("--compare-with", help="fixture folder to compare schema (and, with --weights-from, values) against")
    parser.add_argument("--float64", action="store_true", help="also write expected-f64.safetensors, the same step in float64")
    parser.add_argument("--float64-check", action="store_true", help="re-run the step in float64 and report the tensors the float32 fixture is tie-sensitive on")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    if not args.data_dir and not args.batch_from:
        parser.error("--data-dir is required (or --batch-from)")
    if args.kind != "e2e" and args.K is None:
        parser.error("--K is required for mlaan-reference and infopro")
    torch.set_num_threads(args.threads)
    out = os.path.abspath(args.out)
    repository = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    if out == repository or out.startswith(repository + os.sep):
        raise FixtureGenerationError(f"--out {out} is inside the repository; fixtures hold CIFAR-10 images and must not be committed. Use e.g. /tmp/fixtures/<name>.")

    networks, digest = import_authors_networks(args.authors_code, args.kind)
    if args.batch_from:
        stored = read_safetensors(os.path.join(args.batch_from, "batch.safetensors"))
        images, labels = stored["images"].copy(), stored["labels"].copy()
        if images.shape[0] != args.batch:
            raise FixtureGenerationError(f"--batch-from holds {images.shape[0]} images but --batch is {args.batch}")
    else:
        images, labels = load_cifar_test_batch(args.data_dir, args.first_test_image, args.batch)
    weights_path = os.path.join(args.weights_from, "weights.safetensors") if args.weights_from else None
    weights, expected, extra = run_step(args, networks, images, labels, weights_path, torch.float32)
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "weights.safetensors"), weights)
    write_safetensors(os.path.join(out, "batch.safetensors"), [("images", images), ("labels", labels)])
    write_safetensors(os.path.join(out, "expected.safetensors"), expected)
    fixture = {
        "kind": args.kind,
        "net": args.net,
        "seed": args.seed,
        "first_test_image": args.first_test_image,
        "batch": args.batch,
        "layouts": LAYOUTS,
        "source": (
            f"github Wendy231015/MLAAN, CIFAR-SVHN-STL/networks, run on the CPU (torch {torch.__version__.split('+')[0]}); "
            f"written by packages/parity/python/make_fixture.py, network files sha256 {digest}"
            + (f", weights from {os.path.abspath(args.weights_from)}" if args.weights_from else "")
            + (f", batch from {os.path.abspath(args.batch_from)}" if args.batch_from else "")
            + (", unperturbed" if args.no_perturb else "")
        ),
        **extra,
        "weights": {name: list(array.shape) for name, array in weights},
        "expected": {name: list(array.shape) for name, array in expected},
    }
    with open(os.path.join(out, "fixture.json"), "w") as f:
        json.dump(fixture, f, indent=2)
        f.write("\n")
    print(f"wrote {out}: {len(weights)} weights, {len(expected)} expected tensors, loss {float(dict(expected)['loss'][0]):.6f}")

    if args.float64 or args.float64_check:
        reference = float64_step(args, networks, images, labels, out)
        if args.float64:
            write_float64_expected(out, reference)
            print(f"wrote {os.path.join(out, 'expected-f64.safetensors')}")
        if args.float64_check:
            precision_report(reference, expected)
    if args.compare_with:
        values = "all" if args.weights_from and os.path.samefile(args.weights_from, args.compare_with) else "batch"
        problems, _ = compare_fixtures(out, args.compare_with, values)
        for problem in problems:
            print("MISMATCH " + problem)
        print(f"compare with {args.compare_with}: {'same schema' if not problems else f'{len(problems)} differences'}")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FixtureGenerationError as error:
        print(f"make_fixture.py: {error}", file=sys.stderr)
        sys.exit(2)
