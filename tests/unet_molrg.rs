//! Paper 004's U-Net experiment on MoLRG images: its frames, the exact posterior mean's rank beside
//! the network's, the kept measurements a second run resumes from (also with a budget added), the
//! refusal to measure a budget the kept model has trained past, and bad settings. Cost: about 2 s
//! (two 8-step trainings of the small U-Net, 16 generated images, one rank trajectory).
#![cfg(feature = "torch")]

use difftheory::experiments::unet_molrg::{self, model_folder, UnetMolrg};
use difftheory::experiments::{Experiment, RunOptions};
use difftheory::sweep::{f64_column, rows_where, Progress};
use difftheory::torch::DeviceChoice;
use difftheory::Error;

fn tiny() -> UnetMolrg {
    UnetMolrg {
        n: vec![6, 24],
        budgets: vec![4, 8],
        batch: 8,
        generated: 16,
        sampling_steps: 5,
        snr: vec![0.04, 50.0],
        rank_samples: 1,
        device: DeviceChoice::Cpu,
        ..Default::default()
    }
}

fn options(dir: &std::path::Path) -> RunOptions {
    RunOptions::new(1, 3)
        .progress(Progress::Off)
        .checkpoint(dir)
}

#[test]
fn frames_ranks_and_resuming() {
    let dir = std::env::temp_dir().join(format!("dt-unet-molrg-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (p, o) = (tiny(), options(&dir));
    let out = unet_molrg::run(&p, &o).unwrap();
    // one row per (n, budget), one per (n, budget, SNR)
    assert_eq!(out.raw.height(), 4);
    assert_eq!(out.summary.height(), 4);
    assert_eq!(out.ranks.height(), 8);
    assert_eq!(out.rank_summary.height(), 8);
    assert_eq!(
        f64_column(&out.raw, "per_dim").unwrap(),
        vec![0.5, 0.5, 2.0, 2.0]
    );
    for g in f64_column(&out.raw, "gl").unwrap() {
        assert!(g.is_finite() && g > 0.0, "GL {g}");
    }
    for f in f64_column(&out.raw, "off_support").unwrap() {
        assert!((0.0..=1.0).contains(&f), "off-support fraction {f}");
    }
    // the exact posterior mean of three orthogonal 4-dimensional subspaces: rank Σ d_k = 12 at
    // low SNR, d_k = 4 at high SNR, whatever the (barely trained) network does
    let low = rows_where(&out.ranks, "snr", 0.04).unwrap();
    let high = rows_where(&out.ranks, "snr", 50.0).unwrap();
    assert!(f64_column(&low, "rank_closed_form")
        .unwrap()
        .iter()
        .all(|&r| r == 12.0));
    assert!(f64_column(&high, "rank_closed_form")
        .unwrap()
        .iter()
        .all(|&r| r == 4.0));
    for r in f64_column(&out.ranks, "rank_ratio").unwrap() {
        assert!(r > 0.0 && r <= 1.0, "rank ratio {r}");
    }
    // training time is spent at each budget, once
    assert!(f64_column(&out.raw, "train_seconds")
        .unwrap()
        .iter()
        .all(|&s| s > 0.0));
    for (n, b) in [(6, 4), (6, 8), (24, 4), (24, 8)] {
        assert!(model_folder(&dir, n, 0)
            .join(format!("measurement-{b}.json"))
            .is_file());
    }

    // a second run reuses every kept measurement
    let again = unet_molrg::run(&p, &o).unwrap();
    assert!(again.raw.equals(&out.raw) && again.ranks.equals(&out.ranks));
    // a later budget resumes the kept models; the earlier budgets' rows are unchanged
    let longer = UnetMolrg {
        budgets: vec![4, 8, 10],
        ..tiny()
    };
    let more = unet_molrg::run(&longer, &o).unwrap();
    assert_eq!(more.raw.height(), 6);
    let kept = rows_where(&more.raw, "budget", 8i64).unwrap();
    assert_eq!(
        f64_column(&kept, "gl").unwrap(),
        f64_column(&rows_where(&out.raw, "budget", 8i64).unwrap(), "gl").unwrap()
    );
    // a budget below what the kept model has trained to cannot be measured: a clear error
    let between = UnetMolrg {
        budgets: vec![4, 6, 10],
        ..tiny()
    };
    match unet_molrg::run(&between, &o) {
        Err(Error::Checkpoint { reason, .. }) => {
            assert!(reason.contains("past the budget 6"), "{reason}")
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
    let fig = unet_molrg::gl_figure(&more.summary).unwrap();
    assert!(fig.to_json().contains("budget=10"));
    let fig = unet_molrg::rank_figure(&more.rank_summary, 24).unwrap();
    assert!(fig.to_json().contains("exact posterior mean"));
    assert!(unet_molrg::rank_figure(&more.rank_summary, 7).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_are_errors() {
    for (p, name) in [
        (
            UnetMolrg {
                n: vec![],
                ..tiny()
            },
            "n",
        ),
        (
            UnetMolrg {
                n: vec![1],
                ..tiny()
            },
            "n",
        ),
        (
            UnetMolrg {
                n: vec![6, 6],
                ..tiny()
            },
            "n",
        ),
        (
            UnetMolrg {
                budgets: vec![8, 4],
                ..tiny()
            },
            "budgets",
        ),
        (
            UnetMolrg {
                budgets: vec![0],
                ..tiny()
            },
            "budgets",
        ),
        (
            UnetMolrg {
                snr: vec![0.0],
                ..tiny()
            },
            "snr",
        ),
        (UnetMolrg { eta: 1.5, ..tiny() }, "eta"),
        (
            UnetMolrg {
                sampling_steps: 0,
                ..tiny()
            },
            "sampling_steps",
        ),
    ] {
        let e = p.check().unwrap_err().to_string();
        assert!(e.starts_with(&format!("invalid {name} = ")), "{e}");
    }
}
