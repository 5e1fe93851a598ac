//! `read_png` on an image file.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = common::scratch("png").join("input.png");
    std::fs::write(&file, data).unwrap();
    common::check(
        "read_png",
        &[&file],
        difftheory::diffusion::image::read_png(&file),
    );
});
