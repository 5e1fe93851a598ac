//! `UNet2DModel`: the noise-prediction network of the pixel-space DDPMs (Ho, Jain & Abbeel 2020,
//! as implemented by diffusers), built from a checked [`ValidUNetConfig`].
//!
//! `conv_in` → time embedding → down blocks (keeping every intermediate state) → middle block →
//! up blocks (each resnet eating one kept state) → `conv_norm_out`, activation, `conv_out`.

use std::path::Path;

use tch::nn::{self, Module};
use tch::{Device, Tensor};

use super::blocks::{AttnSettings, DownBlock, MidBlock, ResnetSettings, UpBlock, UpChannels};
use super::config::{DownBlockKind, UNetConfig, UpBlockKind, ValidUNetConfig};
use super::embeddings::{timestep_embedding, TimestepMlp};
use crate::error::{Error, Result};

/// A diffusers-compatible `UNet2DModel` in a tch [`nn::VarStore`] whose variable names are the
/// diffusers state-dict keys.
#[derive(Debug)]
pub struct UNet2DModel {
    vs: nn::VarStore,
    config: ValidUNetConfig,
    conv_in: nn::Conv2D,
    time_embedding: TimestepMlp,
    down_blocks: Vec<DownBlock>,
    mid_block: Option<MidBlock>,
    up_blocks: Vec<UpBlock>,
    conv_norm_out: nn::GroupNorm,
    conv_out: nn::Conv2D,
}

impl UNet2DModel {
    /// A model with freshly initialised (tch default) f32 weights on `device`; build it inside
    /// [`crate::torch::with_seed`] for reproducible weights.
    pub fn new(config: ValidUNetConfig, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let c = &config.raw;
        let ch = &c.block_out_channels;
        let n = ch.len();
        let settings = |output_scale: f64| ResnetSettings {
            temb_dim: config.temb_dim,
            groups: config.groups,
            eps: c.norm_eps,
            act: config.act,
            shift: config.shift,
            output_scale,
            dropout: c.dropout,
        };
        let attn = AttnSettings {
            head_dim: c.attention_head_dim,
            groups: Some(config.groups),
        };
        let conv3 = |p: nn::Path, i: usize, o: usize| {
            let cfg = nn::ConvConfig {
                padding: 1,
                ..Default::default()
            };
            nn::conv2d(p, i as i64, o as i64, 3, cfg)
        };
        let conv_in = conv3(&root / "conv_in", c.in_channels, ch[0]);
        let time_embedding = TimestepMlp::new(&root / "time_embedding", ch[0], config.temb_dim);
        let mut down_blocks = Vec::with_capacity(n);
        let mut c_prev = ch[0];
        for (i, kind) in config.down.iter().enumerate() {
            let last = i == n - 1;
            down_blocks.push(DownBlock::new(
                &root / "down_blocks" / i,
                (c_prev, ch[i]),
                c.layers_per_block,
                settings(1.0),
                (*kind == DownBlockKind::AttnDown).then_some(attn),
                (!last).then_some(c.downsample_padding),
            ));
            c_prev = ch[i];
        }
        let mid_block = config.mid.then(|| {
            let groups = c.attn_norm_num_groups.or(match config.shift {
                super::config::TimeScaleShift::Add => Some(config.groups),
                super::config::TimeScaleShift::ScaleShift => None,
            });
            MidBlock::new(
                &root / "mid_block",
                ch[n - 1],
                settings(c.mid_block_scale_factor),
                c.add_attention.then_some(AttnSettings {
                    head_dim: c.attention_head_dim,
                    groups,
                }),
            )
        });
        let mut up_blocks = Vec::with_capacity(n);
        let mut out = ch[n - 1];
        for (i, kind) in config.up.iter().enumerate() {
            let prev_out = out;
            out = ch[n - 1 - i];
            let c_in = ch[(n - 1).saturating_sub(i + 1)];
            up_blocks.push(UpBlock::new(
                &root / "up_blocks" / i,
                UpChannels {
                    prev_out,
                    c_in,
                    c_out: out,
                },
                c.layers_per_block + 1,
                settings(1.0),
                (*kind == UpBlockKind::AttnUp).then_some(attn),
                i != n - 1,
            ));
        }
        let conv_norm_out = nn::group_norm(
            &root / "conv_norm_out",
            config.out_groups as i64,
            ch[0] as i64,
            nn::GroupNormConfig {
                eps: c.norm_eps,
                ..Default::default()
            },
        );
        let conv_out = conv3(&root / "conv_out", ch[0], c.out_channels);
        Self {
            vs,
            config,
            conv_in,
            time_embedding,
            down_blocks,
            mid_block,
            up_blocks,
            conv_norm_out,
            conv_out,
        }
    }

    /// Reads `config.json` and `diffusion_pytorch_model.safetensors` from `dir` (or from
    /// `dir/unet/`, the layout of a saved pipeline) onto `device`, frozen: the weights do not
    /// require gradients, so Jacobian products w.r.t. the input skip the weights' graph
    /// ([`UNet2DModel::unfreeze`] to fine-tune).
    pub fn from_dir(dir: &Path, device: Device) -> Result<Self> {
        let dir = super::load::model_folder(dir)?;
        let config = UNetConfig::from_file(&dir.join("config.json"))?;
        let weights = dir.join(super::load::WEIGHTS_FILE);
        // a config that asks for more parameters than the weights file can hold (2 bytes each at
        // the least, in f16) is refused before anything is allocated
        let bytes = std::fs::metadata(&weights)
            .map_err(|e| Error::io("cannot read", &weights, e))?
            .len() as f64;
        let need = config.min_parameters();
        if 2.0 * need > bytes {
            return Err(Error::BadFile {
                path: dir.join("config.json"),
                reason: format!(
                    "block_out_channels {:?} with layers_per_block {} imply at least {need:.3e} parameters ({:.3e} bytes even in f16), but {} holds {bytes:.0} bytes: the config does not describe these weights",
                    config.raw.block_out_channels,
                    config.raw.layers_per_block,
                    2.0 * need,
                    weights.display()
                ),
            });
        }
        let mut model = crate::torch::with_generator(|| Self::new(config, device));
        super::load::load_weights(&mut model.vs, &weights)?;
        model.vs.freeze();
        Ok(model)
    }

    /// The weights stop requiring gradients (inference and Jacobians of the input).
    pub fn freeze(&mut self) {
        self.vs.freeze();
    }

    /// The weights require gradients again (training).
    pub fn unfreeze(&mut self) {
        self.vs.unfreeze();
    }

    /// The checked configuration.
    pub fn config(&self) -> &ValidUNetConfig {
        &self.config
    }

    /// `(channels, side)` of the images the model takes, from its config's `in_channels` and
    /// `sample_size` (an error naming `sample_size` when the config has none).
    pub fn image_shape(&self) -> Result<(i64, i64)> {
        let c = &self.config.raw;
        let s = c.sample_size.ok_or_else(|| {
            Error::invalid(
                "config.json: sample_size",
                "null",
                "sampling needs the image size",
            )
        })?;
        Ok((c.in_channels as i64, s as i64))
    }

    /// The variables, named by their diffusers state-dict keys.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The variables, mutably (training, loading).
    pub fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    /// The device of the weights.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Number of scalar parameters.
    pub fn parameter_count(&self) -> i64 {
        self.vs.variables().values().map(|t| t.numel() as i64).sum()
    }

    /// Checks that `x` is `[B, in_channels, H, W]` with `H` and `W` divisible by `2^(levels−1)`
    /// and `timesteps` is a scalar or has `B` entries.
    pub fn check_input(&self, x: &Tensor, timesteps: &Tensor) -> Result<()> {
        let c = &self.config.raw;
        let size = x.size();
        let f = 1i64 << self.config.downsamplings();
        let ok = size.len() == 4
            && size[1] == c.in_channels as i64
            && size[0] > 0
            && size[2] > 0
            && size[3] > 0
            && size[2] % f == 0
            && size[3] % f == 0;
        if !ok {
            return Err(Error::invalid(
                "sample",
                format!("a tensor of shape {size:?}"),
                format!(
                    "expected [batch, {}, H, W] with H and W multiples of {f} (this model: {}×{})",
                    c.in_channels,
                    c.sample_size.map_or("?".into(), |s| s.to_string()),
                    c.sample_size.map_or("?".into(), |s| s.to_string()),
                ),
            ));
        }
        let tn = timesteps.numel() as i64;
        if !(timesteps.dim() == 0 || (timesteps.dim() == 1 && (tn == size[0] || tn == 1))) {
            return Err(Error::invalid(
                "timesteps",
                format!("a tensor of shape {:?}", timesteps.size()),
                format!("expected a scalar or {} entries, one per image", size[0]),
            ));
        }
        Ok(())
    }

    /// The network's output for images `x: [B, C, H, W]` (converted to the weights' kind, f32 as loaded) at `timesteps` (a scalar, `[1]` or
    /// `[B]`, integer or float; diffusers' "timestep" index, 0..num_train_timesteps).
    pub fn forward(&self, x: &Tensor, timesteps: &Tensor) -> Result<Tensor> {
        self.forward_t(x, timesteps, false)
    }

    /// [`forward`](Self::forward) with dropout active when `train`.
    pub fn forward_t(&self, x: &Tensor, timesteps: &Tensor, train: bool) -> Result<Tensor> {
        self.check_input(x, timesteps)?;
        let c = &self.config.raw;
        let b = x.size()[0];
        // the weights' kind: f32 as loaded, f64 after `var_store_mut().double()` (checks)
        let kind = self.conv_in.ws.kind();
        let x = x.to_device(self.device()).to_kind(kind);
        let x = if c.center_input_sample {
            2.0 * x - 1.0
        } else {
            x
        };
        let t = timesteps.to_device(self.device()).reshape([-1]);
        let t = if t.size()[0] == b {
            t
        } else {
            t.expand([b], false)
        };
        let t_emb =
            timestep_embedding(&t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift)
                .to_kind(kind);
        let emb = self.time_embedding.forward(&t_emb);
        let mut h = self.conv_in.forward(&x);
        let mut skips = vec![h.shallow_clone()];
        for block in &self.down_blocks {
            let (out, states) = block.forward(&h, &emb, train);
            h = out;
            skips.extend(states);
        }
        if let Some(m) = &self.mid_block {
            h = m.forward(&h, &emb, train);
        }
        for block in &self.up_blocks {
            let k = block.n_skips();
            let rest = skips.len() - k;
            h = block.forward(&h, &skips[rest..], &emb, train);
            skips.truncate(rest);
        }
        // diffusers' output activation is SiLU whatever `act_fn` says
        let h = self.conv_norm_out.forward(&h).silu();
        Ok(self.conv_out.forward(&h))
    }
}
