//! The `torch` feature: libtorch loads without LD_LIBRARY_PATH (rpath from the build script),
//! devices resolve, the version is the one tch 0.26 expects.
#![cfg(feature = "torch")]

use difftheory::torch::{cuda_available, libtorch_version, DeviceChoice, CUDA_LINKED};

/// `cargo test` puts link-search folders on LD_LIBRARY_PATH for the test process itself, so the
/// proof that the rpath works runs the built binary with that variable removed.
#[test]
fn the_binary_finds_libtorch_without_ld_library_path() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_difftheory"))
        .arg("doctor")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("difftheory starts");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("features: torch=on") && text.contains("libtorch:    2.13.0"),
        "{text}"
    );
}

#[test]
fn libtorch_runs_a_matrix_product_on_the_cpu() {
    let a = tch::Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]).reshape([2, 2]);
    let b = a.matmul(&a);
    let v: Vec<f64> = Vec::<f64>::try_from(b.flatten(0, -1)).unwrap();
    assert_eq!(v, [7.0, 10.0, 15.0, 22.0]);
}

#[test]
fn libtorch_is_the_version_tch_expects() {
    let v = libtorch_version().expect("torch/version.py next to the library folder");
    assert!(v.starts_with("2.13.0"), "{v}");
}

#[test]
fn devices_resolve_and_bad_names_are_errors() {
    assert_eq!(
        "cpu".parse::<DeviceChoice>().unwrap().resolve().unwrap(),
        tch::Device::Cpu
    );
    let auto = "auto".parse::<DeviceChoice>().unwrap().resolve().unwrap();
    assert_eq!(auto == tch::Device::Cpu, !cuda_available());
    let e = "tpu".parse::<DeviceChoice>().unwrap_err().to_string();
    assert!(e.contains("cpu, cuda or auto"), "{e}");
    if !cuda_available() {
        let e = DeviceChoice::Cuda.resolve().unwrap_err().to_string();
        assert!(e.contains("--device cpu"), "{e}");
    }
    // CUDA can only be available when libtorch_cuda was linked
    assert!(CUDA_LINKED || !cuda_available());
}
