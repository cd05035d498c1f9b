//! The structure of a .safetensors file.

use std::path::Path;

pub const DEFAULT_MAX_HEADER: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StructureError(String);

pub fn check_file(_path: &Path, _max_header: u64) -> Result<(), StructureError> {
    Ok(())
}

pub fn check_header(_header: &[u8], _file_len: u64) -> Result<(), StructureError> {
    Ok(())
}
