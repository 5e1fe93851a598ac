//! Jacobian products by autograd (feature `torch`): VJP and double-backward JVP against finite
//! differences, the full Jacobian of the MoLRG posterior mean written in tch against its closed
//! form, and block subspace iteration against the full SVD.
#![cfg(feature = "torch")]

use difftheory::error::Result;
use difftheory::jacobian::{full_jacobian, jvp, top_singular, vjp, SubspaceIteration};
use difftheory::molrg::{Kernel, LowRankMixture, MolrgParams};
use difftheory::rng::rng_from_seed;
use tch::{Kind, Tensor};

fn opts() -> (Kind, tch::Device) {
    (Kind::Double, tch::Device::Cpu)
}

/// A small non-linear map R^6 → R^6 on a batch `[B, 6]`: `tanh(x A) + ½ x`.
fn smooth_map(seed: i64) -> impl Fn(&Tensor) -> Result<Tensor> {
    tch::manual_seed(seed);
    let a = Tensor::randn([6, 6], opts()) * 0.7;
    move |x: &Tensor| Ok(x.matmul(&a).tanh() + x * 0.5)
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.flatten(0, -1)).unwrap()
}

#[test]
fn vjp_and_jvp_match_finite_differences() {
    // central differences with h = 1e-6 in f64: error O(h²) + O(1e-16/h) ≈ 1e-10; tolerance 1e-7
    let f = smooth_map(3);
    let x = Tensor::from_slice(&[0.3, -0.2, 0.8, 0.1, -1.0, 0.5])
        .to_kind(Kind::Double)
        .reshape([1, 6]);
    let h = 1e-6;
    let mut jac = vec![vec![0.0; 6]; 6]; // jac[row][col]
    for col in 0..6 {
        let mut e = vec![0.0; 6];
        e[col] = h;
        let e = Tensor::from_slice(&e).reshape([1, 6]);
        let fp = values(&f(&(&x + &e)).unwrap());
        let fm = values(&f(&(&x - &e)).unwrap());
        for row in 0..6 {
            jac[row][col] = (fp[row] - fm[row]) / (2.0 * h);
        }
    }
    let dirs = Tensor::randn([3, 6], opts());
    let d = values(&dirs);
    let jv = values(&jvp(&f, &x, &dirs).unwrap());
    let uj = values(&vjp(&f, &x, &dirs).unwrap());
    for k in 0..3 {
        for i in 0..6 {
            let want_jv: f64 = (0..6).map(|j| jac[i][j] * d[k * 6 + j]).sum();
            let want_uj: f64 = (0..6).map(|j| d[k * 6 + j] * jac[j][i]).sum();
            assert!(
                (jv[k * 6 + i] - want_jv).abs() < 1e-7,
                "Jv[{k}][{i}] {} vs {want_jv}",
                jv[k * 6 + i]
            );
            assert!(
                (uj[k * 6 + i] - want_uj).abs() < 1e-7,
                "uJ[{k}][{i}] {} vs {want_uj}",
                uj[k * 6 + i]
            );
        }
    }
}

/// Lemma 1's posterior mean of a unit-variance noiseless MoLRG in tch, on a batch `[B, n]`.
fn molrg_denoiser(m: &LowRankMixture, kernel: Kernel) -> impl Fn(&Tensor) -> Result<Tensor> {
    let bases: Vec<Tensor> = m
        .components()
        .iter()
        .map(|c| {
            let (n, d) = (c.basis.nrows(), c.basis.ncols());
            let v: Vec<f64> = (0..n)
                .flat_map(|i| (0..d).map(move |j| (i, j)))
                .map(|(i, j)| c.basis[(i, j)])
                .collect();
            Tensor::from_slice(&v).reshape([n as i64, d as i64])
        })
        .collect();
    let logw: Vec<f64> = m.components().iter().map(|c| c.weight.ln()).collect();
    let dims: Vec<f64> = m.components().iter().map(|c| c.dim() as f64).collect();
    let (s, g2) = (kernel.s, kernel.gamma * kernel.gamma);
    move |x: &Tensor| {
        let phi = s * s / (2.0 * g2 * (s * s + g2));
        let c = s / (s * s + g2);
        let mut logits = Vec::new();
        let mut projs = Vec::new();
        for (k, u) in bases.iter().enumerate() {
            let p = x.matmul(u); // [B, d]
            let e = p
                .square()
                .sum_dim_intlist([1i64].as_slice(), true, Kind::Double);
            logits.push(e * phi + logw[k] - 0.5 * dims[k] * ((s * s + g2) / g2).ln());
            projs.push(p.matmul(&u.transpose(0, 1)) * c);
        }
        let w = Tensor::cat(&logits, 1).softmax(1, Kind::Double);
        let mut out = projs[0].zeros_like();
        for (k, pk) in projs.iter().enumerate() {
            out += pk * w.narrow(1, k as i64, 1);
        }
        Ok(out)
    }
}

#[test]
fn autograd_jacobian_of_the_molrg_denoiser_is_the_closed_form() {
    let mut rng = rng_from_seed(21);
    let m = LowRankMixture::random(&MolrgParams::new(10, 2, 3), &mut rng).unwrap();
    let kernel = Kernel::new(0.8, 0.6).unwrap();
    let f = molrg_denoiser(&m, kernel);
    let x0 = m.sample(1, &mut rng).points;
    let x: Vec<f64> = (0..10)
        .map(|i| 0.8 * x0[(i, 0)] + 0.3 * ((i as f64) - 4.5) / 5.0)
        .collect();
    let xt = Tensor::from_slice(&x).reshape([1, 10]);
    // the tch map reproduces the library's posterior mean
    let mean = values(&f(&xt).unwrap());
    let want = m.posterior(kernel, &x).unwrap().mean;
    for i in 0..10 {
        assert!((mean[i] - want[i]).abs() < 1e-12);
    }
    let j = values(&full_jacobian(&f, &xt, 4).unwrap());
    let closed = m.jacobian(kernel, &x).unwrap();
    for r in 0..10 {
        for c in 0..10 {
            assert!(
                (j[r * 10 + c] - closed[(r, c)]).abs() < 1e-10,
                "J[{r},{c}] {} vs {}",
                j[r * 10 + c],
                closed[(r, c)]
            );
        }
    }
}

#[test]
fn subspace_iteration_matches_the_full_svd() {
    // a 24-dimensional map with a decaying spectrum: top 4 singular values to 1e-6 relative, their
    // residuals ‖Jv − σu‖/σ₁ below 1e-5, right vectors aligned with the SVD's (|cos| > 0.999)
    tch::manual_seed(5);
    let (q1, _) = Tensor::linalg_qr(&Tensor::randn([24, 24], opts()), "reduced");
    let (q2, _) = Tensor::linalg_qr(&Tensor::randn([24, 24], opts()), "reduced");
    let spectrum: Vec<f64> = (0..24).map(|i| 3.0 * 0.6f64.powi(i)).collect();
    let a = q1
        .matmul(&Tensor::from_slice(&spectrum).diag(0))
        .matmul(&q2.transpose(0, 1));
    let f = move |x: &Tensor| -> Result<Tensor> {
        Ok(x.matmul(&a.transpose(0, 1)) + x.square() * 0.01)
    };
    let x = Tensor::randn([1, 24], opts()) * 0.1;
    let trip = top_singular(
        &f,
        &x,
        SubspaceIteration {
            k: 4,
            tol: 1e-10,
            max_iter: 200,
            seed: 2,
        },
    )
    .unwrap();
    assert!(trip.converged, "{} iterations", trip.iterations);
    let j = full_jacobian(&f, &x, 8).unwrap();
    let (_, s, v) = j.svd(true, true);
    let s = values(&s);
    for i in 0..4 {
        assert!(
            (trip.values[i] - s[i]).abs() < 1e-6 * s[0],
            "σ{i}: {} vs {}",
            trip.values[i],
            s[i]
        );
        assert!(
            trip.residuals[i] < 1e-5,
            "residual {i}: {}",
            trip.residuals[i]
        );
        let vi = v.select(1, i as i64);
        let cos = (trip.right.select(0, i as i64).flatten(0, -1) * vi)
            .sum(Kind::Double)
            .double_value(&[]);
        assert!(cos.abs() > 0.999, "v{i}: |cos| {cos}");
    }
}

#[test]
fn bad_shapes_are_errors() {
    let f = smooth_map(1);
    let x = Tensor::zeros([2, 6], opts());
    assert!(
        jvp(&f, &x, &Tensor::zeros([1, 6], opts())).is_err(),
        "two points"
    );
    let x = Tensor::zeros([1, 6], opts());
    assert!(
        jvp(&f, &x, &Tensor::zeros([1, 5], opts())).is_err(),
        "wrong direction shape"
    );
    assert!(
        top_singular(
            &f,
            &x,
            SubspaceIteration {
                k: 7,
                ..Default::default()
            }
        )
        .is_err(),
        "k > D"
    );
}
