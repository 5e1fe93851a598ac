//! A diffusers model folder whose `diffusion_pytorch_model.safetensors` is the input (the config is
//! the valid fixture's).
#![no_main]
#[path = "common.rs"]
mod common;

use difftheory::unet::UNet2DModel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (dir, file) = common::model_folder(
        "model_weights",
        &[("config.json", "tests/fixtures/unet/plain/config.json")],
        "diffusion_pytorch_model.safetensors",
        data,
    );
    common::check(
        "UNet2DModel::from_dir",
        &[&file, &dir],
        UNet2DModel::from_dir(&dir, tch::Device::Cpu),
    );
});
