#!/usr/bin/python3
"""Load an exported safetensors state dict into a PyTorch ResNet-32 with strict=True and print its
eval-mode logits for the given images, as JSON. Used by src/export.test.ts; needs a Python with
torch (Debian: /usr/bin/python3 with python3-torch).

  --weights W.safetensors   the file writePyTorchSafetensors wrote
  --images I.safetensors    one tensor `images`, NCHW float32
  --authors-code DIR        optional: the MLAAN authors' CIFAR-SVHN-STL folder; their
                            networks/resnetInfoPro.py ResNet-32 with K = 1 (plain back-propagation)
                            is used instead of the independent one of benchmarks/pytorch.
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
here = os.path.dirname(os.path.abspath(__file__))
repository = os.path.join(here, "..", "..", "..")
sys.path.insert(0, os.path.join(repository, "benchmarks", "pytorch"))
sys.path.insert(0, os.path.join(repository, "packages", "parity", "python"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from make_fixture import read_safetensors  # noqa: E402  (the parity tools' numpy reader)
from resnet32_train import ResNet32  # noqa: E402  (PyTorch names, METHOD §1)


def authors_resnet32(authors_code):
    # Their constructor moves normalisation constants to the GPU; run on the CPU.
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    nn.Module.cuda = lambda self, *args, **kwargs: self
    sys.path.insert(0, os.path.abspath(authors_code))
    from networks.resnetInfoPro import resnet32

    return resnet32(local_module_num=1, batch_size=2, image_size=32, dataset="cifar10", class_num=10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    parser.add_argument("--images", required=True)
    parser.add_argument("--authors-code")
    args = parser.parse_args()
    model = authors_resnet32(args.authors_code) if args.authors_code else ResNet32()
    state = {name: torch.from_numpy(array.copy()) for name, array in read_safetensors(args.weights).items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    images = torch.from_numpy(read_safetensors(args.images)["images"].copy())
    with torch.no_grad():
        # The authors' forward() is their training step; forward_original() is the plain network.
        logits = model.forward_original(images) if args.authors_code else model(images)
    print(json.dumps({"model": type(model).__name__, "logits": logits.tolist()}))


if __name__ == "__main__":
    main()
