//! A diffusers model folder whose `config.json` is the input (the weights and the scheduler are the
//! valid fixture's): the U-Net loader and the scheduler both read it.
#![no_main]
#[path = "common.rs"]
mod common;

use difftheory::diffusion::SchedulerConfig;
use difftheory::unet::UNet2DModel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (dir, file) = common::model_folder(
        "model_config",
        &[
            (
                "diffusion_pytorch_model.safetensors",
                "tests/fixtures/unet/plain/diffusion_pytorch_model.safetensors",
            ),
            (
                "scheduler_config.json",
                "data/ddpm-digits/scheduler_config.json",
            ),
        ],
        "config.json",
        data,
    );
    common::check(
        "UNet2DModel::from_dir",
        &[&file, &dir],
        UNet2DModel::from_dir(&dir, tch::Device::Cpu),
    );
    common::check(
        "SchedulerConfig::for_model",
        &[&file, &dir],
        SchedulerConfig::for_model(&dir),
    );
});
