//! `file`: a path exists — a file of at least `min_size`, or a directory, optionally non-empty.

use std::io;
use std::path::Path;

use super::watch::{Hub, PathWatch};
use super::{Attempt, Failure, Shared, blocking};
use crate::config::FileSpec;
use crate::text::{human_bytes, io_phrase};

pub struct FileCheck {
    spec: FileSpec,
    hub: Hub,
    watch: Option<PathWatch>,
}

impl FileCheck {
    pub fn new(spec: &FileSpec, shared: &Shared) -> Self {
        FileCheck {
            spec: spec.clone(),
            hub: shared.watch_hub.clone(),
            watch: None,
        }
    }

    pub fn prepare(&mut self) -> io::Result<()> {
        self.watch = Some(PathWatch::new(&self.hub, Path::new(&self.spec.path.value))?);
        Ok(())
    }

    pub fn watch(&mut self) -> Option<&mut PathWatch> {
        self.watch.as_mut()
    }

    pub async fn attempt(&mut self) -> Attempt {
        let spec = self.spec.clone();
        blocking(move || judge(&spec)).await?
    }
}

fn judge(spec: &FileSpec) -> Attempt {
    let path = Path::new(&spec.path.value);
    let shown = &spec.path.written;
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Failure::retry(format!("{shown} does not exist")),
        _ => Failure::retry(format!("cannot stat {shown}: {}", io_phrase(&e))),
    })?;
    if meta.is_dir() {
        if spec.non_empty {
            let mut entries = std::fs::read_dir(path)
                .map_err(|e| Failure::retry(format!("cannot list {shown}: {}", io_phrase(&e))))?;
            if entries.next().is_none() {
                return Err(Failure::retry(format!("directory {shown} is empty")));
            }
        }
        return Ok("directory".into());
    }
    if let Some(min) = spec.min_size
        && meta.len() < min
    {
        return Err(
            Failure::retry(format!("{shown} is smaller than {}", human_bytes(min))).with_progress(
                format!("{} of {}", human_bytes(meta.len()), human_bytes(min)),
            ),
        );
    }
    Ok(human_bytes(meta.len()))
}
