//! `config.json` of a diffusers `UNet2DModel`, read with diffusers' defaults and checked.
//!
//! The fields and their defaults are those of `diffusers.UNet2DModel.__init__`; unknown fields
//! (`_class_name`, `_diffusers_version`, …) are ignored as diffusers does. [`UNetConfig::check`]
//! rejects what this crate does not implement, naming the field and what it accepts.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A down block of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownBlockKind {
    /// `DownBlock2D`: resnets, then a strided convolution.
    Down,
    /// `AttnDownBlock2D`: a self-attention block after each resnet.
    AttnDown,
}

/// An up block of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpBlockKind {
    /// `UpBlock2D`.
    Up,
    /// `AttnUpBlock2D`.
    AttnUp,
}

/// How the time embedding enters a resnet (`resnet_time_scale_shift`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeScaleShift {
    /// `"default"`: `h = norm2(h + proj(temb))`.
    Add,
    /// `"scale_shift"`: `h = norm2(h) (1 + scale) + shift`.
    ScaleShift,
}

/// The activation (`act_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `silu` / `swish`.
    Silu,
    /// `mish`.
    Mish,
    /// `gelu`.
    Gelu,
}

/// `config.json` of a `UNet2DModel`, field for field (diffusers' names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UNetConfig {
    /// Height = width of the images the model was trained on (informative).
    pub sample_size: Option<usize>,
    /// Channels of the input image.
    pub in_channels: usize,
    /// Channels of the output.
    pub out_channels: usize,
    /// Map the input from [0, 1] to [−1, 1] first.
    pub center_input_sample: bool,
    /// `positional` (only this one is implemented).
    pub time_embedding_type: String,
    /// Width of the time embedding; diffusers' default is `4 · block_out_channels[0]`.
    pub time_embedding_dim: Option<usize>,
    /// `downscale_freq_shift` of the sinusoidal embedding.
    pub freq_shift: f64,
    /// Put the cosines first.
    pub flip_sin_to_cos: bool,
    /// `DownBlock2D` or `AttnDownBlock2D` per resolution.
    pub down_block_types: Vec<String>,
    /// `UNetMidBlock2D` or `null` (no middle block).
    pub mid_block_type: Option<String>,
    /// `UpBlock2D` or `AttnUpBlock2D` per resolution.
    pub up_block_types: Vec<String>,
    /// Channels per resolution.
    pub block_out_channels: Vec<usize>,
    /// Resnets per down block (up blocks have one more).
    pub layers_per_block: usize,
    /// Output scale of the middle block's resnets and attention.
    pub mid_block_scale_factor: f64,
    /// Padding of the strided convolutions; 0 pads right and bottom by one first.
    pub downsample_padding: i64,
    /// `conv` (only this one is implemented).
    pub downsample_type: String,
    /// `conv` (only this one is implemented).
    pub upsample_type: String,
    /// Dropout inside the resnets (training only).
    pub dropout: f64,
    /// `silu`, `swish`, `mish` or `gelu`.
    pub act_fn: String,
    /// Channels per attention head; `null` means one head over all channels.
    pub attention_head_dim: Option<usize>,
    /// Groups of every group norm; `null` means `min(block_out_channels[0] / 4, 32)` for the
    /// output norm (and is rejected elsewhere, as in diffusers).
    pub norm_num_groups: Option<usize>,
    /// Groups of the middle block's attention norm; `null`: `norm_num_groups` ("default" shift).
    pub attn_norm_num_groups: Option<usize>,
    /// Epsilon of every group norm.
    pub norm_eps: f64,
    /// `default` or `scale_shift`.
    pub resnet_time_scale_shift: String,
    /// Attention in the middle block.
    pub add_attention: bool,
    /// Class conditioning (not implemented: must be `null`).
    pub class_embed_type: Option<String>,
    /// Class conditioning (not implemented: must be `null`).
    pub num_class_embeds: Option<usize>,
    /// Informative.
    pub num_train_timesteps: Option<usize>,
}

impl Default for UNetConfig {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        Self {
            sample_size: None,
            in_channels: 3,
            out_channels: 3,
            center_input_sample: false,
            time_embedding_type: "positional".into(),
            time_embedding_dim: None,
            freq_shift: 0.0,
            flip_sin_to_cos: true,
            down_block_types: s(&[
                "DownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
            ]),
            mid_block_type: Some("UNetMidBlock2D".into()),
            up_block_types: s(&[
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "UpBlock2D",
            ]),
            block_out_channels: vec![224, 448, 672, 896],
            layers_per_block: 2,
            mid_block_scale_factor: 1.0,
            downsample_padding: 1,
            downsample_type: "conv".into(),
            upsample_type: "conv".into(),
            dropout: 0.0,
            act_fn: "silu".into(),
            attention_head_dim: Some(8),
            norm_num_groups: Some(32),
            attn_norm_num_groups: None,
            norm_eps: 1e-5,
            resnet_time_scale_shift: "default".into(),
            add_attention: true,
            class_embed_type: None,
            num_class_embeds: None,
            num_train_timesteps: None,
        }
    }
}

/// A [`UNetConfig`] that passed [`UNetConfig::check`], with its strings parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidUNetConfig {
    /// The configuration as read.
    pub raw: UNetConfig,
    /// Parsed `down_block_types`.
    pub down: Vec<DownBlockKind>,
    /// Parsed `up_block_types`.
    pub up: Vec<UpBlockKind>,
    /// Whether there is a `UNetMidBlock2D`.
    pub mid: bool,
    /// Parsed `resnet_time_scale_shift`.
    pub shift: TimeScaleShift,
    /// Parsed `act_fn`.
    pub act: Activation,
    /// Groups of the resnet norms.
    pub groups: usize,
    /// Groups of the output norm.
    pub out_groups: usize,
    /// Width of the time embedding.
    pub temb_dim: usize,
}

fn field(name: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> Error {
    Error::invalid(format!("config.json: {name}"), value, reason)
}

fn divides(name: &str, channels: usize, groups: usize) -> Result<()> {
    if groups == 0 || channels % groups != 0 {
        return Err(field(
            name,
            groups,
            format!("group norm over {channels} channels needs a group count that divides it"),
        ));
    }
    Ok(())
}

impl UNetConfig {
    /// The configuration of google/ddpm-cifar10-32 (3 × 32 × 32, channels 128/256/256/256, two
    /// resnets per level, attention at 16 × 16; 35.7 M parameters): with random weights, the
    /// benchmark size of the U-Net and of the Jacobian methods.
    pub fn ddpm_cifar10_32() -> Self {
        let blocks = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Self {
            sample_size: Some(32),
            in_channels: 3,
            out_channels: 3,
            block_out_channels: vec![128, 256, 256, 256],
            layers_per_block: 2,
            norm_eps: 1e-6,
            downsample_padding: 0,
            flip_sin_to_cos: false,
            freq_shift: 1.0,
            attention_head_dim: None,
            down_block_types: blocks(&[
                "DownBlock2D",
                "AttnDownBlock2D",
                "DownBlock2D",
                "DownBlock2D",
            ]),
            up_block_types: blocks(&["UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"]),
            ..Default::default()
        }
    }

    /// Reads `config.json`; a missing file, bad JSON or a bad value is an error naming it.
    pub fn from_file(path: &Path) -> Result<ValidUNetConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
        let raw: UNetConfig = serde_json::from_str(&text).map_err(|e| Error::BadFile {
            path: path.to_path_buf(),
            reason: format!("not a UNet2DModel config.json: {e}"),
        })?;
        raw.check().map_err(|e| e.in_file(path))
    }

    /// Checks the configuration against what this crate implements.
    pub fn check(self) -> Result<ValidUNetConfig> {
        let c = &self;
        if c.time_embedding_type != "positional" {
            return Err(field(
                "time_embedding_type",
                &c.time_embedding_type,
                "only \"positional\" is implemented",
            ));
        }
        if c.class_embed_type.is_some() || c.num_class_embeds.is_some() {
            return Err(field(
                "class_embed_type",
                format!("{:?}", c.class_embed_type),
                "class-conditional U-Nets are not implemented (expected null)",
            ));
        }
        for (name, v) in [
            ("downsample_type", &c.downsample_type),
            ("upsample_type", &c.upsample_type),
        ] {
            if v != "conv" {
                return Err(field(name, v, "only \"conv\" is implemented"));
            }
        }
        let n = c.block_out_channels.len();
        if n == 0 || c.block_out_channels.contains(&0) {
            return Err(field(
                "block_out_channels",
                format!("{:?}", c.block_out_channels),
                "expected one or more positive channel counts",
            ));
        }
        if c.down_block_types.len() != n || c.up_block_types.len() != n {
            return Err(field(
                "down_block_types",
                format!("{:?} / up {:?}", c.down_block_types, c.up_block_types),
                format!("expected {n} down and {n} up blocks, one per block_out_channels entry"),
            ));
        }
        let down = c
            .down_block_types
            .iter()
            .map(|s| match s.as_str() {
                "DownBlock2D" => Ok(DownBlockKind::Down),
                "AttnDownBlock2D" => Ok(DownBlockKind::AttnDown),
                _ => Err(field(
                    "down_block_types",
                    s,
                    "expected DownBlock2D or AttnDownBlock2D",
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        let up = c
            .up_block_types
            .iter()
            .map(|s| match s.as_str() {
                "UpBlock2D" => Ok(UpBlockKind::Up),
                "AttnUpBlock2D" => Ok(UpBlockKind::AttnUp),
                _ => Err(field(
                    "up_block_types",
                    s,
                    "expected UpBlock2D or AttnUpBlock2D",
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        let mid = match c.mid_block_type.as_deref() {
            Some("UNetMidBlock2D") => true,
            None => false,
            Some(s) => {
                return Err(field(
                    "mid_block_type",
                    s,
                    "expected UNetMidBlock2D or null",
                ))
            }
        };
        let shift = match c.resnet_time_scale_shift.as_str() {
            "default" => TimeScaleShift::Add,
            "scale_shift" => TimeScaleShift::ScaleShift,
            s => {
                return Err(field(
                    "resnet_time_scale_shift",
                    s,
                    "expected default or scale_shift",
                ))
            }
        };
        let act = match c.act_fn.as_str() {
            "silu" | "swish" => Activation::Silu,
            "mish" => Activation::Mish,
            "gelu" => Activation::Gelu,
            s => return Err(field("act_fn", s, "expected silu, swish, mish or gelu")),
        };
        if c.layers_per_block == 0 {
            return Err(field("layers_per_block", 0, "expected at least 1"));
        }
        if !(c.norm_eps.is_finite() && c.norm_eps > 0.0) {
            return Err(field(
                "norm_eps",
                c.norm_eps,
                "expected a finite number > 0",
            ));
        }
        if !(c.mid_block_scale_factor.is_finite() && c.mid_block_scale_factor > 0.0) {
            return Err(field(
                "mid_block_scale_factor",
                c.mid_block_scale_factor,
                "expected a finite number > 0",
            ));
        }
        if !(0.0..1.0).contains(&c.dropout) {
            return Err(field("dropout", c.dropout, "expected 0 <= dropout < 1"));
        }
        if !c.freq_shift.is_finite() || c.freq_shift >= (c.block_out_channels[0] / 2) as f64 {
            return Err(field(
                "freq_shift",
                c.freq_shift,
                "expected a finite number below half the embedding width",
            ));
        }
        if c.downsample_padding < 0 {
            return Err(field(
                "downsample_padding",
                c.downsample_padding,
                "expected >= 0",
            ));
        }
        if c.in_channels == 0 || c.out_channels == 0 {
            return Err(field(
                "in_channels",
                format!("{} / out_channels {}", c.in_channels, c.out_channels),
                "expected positive channel counts",
            ));
        }
        let groups = c.norm_num_groups.ok_or_else(|| {
            field(
                "norm_num_groups",
                "null",
                "the resnet blocks need a group count",
            )
        })?;
        for &ch in &c.block_out_channels {
            divides("norm_num_groups", ch, groups)?;
        }
        let out_groups = groups;
        if mid && c.add_attention {
            if let Some(g) = c.attn_norm_num_groups {
                divides("attn_norm_num_groups", c.block_out_channels[n - 1], g)?;
            }
        }
        let heads_of = |ch: usize| -> Result<()> {
            if let Some(d) = c.attention_head_dim {
                if d == 0 || ch % d != 0 {
                    return Err(field(
                        "attention_head_dim",
                        d,
                        format!("must divide the {ch} channels of an attention block"),
                    ));
                }
            }
            Ok(())
        };
        for (i, k) in down.iter().enumerate() {
            if *k == DownBlockKind::AttnDown {
                heads_of(c.block_out_channels[i])?;
            }
        }
        for (i, k) in up.iter().enumerate() {
            if *k == UpBlockKind::AttnUp {
                heads_of(c.block_out_channels[n - 1 - i])?;
            }
        }
        if mid && c.add_attention {
            heads_of(c.block_out_channels[n - 1])?;
        }
        if c.time_embedding_dim == Some(0) {
            return Err(field(
                "time_embedding_dim",
                0,
                "expected a positive width (or null: 4 × block_out_channels[0])",
            ));
        }
        let temb_dim = c
            .time_embedding_dim
            .unwrap_or(c.block_out_channels[0].saturating_mul(4));
        Ok(ValidUNetConfig {
            down,
            up,
            mid,
            shift,
            act,
            groups,
            out_groups,
            temb_dim,
            raw: self,
        })
    }
}

impl ValidUNetConfig {
    /// A lower bound on the parameter count this configuration implies: the time embedding's two
    /// linear layers, the input and output 3×3 convolutions (`9 c₀ (in + out)`) and, per block,
    /// the two 3×3 convolutions of each of its `layers_per_block` resnets (`18 c²` each). Computed
    /// in `f64`, so absurd sizes cannot overflow; [`crate::unet::UNet2DModel::from_dir`] holds it
    /// against the weights file before allocating anything.
    pub fn min_parameters(&self) -> f64 {
        let r = &self.raw;
        let ch = &r.block_out_channels;
        let (c0, t) = (ch[0] as f64, self.temb_dim as f64);
        let blocks: f64 = ch.iter().map(|&c| 18.0 * (c as f64) * (c as f64)).sum();
        let io = 9.0 * c0 * (r.in_channels as f64 + r.out_channels as f64);
        c0 * t + t * t + io + r.layers_per_block as f64 * blocks
    }

    /// How many times the encoder halves the resolution.
    pub fn downsamplings(&self) -> usize {
        self.raw.block_out_channels.len() - 1
    }
}
