//! The `manifest` check and `bootgate manifest`, through the real binary.

#[macro_use]
mod common;

use common::*;

/// A small model directory with a manifest generated for it, pinning `transformers`.
fn model_dir(scene: &Scene) {
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
/// Renamed into place, so that a watching guard never reads half a file.
fn runtime(scene: &Scene, version: &str) {
    let next = scene.path("runtime.json.new");
    std::fs::write(
        &next,
        format!("{{\"transformers_version\": \"{version}\"}}"),
    )
    .unwrap();
    std::fs::rename(next, scene.path("runtime.json")).unwrap();
}

fn config(extra: &str) -> String {
    format!(
        "deadline: 10s\nchecks:\n  weights:\n    kind: manifest\n    manifest: @/model/bootgate-manifest.yaml\n    effective:\n      transformers: {{json: @/runtime.json, pointer: /transformers_version}}\n{extra}"
    )
}

#[test]
fn patch_drift_passes_under_ignore_patch_and_minor_drift_fails_side_by_side() {
    let scene = Scene::new();
    model_dir(&scene);
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
    model_dir(&scene);
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
    model_dir(&scene);
    std::fs::remove_file(scene.path("model/tokenizer.json")).unwrap();
    let done = scene.init(&config("    timeout: 1s\n"), &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "tokenizer.json  missing");
    assert_contains!(done.stderr, "timeout 1.0s passed");
}

#[test]
fn exact_names_an_extra_file() {
    let scene = Scene::new();
    model_dir(&scene);
    std::fs::write(scene.path("model/stray.bin"), "s").unwrap();
    std::fs::create_dir_all(scene.path("model/..data")).unwrap();
    std::fs::write(scene.path("model/..data/ignored"), "k").unwrap();
    let done = scene.init(&config("    exact: true\n"), &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "stray.bin  extra: not in the manifest");
    assert!(!done.stderr.contains("ignored"), "{}", done.stderr);
}

#[test]
fn the_cache_skips_unchanged_files_and_catches_a_changed_mtime_or_ctime() {
    let scene = Scene::new();
    model_dir(&scene);
    let config = config("    cache: true\n");
    let done = scene.init(&config, &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stderr, "0 of 4 from cache");
    let done = scene.init(&config, &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stderr, "4 of 4 from cache");

    // Only the mtime changes: the cache no longer vouches for the file, which is hashed again.
    let weights = scene.path("model/weights.bin");
    let modified = std::fs::metadata(&weights).unwrap().modified().unwrap();
    let file = std::fs::File::options().write(true).open(&weights).unwrap();
    file.set_modified(modified - std::time::Duration::from_secs(3600))
        .unwrap();
    let done = scene.init(&config, &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stderr, "3 of 4 from cache");

    // Same size, new content, and the mtime set back to what the cache knows: the ctime,
    // which no one can set back, still gives it away, and the hash catches it.
    let modified = std::fs::metadata(&weights).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&weights, &bytes).unwrap();
    file.set_modified(modified).unwrap();
    assert_eq!(
        std::fs::metadata(&weights).unwrap().modified().unwrap(),
        modified
    );
    let done = scene.init(&config, &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(done.stderr, "weights.bin  declared sha256 ");
}

#[test]
fn generate_then_verify_round_trips_and_verify_names_mismatches() {
    let scene = Scene::new();
    model_dir(&scene);
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

    // A FIFO where the manifest should be is refused at once, never waited on for a writer.
    mkfifo(&scene.path("fifo.yaml"));
    let done = scene.run(&["manifest", "verify", "fifo.yaml"], &[]);
    assert_eq!(done.code(), Some(2), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        "cannot read manifest fifo.yaml: it is a FIFO, not a regular file"
    );
}

#[test]
fn force_passes_loudly_and_is_recorded_everywhere() {
    let scene = Scene::new();
    model_dir(&scene);
    runtime(&scene, "4.45.0");
    // A forced check still hashes: the tampered file is among what it is forced past.
    let mut bytes = std::fs::read(scene.path("model/weights.bin")).unwrap();
    bytes[7] ^= 1;
    std::fs::write(scene.path("model/weights.bin"), &bytes).unwrap();
    let mismatch = "transformers  declared 4.44.2  runtime 4.45.0";
    let tampered = "weights.bin   declared sha256 ";
    let forced = format!(
        "listen: \"127.0.0.1:0\"\ndrain: 100ms\n{}    force: true\n",
        config("")
    );
    let termination = scene.path("termination-log");
    let path = scene.config(&forced);
    let gate = scene.run(
        &[
            "init",
            "--config",
            path.to_str().unwrap(),
            "--termination-log",
            termination.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(gate.code(), Some(0), "{}", gate.stderr);
    assert_contains!(
        gate.stderr,
        "weights passed only because it is FORCED (force: true), past:"
    );
    assert_contains!(gate.stderr, format!("{mismatch}\n{tampered}"));
    let status = scene.status();
    assert_eq!(status["checks"][0]["state"], "passed");
    assert_contains!(status["checks"][0]["forced"].as_str().unwrap(), mismatch);
    assert_eq!(
        status["checks"][0]["detail"],
        "FORCED past 2 mismatches (force: true)"
    );
    let message = std::fs::read_to_string(&termination).unwrap();
    assert!(
        message.starts_with(&format!(
            "weights FORCED (force: true) past:\n{mismatch}\n{tampered}"
        )),
        "{message}"
    );
    let last = message.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("bootgate: gate passed after ")
            && last.ends_with(" only because weights was forced"),
        "{message}"
    );

    let mut run = scene.spawn(
        &[
            "run",
            "--config",
            path.to_str().unwrap(),
            "--",
            "sleep",
            "30",
        ],
        &[],
    );
    let port = guard_port(&mut run);
    run.wait_for_line("readiness: starting -> ready");
    let (code, _, body) = get(port, "/readyz?verbose");
    assert_eq!(code, 200, "{body}");
    assert_contains!(
        body,
        format!("[+]weights ok (forced)\n    {mismatch}\n    {tampered}")
    );
    assert_eq!(get(port, "/readyz/weights").2, "ok (forced)");
    let (_, _, json) = get(port, "/readyz?format=json");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["checks"][0]["name"], "weights");
    assert_eq!(json["checks"][0]["forced"], true);
    let (_, _, metrics) = get(port, "/metrics");
    assert_contains!(metrics, "bootgate_forced{check=\"weights\"} 1");
    assert_contains!(metrics, "bootgate_check_up{check=\"weights\"} 0");
    drop(run);

    // Without `force`, the same config fails; `check --force` passes it and says so.
    let plain = scene.config(&config(""));
    let refused = scene.run(&["check", "--config", plain.to_str().unwrap()], &[]);
    assert_eq!(refused.code(), Some(1), "{}", refused.stdout);
    assert_contains!(refused.stdout, "✖ weights");
    let done = scene.run(
        &["check", "--force", "--config", plain.to_str().unwrap()],
        &[],
    );
    assert_eq!(done.code(), Some(0), "{}{}", done.stdout, done.stderr);
    assert_contains!(
        done.stdout,
        "! weights  @/model/bootgate-manifest.yaml — FORCED past 2 mismatches (force: true)"
            .replace('@', scene.dir.path().to_str().unwrap())
    );
    assert_contains!(done.stdout, format!("    {mismatch}\n"));
    assert_contains!(done.stdout, format!("    {tampered}"));
    assert_contains!(done.stdout, "0 passed, 0 failed, 1 FORCED");
}

#[test]
fn a_long_hash_reports_progress_and_stops_at_sigterm() {
    let scene = Scene::new();
    std::fs::create_dir_all(scene.path("model")).unwrap();
    // Sparse: 64 GiB that takes no disk, and longer to hash than this test will wait.
    let huge = std::fs::File::create(scene.path("model/huge.bin")).unwrap();
    huge.set_len(64 << 30).unwrap();
    std::fs::write(
        scene.path("model/bootgate-manifest.yaml"),
        format!(
            "files:\n  huge.bin: {{size: {}, sha256: {}}}\n",
            64u64 << 30,
            "0".repeat(64)
        ),
    )
    .unwrap();
    let mut init = scene.spawn_init(
        "deadline: 10m\nchecks:\n  weights:\n    kind: manifest\n    manifest: @/model/bootgate-manifest.yaml\n",
        &[],
    );
    init.wait_for_line("waiting for weights: hashing 64.0 GiB in 1 file (");
    init.signal("TERM");
    let (status, _) = init.wait();
    assert_eq!(status.code(), Some(3), "{}", init.stderr());
    // The periodic line of a long hash, apart from the waiting line awaited above.
    let log = init.full_stderr();
    let hashing = log
        .lines()
        .find(|l| l.contains(" INFO weights: hashing "))
        .unwrap_or_else(|| panic!("no hashing line in:\n{log}"));
    assert_contains!(hashing, " of 64.0 GiB");
    let check = &scene.status()["checks"][0];
    assert_eq!(check["state"], "cancelled", "{check}");
    let progress = check["progress"].as_str().unwrap();
    assert!(
        progress.contains(" of 64.0 GiB, ") && progress.contains("/s, ETA "),
        "{progress}"
    );
}

#[test]
fn pins_read_from_env_a_file_and_a_digest() {
    let scene = Scene::new();
    std::fs::create_dir_all(scene.path("model")).unwrap();
    std::fs::write(scene.path("model/tokenizer.json"), "{\"v\": 1}").unwrap();
    std::fs::write(scene.path("build-id"), "b-77\n").unwrap();
    let digest = "51a9d8dd4e5dc6e2e0d2f4e1e4ee3e7dcad4a1e3b8a4a3f2b0e9ad8c2a3d1f40";
    let done = scene.run(&["manifest", "generate", "model"], &[]);
    let real = done
        .stdout
        .lines()
        .find_map(|l| l.split("sha256: ").nth(1))
        .map(|d| d.trim_matches(['}', '"', ' ']).to_string())
        .expect("a digest");
    assert_ne!(real, digest);
    let manifest = |tokenizer: &str| {
        std::fs::write(
            scene.path("model/bootgate-manifest.yaml"),
            format!("pins:\n  model_version: \"1.4.2\"\n  build: b-77\n  tokenizer_sha256: {tokenizer}\n"),
        )
        .unwrap();
    };
    let config = "deadline: 5s\nchecks:\n  weights:\n    kind: manifest\n    manifest: @/model/bootgate-manifest.yaml\n    effective:\n      model_version: {env: MODEL_VER}\n      build: {file: @/build-id}\n      tokenizer_sha256: {sha256_of: tokenizer.json}\n";
    manifest(&real.to_uppercase());
    let done = scene.init(config, &[("MODEL_VER", "1.4.2")]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_contains!(done.stderr, "weights passed (3 pins, 0 files (0 B) match)");

    manifest(digest);
    let done = scene.init(config, &[("MODEL_VER", "1.5.0")]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        format!(
            "model_version     declared 1.4.2  runtime 1.5.0\n\
             tokenizer_sha256  declared 51a9d8dd4e5d…  runtime {}…",
            &real[..12]
        )
    );
    // An unset variable will not appear later: it fails at once, not at the deadline.
    let done = scene.init(config, &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert_contains!(
        done.stderr,
        "model_version     runtime unknown: env MODEL_VER is not set"
    );
    assert!(done.elapsed.as_secs() < 4, "{:?}", done.elapsed);
}

#[test]
fn a_watched_forced_check_keeps_its_mark_and_loses_it_once_it_matches() {
    let model = HttpServer::start(200, "ok");
    let scene = Scene::new();
    model_dir(&scene);
    runtime(&scene, "4.45.0");
    let config = format!(
        "listen: \"127.0.0.1:0\"\ndrain: 100ms\n{}    force: true\n    watch: true\n{}",
        config(""),
        health_sentinel(&model)
    );
    let path = scene.config(&config);
    let mut run = scene.spawn(&["run", "--config", path.to_str().unwrap()], &[]);
    let port = guard_port(&mut run);
    run.wait_for_line("readiness: starting -> ready");
    assert_contains!(get(port, "/readyz?verbose").2, "[+]weights ok (forced)\n");

    runtime(&scene, "4.44.2");
    run.wait_for_line("watched check weights matches again; no longer forced");
    let (_, _, body) = get(port, "/readyz?verbose");
    assert_contains!(body, "[+]weights ok\n");
    let (_, _, metrics) = get(port, "/metrics");
    assert_contains!(metrics, "bootgate_forced{check=\"weights\"} 0");
    assert_contains!(metrics, "bootgate_check_up{check=\"weights\"} 1");

    runtime(&scene, "4.45.0");
    run.wait_for_line("watched check weights passes only because it is FORCED (force: true)");
    assert_eq!(get(port, "/readyz/weights").2, "ok (forced)");
    assert_contains!(
        get(port, "/metrics").2,
        "bootgate_forced{check=\"weights\"} 1"
    );
}
