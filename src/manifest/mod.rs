//! What a model directory must be at run time: pinned versions and file checksums, declared in
//! a manifest, a signature or a Hugging Face cache, and compared with what the container really
//! has.

pub mod file;
pub mod huggingface;
pub mod oms;
pub mod pin;
#[cfg(test)]
#[path = "../../tests/common/py_tools.rs"]
mod py_tools;
pub mod safetensors;
pub mod source;
pub mod verify;
