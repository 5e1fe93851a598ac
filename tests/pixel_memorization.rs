//! Paper 000's non-linear experiment: the pixel data, the image-to-column layout, the two reference
//! generators bracketing Δ, the kept measurements a second run resumes from, and bad settings.
#![cfg(feature = "torch")]

use difftheory::diffusion::data::{self, DataKind};
use difftheory::experiments::pixel_memorization::{self, images_to_columns, PixelMemorization};
use difftheory::experiments::RunOptions;
use difftheory::sweep::{f64_column, Progress};
use difftheory::torch::DeviceChoice;
use tch::{Kind, Tensor};

#[test]
fn pixel_images_are_independent_gaussian_pixels() {
    // 5000 images × 64 pixels: the mean's standard error is 0.1/√320000 ≈ 1.8e-4, the standard
    // deviation's ≈ 0.1/√640000 ≈ 1.3e-4; the tolerances are about 5 s.e. The correlation of two
    // neighbouring pixels has s.e. 1/√5000 ≈ 0.014.
    let x = data::training_set(DataKind::Pixels, 5000, 7).unwrap();
    assert_eq!(x.size(), [5000, 1, 8, 8]);
    let m = x.mean(Kind::Double).double_value(&[]);
    let s = x.to_kind(Kind::Double).std(true).double_value(&[]);
    assert!((m - data::PIXEL_MEAN).abs() < 1e-3, "mean {m}");
    assert!((s - data::PIXEL_STD).abs() < 7e-4, "std {s}");
    let a = x.select(3, 2).select(2, 2).to_kind(Kind::Double).view([-1]);
    let b = x.select(3, 3).select(2, 2).to_kind(Kind::Double).view([-1]);
    let r = ((&a - a.mean(Kind::Double)) * (&b - b.mean(Kind::Double)))
        .mean(Kind::Double)
        .double_value(&[])
        / (a.std(true).double_value(&[]) * b.std(true).double_value(&[]));
    assert!(r.abs() < 0.06, "neighbour correlation {r}");
    // the same seed gives the same images
    assert!(data::training_set(DataKind::Pixels, 5000, 7)
        .unwrap()
        .equal(&x));
}

#[test]
fn images_become_pixel_columns() {
    let x = Tensor::arange(2 * 64, (Kind::Float, tch::Device::Cpu)).view([2, 1, 8, 8]);
    let m = images_to_columns(&x).unwrap();
    assert_eq!((m.nrows(), m.ncols()), (64, 2));
    // image 1, row 2, column 3 is element 64 + 2·8 + 3
    assert_eq!(m[(2 * 8 + 3, 1)], (64 + 19) as f64);
}

fn tiny() -> PixelMemorization {
    PixelMemorization {
        n: vec![4, 32],
        steps: 30,
        batch: 16,
        generated: 48,
        originals: 300,
        timesteps: 20,
        device: DeviceChoice::Cpu,
        ..Default::default()
    }
}

/// Two models per size, seed 5, kept in `workdir`.
fn tiny_options(workdir: &std::path::Path) -> RunOptions {
    RunOptions::new(2, 5)
        .progress(Progress::Off)
        .checkpoint(workdir)
}

#[test]
fn references_bracket_delta_and_a_second_run_resumes() {
    let dir = std::env::temp_dir().join(format!("dt-pixmem-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (p, o) = (tiny(), tiny_options(&dir));
    let out = pixel_memorization::run(&p, &o).unwrap();
    assert_eq!(out.raw.height(), 4);
    assert_eq!(out.summary.height(), 2);
    let (fresh, copies) = (
        f64_column(&out.raw, "delta_fresh").unwrap(),
        f64_column(&out.raw, "delta_copies").unwrap(),
    );
    for (f, c) in fresh.iter().zip(&copies) {
        // draws from the training set are much closer to it than to fresh data; fresh draws are
        // about as close to both (their Δ is a difference of two like terms)
        assert!(c < f, "memorizer Δ {c} not below generalizer Δ {f}");
        assert!(*c < 0.0, "memorizer Δ {c}");
    }
    let (d, dt, dor) = (
        f64_column(&out.raw, "delta").unwrap(),
        f64_column(&out.raw, "d_gen_train").unwrap(),
        f64_column(&out.raw, "d_gen_orig").unwrap(),
    );
    for i in 0..4 {
        assert!((d[i] - (dt[i] - dor[i])).abs() < 1e-12);
        assert!(dt[i] > 0.0 && dor[i] > 0.0);
    }
    assert!(f64_column(&out.raw, "train_seconds")
        .unwrap()
        .iter()
        .all(|&s| s > 0.0));
    // the folder keeps every model and its measurement: a second run trains nothing and gives the
    // same numbers
    for k in ["n4-r0", "n4-r1", "n32-r0", "n32-r1"] {
        assert!(dir.join(k).join("measurement.json").is_file(), "{k} kept");
        assert!(dir
            .join(k)
            .join("diffusion_pytorch_model.safetensors")
            .is_file());
    }
    let again = pixel_memorization::run(&p, &o).unwrap();
    assert!(
        again.raw.equals(&out.raw),
        "a resumed run gives the kept rows"
    );
    // a lost measurement is recomputed from the kept model (no training), with the same result
    std::fs::remove_file(dir.join("n32-r1").join("measurement.json")).unwrap();
    let third = pixel_memorization::run(&p, &o).unwrap();
    assert_eq!(f64_column(&third.raw, "delta").unwrap(), d);
    assert_eq!(f64_column(&third.raw, "train_seconds").unwrap()[3], 0.0);
    // the kept models give back their training set and their samples, the same each time
    let (tr, g) = pixel_memorization::kept_images(&p, &o, 4, 1, 5).unwrap();
    assert_eq!((tr.size(), g.size()), (vec![4, 1, 8, 8], vec![5, 1, 8, 8]));
    let seed = pixel_memorization::model_seed(&p, &o, 4, 1).unwrap();
    assert!(tr.equal(&data::training_set(DataKind::Pixels, 4, seed).unwrap()));
    assert!(g.equal(&pixel_memorization::kept_images(&p, &o, 4, 1, 5).unwrap().1));
    let pic = pixel_memorization::kept_picture(&p, &o, 4, 1, 5, 4, 2).unwrap();
    assert!(pic.png.starts_with(b"\x89PNG"));
    assert!(pixel_memorization::kept_images(&p, &o, 7, 0, 5).is_err());
    assert!(pixel_memorization::kept_images(&p, &o, 4, 2, 5).is_err());
    let fig = pixel_memorization::figure(&out.summary).unwrap();
    assert!(fig.to_json().contains("training copies (memorizer)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_are_errors() {
    let o = tiny_options(&std::env::temp_dir().join("dt-pixmem-bad"));
    for (p, name) in [
        (
            PixelMemorization {
                n: vec![],
                ..tiny()
            },
            "n",
        ),
        (
            PixelMemorization {
                n: vec![1],
                ..tiny()
            },
            "n",
        ),
        (
            PixelMemorization {
                n: vec![8, 8],
                ..tiny()
            },
            "n",
        ),
        (
            PixelMemorization {
                generated: 1,
                ..tiny()
            },
            "generated",
        ),
        (
            PixelMemorization {
                lr: f64::NAN,
                ..tiny()
            },
            "lr",
        ),
        (
            PixelMemorization {
                timesteps: 1,
                ..tiny()
            },
            "timesteps",
        ),
    ] {
        let e = pixel_memorization::run(&p, &o).unwrap_err().to_string();
        assert!(e.starts_with(&format!("invalid {name} = ")), "{e}");
    }
}
