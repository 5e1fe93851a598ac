//! The isotropic-Gaussian KL: golden values from tests/golden/generate.py, and the closed form
//! against its Monte Carlo estimator. The Fréchet distance between Gaussians: golden values from
//! the same script (another route to the matrix square root), the one-dimensional closed form,
//! and the fits of samples converging to it. Cost: well under a second.

use difftheory::gaussian::{kl_iso_gaussians, kl_iso_gaussians_mc, GaussianFit, IsoGaussianPair};
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

fn fit(mean: &serde_json::Value, cov: &serde_json::Value) -> GaussianFit {
    let v = |x: &serde_json::Value| -> Vec<f64> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|y| y.as_f64().unwrap())
            .collect()
    };
    GaussianFit {
        mean: v(mean),
        cov: cov.as_array().unwrap().iter().flat_map(v).collect(),
    }
}

#[test]
fn frechet_distance_matches_golden_values() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/frechet.json"
    ))
    .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(rows.len(), 5);
    for r in rows {
        let (a, b) = (fit(&r["mean1"], &r["cov1"]), fit(&r["mean2"], &r["cov2"]));
        let want = r["frechet"].as_f64().unwrap();
        for got in [
            a.frechet_distance(&b).unwrap(),
            b.frechet_distance(&a).unwrap(),
        ] {
            assert!(
                (got - want).abs() <= 1e-9 * want.max(1.0),
                "d = {}: {got} vs golden {want}",
                a.mean.len()
            );
        }
        assert!(a.frechet_distance(&a).unwrap().abs() < 1e-9);
    }
}

/// In one dimension the distance is (μ₁ − μ₂)² + (σ₁ − σ₂)²; the fits of N = 100 000 draws of two
/// correlated 3-d Gaussians (seed 11) give the closed form of their exact parameters within 2 %.
#[test]
fn frechet_distance_closed_form_and_sample_fits() {
    let one = |m: f64, s: f64| GaussianFit {
        mean: vec![m],
        cov: vec![s * s],
    };
    let got = one(0.3, 2.0).frechet_distance(&one(-1.2, 0.5)).unwrap();
    assert!(
        (got - (1.5f64.powi(2) + 1.5f64.powi(2))).abs() < 1e-12,
        "{got}"
    );

    use rand_distr::{Distribution, StandardNormal};
    let mut rng = rng_from_seed(11);
    // x = m + L z with L lower triangular
    let (la, lb) = (
        [[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.3, 0.2, 0.5]],
        [[0.7, 0.0, 0.0], [-0.4, 1.1, 0.0], [0.1, 0.5, 0.9]],
    );
    let (ma, mb) = ([0.0, 1.0, -0.5], [0.4, 0.2, 0.3]);
    let exact = |l: &[[f64; 3]; 3], m: &[f64; 3]| GaussianFit {
        mean: m.to_vec(),
        cov: (0..9)
            .map(|k| (0..3).map(|j| l[k / 3][j] * l[k % 3][j]).sum())
            .collect(),
    };
    let mut draws = |l: &[[f64; 3]; 3], m: &[f64; 3]| -> Vec<Vec<f64>> {
        (0..100_000)
            .map(|_| {
                let z: Vec<f64> = (0..3).map(|_| StandardNormal.sample(&mut rng)).collect();
                (0..3)
                    .map(|i| m[i] + (0..3).map(|j| l[i][j] * z[j]).sum::<f64>())
                    .collect()
            })
            .collect()
    };
    let (xa, xb) = (draws(&la, &ma), draws(&lb, &mb));
    let want = exact(&la, &ma).frechet_distance(&exact(&lb, &mb)).unwrap();
    let got = GaussianFit::of_points(&xa)
        .unwrap()
        .frechet_distance(&GaussianFit::of_points(&xb).unwrap())
        .unwrap();
    assert!(want > 0.5, "{want}");
    assert!(
        (got - want).abs() < 0.02 * want,
        "sample fits {got} vs exact {want}"
    );
}

#[test]
fn frechet_distance_refuses_mismatched_or_nonfinite_gaussians() {
    let a = GaussianFit {
        mean: vec![0.0, 0.0],
        cov: vec![1.0, 0.0, 0.0, 1.0],
    };
    let b = GaussianFit {
        mean: vec![0.0],
        cov: vec![1.0],
    };
    let e = a.frechet_distance(&b).unwrap_err().to_string();
    assert!(
        e.contains("dimensions 2 and 1") && e.contains("same dimension"),
        "{e}"
    );
    let c = GaussianFit {
        mean: vec![f64::NAN, 0.0],
        cov: vec![1.0, 0.0, 0.0, 1.0],
    };
    let e = a.frechet_distance(&c).unwrap_err().to_string();
    assert!(e.contains("finite"), "{e}");
}
