//! Pixel-space diffusion U-Nets (feature `torch`): diffusers' `UNet2DModel` in tch, built from its
//! `config.json` and loaded from its `diffusion_pytorch_model.safetensors`, so the public
//! pixel-space DDPMs (google/ddpm-cifar10-32, google/ddpm-ema-celebahq-256, …) run from Rust.
//!
//! The network is Ho, Jain & Abbeel (2020), "Denoising Diffusion Probabilistic Models", App. B,
//! as diffusers implements it. Supported: `DownBlock2D`, `AttnDownBlock2D`, `UpBlock2D`,
//! `AttnUpBlock2D`, `UNetMidBlock2D` (or none), positional time embedding with `flip_sin_to_cos`
//! and `freq_shift`, `downsample_padding`, `norm_eps`, `norm_num_groups`, `attention_head_dim`,
//! `resnet_time_scale_shift`, `center_input_sample`, and both the current and the older
//! attention key names. Equivalence with diffusers is tested on committed fixtures
//! (`scripts/make_unet_fixtures.py`, `tests/unet.rs`).

pub mod blocks;
pub mod config;
pub mod embeddings;
pub mod load;
pub mod model;

pub use config::{UNetConfig, ValidUNetConfig};
pub use model::UNet2DModel;
