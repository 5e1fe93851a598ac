//! diffusers' `UNet2DModel` reproduced: each fixture of `scripts/make_unet_fixtures.py` (a tiny
//! model with random weights per supported layout, its inputs and diffusers' f32 output on the
//! CPU) is loaded and run here.
//!
//! Tolerance: max |Rust − diffusers| ≤ 1e-4 with outputs of size ~1 (f32; the same libtorch
//! kernels run, so the differences are reassociation rounding only — measured ≤ 1e-6, printed).
#![cfg(feature = "torch")]

use std::path::{Path, PathBuf};

use difftheory::unet::{load, UNet2DModel, UNetConfig};
use difftheory::Error;
use tch::{Device, Tensor};

const TOL: f64 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/unet")
        .join(name)
}

fn io(name: &str) -> std::collections::HashMap<String, Tensor> {
    Tensor::read_safetensors(fixture(name).join("io.safetensors"))
        .unwrap()
        .into_iter()
        .collect()
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn reproduces(name: &str) {
    let model = UNet2DModel::from_dir(&fixture(name), Device::Cpu).unwrap();
    let io = io(name);
    let out = tch::no_grad(|| model.forward(&io["sample"], &io["timesteps"])).unwrap();
    assert_eq!(out.size(), io["output"].size());
    let err = max_abs(&out, &io["output"]);
    let scalar_t = Tensor::from(421i64);
    let out2 = tch::no_grad(|| model.forward(&io["sample"], &scalar_t)).unwrap();
    let err2 = max_abs(&out2, &io["output_t421"]);
    println!(
        "{name}: {} parameters, max |Rust - diffusers| = {err:.2e} (t = [3, 917]), {err2:.2e} (t = 421)",
        model.parameter_count()
    );
    assert!(err <= TOL && err2 <= TOL, "{name}: {err} / {err2} > {TOL}");
    // the output is not trivially small: the test would catch a missing block
    assert!(io["output"].abs().max().double_value(&[]) > 0.5);
}

#[test]
fn plain_down_and_up_blocks() {
    reproduces("plain");
}

#[test]
fn attention_down_and_up_blocks() {
    reproduces("attn");
}

#[test]
fn the_cifar10_layout() {
    reproduces("cifar10_like");
}

#[test]
fn old_attention_key_names_and_f16_weights() {
    reproduces("old_keys_f16");
}

#[test]
fn scale_shift_centred_input_mish_and_a_scaled_middle() {
    reproduces("variants");
}

#[test]
fn no_middle_block() {
    reproduces("no_mid");
}

#[test]
fn old_names_are_renamed_and_others_kept() {
    assert_eq!(
        load::current_key("mid_block.attentions.0.proj_attn.weight"),
        "mid_block.attentions.0.to_out.0.weight"
    );
    assert_eq!(
        load::current_key("down_blocks.1.attentions.1.query.bias"),
        "down_blocks.1.attentions.1.to_q.bias"
    );
    assert_eq!(
        load::current_key("down_blocks.1.resnets.0.conv1.weight"),
        "down_blocks.1.resnets.0.conv1.weight"
    );
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("difftheory-unet-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A copy of fixture `name` whose weights went through `edit`.
fn edited(name: &str, tag: &str, edit: impl FnOnce(&mut Vec<(String, Tensor)>)) -> PathBuf {
    let d = scratch(tag);
    std::fs::copy(fixture(name).join("config.json"), d.join("config.json")).unwrap();
    let mut w = Tensor::read_safetensors(fixture(name).join(load::WEIGHTS_FILE)).unwrap();
    edit(&mut w);
    Tensor::write_safetensors(&w, d.join(load::WEIGHTS_FILE)).unwrap();
    d
}

#[test]
fn a_mis_shaped_tensor_is_named_with_both_shapes() {
    let d = edited("plain", "shape", |w| {
        for (k, t) in w.iter_mut() {
            if k == "conv_in.weight" {
                *t = Tensor::zeros([8, 3, 5, 5], (tch::Kind::Float, Device::Cpu));
            }
        }
    });
    let e = UNet2DModel::from_dir(&d, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conv_in.weight") && e.contains("[8, 3, 5, 5]") && e.contains("[8, 3, 3, 3]"),
        "{e}"
    );
}

#[test]
fn a_missing_or_unexpected_tensor_is_named() {
    let d = edited("plain", "missing", |w| {
        w.retain(|(k, _)| k != "mid_block.attentions.0.to_k.bias")
    });
    let e = UNet2DModel::from_dir(&d, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mid_block.attentions.0.to_k.bias") && e.contains("missing"),
        "{e}"
    );
    let d = edited("plain", "extra", |w| {
        w.push((
            "extra.weight".into(),
            Tensor::zeros([2], (tch::Kind::Float, Device::Cpu)),
        ))
    });
    let e = UNet2DModel::from_dir(&d, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("extra.weight"), "{e}");
}

#[test]
fn config_errors_name_the_field() {
    let mut c: UNetConfig = serde_json::from_str(
        &std::fs::read_to_string(fixture("plain").join("config.json")).unwrap(),
    )
    .unwrap();
    c.down_block_types[0] = "SkipDownBlock2D".into();
    let e = c.clone().check().unwrap_err().to_string();
    assert!(
        e.contains("down_block_types") && e.contains("SkipDownBlock2D"),
        "{e}"
    );
    c.down_block_types[0] = "DownBlock2D".into();
    c.norm_num_groups = Some(3);
    let e = c.check().unwrap_err().to_string();
    assert!(
        e.contains("norm_num_groups") && e.contains("divides"),
        "{e}"
    );
}

#[test]
fn a_missing_folder_and_a_wrong_input_shape_are_errors() {
    let e = UNet2DModel::from_dir(Path::new("/nonexistent/model"), Device::Cpu).unwrap_err();
    assert!(matches!(e, Error::InvalidParam { .. }), "{e}");
    let model = UNet2DModel::from_dir(&fixture("plain"), Device::Cpu).unwrap();
    let x = Tensor::zeros([1, 3, 15, 16], (tch::Kind::Float, Device::Cpu));
    let e = model
        .forward(&x, &Tensor::from(1i64))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("[1, 3, 15, 16]") && e.contains("multiples of 2"),
        "{e}"
    );
}

#[test]
fn a_saved_model_loads_back_identically() {
    let model = UNet2DModel::from_dir(&fixture("attn"), Device::Cpu).unwrap();
    let d = scratch("save");
    load::save_dir(model.var_store(), &model.config().raw, &d).unwrap();
    let back = UNet2DModel::from_dir(&d, Device::Cpu).unwrap();
    let io = io("attn");
    let a = tch::no_grad(|| model.forward(&io["sample"], &io["timesteps"])).unwrap();
    let b = tch::no_grad(|| back.forward(&io["sample"], &io["timesteps"])).unwrap();
    assert_eq!(max_abs(&a, &b), 0.0);
}

#[test]
fn the_google_ddpm_cifar10_config_has_diffusers_parameter_count() {
    // google/ddpm-cifar10-32's config.json (its fields; diffusers counts 35 746 307 parameters)
    let json = r#"{
        "_class_name": "UNet2DModel", "act_fn": "silu", "attention_head_dim": null,
        "block_out_channels": [128, 256, 256, 256], "center_input_sample": false,
        "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
        "downsample_padding": 0, "flip_sin_to_cos": false, "freq_shift": 1, "in_channels": 3,
        "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-06,
        "norm_num_groups": 32, "out_channels": 3, "sample_size": 32,
        "time_embedding_type": "positional",
        "up_block_types": ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"]
    }"#;
    let c: UNetConfig = serde_json::from_str(json).unwrap();
    let model = UNet2DModel::new(c.check().unwrap(), Device::Cpu);
    assert_eq!(model.parameter_count(), 35_746_307);
}
