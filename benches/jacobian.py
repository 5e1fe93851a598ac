"""Top-8 singular directions of the posterior-mean Jacobian of the cifar10-32 U-Net (D = 3072, random
weights), three ways, side by side on this machine:

  1. block subspace iteration in Rust (`difftheory jacobian-svd`: JVP by double backward, VJP);
  2. the full Jacobian (3072 VJPs, batches of 64) and its SVD, in Rust (`jacobian-svd --full`);
  3. the same subspace iteration in PyTorch from Python with torch.func (vjp, and J v as the vjp of
     the vjp: double backward, as in Rust; torch.func.jvp's forward mode fails in diffusers'
     attention in torch 2.13).

    python3 -m venv /tmp/ugen && /tmp/ugen/bin/pip install torch==2.13.0 diffusers safetensors numpy
    HF_HUB_OFFLINE=1 /tmp/ugen/bin/python benches/jacobian.py [--exe target/release/difftheory] [--iters 10]

Both sides run the same weights (saved by diffusers, loaded by `difftheory`), at the same point x_t
(a seeded N(0, I) tensor) and timestep 700, in f32 on the CPU, with attention as an explicit
softmax(QKᵀ/√d)V on both sides (the fused CPU kernel has no double backward in libtorch and no forward
mode in PyTorch), for a fixed number of iterations
(tolerance 1e-30, so neither side stops early: equal work), each followed by one JVP block for the
residuals. Reported: seconds of each, the ratios Rust-iteration / full-SVD and Rust / PyTorch (< 1:
Rust faster), and the largest relative difference of the singular values between the methods.

Build the binary first (`cargo build --release --features torch`).

Measured 2026-12-01 on this 2-core machine, quiet (load 1.4 at the start, 1.8 at the end), dev-profile
binary (the work is in libtorch), `HF_HUB_OFFLINE=1 /tmp/ugen/bin/python benches/jacobian.py --exe
target/debug/difftheory`, top 8, 10 iterations:
  subspace iteration  rust 23.51 s, torch.func 24.81 s  -> rust/torch.func 0.95 (Rust 5 % faster);
                      singular values agree to 2.5e-7 of sigma_1, residuals identical (6e-2 .. 8e-2);
  full Jacobian + SVD rust 505.4 s                      -> iteration/full 0.047 (21.5x faster).
With random weights the spectrum is flat (sigma_1..8 = 21.6 .. 20.6 from the full SVD), so 10
iterations do not converge (values 4.9 % of sigma_1 low, residuals ~7e-2); a trained model's decaying
spectrum converges in far fewer (notebook 05 and tests/jacobian.rs). Re-measure before quoting.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import write_row  # noqa: E402
import torch  # noqa: E402
from diffusers import DDPMScheduler, UNet2DModel  # noqa: E402
from diffusers.models.attention_processor import AttnProcessor  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from torch.func import vjp  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CIFAR10 = dict(
    sample_size=32, in_channels=3, out_channels=3, block_out_channels=(128, 256, 256, 256),
    layers_per_block=2, norm_eps=1e-6, downsample_padding=0, flip_sin_to_cos=False, freq_shift=1,
    attention_head_dim=None, down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
)
T = 700


def torch_subspace_iteration(f, x, k, iters, seed):
    """The algorithm of `difftheory::jacobian::top_singular`, in torch.func: V ← QR(randn);
    repeat {U ← QR(J V); W = Jᵀ U; WᵀW = B S² Bᵀ; V ← W B S⁻¹; U ← U B}; residuals ‖J v − σ u‖/σ₁."""
    d = x.numel()
    shape = x.shape[1:]
    xb = x.repeat(k, 1, 1, 1)
    gen = torch.Generator().manual_seed(seed)
    v, _ = torch.linalg.qr(torch.randn(d, k, generator=gen))

    def stack(m):  # [D, k] → [k, C, H, W]
        return m.T.reshape(k, *shape)

    def flat(t):  # [k, C, H, W] → [D, k]
        return t.reshape(k, -1).T

    y, pullback = vjp(f, xb)
    # J v by double backward, as the Rust side: g(u) = Jᵀu is linear in u, and the VJP of g against v
    # is J v. (torch.func.jvp, forward mode, fails in diffusers' attention: its group norm of a
    # transposed tensor has no forward-mode view in torch 2.13.)
    _, pull2 = vjp(lambda u: pullback(u)[0], torch.zeros_like(y))

    def jvp_db(t):
        return pull2(t)[0]

    for _ in range(iters):
        jv = jvp_db(stack(v))
        u, _ = torch.linalg.qr(flat(jv))
        (w,) = pullback(stack(u))
        w = flat(w)
        s2, b = torch.linalg.eigh(w.T @ w)
        s2, b = s2.flip(0).clamp_min(0), b.flip(1)
        s = s2.sqrt()
        v = w @ b / s.clamp_min(s[0] * 1e-12)
        u = u @ b
    jv = jvp_db(stack(v))
    res = (flat(jv) - u * s).norm(dim=0) / s[0]
    return s, res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", default=str(ROOT / "target" / "release" / "difftheory"))
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--no-full", action="store_true", help="skip the full Jacobian (3072 VJPs: minutes)")
    ap.add_argument("--json", help="append the result row to this JSON-lines file (benches/all.py)")
    args = ap.parse_args()
    exe = os.environ.get("DIFFTHEORY_EXE", args.exe)
    tmp = Path(tempfile.mkdtemp(prefix="jacobian-bench-"))
    torch.manual_seed(0)
    model = UNet2DModel(**CIFAR10).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    model.save_pretrained(tmp / "model", safe_serialization=True)
    # the fused CPU attention kernel has no forward-mode derivative: the explicit softmax(QKᵀ/√d)V
    # processor, as the Rust side uses under autograd
    for m in model.modules():
        if hasattr(m, "set_processor") and hasattr(m, "processor"):
            m.set_processor(AttnProcessor())
    DDPMScheduler().save_pretrained(tmp / "model")
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    save_file({"sample": x}, tmp / "x.safetensors")
    alpha_bar = DDPMScheduler().alphas_cumprod[T].item()
    a, s = alpha_bar ** 0.5, (1 - alpha_bar) ** 0.5

    def f(xt):
        return (xt - s * model(xt, T).sample) / a

    print(f"cifar10-32 U-Net, random weights, D = 3072, top {args.k}, {args.iters} iterations, timestep {T}; "
          f"torch {torch.__version__} on {torch.get_num_threads()} threads; load {os.getloadavg()[0]:.1f}")
    base = [exe, "jacobian-svd", "--model", str(tmp / "model"), "--input", str(tmp / "x.safetensors"),
            "--timestep", str(T), "--k", str(args.k), "--tol", "1e-30", "--max-iter", str(args.iters),
            "--device", "cpu"]
    out = subprocess.run(base + ([] if args.no_full else ["--full"]), capture_output=True, text=True, check=True).stdout
    rs = float(re.search(r"top \d+ in ([0-9.]+) s", out).group(1))
    rs_sigma = [float(v) for v in re.search(r"sigma: \[([^\]]*)\]", out).group(1).split(",")]
    print(out.strip())
    t0 = time.perf_counter()
    py_sigma, py_res = torch_subspace_iteration(f, x, args.k, args.iters, seed=1)
    py = time.perf_counter() - t0
    print(f"torch.func subspace iteration: {py:.2f} s; sigma {[round(v, 6) for v in py_sigma.tolist()]}; "
          f"residuals {[f'{r:.1e}' for r in py_res.tolist()]}")
    diff = max(abs(p - r) for p, r in zip(py_sigma.tolist(), rs_sigma)) / rs_sigma[0]
    print(f"\nsubspace iteration: rust {rs:.2f} s, torch.func {py:.2f} s, ratio rust/torch.func {rs / py:.2f}; "
          f"max |sigma_rust − sigma_torch| / sigma_1 = {diff:.1e}")
    if not args.no_full:
        full = float(re.search(r"full Jacobian \+ SVD: ([0-9.]+) s", out).group(1))
        print(f"full Jacobian + SVD (rust): {full:.1f} s; ratio iteration/full {rs / full:.3f} "
              f"(the iteration is {full / rs:.1f}x faster)")
    print(f"load at the end {os.getloadavg()[0]:.1f}")
    write_row(args.json, {"bench": "jacobian top-k", "work": f"U-Net Jacobian top {args.k}, {args.iters} iterations",
                          "rust_s": rs, "ref_s": py, "ref": f"torch.func {torch.__version__}"})


if __name__ == "__main__":
    main()
