//! A diffusers model folder whose `diffusion_pytorch_model.safetensors` is the input (the config is
//! the valid fixture's).
#![no_main]
#[path = "common.rs"]
mod common;

use difftheory::unet::UNet2DModel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("model_weights").join("model");
    if !dir.join("config.json").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.json"),
            common::fixture("tests/fixtures/unet/plain/config.json"),
        )
        .unwrap();
    }
    let file = dir.join("diffusion_pytorch_model.safetensors");
    std::fs::write(&file, data).unwrap();
    common::check(
        "UNet2DModel::from_dir",
        &[&file, &dir],
        UNet2DModel::from_dir(&dir, tch::Device::Cpu),
    );
});
