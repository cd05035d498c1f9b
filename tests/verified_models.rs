//! Models verified with no manifest, through the real binary: a Hugging Face cache snapshot and a
//! `local_dir` download, laid out by huggingface_hub's own code and checked with its own cache
//! scanner (tests/fixtures/hub_layout.py, on the pinned tools of `scripts/py-tools`).

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// A cache repo folder and a local_dir download of the same model, as the fixture wrote them.
struct Hub {
    repo: PathBuf,
    local: PathBuf,
    main: String,
    pr: String,
    /// Each file of the main commit and its etag.
    files: BTreeMap<String, String>,
}

impl Hub {
    fn lay_out(scene: &Scene) -> Hub {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join("target/py-tools/bin/python");
        assert!(
            python.is_file(),
            "{} is absent: run scripts/py-tools first",
            python.display()
        );
        let out = std::process::Command::new(python)
            .arg(root.join("tests/fixtures/hub_layout.py"))
            .arg("--out")
            .arg(scene.path("hf"))
            .output()
            .expect("run hub_layout.py");
        assert!(
            out.status.success(),
            "hub_layout.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let text = |v: &serde_json::Value| v.as_str().unwrap().to_string();
        let main = text(&summary["commits"]["main"]);
        let files = summary["etags"][&main]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, etag)| (name.clone(), text(etag)))
            .collect();
        Hub {
            repo: PathBuf::from(text(&summary["repo"])),
            local: PathBuf::from(text(&summary["local_dir"])),
            pr: text(&summary["commits"]["refs/pr/1"]),
            main,
            files,
        }
    }

    fn snapshot(&self) -> PathBuf {
        self.repo.join("snapshots").join(&self.main)
    }

    fn blob(&self, name: &str) -> PathBuf {
        self.repo.join("blobs").join(&self.files[name])
    }

    fn config(&self, dir: &Path, extra: &str) -> String {
        format!(
            "deadline: 10s\nchecks:\n  weights:\n    kind: manifest\n    huggingface: {}\n{extra}",
            dir.display()
        )
    }
}

fn verify(scene: &Scene, dir: &Path) -> Finished {
    scene.run(
        &["manifest", "verify", "--huggingface", dir.to_str().unwrap()],
        &[],
    )
}

/// What `verify` says of a file whose content is not its blob's: the declared digest beside the
/// found one, named by the blob's own kind.
fn mismatch_line(name: &str, etag: &str) -> String {
    if etag.len() == 64 {
        format!("{name}  declared sha256 {}…  found ", &etag[..12])
    } else {
        format!("{name}  declared git blob sha1 {etag}  found ")
    }
}

/// What `verify` says of a file whose last byte was flipped: a hash mismatch, except for the
/// weight map index, whose last byte (its final newline) turns into a character JSON refuses,
/// and is named as it is read, before any hash.
fn corrupt_line(name: &str, etag: &str) -> String {
    if name.ends_with(".index.json") {
        format!("\n{name}  not a weight map: ")
    } else {
        mismatch_line(name, etag)
    }
}

/// Runs `work` on the file's bytes, then puts them back once `check` has looked.
fn altered(path: &Path, work: impl FnOnce(&mut Vec<u8>), check: impl FnOnce()) {
    let original = std::fs::read(path).unwrap();
    let mut bytes = original.clone();
    work(&mut bytes);
    std::fs::write(path, &bytes).unwrap();
    check();
    std::fs::write(path, &original).unwrap();
}

#[test]
fn a_cache_snapshot_and_a_local_dir_download_verify() {
    let scene = Scene::new();
    let hub = Hub::lay_out(&scene);
    let done = scene.init(&hub.config(&hub.repo, ""), &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        format!("weights passed (commit {}: 7 files", hub.main)
    );
    let done = scene.init(&hub.config(&hub.repo, "    revision: refs/pr/1\n"), &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stderr, format!("(commit {}: 7 files", hub.pr));

    let done = scene.init(&hub.config(&hub.local, ""), &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        format!("weights passed (commit {}: 7 files", hub.main)
    );
    let both = format!(
        "checks:\n  cache:\n    kind: manifest\n    huggingface: {}\n    revision: {}\n  local:\n    kind: manifest\n    huggingface: {}\n    revision: {}\n",
        hub.repo.display(),
        hub.main,
        hub.local.display(),
        hub.main
    );
    let done = scene.run(
        &["check", "--config", scene.config(&both).to_str().unwrap()],
        &[],
    );
    assert_eq!(done.code(), Some(0), "{}\n{}", done.stdout, done.stderr);

    for dir in [&hub.repo, &hub.local] {
        let done = verify(&scene, dir);
        assert_eq!(done.code(), Some(0), "{}", done.stderr);
        assert_contains!(
            done.stdout,
            format!("{} (commit {}): 7 files", dir.display(), hub.main)
        );
    }
}

#[test]
fn corrupting_or_truncating_any_blob_fails_naming_the_snapshot_path() {
    let scene = Scene::new();
    let hub = Hub::lay_out(&scene);
    let header = format!(
        "{} does not match {}:",
        hub.snapshot().display(),
        hub.repo.display()
    );
    for (name, etag) in &hub.files {
        let blob = hub.blob(name);
        // The last byte: past any safetensors header, so only the hash can tell.
        altered(
            &blob,
            |b| *b.last_mut().unwrap() ^= 1,
            || {
                let done = verify(&scene, &hub.repo);
                assert_eq!(done.code(), Some(1), "{name}: {}", done.stdout);
                assert_contains!(done.stdout, header);
                assert_contains!(done.stdout, corrupt_line(name, etag));
            },
        );
        altered(
            &blob,
            |b| b.truncate(b.len() - 1),
            || {
                let done = verify(&scene, &hub.repo);
                assert_eq!(done.code(), Some(1), "{name}: {}", done.stdout);
                assert_contains!(done.stdout, header);
                let size = std::fs::metadata(&blob).unwrap().len();
                let line = if name.ends_with(".safetensors") {
                    format!(
                        "{name}  truncated: the header and tensors need {} B",
                        size + 1
                    )
                } else {
                    mismatch_line(name, etag)
                };
                assert_contains!(done.stdout, line);
                if name.ends_with(".safetensors") {
                    assert_contains!(done.stdout, format!("the file has {size} B"));
                }
            },
        );
    }
    // A local_dir download: its own files, the same verdicts.
    let header = format!(
        "{} does not match {}:",
        hub.local.display(),
        hub.local.display()
    );
    for (name, etag) in &hub.files {
        altered(
            &hub.local.join(name),
            |b| *b.last_mut().unwrap() ^= 1,
            || {
                let done = verify(&scene, &hub.local);
                assert_eq!(done.code(), Some(1), "{name}: {}", done.stdout);
                assert_contains!(done.stdout, header);
                assert_contains!(done.stdout, corrupt_line(name, etag));
            },
        );
    }
    // And in the gate, where the message names the check's folder and the file.
    altered(
        &hub.blob("tokenizer.json"),
        |b| b[0] ^= 1,
        || {
            let done = scene.init(&hub.config(&hub.repo, ""), &[]);
            assert_eq!(done.code(), Some(1), "{}", done.stderr);
            assert_contains!(
                done.stderr,
                format!(
                    "weights failed: {} does not match the runtime:\n{}",
                    hub.repo.display(),
                    mismatch_line("tokenizer.json", &hub.files["tokenizer.json"])
                )
            );
        },
    );
}

#[test]
fn a_truncated_safetensors_file_is_refused_at_once_before_any_hashing() {
    let scene = Scene::new();
    let hub = Hub::lay_out(&scene);
    let shard = "model-00002-of-00002.safetensors";
    // A corrupt config that only a hash would find, and a shard one byte short.
    altered(
        &hub.blob("config.json"),
        |b| b[2] ^= 1,
        || {
            altered(
                &hub.blob(shard),
                |b| b.truncate(b.len() - 1),
                || {
                    let size = std::fs::metadata(hub.blob(shard)).unwrap().len();
                    let done = scene.init(&hub.config(&hub.repo, ""), &[]);
                    assert_eq!(done.code(), Some(1), "{}", done.stderr);
                    assert_contains!(
                        done.stderr,
                        format!(
                            "{shard}  truncated: the header and tensors need {} B (4.9 KiB), the file has {size} B (4.9 KiB)",
                            size + 1
                        )
                    );
                    // Nothing was hashed: the corrupt config is not even looked at.
                    assert!(!done.stderr.contains("hashing"), "{}", done.stderr);
                    assert!(!done.stderr.contains("config.json"), "{}", done.stderr);
                    assert!(done.elapsed.as_secs() < 5, "{:?}", done.elapsed);
                },
            );
        },
    );
}

#[test]
fn a_shard_the_index_lists_is_waited_for_and_a_link_out_of_blobs_fails() {
    let scene = Scene::new();
    let hub = Hub::lay_out(&scene);
    let shard = hub.snapshot().join("model-00001-of-00002.safetensors");
    std::fs::remove_file(&shard).unwrap();
    let done = scene.init(&hub.config(&hub.repo, "    timeout: 1s\n"), &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        "model-00001-of-00002.safetensors  missing: the index lists it"
    );
    assert_contains!(done.stderr, "timeout 1.0s passed");

    // Put back as a link to another folder's copy of the same blob: refused, by name.
    let elsewhere = scene.path("elsewhere/blobs");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let etag = &hub.files["model-00001-of-00002.safetensors"];
    std::fs::copy(hub.repo.join("blobs").join(etag), elsewhere.join(etag)).unwrap();
    std::os::unix::fs::symlink(elsewhere.join(etag), &shard).unwrap();
    let done = scene.init(&hub.config(&hub.repo, ""), &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        format!(
            "model-00001-of-00002.safetensors  links to {}, not into this folder's blobs/",
            elsewhere.join(etag).display()
        )
    );
}

#[test]
fn a_revision_with_no_ref_is_named_with_the_one_meant() {
    let scene = Scene::new();
    let hub = Hub::lay_out(&scene);
    let done = scene.init(&hub.config(&hub.repo, "    revision: mian\n"), &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        "no ref `mian` under refs/ (did you mean main?) and not a commit hash"
    );
    let done = scene.run(
        &[
            "manifest",
            "verify",
            "--huggingface",
            hub.local.to_str().unwrap(),
            "--revision",
            "main",
        ],
        &[],
    );
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        "a local_dir download has no refs/: revision must be its commit hash"
    );
}
