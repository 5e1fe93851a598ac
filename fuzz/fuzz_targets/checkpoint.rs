//! A sweep checkpoint folder from elsewhere: the input is `<u16 little-endian manifest length>
//! <manifest.json> <chunk-000000.parquet>`; the chunk gets a correct checksum file, so that the
//! Parquet reader, not the checksum, meets the bytes. `checkpoint_status` reads the folder, and the
//! sweep of `difftheory gaussian-kl --d 1,2 --n-samples 100 --trials 2` (the run scripts/fuzz.sh
//! makes the seed with) resumes from it.
#![no_main]
#[path = "common.rs"]
mod common;

use difftheory::experiments::gaussian_kl::GaussianKl;
use difftheory::experiments::{execute, RunOptions};
use difftheory::sweep::{checkpoint_status, Progress};
use libfuzzer_sys::fuzz_target;

/// The checksum the crate writes beside a chunk (FNV-1a 64 and the length).
fn checksum(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}:{}\n", bytes.len())
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = usize::from(u16::from_le_bytes([data[0], data[1]])).min(data.len() - 2);
    let (manifest, chunk) = data[2..].split_at(n);
    let dir = common::scratch("checkpoint").join("ck");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
    let chunk_path = dir.join("chunk-000000.parquet");
    std::fs::write(&chunk_path, chunk).unwrap();
    std::fs::write(dir.join("chunk-000000.parquet.sum"), checksum(chunk)).unwrap();
    common::check("checkpoint_status", &[&dir], checkpoint_status(&dir));
    let p = GaussianKl {
        d: vec![1, 2],
        n_samples: vec![100],
        ..GaussianKl::default()
    };
    let opts = RunOptions::new(2, 1)
        .progress(Progress::Off)
        .checkpoint(&dir);
    // The chunk's checksum file is forged correct, which no copy of a real folder gives (a chunk
    // read back always has the bytes this crate wrote for the sweep its manifest names): the
    // resume must end without a panic or an abort, but an error about the forged content (a
    // renamed column, found by the first campaign) need not name the folder.
    let _ = execute(&p, &opts);
});
