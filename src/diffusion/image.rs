//! Images in and out of the pixel-space models: 8-bit PNG (grey or RGB) ↔ f32 tensors in
//! [−1, 1] (diffusers' convention, `x = 2 · level/255 − 1`), and sample grids.

use std::fs::File;
use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Reads a PNG as `[1, C, H, W]` in [−1, 1]: C = 1 for grey, 3 for colour (alpha is dropped,
/// palettes and 16-bit depths are converted to 8-bit).
pub fn read_png(path: &Path) -> Result<Tensor> {
    let file = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let bad = |reason: String| Error::BadFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .map_err(|e| bad(format!("not a PNG image: {e}")))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| bad("image too large".into()))?;
    // deflate expands at most 1032-fold: an image whose header declares more pixels than its
    // compressed data could hold is damaged, and is refused before its buffer is allocated
    let file_len = std::fs::metadata(path)
        .map_err(|e| Error::io("cannot read", path, e))?
        .len() as usize;
    if size > 1032 * file_len + (1 << 16) {
        let info = reader.info();
        return Err(bad(format!(
            "the header declares {} × {} pixels ({size} bytes decoded) but the file holds {file_len} bytes, \
             more than deflate can expand: damaged",
            info.width, info.height
        )));
    }
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| bad(format!("cannot decode: {e}")))?;
    let (w, h) = (info.width as i64, info.height as i64);
    let (stride, keep) = match info.color_type {
        png::ColorType::Grayscale => (1, 1),
        png::ColorType::GrayscaleAlpha => (2, 1),
        png::ColorType::Rgb => (3, 3),
        png::ColorType::Rgba => (4, 3),
        png::ColorType::Indexed => return Err(bad("palette not expanded".into())),
    };
    let pixels: Vec<f32> = buf[..info.buffer_size()]
        .chunks_exact(stride)
        .flat_map(|p| p[..keep].iter().map(|&v| v as f32 / 127.5 - 1.0))
        .collect();
    Ok(Tensor::from_slice(&pixels)
        .view([h, w, keep as i64])
        .permute([2, 0, 1])
        .unsqueeze(0)
        .contiguous())
}

/// `x: [1, C, H, W]` with `C` channels changed to `channels`: grey to RGB by repetition, RGB to
/// grey by the mean; anything else is an error.
pub fn match_channels(x: &Tensor, channels: i64) -> Result<Tensor> {
    let c = x.size()[1];
    match (c, channels) {
        (a, b) if a == b => Ok(x.shallow_clone()),
        (1, 3) => Ok(x.repeat([1, 3, 1, 1])),
        (3, 1) => Ok(x.mean_dim(1, true, Kind::Float)),
        _ => Err(Error::invalid(
            "image",
            format!("{c} channels"),
            format!("the model takes {channels}"),
        )),
    }
}

/// Writes `x: [C, H, W]` (C = 1 or 3, values in [−1, 1], clamped) as an 8-bit PNG.
pub fn write_png(path: &Path, x: &Tensor) -> Result<()> {
    let bytes = png_bytes(x)?;
    std::fs::write(path, bytes).map_err(|e| Error::io("cannot write", path, e))
}

/// `x: [C, H, W]` (C = 1 or 3, values in [−1, 1], clamped) encoded as an 8-bit PNG in memory.
pub fn png_bytes(x: &Tensor) -> Result<Vec<u8>> {
    let size = x.size();
    if size.len() != 3 || !(size[0] == 1 || size[0] == 3) {
        return Err(Error::invalid(
            "image",
            format!("a tensor of shape {size:?}"),
            "expected [1 or 3, H, W]",
        ));
    }
    let (c, h, w) = (size[0], size[1], size[2]);
    let bytes = ((x
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .clamp(-1.0, 1.0)
        + 1.0)
        * 127.5)
        .round()
        .to_kind(Kind::Uint8)
        .permute([1, 2, 0])
        .contiguous()
        .view([-1]);
    let data = Vec::<u8>::try_from(&bytes).map_err(Error::from)?;
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
    enc.set_color(if c == 1 {
        png::ColorType::Grayscale
    } else {
        png::ColorType::Rgb
    });
    enc.set_depth(png::BitDepth::Eight);
    let enc_err = |e: png::EncodingError| {
        Error::invalid(
            "image",
            format!("{size:?}"),
            format!("encodable as PNG ({e})"),
        )
    };
    let mut wr = enc.write_header().map_err(enc_err)?;
    wr.write_image_data(&data).map_err(enc_err)?;
    wr.finish().map_err(enc_err)?;
    Ok(out)
}

/// An image shown inline in a notebook (evcxr's `image/png` display) and kept in the exported
/// HTML as a data URI.
#[derive(Debug, Clone)]
pub struct Picture {
    /// The PNG file's bytes.
    pub png: Vec<u8>,
}

impl Picture {
    /// `x: [C, H, W]` in [−1, 1], enlarged `zoom` times (nearest neighbour).
    pub fn new(x: &Tensor, zoom_factor: i64) -> Result<Self> {
        Ok(Self {
            png: png_bytes(&zoom(x, zoom_factor))?,
        })
    }

    /// A grid of `x: [N, C, H, W]`, `cols` per row, enlarged `zoom` times.
    pub fn grid(x: &Tensor, cols: i64, zoom_factor: i64) -> Result<Self> {
        Self::new(&grid_cols(x, cols, 1), zoom_factor)
    }

    /// The notebook display (called by evcxr for a cell's last value).
    pub fn evcxr_display(&self) {
        use base64::Engine;
        println!(
            "EVCXR_BEGIN_CONTENT image/png\n{}\nEVCXR_END_CONTENT",
            base64::engine::general_purpose::STANDARD.encode(&self.png)
        );
    }
}

/// Nearest-neighbour enlargement of an image `[C, H, W]` by an integer factor (each pixel becomes a
/// `factor × factor` block; 1 returns the image unchanged).
pub fn zoom(x: &Tensor, factor: i64) -> Tensor {
    if factor <= 1 {
        return x.shallow_clone();
    }
    x.repeat_interleave_self_int(factor, 1, None)
        .repeat_interleave_self_int(factor, 2, None)
}

/// Tiles `x: [N, C, H, W]` into `[C, rows·(H+pad)+pad, cols·(W+pad)+pad]` on a background of −1,
/// `cols = ceil(√N)`.
pub fn grid(x: &Tensor, pad: i64) -> Tensor {
    let n = x.size()[0];
    grid_cols(x, (n as f64).sqrt().ceil().max(1.0) as i64, pad)
}

/// [`grid`] with `cols` images per row (row-major: image i at row i / cols, column i % cols).
pub fn grid_cols(x: &Tensor, cols: i64, pad: i64) -> Tensor {
    let (n, c, h, w) = x.size4().expect("grid input is [N, C, H, W]");
    let cols = cols.max(1);
    let rows = (n + cols - 1) / cols;
    let out = Tensor::full(
        [c, rows * (h + pad) + pad, cols * (w + pad) + pad],
        -1.0,
        (Kind::Float, Device::Cpu),
    );
    let x = x.to_device(Device::Cpu).to_kind(Kind::Float);
    for i in 0..n {
        let (r, col) = (i / cols, i % cols);
        let (y0, x0) = (pad + r * (h + pad), pad + col * (w + pad));
        out.narrow(1, y0, h).narrow(2, x0, w).copy_(&x.get(i));
    }
    out
}

/// Images `[1, C, H, W]` (or batches) stacked along the batch dimension, on the CPU.
pub fn stack(images: &[&Tensor]) -> Tensor {
    let v: Vec<Tensor> = images.iter().map(|t| t.to_device(Device::Cpu)).collect();
    Tensor::cat(&v, 0)
}

/// `x / max|x|`: any tensor (a noisy latent) brought into the grey range [−1, 1] to be looked at.
pub fn normalize(x: &Tensor) -> Tensor {
    let m = x.abs().max().double_value(&[]).max(f64::MIN_POSITIVE);
    x / m
}

/// Root mean square of `a − b` over all elements.
pub fn rmse(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_device(Device::Cpu) - b.to_device(Device::Cpu))
        .to_kind(Kind::Double)
        .square()
        .mean(Kind::Double)
        .sqrt()
        .double_value(&[])
}
