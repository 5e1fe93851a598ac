//! Helpers shared by the test files (each file is its own crate and uses a subset).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The built `difftheory` binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_difftheory"))
}

/// Runs the binary with `args`.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("difftheory runs")
}

/// A fresh, empty folder for this test process.
pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("difftheory-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Exit code 2 and exactly one line on stderr that contains every one of `needles`.
pub fn assert_user_error(args: &[&str], needles: &[&str]) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "{args:?}: '{n}' missing from: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// Runs `args` with `--out table.csv` and returns (header, data rows).
pub fn table(tag: &str, args: &[&str]) -> (String, Vec<Vec<String>>) {
    let dir = tempdir(tag);
    let out = dir.join("t.csv");
    let mut a: Vec<&str> = args.to_vec();
    let path = out.to_str().unwrap().to_string();
    a.extend(["--quiet", "--out", &path]);
    let res = run(&a);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// The smallest DDPM training configuration the tests use (channels 8 and 16, batch 4): a step
/// takes milliseconds.
#[cfg(feature = "torch")]
pub fn tiny_ddpm() -> difftheory::diffusion::train::TrainDdpmConfig {
    let mut c = difftheory::diffusion::train::TrainDdpmConfig {
        batch: 4,
        ..Default::default()
    };
    c.unet.block_out_channels = vec![8, 16];
    c.unet.norm_num_groups = Some(4);
    c.unet.attention_head_dim = Some(8);
    c
}
