#!/usr/bin/env python3
"""Copies scikit-learn's bundled 8x8 handwritten digits into data/ with its licence and description.

The file is `sklearn/datasets/data/digits.csv.gz` of the scikit-learn wheel (1797 rows of 64 pixel
values 0..16 and the label), itself the test set of the UCI "Optical Recognition of Handwritten
Digits" data. Only pip is needed (no scikit-learn install):

  python3 scripts/fetch_digits.py            # pip download --no-deps scikit-learn==1.9.1, extract

Writes data/digits.csv.gz, data/digits.rst (scikit-learn's description) and
data/LICENSE-scikit-learn (its COPYING, BSD-3-Clause).
"""

import glob
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "1.9.1"
ROOT = Path(__file__).resolve().parent.parent


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             "--dest", tmp, f"scikit-learn=={VERSION}"],
            check=True,
        )
        wheel = glob.glob(f"{tmp}/scikit_learn-*.whl")[0]
        with zipfile.ZipFile(wheel) as z:
            files = {
                "sklearn/datasets/data/digits.csv.gz": "digits.csv.gz",
                "sklearn/datasets/descr/digits.rst": "digits.rst",
                f"scikit_learn-{VERSION}.dist-info/licenses/COPYING": "LICENSE-scikit-learn",
            }
            for src, dst in files.items():
                data = z.read(src)
                (ROOT / "data" / dst).write_bytes(data)
                print(f"data/{dst}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}")


if __name__ == "__main__":
    main()
