//! `resolve` on layouts huggingface_hub itself made (tests/fixtures/hub_layout.py, checked there
//! with the library's own cache scanner), then broken the ways a cache breaks or is made to.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;
use crate::files::make_fifo;
use crate::manifest::py_tools;

/// One layout as the fixture wrote it, and what it says each file's etag is.
struct Layout {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    local: PathBuf,
    main: String,
    pr: String,
    etags: BTreeMap<String, BTreeMap<String, String>>,
}

impl Layout {
    fn new() -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("layout");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hub_layout.py");
        let printed = py_tools::run([script.as_os_str(), "--out".as_ref(), out.as_os_str()]);
        let summary: Value = serde_json::from_str(&printed).unwrap();
        let text = |v: &Value| v.as_str().unwrap().to_string();
        let etags = summary["etags"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(commit, files)| {
                let files = files
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, etag)| (name.clone(), text(etag)))
                    .collect();
                (commit.clone(), files)
            })
            .collect();
        Layout {
            repo: PathBuf::from(text(&summary["repo"])),
            local: PathBuf::from(text(&summary["local_dir"])),
            main: text(&summary["commits"]["main"]),
            pr: text(&summary["commits"]["refs/pr/1"]),
            etags,
            _dir: dir,
        }
    }

    fn snapshot(&self, commit: &str) -> PathBuf {
        self.repo.join("snapshots").join(commit)
    }

    fn snapshot_path(&self, commit: &str, name: &str) -> PathBuf {
        self.snapshot(commit).join(name)
    }

    fn etag(&self, commit: &str, name: &str) -> &str {
        &self.etags[commit][name]
    }

    fn metadata_path(&self, name: &str) -> PathBuf {
        self.local
            .join(local_dir::DOWNLOAD_DIR)
            .join(format!("{name}.metadata"))
    }
}

fn hex(blob: &BlobId) -> String {
    match blob {
        BlobId::Sha256(digest) => digest.to_hex(),
        BlobId::GitSha1(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Every file of `snapshot`, with its blob as hex: what the fixture says it must be.
fn blobs(snapshot: &Snapshot) -> BTreeMap<String, String> {
    snapshot
        .files
        .iter()
        .map(|f| (f.name.clone(), hex(&f.blob)))
        .collect()
}

fn expect_whole(snapshot: &Snapshot, layout: &Layout, commit: &str) {
    assert_eq!(snapshot.commit, commit);
    assert_eq!(snapshot.problems, Vec::<(String, String)>::new());
    assert_eq!(snapshot.missing, Vec::<String>::new());
    assert_eq!(blobs(snapshot), layout.etags[commit]);
    let names: Vec<&str> = snapshot.files.iter().map(|f| f.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

fn problem<'a>(snapshot: &'a Snapshot, name: &str) -> &'a str {
    snapshot
        .problems
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, text)| text.as_str())
        .unwrap_or_else(|| panic!("no problem for {name}: {:?}", snapshot.problems))
}

fn err(result: Result<Snapshot, HubError>) -> String {
    result.expect_err("resolve must refuse it").to_string()
}

#[test]
fn refs_resolve_to_their_snapshot_and_every_link_to_its_blob() {
    let layout = Layout::new();
    let main = resolve(&layout.repo, None).unwrap();
    expect_whole(&main, &layout, &layout.main);
    assert_eq!(main.root, layout.repo.join("snapshots").join(&layout.main));
    // Each file is read through its snapshot link, so a message names the snapshot path.
    let config = main.files.iter().find(|f| f.name == "config.json").unwrap();
    assert_eq!(
        config.path,
        layout.snapshot_path(&layout.main, "config.json")
    );
    assert!(matches!(config.blob, BlobId::GitSha1(_)));
    let shard = main
        .files
        .iter()
        .find(|f| f.name == "model-00001-of-00002.safetensors")
        .unwrap();
    assert!(matches!(shard.blob, BlobId::Sha256(_)));
    // A nested path's link has one `../` more, and resolves the same.
    assert!(main.files.iter().any(|f| f.name == "original/params.json"));

    assert_eq!(resolve(&layout.repo, Some("main")).unwrap(), main);
    assert_eq!(resolve(&layout.repo, Some("v1.0")).unwrap(), main);
}

#[test]
fn a_commit_hash_and_a_nested_ref_resolve() {
    let layout = Layout::new();
    let by_hash = resolve(&layout.repo, Some(&layout.pr)).unwrap();
    expect_whole(&by_hash, &layout, &layout.pr);
    assert_ne!(
        layout.etag(&layout.pr, "config.json"),
        layout.etag(&layout.main, "config.json")
    );
    // `revision="refs/pr/1"` is kept by huggingface_hub as refs/refs/pr/1.
    assert_eq!(resolve(&layout.repo, Some("refs/pr/1")).unwrap(), by_hash);
    expect_whole(
        &resolve(&layout.repo, Some(&layout.main)).unwrap(),
        &layout,
        &layout.main,
    );
}

#[test]
fn a_revision_with_no_ref_is_refused_with_a_suggestion() {
    let layout = Layout::new();
    assert_eq!(
        err(resolve(&layout.repo, Some("mian"))),
        "no ref `mian` under refs/ (did you mean main?) and not a commit hash"
    );
    assert_eq!(
        err(resolve(&layout.repo, Some("refs/pr/2"))),
        "no ref `refs/pr/2` under refs/ (did you mean refs/pr/1?) and not a commit hash"
    );
    assert_eq!(
        err(resolve(&layout.repo, Some("experimental"))),
        "no ref `experimental` under refs/ and not a commit hash"
    );
    // An upper-case hash is not one the Hub writes, nor a ref.
    assert_eq!(
        err(resolve(&layout.repo, Some(&layout.main.to_uppercase()))),
        format!(
            "no ref `{}` under refs/ and not a commit hash",
            layout.main.to_uppercase()
        )
    );
    assert_eq!(
        err(resolve(&layout.repo, Some("../../etc/passwd"))),
        "revision `../../etc/passwd` is neither a ref name (no empty, `.` or `..` parts) nor a commit hash"
    );
    fs::remove_dir_all(layout.repo.join("refs")).unwrap();
    assert_eq!(
        err(resolve(&layout.repo, None)),
        "no ref `main` under refs/, which is absent and not a commit hash"
    );
}

#[test]
fn a_commit_without_its_snapshot_is_named() {
    let layout = Layout::new();
    let absent = "0".repeat(40);
    let mut held = [layout.main.clone(), layout.pr.clone()];
    held.sort();
    assert_eq!(
        err(resolve(&layout.repo, Some(&absent))),
        format!(
            "snapshots/{absent} is absent; snapshots/ holds {}",
            held.join(", ")
        )
    );
    fs::write(layout.repo.join("refs/main"), &absent).unwrap();
    assert_eq!(
        err(resolve(&layout.repo, None)),
        format!(
            "snapshots/{absent} is absent (refs/main names that commit); snapshots/ holds {}",
            held.join(", ")
        )
    );
}

#[test]
fn a_ref_that_is_not_a_commit_is_refused_without_reading_more_than_its_cap() {
    let layout = Layout::new();
    let refs = layout.repo.join("refs");
    // A ref written by hand, with a newline: still the commit.
    fs::write(refs.join("main"), format!("{}\n", layout.main)).unwrap();
    expect_whole(&resolve(&layout.repo, None).unwrap(), &layout, &layout.main);
    fs::write(refs.join("main"), "\u{1b}[2Jnot a commit").unwrap();
    assert_eq!(
        err(resolve(&layout.repo, None)),
        "refs/main holds `\\u{1b}[2Jnot a commit`, not a commit hash (40 lowercase hex digits)"
    );
    fs::write(refs.join("main"), "a".repeat(MAX_REF_BYTES as usize + 1)).unwrap();
    assert_eq!(
        err(resolve(&layout.repo, None)),
        "cannot read refs/main: it is above the 1024 B a ref may hold"
    );
    fs::remove_file(refs.join("main")).unwrap();
    make_fifo(&refs.join("main"));
    assert_eq!(
        err(resolve(&layout.repo, None)),
        "cannot read refs/main: it is a FIFO, not a regular file"
    );
}

#[test]
fn a_link_out_of_blobs_is_a_problem_named_by_its_path() {
    let layout = Layout::new();
    let commit = &layout.main;
    let link = |name: &str| layout.snapshot_path(commit, name);
    let relink = |name: &str, target: &Path| {
        fs::remove_file(link(name)).unwrap();
        symlink(target, link(name)).unwrap();
    };
    // Into another repo folder's blobs/, where a file of the right name and content waits.
    let other = layout
        .repo
        .parent()
        .unwrap()
        .join("models--someone--else/blobs");
    fs::create_dir_all(&other).unwrap();
    let etag = layout.etag(commit, "config.json");
    fs::copy(layout.repo.join("blobs").join(etag), other.join(etag)).unwrap();
    let escape = format!("../../../models--someone--else/blobs/{etag}");
    relink("config.json", Path::new(&escape));
    // To an absolute path, and to a blob whose name is not a digest.
    relink("tokenizer.json", Path::new("/etc/hostname"));
    fs::write(layout.repo.join("blobs/not-a-digest"), "x").unwrap();
    relink(
        "original/params.json",
        Path::new("../../../blobs/not-a-digest"),
    );
    // A regular file where a link belongs, and a link whose blob is gone.
    fs::remove_file(link(".gitattributes")).unwrap();
    fs::write(link(".gitattributes"), "*.bin binary\n").unwrap();
    make_fifo(&link("pipe"));
    let not_utf8 = std::ffi::OsStr::from_bytes(b"bad\xff.json");
    symlink("../../blobs/x", layout.snapshot(commit).join(not_utf8)).unwrap();
    let shard_etag = layout.etag(commit, "model-00002-of-00002.safetensors");
    fs::remove_file(layout.repo.join("blobs").join(shard_etag)).unwrap();

    let snapshot = resolve(&layout.repo, None).unwrap();
    let not_a_link = "not a link into blobs/: nothing names what it must hold";
    let expected = [
        (".gitattributes", format!("a regular file, {not_a_link}")),
        ("bad\u{fffd}.json", "its name is not UTF-8".into()),
        (
            "config.json",
            format!("links to {escape}, not into this folder's blobs/"),
        ),
        (
            "model-00002-of-00002.safetensors",
            format!("its blob blobs/{shard_etag} is missing"),
        ),
        (
            "original/params.json",
            "its blob's name `not-a-digest` is not a sha256 (64 hex digits) or a git blob id \
             (40 hex digits)"
                .into(),
        ),
        ("pipe", format!("a FIFO, {not_a_link}")),
        (
            "tokenizer.json",
            "links to /etc/hostname, not into this folder's blobs/".into(),
        ),
    ]
    .map(|(name, text)| (name.to_string(), text));
    assert_eq!(snapshot.problems, expected);
    // A file with a problem is not also a file to hash, nor missing from the index's view.
    let names: Vec<&str> = snapshot.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "model-00001-of-00002.safetensors",
            "model.safetensors.index.json"
        ]
    );
    assert_eq!(snapshot.missing, Vec::<String>::new());
}

#[test]
fn a_directory_link_on_the_way_cannot_lead_a_snapshot_elsewhere() {
    let layout = Layout::new();
    // snapshots/ moved into a look-alike folder whose blobs/ hold other bytes under the same
    // names, and linked back: every link's text still reads `../../blobs/<etag>`.
    let elsewhere = layout.repo.parent().unwrap().join("elsewhere");
    fs::create_dir_all(elsewhere.join("blobs")).unwrap();
    for entry in fs::read_dir(layout.repo.join("blobs")).unwrap() {
        fs::write(
            elsewhere.join("blobs").join(entry.unwrap().file_name()),
            "forged",
        )
        .unwrap();
    }
    fs::rename(layout.repo.join("snapshots"), elsewhere.join("snapshots")).unwrap();
    symlink(elsewhere.join("snapshots"), layout.repo.join("snapshots")).unwrap();
    let snapshot = resolve(&layout.repo, None).unwrap();
    assert_eq!(snapshot.files, Vec::<HubFile>::new());
    let etag = layout.etag(&layout.main, "config.json");
    assert_eq!(
        problem(&snapshot, "config.json"),
        format!("links to ../../blobs/{etag}, which does not reach this folder's blobs/{etag}")
    );
}

#[test]
fn a_shard_the_index_lists_and_the_snapshot_lacks_is_missing() {
    let layout = Layout::new();
    fs::remove_file(layout.snapshot_path(&layout.main, "model-00002-of-00002.safetensors"))
        .unwrap();
    let snapshot = resolve(&layout.repo, None).unwrap();
    assert_eq!(snapshot.missing, ["model-00002-of-00002.safetensors"]);
    assert_eq!(snapshot.problems, Vec::<(String, String)>::new());
    // The other revision still has it.
    assert_eq!(
        resolve(&layout.repo, Some("refs/pr/1")).unwrap().missing,
        Vec::<String>::new()
    );

    fs::remove_file(layout.local.join("model-00001-of-00002.safetensors")).unwrap();
    fs::remove_file(layout.metadata_path("model-00001-of-00002.safetensors")).unwrap();
    let local = resolve(&layout.local, None).unwrap();
    assert_eq!(local.missing, ["model-00001-of-00002.safetensors"]);
}

#[test]
fn an_index_is_read_bounded_and_its_paths_stay_inside() {
    let layout = Layout::new();
    let index_link = layout.snapshot_path(&layout.main, "model.safetensors.index.json");
    let blob = fs::canonicalize(&index_link).unwrap();
    // A diffusers-style index in a subfolder: its shard names are relative to it.
    let sub = layout.snapshot_path(&layout.main, "unet");
    fs::create_dir(&sub).unwrap();
    let index =
        br#"{"metadata":{},"weight_map":{"a":"d.safetensors","b":"../../x","c":"/etc/passwd"}}"#;
    let etag = "1".repeat(40);
    fs::write(layout.repo.join("blobs").join(&etag), index).unwrap();
    symlink(
        format!("../../../blobs/{etag}"),
        sub.join("diffusion_pytorch_model.safetensors.index.json"),
    )
    .unwrap();
    fs::remove_file(&blob).unwrap();
    fs::write(&blob, "{\"weight_map\": ").unwrap();

    let snapshot = resolve(&layout.repo, None).unwrap();
    assert_eq!(snapshot.missing, ["unet/d.safetensors"]);
    assert_eq!(
        problem(
            &snapshot,
            "unet/diffusion_pytorch_model.safetensors.index.json"
        ),
        "its weight_map names `../../x` (and 1 more), not a path inside the snapshot"
    );
    assert_eq!(
        problem(&snapshot, "model.safetensors.index.json"),
        "not a weight map: EOF while parsing a value at line 1 column 15"
    );

    fs::remove_file(&blob).unwrap();
    make_fifo(&blob);
    let snapshot = resolve(&layout.repo, None).unwrap();
    assert_eq!(
        problem(&snapshot, "model.safetensors.index.json"),
        format!(
            "its blob blobs/{} is a FIFO, not a regular file",
            layout.etag(&layout.main, "model.safetensors.index.json")
        )
    );
    fs::remove_file(&blob).unwrap();
    let file = fs::File::create(&blob).unwrap();
    file.set_len(MAX_INDEX_BYTES + 1).unwrap();
    let snapshot = resolve(&layout.repo, None).unwrap();
    assert_eq!(
        problem(&snapshot, "model.safetensors.index.json"),
        "it is 67108865 B, above the 67108864 B an index may hold"
    );
}

#[test]
fn a_local_dir_resolves_with_and_without_its_commit() {
    let layout = Layout::new();
    let found = resolve(&layout.local, None).unwrap();
    expect_whole(&found, &layout, &layout.main);
    assert_eq!(found.root, layout.local);
    let config = found
        .files
        .iter()
        .find(|f| f.name == "config.json")
        .unwrap();
    assert_eq!(config.path, layout.local.join("config.json"));
    assert_eq!(resolve(&layout.local, Some(&layout.main)).unwrap(), found);

    assert_eq!(
        err(resolve(&layout.local, Some("main"))),
        "a local_dir download has no refs/: revision must be its commit hash \
         (40 lowercase hex digits), not `main`"
    );
    // Another commit than the one downloaded: every file says so.
    let other = resolve(&layout.local, Some(&layout.pr)).unwrap();
    assert_eq!(other.files, Vec::<HubFile>::new());
    assert_eq!(other.problems.len(), layout.etags[&layout.main].len());
    assert_eq!(
        problem(&other, "config.json"),
        format!(
            "downloaded at commit {}, not {} (the configured revision)",
            layout.main, layout.pr
        )
    );
}

#[test]
fn a_local_dir_metadata_of_another_commit_or_malformed_is_a_problem() {
    let layout = Layout::new();
    let record = |commit: &str, etag: &str| format!("{commit}\n{etag}\n1712656091.123\n");
    fs::write(
        layout.metadata_path("config.json"),
        record(&layout.pr, layout.etag(&layout.pr, "config.json")),
    )
    .unwrap();
    fs::write(
        layout.metadata_path("tokenizer.json"),
        record(&layout.main, "not-an-etag"),
    )
    .unwrap();
    fs::remove_file(layout.local.join("original/params.json")).unwrap();
    let snapshot = resolve(&layout.local, None).unwrap();
    assert_eq!(snapshot.commit, layout.main);
    assert_eq!(
        problem(&snapshot, "config.json"),
        format!(
            "downloaded at commit {}, not {} (the commit the other files name)",
            layout.pr, layout.main
        )
    );
    assert_eq!(
        problem(&snapshot, "tokenizer.json"),
        ".cache/huggingface/download/tokenizer.json.metadata: its etag `not-an-etag` is not a \
         sha256 (64 hex digits) or a git blob id (40 hex digits)"
    );
    assert_eq!(
        problem(&snapshot, "original/params.json"),
        "absent, though its .metadata says it was downloaded"
    );
    assert_eq!(snapshot.files.len(), layout.etags[&layout.main].len() - 3);

    make_fifo(&layout.metadata_path("extra.bin"));
    let snapshot = resolve(&layout.local, None).unwrap();
    assert_eq!(
        problem(&snapshot, "extra.bin"),
        ".cache/huggingface/download/extra.bin.metadata: cannot read it: it is a FIFO, not a \
         regular file"
    );
}

#[test]
fn a_folder_that_is_neither_layout_or_both_is_refused() {
    let layout = Layout::new();
    let dir = layout.repo.parent().unwrap();
    assert_eq!(
        err(resolve(dir, None)),
        "neither a Hub cache folder (no snapshots/) nor a local_dir download \
         (no .cache/huggingface/download/)"
    );
    assert_eq!(err(resolve(&dir.join("absent"), None)), "it does not exist");
    fs::create_dir_all(layout.repo.join(local_dir::DOWNLOAD_DIR)).unwrap();
    assert_eq!(
        err(resolve(&layout.repo, None)),
        "both a Hub cache folder (snapshots/) and a local_dir download \
         (.cache/huggingface/download/): point at one or the other"
    );
    fs::remove_dir_all(layout.local.join(local_dir::DOWNLOAD_DIR)).unwrap();
    fs::create_dir_all(layout.local.join(local_dir::DOWNLOAD_DIR)).unwrap();
    assert_eq!(
        err(resolve(&layout.local, None)),
        "no .metadata file under .cache/huggingface/download/ names a commit: nothing says \
         what the files must be"
    );
}

#[test]
fn the_weight_map_parser_keeps_each_file_once() {
    let files = weight_map_files(
        br#"{"metadata":{"total_size":8},"weight_map":{"a":"x.safetensors","b":"x.safetensors","c":"y.safetensors"}}"#,
    )
    .unwrap();
    assert_eq!(
        files.into_iter().collect::<Vec<_>>(),
        ["x.safetensors", "y.safetensors"]
    );
    for bad in [
        &b"{}"[..],
        b"[]",
        br#"{"weight_map":{"a":1}}"#,
        br#"{"weight_map":{},"weight_map":{}}"#,
        br#"{"weight_map":{}} x"#,
    ] {
        assert!(
            weight_map_files(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

/// Only a folder that is not there is worth waiting for; one that is there but wrong is not.
#[test]
fn an_absent_folder_is_told_apart_from_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let absent = resolve(&dir.path().join("models--org--later"), None)
        .err()
        .unwrap();
    assert!(absent.is_absent());
    assert_eq!(absent.to_string(), "it does not exist");
    fs::write(dir.path().join("a-file"), "").unwrap();
    let file = resolve(&dir.path().join("a-file"), None).err().unwrap();
    assert!(!file.is_absent());
    assert_eq!(file.to_string(), "it is not a directory");
    let empty = resolve(dir.path(), None).err().unwrap();
    assert!(!empty.is_absent());
}
