#!/usr/bin/env python3
"""Golden fixtures for the U-Net and the schedulers, from diffusers (offline, CPU, seeded).

Writes
  tests/fixtures/unet/<layout>/{config.json, diffusion_pytorch_model.safetensors, io.safetensors}
      a tiny diffusers UNet2DModel with random (perturbed, non-trivial) weights per supported block
      layout; io.safetensors holds `sample` [2, C, H, W], `timesteps` [2] (int64) and `output`,
      diffusers' forward pass in f32 on the CPU;
  tests/fixtures/schedulers.json
      betas and alphas_cumprod of every beta schedule, timesteps of every spacing, and DDPM / DDIM
      `step` results for each prediction type, clipping, variance type and eta, with the noise used.

How to run (PyPI only; the full torch wheel is needed for `import torch`, ~2.7 GB download):

  python3 -m venv /tmp/ugen
  /tmp/ugen/bin/pip install torch==2.13.0 diffusers==0.42.1 safetensors numpy
  HF_HUB_OFFLINE=1 /tmp/ugen/bin/python scripts/make_unet_fixtures.py

Run from the repository root. Tests read only the files written here (no diffusers at test time).
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import diffusers  # noqa: E402
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures"

# name -> (UNet2DModel kwargs, weights dtype in the file, rename attention keys to the old names)
LAYOUTS = {
    # Down/Up blocks only, attention only in the middle block; diffusers' default embedding.
    "plain": (
        dict(sample_size=16, in_channels=3, out_channels=3, block_out_channels=(8, 16),
             layers_per_block=1, norm_num_groups=4, attention_head_dim=8,
             down_block_types=("DownBlock2D", "DownBlock2D"),
             up_block_types=("UpBlock2D", "UpBlock2D")),
        torch.float32, False),
    # Attention blocks in the encoder and decoder, several heads.
    "attn": (
        dict(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
             layers_per_block=2, norm_num_groups=4, attention_head_dim=4,
             down_block_types=("DownBlock2D", "AttnDownBlock2D"),
             up_block_types=("AttnUpBlock2D", "UpBlock2D")),
        torch.float32, False),
    # google/ddpm-cifar10-32's layout and options, narrower: one head, padding 0, eps 1e-6,
    # flip_sin_to_cos false, freq_shift 1.
    "cifar10_like": (
        dict(sample_size=16, in_channels=3, out_channels=3, block_out_channels=(8, 16, 16, 16),
             layers_per_block=2, norm_num_groups=4, attention_head_dim=None, norm_eps=1e-6,
             downsample_padding=0, flip_sin_to_cos=False, freq_shift=1,
             down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
             up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D")),
        torch.float32, False),
    # The attention layout saved with the old key names (query/key/value/proj_attn), weights in f16.
    "old_keys_f16": (
        dict(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(16, 32),
             layers_per_block=1, norm_num_groups=8, attention_head_dim=None,
             down_block_types=("AttnDownBlock2D", "AttnDownBlock2D"),
             up_block_types=("AttnUpBlock2D", "AttnUpBlock2D")),
        torch.float16, True),
    # One channel (digits), scale_shift time conditioning (no norm in the middle attention),
    # centred input, a scaled middle block, mish, a wider time embedding, odd freq_shift.
    "variants": (
        dict(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
             layers_per_block=1, norm_num_groups=4, attention_head_dim=4,
             resnet_time_scale_shift="scale_shift", center_input_sample=True,
             mid_block_scale_factor=1.41421356, act_fn="mish", time_embedding_dim=24,
             flip_sin_to_cos=True, freq_shift=1,
             down_block_types=("AttnDownBlock2D", "DownBlock2D"),
             up_block_types=("UpBlock2D", "AttnUpBlock2D")),
        torch.float32, False),
    # No middle block; attention head width None in the encoder only.
    "no_mid": (
        dict(sample_size=8, in_channels=2, out_channels=2, block_out_channels=(8, 16, 16),
             layers_per_block=1, norm_num_groups=4, mid_block_type=None,
             attention_head_dim=None, downsample_padding=0,
             down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
             up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D")),
        torch.float32, False),
}

OLD_NAMES = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def old_key(k: str) -> str:
    if ".attentions." not in k:
        return k
    for new, old in OLD_NAMES.items():
        for suffix in (".weight", ".bias"):
            if k.endswith("." + new + suffix):
                return k[: -len(new + suffix)] + old + suffix
    return k


def make_unet(name, kwargs, dtype, rename, seed):
    torch.manual_seed(seed)
    model = UNet2DModel(**kwargs).eval()
    with torch.no_grad():
        # non-trivial weights: group norms away from (1, 0), every tensor perturbed
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        if dtype != torch.float32:
            for p in model.parameters():
                p.copy_(p.to(dtype).to(torch.float32))
    d = OUT / "unet" / name
    d.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    path = d / "diffusion_pytorch_model.safetensors"
    sd = load_file(path)
    sd = {(old_key(k) if rename else k): v.to(dtype).contiguous() for k, v in sd.items()}
    save_file(sd, path)
    c = kwargs["in_channels"]
    s = kwargs["sample_size"]
    g = torch.Generator().manual_seed(seed + 1)
    sample = torch.randn(2, c, s, s, generator=g)
    timesteps = torch.tensor([3, 917], dtype=torch.int64)
    with torch.no_grad():
        out = model(sample, timesteps).sample
        # also a scalar timestep, which the model broadcasts over the batch
        out_scalar = model(sample, torch.tensor(421)).sample
    save_file(
        {"sample": sample, "timesteps": timesteps, "output": out.contiguous(),
         "output_t421": out_scalar.contiguous()},
        d / "io.safetensors",
    )
    n = sum(p.numel() for p in model.parameters())
    size = sum(f.stat().st_size for f in d.iterdir())
    print(f"{name}: {n} parameters, {size / 1024:.0f} KiB, |output| max {out.abs().max():.3f}")


def tensor_list(t):
    return [float(x) for x in t.flatten().tolist()]


def schedulers():
    out = {"diffusers": diffusers.__version__, "torch": torch.__version__}
    out["betas"] = {}
    for sched in ["linear", "scaled_linear", "squaredcos_cap_v2"]:
        for n, (b0, b1) in [(1000, (1e-4, 0.02)), (50, (0.00085, 0.012))]:
            s = DDPMScheduler(num_train_timesteps=n, beta_start=b0, beta_end=b1, beta_schedule=sched)
            out["betas"][f"{sched}_{n}"] = dict(
                beta_schedule=sched, num_train_timesteps=n, beta_start=b0, beta_end=b1,
                betas=tensor_list(s.betas), alphas_cumprod=tensor_list(s.alphas_cumprod))
    out["timesteps"] = []
    for cls in (DDPMScheduler, DDIMScheduler):
        for spacing in ["leading", "trailing", "linspace"]:
            for offset in [0, 1]:
                for steps in [1, 10, 50, 333]:
                    s = cls(timestep_spacing=spacing, steps_offset=offset)
                    s.set_timesteps(steps)
                    out["timesteps"].append(dict(
                        scheduler=cls.__name__, timestep_spacing=spacing, steps_offset=offset,
                        num_inference_steps=steps, timesteps=[int(t) for t in s.timesteps]))
    g = torch.Generator().manual_seed(7)
    sample = 1.3 * torch.randn(2, 1, 2, 2, generator=g)
    model_output = torch.randn(2, 1, 2, 2, generator=g)
    noise = torch.randn(2, 1, 2, 2, generator=g)
    steps = []
    for pred in ["epsilon", "sample", "v_prediction"]:
        for clip in [True, False]:
            for variance in ["fixed_small", "fixed_large"]:
                s = DDPMScheduler(prediction_type=pred, clip_sample=clip, variance_type=variance,
                                  clip_sample_range=1.0 if clip else 1.0)
                s.set_timesteps(10)
                for t in [int(s.timesteps[0]), int(s.timesteps[5]), int(s.timesteps[-1])]:
                    gen = torch.Generator().manual_seed(11)
                    used = torch.randn(model_output.shape, generator=torch.Generator().manual_seed(11))
                    r = s.step(model_output, t, sample, generator=gen)
                    steps.append(dict(
                        scheduler="DDPMScheduler", prediction_type=pred, clip_sample=clip,
                        variance_type=variance, num_inference_steps=10, timestep=t, noise=tensor_list(used),
                        prev_sample=tensor_list(r.prev_sample),
                        pred_original_sample=tensor_list(r.pred_original_sample)))
    for pred in ["epsilon", "sample", "v_prediction"]:
        for clip, rng in [(True, 1.0), (True, 0.5), (False, 1.0)]:
            for eta in [0.0, 0.5, 1.0]:
                for one in [True, False]:
                    s = DDIMScheduler(prediction_type=pred, clip_sample=clip, clip_sample_range=rng,
                                      set_alpha_to_one=one, beta_schedule="scaled_linear",
                                      beta_start=0.00085, beta_end=0.012)
                    s.set_timesteps(10)
                    for t in [int(s.timesteps[0]), int(s.timesteps[5]), int(s.timesteps[-1])]:
                        r = s.step(model_output, t, sample, eta=eta, variance_noise=noise)
                        steps.append(dict(
                            scheduler="DDIMScheduler", prediction_type=pred, clip_sample=clip,
                            clip_sample_range=rng, set_alpha_to_one=one, eta=eta,
                            beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                            num_inference_steps=10, timestep=t, noise=tensor_list(noise),
                            prev_sample=tensor_list(r.prev_sample),
                            pred_original_sample=tensor_list(r.pred_original_sample)))
    out["sample"] = tensor_list(sample)
    out["model_output"] = tensor_list(model_output)
    out["steps"] = steps
    path = OUT / "schedulers.json"
    path.write_text(json.dumps(out, indent=None, separators=(",", ":")) + "\n")
    print(f"schedulers.json: {len(steps)} step cases, {path.stat().st_size / 1024:.0f} KiB")


def main():
    if not (ROOT / "Cargo.toml").exists():
        sys.exit("run from the difftheory repository")
    torch.set_num_threads(1)
    for i, (name, (kwargs, dtype, rename)) in enumerate(LAYOUTS.items()):
        make_unet(name, kwargs, dtype, rename, seed=100 + i)
    schedulers()


if __name__ == "__main__":
    main()
