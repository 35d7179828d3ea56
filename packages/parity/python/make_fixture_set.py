#!/usr/bin/python3
"""Write the generated fixture set that the float64 verdict is judged on, beside the three golden ones.

Six fixtures of the authors' code, each with expected-f64.safetensors (make_fixture.py --float64):
other seeds than the golden ones, K = 2, 8, 15, 16, and ResNet-110. Tie flips are random events,
so the verdict counts them over a set; together with the three golden folders this makes nine.
Folders that already hold expected-f64.safetensors are kept (delete one to regenerate it).

  /usr/bin/python3 packages/parity/python/make_fixture_set.py \\
      --authors-code /tmp/mlaan-authors/CIFAR-SVHN-STL --data-dir <cifar-10-batches-bin> --out /tmp/mlaan-fixtures
  MLAAN_FIXTURE_SET=/tmp/mlaan-fixtures npx vitest run src/float64.test.ts   # in packages/parity
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixture  # noqa: E402

# (folder, make_fixture.py arguments). Images start at different test images so the batches differ.
FIXTURE_SET = [
    ("e2e-resnet32-seed1", ["--kind", "e2e", "--seed", "1", "--first-test-image", "16"]),
    ("infopro-resnet32-k2-seed1", ["--kind", "infopro", "--K", "2", "--seed", "1", "--first-test-image", "32"]),
    ("infopro-resnet32-k16-seed3", ["--kind", "infopro", "--K", "16", "--seed", "3", "--first-test-image", "48"]),
    ("mlaan-reference-resnet32-k8-seed2", ["--kind", "mlaan-reference", "--K", "8", "--seed", "2", "--first-test-image", "64"]),
    ("mlaan-reference-resnet32-k15-seed3", ["--kind", "mlaan-reference", "--K", "15", "--seed", "3", "--first-test-image", "80"]),
    ("infopro-resnet110-k4-seed4", ["--kind", "infopro", "--net", "resnet110", "--K", "4", "--seed", "4", "--first-test-image", "96"]),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authors-code", required=True, help="the CIFAR-SVHN-STL folder of github Wendy231015/MLAAN")
    parser.add_argument("--data-dir", required=True, help="cifar-10-batches-bin (binary CIFAR-10)")
    parser.add_argument("--out", required=True, help="folder that receives one sub-folder per fixture (outside the repository)")
    parser.add_argument("--only", nargs="*", help="folder names to write (default: all six)")
    args = parser.parse_args(argv)
    for name, extra in FIXTURE_SET:
        if args.only and name not in args.only:
            continue
        folder = os.path.join(args.out, name)
        if os.path.isfile(os.path.join(folder, "expected-f64.safetensors")):
            print(f"{name}: present")
            continue
        code = make_fixture.main(
            ["--authors-code", args.authors_code, "--data-dir", args.data_dir, "--out", folder, "--float64", *extra]
        )
        if code:
            return code
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except make_fixture.FixtureGenerationError as error:
        print(f"make_fixture_set.py: {error}", file=sys.stderr)
        sys.exit(2)
