//! `difftheory doctor`: what a bug report needs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::build_info;

fn first_line(cmd: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&o.stdout);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

fn evcxr_version() -> String {
    let out = Command::new("cargo").args(["install", "--list"]).output();
    if let Ok(o) = out {
        let text = String::from_utf8_lossy(&o.stdout);
        if let Some(l) = text.lines().find(|l| l.starts_with("evcxr_jupyter v")) {
            return l.trim_end_matches(':').to_string();
        }
    }
    "evcxr_jupyter not installed (scripts/setup.sh installs it)".into()
}

fn kernel_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(p) = std::env::var("JUPYTER_PATH") {
        dirs.extend(
            p.split(':')
                .filter(|s| !s.is_empty())
                .map(|s| Path::new(s).join("kernels")),
        );
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/share/jupyter/kernels"));
    if let Ok(home) = std::env::var("HOME") {
        dirs.push(Path::new(&home).join(".local/share/jupyter/kernels"));
    }
    dirs.push(PathBuf::from("/usr/local/share/jupyter/kernels"));
    dirs.push(PathBuf::from("/usr/share/jupyter/kernels"));
    dirs
}

fn kernel_state() -> String {
    for d in kernel_dirs() {
        let spec = d.join("difftheory").join("kernel.json");
        if spec.exists() {
            return format!("installed ({})", spec.display());
        }
    }
    "not installed (scripts/setup.sh registers it)".into()
}

#[cfg(feature = "torch")]
fn torch_lines() -> String {
    use crate::torch;
    format!(
        "libtorch:    {} ({})\ncuda linked: {}\ncuda:        {}\ndevice:      --device auto runs on {:?}\n",
        torch::libtorch_version().unwrap_or_else(|| "unknown version".into()),
        torch::LIBTORCH_LIB,
        if torch::CUDA_LINKED {
            "yes"
        } else {
            "no (CPU-only libtorch install)"
        },
        if torch::cuda_available() {
            format!("available, {} device(s)", torch::cuda_device_count())
        } else {
            "not available".into()
        },
        torch::DeviceChoice::Auto
            .resolve()
            .unwrap_or(tch::Device::Cpu),
    )
}

#[cfg(not(feature = "torch"))]
fn torch_lines() -> String {
    "libtorch:    not compiled in (build with --features torch)\n".into()
}

/// The doctor's report, one `name: value` per line.
pub fn report() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!(
        "difftheory:  {} (features: torch={})\nrustc build: {}\nrustc now:   {}\nevcxr:       {}\nkernel:      {}\n{}threads:     {} rayon, {} cores\nsimd:        {} (batched linear-kl kernels; cap with {}=avx2|portable)\nos:          {} {}\n",
        build_info::VERSION,
        if build_info::TORCH { "on" } else { "off" },
        build_info::RUSTC,
        first_line("rustc", &["-V"]).unwrap_or_else(|| "rustc not on PATH".into()),
        evcxr_version(),
        kernel_state(),
        torch_lines(),
        rayon::current_num_threads(),
        cores,
        crate::linear::lanes::instruction_set(),
        crate::linear::lanes::SIMD_ENV,
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}
