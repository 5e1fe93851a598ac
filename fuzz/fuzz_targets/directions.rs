//! Saved edit directions (`EditDirections::load`: a safetensors file, the reader model weights use).
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = common::scratch("directions").join("directions.safetensors");
    std::fs::write(&file, data).unwrap();
    common::check(
        "EditDirections::load",
        &[&file],
        difftheory::editing::EditDirections::load(&file),
    );
});
