//! The isotropic-Gaussian KL: golden values from tests/golden/generate.py, and the closed form
//! against its Monte Carlo estimator.

use difftheory::gaussian::{kl_iso_gaussians, kl_iso_gaussians_mc, IsoGaussianPair};
use difftheory::rng::rng_from_seed;

#[test]
fn closed_form_matches_golden_values() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/gaussian_kl.json"
    ))
    .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(rows.len() >= 10);
    for r in rows {
        let p = IsoGaussianPair::new(
            r["d"].as_u64().unwrap() as usize,
            r["mean_shift"].as_f64().unwrap(),
            r["var_ratio"].as_f64().unwrap(),
        )
        .unwrap();
        let want = r["kl"].as_f64().unwrap();
        let got = kl_iso_gaussians(&p);
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{p:?}: {got} vs golden {want}"
        );
    }
}

/// N = 200 000 draws per case, seed 7 + case: the estimate must be within 4 standard errors of the
/// closed form (a false alarm has probability ~6e-5 per case).
#[test]
fn monte_carlo_agrees_with_closed_form() {
    let cases = [
        (1, 0.0, 1.0),
        (1, 2.0, 1.0),
        (3, 1.0, 0.5),
        (10, 1.0, 1.5),
        (50, 3.0, 2.0),
    ];
    for (k, (d, m, r)) in cases.into_iter().enumerate() {
        let p = IsoGaussianPair::new(d, m, r).unwrap();
        let exact = kl_iso_gaussians(&p);
        let est = kl_iso_gaussians_mc(&p, 200_000, &mut rng_from_seed(7 + k as u64)).unwrap();
        if exact == 0.0 {
            assert!(est.mean.abs() < 1e-12 && est.sem < 1e-12, "{p:?}: {est:?}");
            continue;
        }
        let z = est.z_score(exact);
        assert!(
            z.abs() < 4.0,
            "{p:?}: MC {:.5} ± {:.5} vs exact {exact:.5} (z = {z:.2})",
            est.mean,
            est.sem
        );
    }
}

#[test]
fn bad_parameters_are_named() {
    let e = IsoGaussianPair::new(0, 1.0, 1.0).unwrap_err().to_string();
    assert!(e.contains("d = 0") && e.contains(">= 1"), "{e}");
    let e = IsoGaussianPair::new(2, 1.0, 0.0).unwrap_err().to_string();
    assert!(e.contains("var_ratio") && e.contains("> 0"), "{e}");
    let e = IsoGaussianPair::new(2, f64::NAN, 1.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("mean_shift"), "{e}");
    let p = IsoGaussianPair::new(2, 1.0, 1.0).unwrap();
    let e = kl_iso_gaussians_mc(&p, 1, &mut rng_from_seed(1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("n_samples"), "{e}");
}
