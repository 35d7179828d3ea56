"""The MLAAN authors' networks, loaded from their code without editing it.

Shared by authors_step_time.py (one training step, for speed) and authors_mini.py (a whole run, for
accuracy). Their code (github Wendy231015/MLAAN, folder CIFAR-SVHN-STL) is not part of this
repository: pass its folder. Their constructors call `.cuda()`; `load_model` makes `Module.cuda` and
`Tensor.cuda` the identity at run time, so the models run on the CPU.
"""

import importlib
import importlib.util
import os
import sys
import time

CIFAR10_MEAN = [125.3 / 255, 123.0 / 255, 113.9 / 255]
CIFAR10_STD = [63.0 / 255, 62.1 / 255, 66.7 / 255]

# The constructor arguments are train.py's (its `resnet` configuration: cifar10, image size 32,
# wide_list (16, 16, 32, 64), dropout 0, widen 1); `arguments` are the command-line flags of
# train.py that give the same model, for the record.
CONFIGURATIONS = {
    "e2e": {
        "module": "networks.resnetMLAAN",
        "file": "CIFAR-SVHN-STL/networks/resnetMLAAN.py",
        "local_module_num": 1,
        "local_loss_mode": "cross_entropy",
        "aux_net_config": "1c2f",
        "aux_net_feature_dim": 128,
        "lambda": (0.0, 0.0, 0.0, 0.0),
        "momentum": 0.995,
        "arguments": "train.py --dataset cifar10 --model resnet --layers 32 --local_module_num 1",
        "what": "E2E as train.py trains it: its hard-coded model networks.resnetMLAAN.resnet32 with "
        "local_module_num=1 (the forward's E2E branch: stem, 15 blocks, fc64, cross-entropy, one backward)",
    },
    "infopro-k4": {
        "module": "networks.resnetInfoPro",
        "file": "CIFAR-SVHN-STL/networks/resnetInfoPro.py",
        "local_module_num": 4,
        "local_loss_mode": "contrast",
        "aux_net_config": "1c2f",
        "aux_net_feature_dim": 128,
        "lambda": (6.0, 0.0, 1.0, 2.0),
        "momentum": 0.0,
        "arguments": "(train.py with networks.resnetInfoPro) --local_module_num 4 --local_loss_mode contrast "
        "--aux_net_config 1c2f --aux_net_feature_dim 128 --ixx_1 6 --ixy_1 0 --ixx_2 1 --ixy_2 2",
        "what": "InfoPro (the InfoPro authors' network, as copied into the MLAAN repository): cuts "
        "[1,2] [2,1] [3,0]; modules 0-2 train with λ1·BCE(decoder) + λ2·SupCon(1c2f head), the last with fc + CE",
    },
    "dgl-k8": {
        "module": "networks.resnetDGL",
        "file": "CIFAR-SVHN-STL/networks/resnetDGL.py",
        "local_module_num": 8,
        "local_loss_mode": "cross_entropy",
        "aux_net_config": "0c1f",
        "aux_net_feature_dim": 128,
        "lambda": (0.0, 0.0, 0.0, 0.0),
        "momentum": 1.0,
        "arguments": "(train.py with networks.resnetDGL) --local_module_num 8 --local_loss_mode cross_entropy "
        "--aux_net_config 0c1f",
        "what": "DGL as the authors' repository has it: networks.resnetDGL, each of modules 0-6 trained by "
        "its own GAP + Linear cross-entropy head (auxiliary_nets.AuxClassifier '0c1f', the same head as "
        "their MLAAN file's), the next module reading its output detached; the last module fc + CE; "
        "one optimizer step over all local gradients",
    },
    "mlaan-k8": {
        "module": "networks.resnetMLAAN",
        "file": "CIFAR-SVHN-STL/networks/resnetMLAAN.py",
        "local_module_num": 8,
        "local_loss_mode": "cross_entropy",
        "aux_net_config": "1c2f",
        "aux_net_feature_dim": 128,
        "lambda": (5.0, 0.5, 0.0, 0.0),
        "momentum": 0.995,
        "arguments": "train.py --dataset cifar10 --model resnet --layers 32 --local_module_num 8 "
        "--local_loss_mode cross_entropy --aux_net_widen 1 --aux_net_feature_dim 128 "
        "--ixx_1 5 --ixy_1 0.5 --ixx_2 0 --ixy_2 0 --aux_net_config 1c2f --momentum 0.995 (run32-cifar10.txt)",
        "what": "MLAAN as train.py runs it (run32-cifar10.txt): networks.resnetMLAAN with GAP + Linear "
        "cross-entropy heads (auxMLAAN.AuxClassifier; the λ, 1c2f and loss-mode flags are ignored by "
        "this network), cascades of kc=2 modules re-forwarded from the detached input, leap nets "
        "(configAuxPlus_new) with an EMA twin on their first block, only the last twin updated",
    },
    "infopro+mlaan-k8": {
        "module": "networks.resnetInfoProbin",
        "file": "CIFAR-SVHN-STL/networks/resnetInfoProbin.py",
        "local_module_num": 8,
        "local_loss_mode": "cross_entropy",
        "aux_net_config": "1c2f",
        "aux_net_feature_dim": 128,
        "lambda": (5.0, 0.5, 0.0, 0.0),
        "momentum": 0.995,
        "arguments": "(train.py with networks.resnetInfoProbin) --local_module_num 8 --local_loss_mode "
        "cross_entropy --aux_net_feature_dim 128 --ixx_1 5 --ixy_1 0.5 --ixx_2 0 --ixy_2 0 "
        "--aux_net_config 1c2f --momentum 0.995 (run32-cifar10.txt's flags)",
        "what": "InfoPro + MLAAN: the only file with InfoPro's decoder + 1c2f heads, cascades (kc=3, "
        "re-forwarded) and leap nets; independent branch: decoder + 1c2f head with the default "
        "contrastive loss, cascaded branch: decoder + 1c2f cross-entropy head after the leap net",
    },
}


class SetupError(SystemExit):
    """Stops the script with a message that names the fix."""


def find_authors_code(path):
    """The folder that holds the authors' `networks` package: the given one, or its CIFAR-SVHN-STL."""
    for candidate in (path, os.path.join(path, "CIFAR-SVHN-STL")):
        if os.path.isfile(os.path.join(candidate, "networks", "resnetMLAAN.py")):
            return os.path.abspath(candidate)
    raise SetupError(
        f"--authors-code {path}: no networks/resnetMLAAN.py there or in {path}/CIFAR-SVHN-STL. Pass the "
        "CIFAR-SVHN-STL folder of the MLAAN authors' code (github Wendy231015/MLAAN), e.g. extract it with "
        "`git clone https://github.com/Wendy231015/MLAAN /tmp/mlaan-authors` and pass "
        "--authors-code /tmp/mlaan-authors/CIFAR-SVHN-STL."
    )


def require_torch():
    if importlib.util.find_spec("torch") is None:
        raise SetupError(
            f"torch is not importable from this Python ({sys.executable}). Install Debian's python3-torch "
            "(apt-get install -y python3-torch) and run this script with /usr/bin/python3."
        )


def require_device(device):
    """Stops with the fix when `device` ('cpu' or 'cuda') cannot run here."""
    import torch

    if device not in ("cpu", "cuda"):
        raise SetupError(f"--device {device}: choose cpu or cuda.")
    if device == "cuda" and not torch.cuda.is_available():
        raise SetupError("--device cuda: this torch sees no CUDA GPU (torch.cuda.is_available() is False). Use --device cpu.")


def load_model(configuration, authors_code, batch, threads, seed, device="cpu"):
    """The authors' network for `configuration`, seeded and in training mode, on `device`.

    Returns (model, the configuration's entry, seconds the constructor took)."""
    import torch

    require_device(device)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    if device == "cpu":
        # Their constructors and train loop call .cuda(); make it the identity instead of editing their files.
        torch.nn.Module.cuda = lambda self, device=None: self
        torch.Tensor.cuda = lambda self, *args, **kwargs: self
    else:
        # As their train.py does before training on the GPU.
        torch.backends.cudnn.benchmark = True
    if authors_code not in sys.path:
        sys.path.insert(0, authors_code)
    spec = CONFIGURATIONS[configuration]
    try:
        network = importlib.import_module(spec["module"])
    except ImportError as error:
        raise SetupError(f"Could not import {spec['module']} from {authors_code}: {error}. Is it the authors' CIFAR-SVHN-STL folder?")
    build_start = time.perf_counter()
    model = network.resnet32(
        local_module_num=spec["local_module_num"],
        batch_size=batch,
        image_size=32,
        balanced_memory=False,
        dataset="cifar10",
        class_num=10,
        wide_list=(16, 16, 32, 64),
        dropout_rate=0.0,
        aux_net_config=spec["aux_net_config"],
        local_loss_mode=spec["local_loss_mode"],
        aux_net_widen=1,
        aux_net_feature_dim=spec["aux_net_feature_dim"],
        momentum=spec["momentum"],
    )
    build_seconds = time.perf_counter() - build_start
    model.to(device)
    model.train()
    return model, spec, build_seconds
