//! The `manifest` check and `bootgate manifest`, through the real binary.

#[macro_use]
mod common;

use common::*;

/// A small model directory with a manifest generated for it, pinning `transformers`.
fn model(scene: &Scene) {
    std::fs::create_dir_all(scene.path("model/sub")).unwrap();
    std::fs::write(scene.path("model/weights.bin"), vec![7u8; 300_000]).unwrap();
    std::fs::write(scene.path("model/tokenizer.json"), "{\"v\": 1}").unwrap();
    std::fs::write(
        scene.path("model/config.json"),
        "{\"transformers_version\": \"4.44.2\"}",
    )
    .unwrap();
    std::fs::write(scene.path("model/sub/extra.txt"), "x").unwrap();
    runtime(scene, "4.44.2");
    let done = scene.run(
        &[
            "manifest",
            "generate",
            "model",
            "--pin",
            "transformers=4.44.2",
            "-o",
            "model/bootgate-manifest.yaml",
        ],
        &[],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
}

/// What the container has: read through `json` + `pointer`, outside the model directory.
fn runtime(scene: &Scene, version: &str) {
    std::fs::write(
        scene.path("runtime.json"),
        format!("{{\"transformers_version\": \"{version}\"}}"),
    )
    .unwrap();
}

fn config(extra: &str) -> String {
    format!(
        "deadline: 10s\nchecks:\n  weights:\n    kind: manifest\n    manifest: @/model/bootgate-manifest.yaml\n    effective:\n      transformers: {{json: @/runtime.json, pointer: /transformers_version}}\n{extra}"
    )
}

#[test]
fn patch_drift_passes_under_ignore_patch_and_minor_drift_fails_side_by_side() {
    let scene = Scene::new();
    model(&scene);
    runtime(&scene, "4.44.3");
    let done = scene.init(&config("    ignore_versions: [patch]\n"), &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        "transformers: declared 4.44.2, runtime 4.44.3: patch drift tolerated"
    );

    runtime(&scene, "4.45.0");
    let done = scene.init(&config("    ignore_versions: [patch]\n"), &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "transformers  declared 4.44.2  runtime 4.45.0");
    // A mismatch fails at once, not at the deadline.
    assert!(done.elapsed.as_secs() < 5, "{:?}", done.elapsed);
}

#[test]
fn a_tampered_byte_is_caught_and_a_truncated_file_by_its_size_before_hashing() {
    let scene = Scene::new();
    model(&scene);
    let mut bytes = std::fs::read(scene.path("model/weights.bin")).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(scene.path("model/weights.bin"), &bytes).unwrap();
    let done = scene.init(&config(""), &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "weights.bin  declared sha256 ");

    // Truncate the other file: its size is wrong, and the tampered one is not even hashed.
    std::fs::write(scene.path("model/tokenizer.json"), "{").unwrap();
    let done = scene.init(&config(""), &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "tokenizer.json  declared size 8 B  found 1 B");
    assert!(!done.stderr.contains("declared sha256"), "{}", done.stderr);
}

#[test]
fn a_missing_file_is_named_and_waited_for() {
    let scene = Scene::new();
    model(&scene);
    std::fs::remove_file(scene.path("model/tokenizer.json")).unwrap();
    let done = scene.init(&config("    timeout: 1s\n"), &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "tokenizer.json  missing");
    assert_contains!(done.stderr, "timeout 1.0s passed");
}

#[test]
fn exact_names_an_extra_file() {
    let scene = Scene::new();
    model(&scene);
    std::fs::write(scene.path("model/stray.bin"), "s").unwrap();
    std::fs::create_dir_all(scene.path("model/..data")).unwrap();
    std::fs::write(scene.path("model/..data/ignored"), "k").unwrap();
    let done = scene.init(&config("    exact: true\n"), &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "stray.bin  extra: not in the manifest");
    assert!(!done.stderr.contains("ignored"), "{}", done.stderr);
}

#[test]
fn the_cache_skips_unchanged_files_and_catches_a_changed_one() {
    let scene = Scene::new();
    model(&scene);
    let config = config("    cache: true\n");
    let done = scene.init(&config, &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stderr, "0 of 4 from cache");
    let done = scene.init(&config, &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stderr, "4 of 4 from cache");

    // Same size, new content, new mtime: the cache misses and the hash catches it.
    let mut bytes = std::fs::read(scene.path("model/weights.bin")).unwrap();
    bytes[0] ^= 1;
    std::fs::write(scene.path("model/weights.bin"), &bytes).unwrap();
    let done = scene.init(&config, &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "weights.bin  declared sha256 ");
}

#[test]
fn generate_then_verify_round_trips_and_verify_names_mismatches() {
    let scene = Scene::new();
    model(&scene);
    let text = std::fs::read_to_string(scene.path("model/bootgate-manifest.yaml")).unwrap();
    assert_contains!(
        text,
        "pins:\n  \"transformers\": \"4.44.2\"\nfiles:\n  \"config.json\": {size: 34, sha256: "
    );
    assert!(!text.contains("bootgate-manifest"), "{text}");
    // Without -o, nothing is left out but dot entries: stable output, the same files in order.
    let again = scene.run(&["manifest", "generate", "model"], &[]);
    assert_contains!(again.stdout, "\"bootgate-manifest.yaml\"");

    let done = scene.run(
        &[
            "manifest",
            "verify",
            "model/bootgate-manifest.yaml",
            "--exact",
        ],
        &[],
    );
    assert_eq!(done.code(), Some(0), "{}{}", done.stdout, done.stderr);
    assert_contains!(done.stdout, "4 files");

    std::fs::remove_file(scene.path("model/sub/extra.txt")).unwrap();
    let done = scene.run(
        &[
            "manifest",
            "verify",
            "model/bootgate-manifest.yaml",
            "--root",
            "model",
        ],
        &[],
    );
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stdout, "sub/extra.txt  missing");

    std::fs::write(scene.path("bad.yaml"), "files:\n  a: {sise: 1}\n").unwrap();
    let done = scene.run(&["manifest", "verify", "bad.yaml"], &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        "bad.yaml:2:7: files.a: unknown key `sise` (did you mean size?)"
    );
}
