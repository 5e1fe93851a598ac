//! Reading and writing diffusers model folders: `config.json` + `diffusion_pytorch_model.safetensors`.
//!
//! Keys are the diffusers state-dict keys. Checkpoints saved before diffusers renamed its
//! attention layers use `query`, `key`, `value` and `proj_attn`; they are read as `to_q`, `to_k`,
//! `to_v` and `to_out.0` (what diffusers' `_convert_deprecated_attention_blocks` does). Weights of
//! another float kind (f16, bf16, f64) are converted to the model's f32.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use tch::{nn, Tensor};

use crate::error::{Error, Result};

/// The weights file of a diffusers model folder.
pub const WEIGHTS_FILE: &str = "diffusion_pytorch_model.safetensors";

/// The folder holding `config.json`: `dir` itself, or `dir/unet` (a saved pipeline).
pub fn model_folder(dir: &Path) -> Result<PathBuf> {
    if !dir.is_dir() {
        return Err(Error::invalid(
            "model",
            dir.display(),
            "no such folder; expected a diffusers model folder with config.json and diffusion_pytorch_model.safetensors",
        ));
    }
    for d in [dir.to_path_buf(), dir.join("unet")] {
        if d.join("config.json").is_file() {
            if !d.join(WEIGHTS_FILE).is_file() {
                let bin = d.join("diffusion_pytorch_model.bin").is_file();
                return Err(Error::BadFile {
                    path: d.join(WEIGHTS_FILE),
                    reason: if bin {
                        "missing; the folder has only the pickled diffusion_pytorch_model.bin: convert it with diffusers (`UNet2DModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`)".into()
                    } else {
                        "missing; a diffusers model folder holds config.json and diffusion_pytorch_model.safetensors".into()
                    },
                });
            }
            return Ok(d);
        }
    }
    Err(Error::BadFile {
        path: dir.join("config.json"),
        reason: "missing (also in unet/); expected a diffusers UNet2DModel folder".into(),
    })
}

/// The current name of a state-dict key (old attention names renamed).
pub fn current_key(key: &str) -> String {
    let mut parts: Vec<&str> = key.split('.').collect();
    let n = parts.len();
    if n >= 2 && parts.iter().any(|p| *p == "attentions") {
        let renamed = match parts[n - 2] {
            "query" => Some("to_q"),
            "key" => Some("to_k"),
            "value" => Some("to_v"),
            "proj_attn" => Some("to_out.0"),
            _ => None,
        };
        if let Some(r) = renamed {
            parts[n - 2] = r;
        }
    }
    parts.join(".")
}

/// Copies every variable of `vs` from the safetensors file `path`, renaming old attention keys.
/// A missing key, a key the model does not have, or a shape mismatch is an error naming the key
/// (and both shapes).
pub fn load_weights(vs: &mut nn::VarStore, path: &Path) -> Result<()> {
    let read = Tensor::read_safetensors(path).map_err(|e| Error::BadFile {
        path: path.to_path_buf(),
        reason: format!("not a readable safetensors file: {e}"),
    })?;
    let mut file: HashMap<String, Tensor> = HashMap::with_capacity(read.len());
    for (k, t) in read {
        file.insert(current_key(&k), t);
    }
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let bad = |reason: String| Error::BadFile {
        path: path.to_path_buf(),
        reason,
    };
    for (name, var) in &vars {
        let src = file.get(name).ok_or_else(|| {
            bad(format!(
                "tensor {name} (shape {:?}) is missing; config.json and the weights disagree",
                var.size()
            ))
        })?;
        if src.size() != var.size() {
            return Err(bad(format!(
                "tensor {name} has shape {:?} in the file but the model built from config.json needs {:?}",
                src.size(),
                var.size()
            )));
        }
    }
    let mut extra: Vec<&String> = file.keys().filter(|k| !vars.contains_key(*k)).collect();
    if !extra.is_empty() {
        extra.sort();
        let shown: Vec<&str> = extra.iter().take(5).map(|s| s.as_str()).collect();
        return Err(bad(format!(
            "{} tensor(s) the model built from config.json does not have, e.g. {}",
            extra.len(),
            shown.join(", ")
        )));
    }
    tch::no_grad(|| {
        for (name, mut var) in vars {
            let src = &file[&name];
            var.copy_(&src.to_kind(var.kind()).to_device(var.device()));
        }
    });
    Ok(())
}

/// Writes `config.json` and the weights into `dir` (created if needed), as diffusers'
/// `save_pretrained` does (the config also names the class).
pub fn save_dir(vs: &nn::VarStore, config: &super::config::UNetConfig, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let mut json = serde_json::to_value(config).map_err(|e| Error::BadFile {
        path: dir.join("config.json"),
        reason: e.to_string(),
    })?;
    if let Some(o) = json.as_object_mut() {
        o.insert("_class_name".into(), "UNet2DModel".into());
    }
    let text = serde_json::to_string_pretty(&json).expect("a JSON value prints");
    crate::sweep::io::write_whole(&dir.join("config.json"), (text + "\n").as_bytes())?;
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.to_device(tch::Device::Cpu).contiguous()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    write_safetensors_whole(&named, &dir.join(WEIGHTS_FILE))
}

/// Writes the tensors to `path` as safetensors, whole or not at all (a temporary file renamed
/// into place; removed if the write fails).
pub fn write_safetensors_whole(named: &[(String, Tensor)], path: &Path) -> Result<()> {
    let tmp = crate::sweep::io::unique_tmp(path);
    let written = Tensor::write_safetensors(named, &tmp)
        .map_err(|e| Error::BadFile {
            path: path.to_path_buf(),
            reason: format!("cannot write: {e}"),
        })
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot write", path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
