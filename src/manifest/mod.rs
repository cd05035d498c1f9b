//! What a model directory must be at run time: pinned versions and file checksums, declared in
//! a manifest and compared with what the container really has.

pub mod file;
pub mod oms;
pub mod pin;
pub mod verify;
