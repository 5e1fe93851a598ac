//! The pixel-space subcommands `unet`, `sample`, `invert` on the committed fixture models, and
//! their one-line errors for bad input.
#![cfg(feature = "torch")]

mod common;

use std::path::{Path, PathBuf};

use common::{assert_user_error, run, tempdir};
use tch::{Device, Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/unet")
        .join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn unet_runs_the_network_once_like_diffusers() {
    let d = tempdir("unet");
    let out = d.join("y.safetensors");
    let io = fixture("plain").join("io.safetensors");
    let o = run(&[
        "unet",
        "--model",
        s(&fixture("plain")),
        "--input",
        s(&io),
        "--timestep",
        "421",
        "--out",
        s(&out),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: std::collections::HashMap<_, _> = Tensor::read_safetensors(&out)
        .unwrap()
        .into_iter()
        .collect();
    let want: std::collections::HashMap<_, _> =
        Tensor::read_safetensors(&io).unwrap().into_iter().collect();
    let err = (&got["sample"] - &want["output_t421"])
        .abs()
        .max()
        .double_value(&[]);
    assert!(err < 1e-4, "{err}");
}

#[test]
fn unet_errors_are_one_line() {
    let d = tempdir("unet-err");
    let out = d.join("y.safetensors");
    assert_user_error(
        &[
            "unet",
            "--model",
            "/nonexistent",
            "--input",
            "x.safetensors",
            "--timestep",
            "1",
            "--out",
            s(&out),
        ],
        &["model", "/nonexistent", "config.json"],
    );
    let bad = d.join("bad.safetensors");
    let x = Tensor::zeros([1, 3, 15, 16], (Kind::Float, Device::Cpu));
    Tensor::write_safetensors(&[("sample", &x)], &bad).unwrap();
    assert_user_error(
        &[
            "unet",
            "--model",
            s(&fixture("plain")),
            "--input",
            s(&bad),
            "--timestep",
            "1",
            "--out",
            s(&out),
        ],
        &["[1, 3, 15, 16]", "[batch, 3, H, W]"],
    );
    let wrong_key = d.join("key.safetensors");
    Tensor::write_safetensors(&[("x", &x)], &wrong_key).unwrap();
    assert_user_error(
        &[
            "unet",
            "--model",
            s(&fixture("plain")),
            "--input",
            s(&wrong_key),
            "--timestep",
            "1",
            "--out",
            s(&out),
        ],
        &["sample"],
    );
    assert_user_error(
        &[
            "unet",
            "--model",
            s(&fixture("plain")),
            "--input",
            s(&bad),
            "--timestep",
            "1000",
            "--out",
            s(&out),
        ],
        &["timestep", "0 to 999"],
    );
    assert_user_error(
        &[
            "unet",
            "--model",
            s(&fixture("plain")),
            "--input",
            s(&bad),
            "--timestep",
            "1",
            "--out",
            s(&out),
            "--device",
            "tpu",
        ],
        &["cpu, cuda or auto"],
    );
}

#[test]
fn sample_writes_a_grid_and_invert_reports_its_error() {
    let d = tempdir("sample");
    let grid = d.join("grid.png");
    let tensor = d.join("x.safetensors");
    let o = run(&[
        "sample",
        "--model",
        s(&fixture("plain")),
        "--n",
        "4",
        "--steps",
        "5",
        "--out",
        s(&grid),
        "--tensor-out",
        s(&tensor),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = difftheory::diffusion::image::read_png(&grid).unwrap();
    // 2 × 2 images of 16 × 16 with 2-pixel gaps
    assert_eq!(img.size(), [1, 3, 38, 38]);
    // the same grid enlarged 3 times: every pixel a 3 × 3 block
    let big_path = d.join("big.png");
    let o = run(&[
        "sample",
        "--model",
        s(&fixture("plain")),
        "--n",
        "4",
        "--steps",
        "5",
        "--out",
        s(&big_path),
        "--zoom",
        "3",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let big = difftheory::diffusion::image::read_png(&big_path).unwrap();
    assert_eq!(big.size(), [1, 3, 114, 114]);
    let diff = (big.slice(2, 1, 114, 3).slice(3, 1, 114, 3) - &img)
        .abs()
        .max()
        .double_value(&[]);
    assert!(
        diff < 1e-6,
        "a zoomed pixel differs from the original: {diff}"
    );
    // one sample as an image, then invert it
    let x: std::collections::HashMap<_, _> = Tensor::read_safetensors(&tensor)
        .unwrap()
        .into_iter()
        .collect();
    let one = d.join("one.png");
    difftheory::diffusion::image::write_png(&one, &x["sample"].get(0)).unwrap();
    let rec = d.join("rec.png");
    let o = run(&[
        "invert",
        "--model",
        s(&fixture("plain")),
        "--image",
        s(&one),
        "--steps",
        "10",
        "--out",
        s(&rec),
        "--device",
        "cpu",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains("reconstruction error (10 DDIM steps): rmse"),
        "{text}"
    );
    assert!(rec.exists());
    // wrong image size, not a PNG, wrong output name
    assert_user_error(
        &[
            "invert",
            "--model",
            s(&fixture("plain")),
            "--image",
            s(&grid),
            "--out",
            s(&rec),
        ],
        &["38×38", "16×16"],
    );
    assert_user_error(
        &[
            "invert",
            "--model",
            s(&fixture("plain")),
            "--image",
            s(&tensor),
            "--out",
            s(&rec),
        ],
        &["not a PNG"],
    );
    assert_user_error(
        &[
            "sample",
            "--model",
            s(&fixture("plain")),
            "--out",
            "grid.jpg",
        ],
        &[".png"],
    );
    assert_user_error(
        &[
            "sample",
            "--model",
            s(&fixture("plain")),
            "--steps",
            "5000",
            "--out",
            s(&grid),
        ],
        &["steps", "1 to 1000"],
    );
}

#[test]
fn train_ddpm_writes_a_model_folder_that_samples() {
    let d = tempdir("train");
    let model = d.join("m");
    let o = run(&[
        "train-ddpm",
        "--data",
        "molrg",
        "--steps",
        "2",
        "--batch",
        "4",
        "--n-train",
        "16",
        "--out",
        s(&model),
        "--device",
        "cpu",
        "--report-every",
        "1",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("step 2/2") && err.contains("images/s"),
        "{err}"
    );
    for f in [
        "config.json",
        "diffusion_pytorch_model.safetensors",
        "scheduler_config.json",
        "training.json",
    ] {
        assert!(model.join(f).is_file(), "{f}");
    }
    let grid = d.join("g.png");
    let o = run(&[
        "sample",
        "--model",
        s(&model),
        "--n",
        "2",
        "--steps",
        "3",
        "--out",
        s(&grid),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_user_error(
        &[
            "train-ddpm",
            "--data",
            "mnist",
            "--steps",
            "2",
            "--out",
            s(&model),
        ],
        &["mnist", "digits"],
    );
    // the same folder with another seed is refused, not overwritten
    assert_user_error(
        &[
            "train-ddpm",
            "--data",
            "molrg",
            "--steps",
            "3",
            "--batch",
            "4",
            "--n-train",
            "16",
            "--out",
            s(&model),
            "--device",
            "cpu",
            "--seed",
            "2",
        ],
        &["other settings"],
    );
}

#[test]
fn pixel_memorization_writes_its_tables_and_report() {
    let d = tempdir("pixmem-cli");
    let (out, raw, rep) = (d.join("s.csv"), d.join("r.csv"), d.join("r.html"));
    let work = d.join("models");
    let args = [
        "pixel-memorization",
        "--n",
        "4,16",
        "--steps",
        "20",
        "--batch",
        "8",
        "--generated",
        "16",
        "--n-orig",
        "100",
        "--timesteps",
        "10",
        "--device",
        "cpu",
        "--quiet",
        "--checkpoint",
        s(&work),
        "--out",
        s(&out),
        "--raw",
        s(&raw),
        "--report",
        s(&rep),
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = std::fs::read_to_string(&out).unwrap();
    let header = summary.lines().next().unwrap();
    assert!(header.starts_with("n,trials,d_gen_train_mean,"), "{header}");
    assert!(
        header.contains("gen_closer_mean") && header.contains("delta_copies_mean"),
        "{header}"
    );
    assert_eq!(summary.lines().count(), 3);
    let rows = std::fs::read_to_string(&raw).unwrap();
    assert!(
        rows.starts_with("n,replicate,seed,d_gen_train,d_gen_orig,delta,"),
        "{rows}"
    );
    assert_eq!(rows.lines().count(), 3);
    assert!(std::fs::read_to_string(&rep).unwrap().contains("memorizer"));
    assert!(work.join("n16-r0").join("measurement.json").is_file());
    // the same command again reads the kept measurements: the same table
    let o = run(&args);
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), summary);
}

#[test]
fn pixel_memorization_errors_are_one_line() {
    assert_user_error(&["pixel-memorization", "--n", "1,8"], &["--n", ">= 2"]);
    assert_user_error(
        &["pixel-memorization", "--generated", "1"],
        &["--generated", ">= 2"],
    );
    assert_user_error(&["pixel-memorization", "--lr", "0"], &["--lr", "> 0"]);
    assert_user_error(
        &["pixel-memorization", "--device", "tpu"],
        &["--device", "cpu, cuda or auto"],
    );
}
