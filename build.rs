//! Build script: records the compiler version and a hash of the crate's source (the sweep cache's
//! key: numbers cached by one build are never read back by another), and with the `torch` feature
//! embeds libtorch's library folder as an rpath and force-links libtorch_cuda when it can be loaded.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file under `dir`, sorted.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// FNV-1a (64 bits) over the paths and contents of `src/`, `build.rs`, `Cargo.toml` and
/// `Cargo.lock` (the dependencies' versions can change numbers too).
fn source_hash(root: &Path) -> String {
    let mut files = Vec::new();
    files_under(&root.join("src"), &mut files);
    for f in ["build.rs", "Cargo.toml", "Cargo.lock"] {
        files.push(root.join(f));
    }
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for f in &files {
        let rel = f.strip_prefix(root).unwrap_or(f);
        eat(rel.to_string_lossy().as_bytes());
        eat(&[0]);
        eat(&std::fs::read(f).unwrap_or_default());
        eat(&[0]);
    }
    format!("{h:016x}")
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DIFFTHEORY_RUSTC_VERSION={version}");
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    for watched in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    println!(
        "cargo:rustc-env=DIFFTHEORY_SOURCE_HASH={}",
        source_hash(&root)
    );

    if env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    println!("cargo:rerun-if-env-changed=DIFFTHEORY_LINK_CUDA");
    // torch-sys (links = "tch") tells us where the libtorch libraries are.
    let lib =
        env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys did not report DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rustc-env=DIFFTHEORY_LIBTORCH_LIB={lib}");
    // Binaries, tests and benches find libtorch without LD_LIBRARY_PATH.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");

    let cuda = Path::new(&lib).join("libtorch_cuda.so");
    let link_cuda = match env::var("DIFFTHEORY_LINK_CUDA").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => cuda.exists() && loadable(&cuda),
    };
    if link_cuda {
        // Nothing in tch references libtorch_cuda's symbols, so `--as-needed` would drop it and
        // CUDA would never register: keep it.
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        println!("cargo:rustc-env=DIFFTHEORY_CUDA_LINKED=1");
    } else if cuda.exists() {
        println!(
            "cargo:warning=libtorch_cuda.so is present but its CUDA libraries are not installed: building for CPU only (scripts/setup.sh --torch full adds them)"
        );
    }
}

/// Whether every shared library `path` needs resolves (`ldd` reports no "not found").
fn loadable(path: &Path) -> bool {
    match Command::new("ldd").arg(path).output() {
        Ok(o) => o.status.success() && !String::from_utf8_lossy(&o.stdout).contains("not found"),
        Err(_) => false,
    }
}
