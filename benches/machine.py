"""The machine a benchmark ran on, and the flop rate it reaches: shared by every bench in this folder.

- `describe()`: CPU model, cores, SIMD width (f64 flops per cycle and core), clock, numpy's BLAS
  (library, kernel, threads), load average;
- `dgemm_rate()`: GFLOP/s of numpy's threaded DGEMM on two 3000 × 3000 matrices, best of 3 — the
  flop limit this machine reaches in practice ("the machine's limit" of the bench tables: a
  phase's fraction of it is its flops over its time over this rate);
- `write_row(path, row)`: appends one bench's result to a JSON-lines file, which `benches/all.py`
  turns into one table.
"""

import ctypes
import glob
import json
import os
import re
import time
from pathlib import Path

import numpy as np


def cpu_model():
    m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return m.group(1).strip() if m else "unknown CPU"


def clock_ghz():
    text = Path("/proc/cpuinfo").read_text()
    mhz = [float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", text)]
    return max(mhz) / 1000.0 if mhz else float("nan")


def simd_flops_per_cycle():
    """f64 flops per cycle and core: 2 FMA units x lanes x 2, AVX-512 where the CPU has it; AMD's
    first Zen generation (family 0x17, models below 0x30) splits 256-bit operations over 128-bit
    units, so it does half of AVX2's."""
    text = Path("/proc/cpuinfo").read_text()
    if re.search(r"\bavx512f\b", text):
        return 32, "AVX-512"
    fam = re.search(r"cpu family\s*:\s*(\d+)", text)
    model = re.search(r"model\s*:\s*(\d+)", text)
    if "AuthenticAMD" in text and fam and model and int(fam.group(1)) == 0x17 and int(model.group(1)) < 0x30:
        return 8, "AVX2 on Zen 1 (128-bit FMA units)"
    return 16, "AVX2"


def numpy_blas():
    """(description, threads) of the OpenBLAS that numpy's wheel bundles, read from the library
    itself; (\"unknown\", None) where it is another BLAS."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", "")):
            try:
                config = getattr(lib, f"{prefix}get_config{suffix}")
                threads = getattr(lib, f"{prefix}get_num_threads{suffix}")
            except AttributeError:
                continue
            config.restype = ctypes.c_char_p
            return config().decode(), threads()
    return "unknown", None


def describe():
    per_cycle, isa = simd_flops_per_cycle()
    blas, threads = numpy_blas()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "ghz": clock_ghz(),
        "simd": isa,
        "flops_per_cycle": per_cycle,
        "blas": blas,
        "blas_threads": threads,
        "load": os.getloadavg(),
    }


def describe_line(info=None):
    info = info or describe()
    return (f"{info['cpu']}, {info['cores']} cores at {info['ghz']:.2f} GHz, {info['simd']} "
            f"({info['flops_per_cycle']} f64 flops/cycle/core); numpy BLAS {info['blas']}, "
            f"{info['blas_threads']} threads; load average {' '.join(f'{v:.2f}' for v in info['load'])}")


def dgemm_rate(size=3000, rounds=3):
    """GFLOP/s of numpy's threaded DGEMM on two size×size matrices, best of `rounds`: the flop
    limit this machine reaches in practice (the nominal clock understates it: the cores boost).
    Measure it after the timed runs, or pause after it: OpenBLAS's threads keep spinning for a
    while after a DGEMM and slow whatever runs next."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    a @ b
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def write_row(path, row):
    """Appends one result row (a dict) to the JSON-lines file `path` (nothing when path is None)."""
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")
