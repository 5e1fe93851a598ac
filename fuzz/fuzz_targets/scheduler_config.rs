//! A diffusers model folder whose `scheduler_config.json` is the input.
#![no_main]
#[path = "common.rs"]
mod common;

use difftheory::diffusion::SchedulerConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("scheduler_config").join("model");
    if !dir.join("config.json").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.json"),
            common::fixture("tests/fixtures/unet/plain/config.json"),
        )
        .unwrap();
    }
    let file = dir.join("scheduler_config.json");
    std::fs::write(&file, data).unwrap();
    common::check(
        "SchedulerConfig::for_model",
        &[&file, &dir],
        SchedulerConfig::for_model(&dir),
    );
});
