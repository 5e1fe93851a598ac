//! The blocks of diffusers' `UNet2DModel`, parameter names as in its state dict:
//! `ResnetBlock2D` (`norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut`), the spatial
//! self-attention `Attention` (`group_norm, to_q, to_k, to_v, to_out.0`), `Downsample2D` /
//! `Upsample2D` (`conv`), and the down, middle and up blocks built from them.
//!
//! Every forward mirrors diffusers' operations in the same order, so that f32 results agree to
//! rounding (see `tests/unet.rs` for the measured difference).

use tch::nn::{self, Module};
use tch::Tensor;

use super::config::{Activation, TimeScaleShift};

/// The activation `act` applied to `x`.
pub fn activate(x: &Tensor, act: Activation) -> Tensor {
    match act {
        Activation::Silu => x.silu(),
        Activation::Mish => x.mish(),
        Activation::Gelu => x.gelu("none"),
    }
}

fn conv(vs: nn::Path, c_in: usize, c_out: usize, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding,
        ..Default::default()
    };
    nn::conv2d(vs, c_in as i64, c_out as i64, k, cfg)
}

fn group_norm(vs: nn::Path, groups: usize, channels: usize, eps: f64) -> nn::GroupNorm {
    let cfg = nn::GroupNormConfig {
        eps,
        ..Default::default()
    };
    nn::group_norm(vs, groups as i64, channels as i64, cfg)
}

/// What every resnet of a block shares.
#[derive(Debug, Clone, Copy)]
pub struct ResnetSettings {
    /// Width of the time embedding.
    pub temb_dim: usize,
    /// Groups of both norms.
    pub groups: usize,
    /// Epsilon of both norms.
    pub eps: f64,
    /// The activation.
    pub act: Activation,
    /// How the time embedding enters.
    pub shift: TimeScaleShift,
    /// The output is divided by this.
    pub output_scale: f64,
    /// Dropout before `conv2` when training.
    pub dropout: f64,
}

/// `ResnetBlock2D`: `(shortcut(x) + conv2(drop(act(norm2(conv1(act(norm1 x)) + proj(act temb)))))) / s`.
#[derive(Debug)]
pub struct ResnetBlock {
    norm1: nn::GroupNorm,
    conv1: nn::Conv2D,
    time_emb_proj: nn::Linear,
    norm2: nn::GroupNorm,
    conv2: nn::Conv2D,
    conv_shortcut: Option<nn::Conv2D>,
    s: ResnetSettings,
}

impl ResnetBlock {
    /// Parameters under `vs`; a 1×1 `conv_shortcut` when the channel count changes.
    pub fn new(vs: nn::Path, c_in: usize, c_out: usize, s: ResnetSettings) -> Self {
        let proj_out = match s.shift {
            TimeScaleShift::Add => c_out,
            TimeScaleShift::ScaleShift => 2 * c_out,
        };
        Self {
            norm1: group_norm(&vs / "norm1", s.groups, c_in, s.eps),
            conv1: conv(&vs / "conv1", c_in, c_out, 3, 1, 1),
            time_emb_proj: nn::linear(
                &vs / "time_emb_proj",
                s.temb_dim as i64,
                proj_out as i64,
                Default::default(),
            ),
            norm2: group_norm(&vs / "norm2", s.groups, c_out, s.eps),
            conv2: conv(&vs / "conv2", c_out, c_out, 3, 1, 1),
            conv_shortcut: (c_in != c_out)
                .then(|| conv(&vs / "conv_shortcut", c_in, c_out, 1, 1, 0)),
            s,
        }
    }

    /// `x: [B, c_in, H, W]`, `temb: [B, temb_dim]` → `[B, c_out, H, W]`.
    pub fn forward(&self, x: &Tensor, temb: &Tensor, train: bool) -> Tensor {
        let act = self.s.act;
        let h = activate(&self.norm1.forward(x), act);
        let h = self.conv1.forward(&h);
        let t = self
            .time_emb_proj
            .forward(&activate(temb, act))
            .unsqueeze(-1)
            .unsqueeze(-1);
        let h = match self.s.shift {
            TimeScaleShift::Add => self.norm2.forward(&(h + t)),
            TimeScaleShift::ScaleShift => {
                let parts = t.chunk(2, 1);
                self.norm2.forward(&h) * (1.0 + &parts[0]) + &parts[1]
            }
        };
        let h = activate(&h, act).dropout(self.s.dropout, train);
        let h = self.conv2.forward(&h);
        let x = match &self.conv_shortcut {
            Some(c) => c.forward(x),
            None => x.shallow_clone(),
        };
        let out = x + h;
        if self.s.output_scale == 1.0 {
            out
        } else {
            out / self.s.output_scale
        }
    }
}

/// The spatial self-attention of the pixel-space DDPMs (`Attention` with
/// `_from_deprecated_attn_block`): group norm, multi-head scaled dot-product attention over the
/// `H·W` positions, output projection, residual, divided by `rescale_output_factor`.
#[derive(Debug)]
pub struct AttentionBlock {
    group_norm: Option<nn::GroupNorm>,
    to_q: nn::Linear,
    to_k: nn::Linear,
    to_v: nn::Linear,
    to_out: nn::Linear,
    heads: i64,
    rescale: f64,
}

impl AttentionBlock {
    /// Parameters under `vs`; `head_dim = None` is one head over all `channels`; no norm when
    /// `groups` is `None`.
    pub fn new(
        vs: nn::Path,
        channels: usize,
        head_dim: Option<usize>,
        groups: Option<usize>,
        eps: f64,
        rescale: f64,
    ) -> Self {
        let c = channels as i64;
        let lin = |name: &str| nn::linear(&vs / name, c, c, Default::default());
        Self {
            group_norm: groups.map(|g| group_norm(&vs / "group_norm", g, channels, eps)),
            to_q: lin("to_q"),
            to_k: lin("to_k"),
            to_v: lin("to_v"),
            to_out: nn::linear(&vs / "to_out" / 0, c, c, Default::default()),
            heads: head_dim.map_or(1, |d| (channels / d) as i64),
            rescale,
        }
    }

    /// `[B, C, H, W] → [B, C, H, W]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (b, c, h, w) = x.size4().expect("attention input is [B, C, H, W]");
        let tokens = x.view([b, c, h * w]).transpose(1, 2);
        let tokens = match &self.group_norm {
            Some(n) => n.forward(&tokens.transpose(1, 2)).transpose(1, 2),
            None => tokens,
        };
        let hd = c / self.heads;
        let split = |t: Tensor| t.view([b, -1, self.heads, hd]).transpose(1, 2);
        let q = split(self.to_q.forward(&tokens));
        let k = split(self.to_k.forward(&tokens));
        let v = split(self.to_v.forward(&tokens));
        // The fused kernel has no double backward on the CPU; Jacobian products (the input
        // requires grad) take the explicit softmax(q kᵀ/√d) v, the same function.
        let a = if x.requires_grad() {
            (q.matmul(&k.transpose(-1, -2)) / (hd as f64).sqrt())
                .softmax(-1, q.kind())
                .matmul(&v)
        } else {
            Tensor::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                None::<Tensor>,
                0.0,
                false,
                None,
                false,
            )
        };
        let a = a.transpose(1, 2).reshape([b, -1, self.heads * hd]);
        let a = self.to_out.forward(&a);
        let a = a.transpose(-1, -2).reshape([b, c, h, w]);
        let out = a + x;
        if self.rescale == 1.0 {
            out
        } else {
            out / self.rescale
        }
    }
}

/// `Downsample2D` with a convolution: 3×3, stride 2; with `padding = 0` the input is first padded
/// by one on the right and at the bottom.
#[derive(Debug)]
pub struct Downsample {
    conv: nn::Conv2D,
    padding: i64,
}

impl Downsample {
    /// Parameters under `vs` (`conv`).
    pub fn new(vs: nn::Path, channels: usize, padding: i64) -> Self {
        Self {
            conv: conv(&vs / "conv", channels, channels, 3, 2, padding),
            padding,
        }
    }

    /// `[B, C, H, W] → [B, C, H/2, W/2]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        if self.padding == 0 {
            self.conv.forward(&x.constant_pad_nd([0, 1, 0, 1]))
        } else {
            self.conv.forward(x)
        }
    }
}

/// `Upsample2D` with a convolution: nearest-neighbour ×2, then a 3×3 convolution.
#[derive(Debug)]
pub struct Upsample {
    conv: nn::Conv2D,
}

impl Upsample {
    /// Parameters under `vs` (`conv`).
    pub fn new(vs: nn::Path, channels: usize) -> Self {
        Self {
            conv: conv(&vs / "conv", channels, channels, 3, 1, 1),
        }
    }

    /// `[B, C, H, W] → [B, C, 2H, 2W]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (_, _, h, w) = x.size4().expect("upsample input is [B, C, H, W]");
        self.conv
            .forward(&x.upsample_nearest2d([2 * h, 2 * w], 2.0, 2.0))
    }
}

/// Attention settings of a block: heads and norm.
#[derive(Debug, Clone, Copy)]
pub struct AttnSettings {
    /// Channels per head (`None`: one head).
    pub head_dim: Option<usize>,
    /// Groups of the attention's norm (`None`: no norm).
    pub groups: Option<usize>,
}

/// `DownBlock2D` (no attention) or `AttnDownBlock2D`: resnets (each followed by attention in the
/// latter), then an optional downsampler; every intermediate output is kept for the skips.
#[derive(Debug)]
pub struct DownBlock {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<AttentionBlock>,
    downsampler: Option<Downsample>,
}

impl DownBlock {
    /// Parameters under `vs` (`resnets.i`, `attentions.i`, `downsamplers.0`).
    pub fn new(
        vs: nn::Path,
        (c_in, c_out): (usize, usize),
        layers: usize,
        s: ResnetSettings,
        attn: Option<AttnSettings>,
        downsample_padding: Option<i64>,
    ) -> Self {
        let resnets = (0..layers)
            .map(|i| {
                let c = if i == 0 { c_in } else { c_out };
                ResnetBlock::new(&vs / "resnets" / i, c, c_out, s)
            })
            .collect();
        let attentions = match attn {
            Some(a) => (0..layers)
                .map(|i| {
                    AttentionBlock::new(
                        &vs / "attentions" / i,
                        c_out,
                        a.head_dim,
                        a.groups,
                        s.eps,
                        s.output_scale,
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        let downsampler =
            downsample_padding.map(|p| Downsample::new(&vs / "downsamplers" / 0, c_out, p));
        Self {
            resnets,
            attentions,
            downsampler,
        }
    }

    /// The block's output and the states it hands to the skips (one per resnet, one more after
    /// the downsampler).
    pub fn forward(&self, x: &Tensor, temb: &Tensor, train: bool) -> (Tensor, Vec<Tensor>) {
        let mut h = x.shallow_clone();
        let mut states = Vec::with_capacity(self.resnets.len() + 1);
        for (i, r) in self.resnets.iter().enumerate() {
            h = r.forward(&h, temb, train);
            if let Some(a) = self.attentions.get(i) {
                h = a.forward(&h);
            }
            states.push(h.shallow_clone());
        }
        if let Some(d) = &self.downsampler {
            h = d.forward(&h);
            states.push(h.shallow_clone());
        }
        (h, states)
    }
}

/// `UNetMidBlock2D`: resnet, then (attention, resnet) once.
#[derive(Debug)]
pub struct MidBlock {
    resnets: Vec<ResnetBlock>,
    attention: Option<AttentionBlock>,
}

impl MidBlock {
    /// Parameters under `vs` (`resnets.0`, `attentions.0`, `resnets.1`).
    pub fn new(
        vs: nn::Path,
        channels: usize,
        s: ResnetSettings,
        attn: Option<AttnSettings>,
    ) -> Self {
        let resnets = (0..2)
            .map(|i| ResnetBlock::new(&vs / "resnets" / i, channels, channels, s))
            .collect();
        let attention = attn.map(|a| {
            AttentionBlock::new(
                &vs / "attentions" / 0,
                channels,
                a.head_dim,
                a.groups,
                s.eps,
                s.output_scale,
            )
        });
        Self { resnets, attention }
    }

    /// `[B, C, H, W] → [B, C, H, W]`.
    pub fn forward(&self, x: &Tensor, temb: &Tensor, train: bool) -> Tensor {
        let mut h = self.resnets[0].forward(x, temb, train);
        if let Some(a) = &self.attention {
            h = a.forward(&h);
        }
        self.resnets[1].forward(&h, temb, train)
    }
}

/// `UpBlock2D` or `AttnUpBlock2D`: each resnet takes the previous output concatenated with one
/// skip state (last in, first out), then attention in the latter; then an optional upsampler.
#[derive(Debug)]
pub struct UpBlock {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<AttentionBlock>,
    upsampler: Option<Upsample>,
}

/// Channel counts of an up block: its input (the previous block's output), its skips' source
/// block, and its output.
#[derive(Debug, Clone, Copy)]
pub struct UpChannels {
    /// Output channels of the previous up block (or the middle block).
    pub prev_out: usize,
    /// Channels of the encoder level whose skips the last resnet takes.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
}

impl UpBlock {
    /// Parameters under `vs` (`resnets.i`, `attentions.i`, `upsamplers.0`); `layers` is
    /// `layers_per_block + 1`.
    pub fn new(
        vs: nn::Path,
        ch: UpChannels,
        layers: usize,
        s: ResnetSettings,
        attn: Option<AttnSettings>,
        upsample: bool,
    ) -> Self {
        let resnets = (0..layers)
            .map(|i| {
                let skip = if i == layers - 1 { ch.c_in } else { ch.c_out };
                let input = if i == 0 { ch.prev_out } else { ch.c_out };
                ResnetBlock::new(&vs / "resnets" / i, input + skip, ch.c_out, s)
            })
            .collect();
        let attentions = match attn {
            Some(a) => (0..layers)
                .map(|i| {
                    AttentionBlock::new(
                        &vs / "attentions" / i,
                        ch.c_out,
                        a.head_dim,
                        a.groups,
                        s.eps,
                        s.output_scale,
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        let upsampler = upsample.then(|| Upsample::new(&vs / "upsamplers" / 0, ch.c_out));
        Self {
            resnets,
            attentions,
            upsampler,
        }
    }

    /// How many skip states the block consumes.
    pub fn n_skips(&self) -> usize {
        self.resnets.len()
    }

    /// `skips` in the order the encoder produced them; the last is used first.
    pub fn forward(&self, x: &Tensor, skips: &[Tensor], temb: &Tensor, train: bool) -> Tensor {
        let mut h = x.shallow_clone();
        for (i, r) in self.resnets.iter().enumerate() {
            let skip = &skips[skips.len() - 1 - i];
            h = r.forward(&Tensor::cat(&[&h, skip], 1), temb, train);
            if let Some(a) = self.attentions.get(i) {
                h = a.forward(&h);
            }
        }
        match &self.upsampler {
            Some(u) => u.forward(&h),
            None => h,
        }
    }
}
