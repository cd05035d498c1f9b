//! The fuzz targets' checked-in seeds, replayed on the stable toolchain: every input that once
//! mattered to a parser of outside bytes keeps passing through it without a panic, also where
//! no nightly toolchain is at hand. `scripts/fuzz` is the search for new ones.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        run(&bytes);
        // Cut short at every length a reader can meet: an unfinished file, a header half sent.
        for end in (0..bytes.len()).step_by(bytes.len().div_ceil(64).max(1)) {
            run(&bytes[..end]);
        }
        seen += 1;
    }
    assert!(seen >= 3, "only {seen} seeds in {}", dir.display());
}

#[test]
fn config_seeds() {
    replay("config", bootgate::fuzzing::config);
}

#[test]
fn model_files_seeds() {
    replay("model_files", bootgate::fuzzing::model_files);
}

#[test]
fn status_json_seeds() {
    replay("status_json", bootgate::fuzzing::status_json);
}

#[test]
fn http_head_seeds() {
    replay("http_head", |bytes| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(bootgate::fuzzing::request_head(bytes));
    });
}
