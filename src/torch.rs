//! libtorch through tch 0.26 (feature `torch`): device choice, CUDA detection, version, and a
//! matrix tensor as a faer matrix.
//!
//! libtorch 2.13.0 comes from the PyPI `torch==2.13.0` wheel (see `scripts/setup.sh`). The build
//! script embeds the library folder as an rpath, so binaries and tests run without
//! `LD_LIBRARY_PATH`, and force-links `libtorch_cuda` when its CUDA dependencies are installed —
//! otherwise the linker drops it (`--as-needed`) and CUDA is never found, even on a GPU machine.

use std::str::FromStr;

use crate::error::{Error, Result};

/// The device a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The CPU.
    Cpu,
    /// The first CUDA device; an error when none is available.
    Cuda,
    /// CUDA when available, else the CPU.
    Auto,
}

impl FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda),
            "auto" => Ok(DeviceChoice::Auto),
            _ => Err(Error::invalid("device", s, "expected cpu, cuda or auto")),
        }
    }
}

impl DeviceChoice {
    /// The tch device, checking that CUDA is there when asked for.
    pub fn resolve(self) -> Result<tch::Device> {
        match self {
            DeviceChoice::Cpu => Ok(tch::Device::Cpu),
            DeviceChoice::Auto => Ok(if tch::Cuda::is_available() {
                tch::Device::Cuda(0)
            } else {
                tch::Device::Cpu
            }),
            DeviceChoice::Cuda => {
                if tch::Cuda::is_available() {
                    Ok(tch::Device::Cuda(0))
                } else {
                    Err(Error::invalid(
                        "device",
                        "cuda",
                        format!("no CUDA device is available to libtorch ({}); use --device cpu or auto", cuda_link_note()),
                    ))
                }
            }
        }
    }
}

/// `draw()` with libtorch's global generator seeded with `seed`, under a process-wide lock: no other
/// thread of the crate reseeds the generator or draws from it in between, so a seed gives the same
/// tensors (initial weights, random directions) even when several threads build models at once —
/// libtest's test threads, or a notebook's parallel loop. (Without it two trainings started
/// together interleave their draws, and each gets weights neither seed describes.)
pub fn with_seed<T>(seed: i64, draw: impl FnOnce() -> T) -> T {
    with_generator(|| {
        tch::manual_seed(seed);
        draw()
    })
}

/// `draw()` holding [`with_seed`]'s lock without reseeding: for draws whose values do not matter
/// (a network's initial weights about to be replaced by loaded ones), which must still not shift
/// the stream of a seeded draw on another thread.
pub fn with_generator<T>(draw: impl FnOnce() -> T) -> T {
    static GLOBAL_GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _only_us = GLOBAL_GENERATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    draw()
}

/// Whether libtorch sees a CUDA device.
pub fn cuda_available() -> bool {
    tch::Cuda::is_available()
}

/// Number of CUDA devices libtorch sees.
pub fn cuda_device_count() -> i64 {
    tch::Cuda::device_count()
}

/// Whether the build linked `libtorch_cuda` (decided by the build script).
pub const CUDA_LINKED: bool = option_env!("DIFFTHEORY_CUDA_LINKED").is_some();

/// The libtorch library folder the build used.
pub const LIBTORCH_LIB: &str = env!("DIFFTHEORY_LIBTORCH_LIB");

fn cuda_link_note() -> &'static str {
    if CUDA_LINKED {
        "libtorch_cuda is linked"
    } else {
        "this build did not link libtorch_cuda: install the full wheel with `scripts/setup.sh --torch full` and rebuild"
    }
}

/// The libtorch version, read from the wheel's `torch/version.py` next to the library folder
/// (e.g. `2.13.0+cu130`), or `None` when that file is missing.
pub fn libtorch_version() -> Option<String> {
    let path = std::path::Path::new(LIBTORCH_LIB)
        .parent()?
        .join("version.py");
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
}

/// A matrix tensor `[r, c]` (any device and float kind) as an f64 faer matrix on the CPU.
pub fn matrix_from_tensor(m: &tch::Tensor) -> Result<faer::Mat<f64>> {
    let size = m.size();
    if size.len() != 2 {
        return Err(Error::invalid(
            "matrix",
            format!("{size:?}"),
            "a two-dimensional tensor",
        ));
    }
    let (r, c) = (size[0] as usize, size[1] as usize);
    let v: Vec<f64> = Vec::<f64>::try_from(
        &m.to_kind(tch::Kind::Double)
            .to_device(tch::Device::Cpu)
            .contiguous()
            .view([-1]),
    )?;
    Ok(faer::Mat::from_fn(r, c, |i, j| v[i * c + j]))
}
