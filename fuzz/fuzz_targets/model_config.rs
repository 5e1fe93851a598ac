//! A diffusers model folder whose `config.json` is the input (the weights and the scheduler are the
//! valid fixture's): the U-Net loader and the scheduler both read it.
#![no_main]
#[path = "common.rs"]
mod common;

use difftheory::diffusion::SchedulerConfig;
use difftheory::unet::UNet2DModel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("model_config").join("model");
    if !dir.join("diffusion_pytorch_model.safetensors").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("diffusion_pytorch_model.safetensors"),
            common::fixture("tests/fixtures/unet/plain/diffusion_pytorch_model.safetensors"),
        )
        .unwrap();
        std::fs::write(
            dir.join("scheduler_config.json"),
            common::fixture("data/ddpm-digits/scheduler_config.json"),
        )
        .unwrap();
    }
    let file = dir.join("config.json");
    std::fs::write(&file, data).unwrap();
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
