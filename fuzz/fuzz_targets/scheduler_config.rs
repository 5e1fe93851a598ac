//! A diffusers model folder whose `scheduler_config.json` is the input.
#![no_main]
#[path = "common.rs"]
mod common;

use difftheory::diffusion::SchedulerConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (dir, file) = common::model_folder(
        "scheduler_config",
        &[("config.json", "tests/fixtures/unet/plain/config.json")],
        "scheduler_config.json",
        data,
    );
    common::check(
        "SchedulerConfig::for_model",
        &[&file, &dir],
        SchedulerConfig::for_model(&dir),
    );
});
