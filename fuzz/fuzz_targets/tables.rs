//! `read_frame` on CSV, Parquet and JSON tables: the first byte picks the format, the rest is the
//! file.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let ext = ["csv", "parquet", "json"][usize::from(pick) % 3];
    let path = common::scratch("tables").join(format!("input.{ext}"));
    std::fs::write(&path, bytes).unwrap();
    common::check("read_frame", &[&path], difftheory::sweep::read_frame(&path));
});
