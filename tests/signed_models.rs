//! Models signed by the real OpenSSF Model Signing package (`model_signing`, through
//! tests/fixtures/oms_sign.py), with keys and CAs made by the real `openssl`, verified by the
//! real binary: `bootgate init` on a `signature:` check, and `bootgate manifest verify`.

#[macro_use]
mod common;

use common::*;

fn fixture(scene: &Scene, args: &[&str]) {
    py_tools::run_fixture("oms_sign.py", args, scene.dir.path());
}

/// A scene with keys and CAs under `pki/` and a model (config.json, tokenizer.json,
/// model.safetensors of 69,824 bytes) under `model/`.
fn scene() -> Scene {
    let scene = Scene::new();
    fixture(&scene, &["pki", "pki"]);
    fixture(&scene, &["model", "model"]);
    scene
}

/// Signs `model/` into `model/model.sig` (left out of the signed files, as the reference
/// command leaves it out).
fn sign(scene: &Scene, args: &[&str]) {
    fixture(
        scene,
        &[&["sign", "model", "model/model.sig"], args].concat(),
    );
}

/// A gate of one `signature:` check; `trust` is `public_key: @/pki/…` or `ca_roots: @/pki/…`.
fn gate(trust: &str) -> String {
    format!(
        "deadline: 10s\nchecks:\n  weights:\n    kind: manifest\n    signature: @/model/model.sig\n    {trust}\n"
    )
}

fn passes(scene: &Scene, trust: &str) -> Finished {
    let done = scene.init(&gate(trust), &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    done
}

/// The gate fails at once (not at the deadline): its stderr.
fn fails(scene: &Scene, trust: &str) -> String {
    let done = scene.init(&gate(trust), &[]);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert!(done.elapsed.as_secs() < 5, "{:?}", done.elapsed);
    done.stderr
}

fn hint_of(scene: &Scene, public_key: &str) -> String {
    use sha2::Digest as _;
    let pem = std::fs::read(scene.path(public_key)).unwrap();
    let hex: String = sha2::Sha256::digest(pem)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex[..12].to_string()
}

#[test]
fn models_signed_with_p256_p384_and_p521_keys_pass_the_gate() {
    let scene = scene();
    for curve in ["p256", "p384", "p521"] {
        sign(&scene, &["--key", &format!("pki/{curve}.key")]);
        let done = passes(&scene, &format!("public_key: @/pki/{curve}.pub"));
        assert_contains!(
            done.stderr,
            &format!(
                "signed by key sha256:{}…",
                hint_of(&scene, &format!("pki/{curve}.pub"))
            )
        );
    }
}

#[test]
fn a_certificate_chain_passes_with_files_and_with_shards() {
    let scene = scene();
    sign(
        &scene,
        &["--cert", "pki/leaf.pem", "--chain", "pki/chain.pem"],
    );
    let done = passes(&scene, "ca_roots: @/pki/root.pem");
    assert_contains!(
        done.stderr,
        "signed by certificate \"CN=model signer\" issued by \"O=bootgate tests, CN=Test \
         Intermediate CA\""
    );
    // Shards, which only the Python API writes: 69,824 bytes in 16 KiB ranges.
    sign(
        &scene,
        &[
            "--cert",
            "pki/leaf.pem",
            "--chain",
            "pki/chain.pem",
            "--shard-size",
            "16384",
        ],
    );
    let bundle = std::fs::read_to_string(scene.path("model/model.sig")).unwrap();
    assert!(bundle.contains("x509CertificateChain"), "{bundle}");
    passes(&scene, "ca_roots: @/pki/root.pem");
    let done = scene.run(
        &[
            "manifest",
            "verify",
            "--signature",
            "model/model.sig",
            "--ca-roots",
            "pki/root.pem",
        ],
        &[],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_eq!(
        done.stdout,
        "model/model.sig (signed by certificate \"CN=model signer\" issued by \"O=bootgate \
         tests, CN=Test Intermediate CA\"): 3 files (68.3 KiB) match\n"
    );
}

#[test]
fn a_flipped_byte_fails_naming_the_file_whole_or_by_shard() {
    let scene = scene();
    sign(&scene, &["--key", "pki/p256.key"]);
    let mut bytes = std::fs::read(scene.path("model/model.safetensors")).unwrap();
    bytes[40_000] ^= 0x01;
    std::fs::write(scene.path("model/model.safetensors"), &bytes).unwrap();
    let stderr = fails(&scene, "public_key: @/pki/p256.pub");
    assert_contains!(stderr, "model.safetensors  declared sha256 ");
    assert!(!stderr.contains("config.json"), "{stderr}");
    bytes[40_000] ^= 0x01;
    std::fs::write(scene.path("model/model.safetensors"), &bytes).unwrap();
    sign(&scene, &["--key", "pki/p256.key", "--shard-size", "16384"]);
    bytes[50_000] ^= 0x80;
    std::fs::write(scene.path("model/model.safetensors"), &bytes).unwrap();
    let stderr = fails(&scene, "public_key: @/pki/p256.pub");
    assert_contains!(
        stderr,
        "model.safetensors  shard 4 of 5 (bytes 49152..65536): declared sha256 "
    );
}

#[test]
fn an_unsigned_extra_file_fails_unless_it_was_ignored_when_signed() {
    let scene = scene();
    sign(&scene, &["--key", "pki/p384.key", "--ignore", "notes"]);
    std::fs::create_dir_all(scene.path("model/notes")).unwrap();
    std::fs::write(scene.path("model/notes/todo.txt"), "ignored when signed").unwrap();
    passes(&scene, "public_key: @/pki/p384.pub");
    std::fs::write(scene.path("model/extra.bin"), "not signed").unwrap();
    let stderr = fails(&scene, "public_key: @/pki/p384.pub");
    assert_contains!(stderr, "extra.bin  extra: not signed");
    assert!(!stderr.contains("todo.txt"), "{stderr}");
}

#[test]
fn another_signers_key_fails_by_name() {
    let scene = scene();
    sign(&scene, &["--key", "pki/p521.key"]);
    let stderr = fails(&scene, "public_key: @/pki/other.pub");
    assert_contains!(
        stderr,
        &format!(
            "/model/model.sig: the bundle's key hint {}… is not the configured key's {}…",
            hint_of(&scene, "pki/p521.pub"),
            hint_of(&scene, "pki/other.pub")
        )
    );
}

#[test]
fn another_ca_fails_naming_the_certificate() {
    let scene = scene();
    sign(
        &scene,
        &[
            "--cert",
            "pki/other-leaf.pem",
            "--chain",
            "pki/other-root.pem",
        ],
    );
    let stderr = fails(&scene, "ca_roots: @/pki/root.pem");
    assert_contains!(
        stderr,
        "/model/model.sig: certificate \"CN=another signer\" does not chain to a configured \
         root: the bundle's chain ends at the root \"CN=Another CA\", which is not a configured \
         one"
    );
}

#[test]
fn a_payload_edited_after_signing_fails() {
    let scene = scene();
    sign(&scene, &["--key", "pki/p256.key"]);
    // Someone adds a file and lists it in the signed statement, keeping the signature.
    std::fs::write(scene.path("model/backdoor.py"), "import os").unwrap();
    let path = scene.path("model/model.sig");
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let payload = bundle["dsseEnvelope"]["payload"].as_str().unwrap();
    let mut statement: serde_json::Value = serde_json::from_slice(&base64_decode(payload)).unwrap();
    let resources = statement["predicate"]["resources"].as_array_mut().unwrap();
    let mut added = resources[0].clone();
    added["name"] = "backdoor.py".into();
    resources.push(added);
    bundle["dsseEnvelope"]["payload"] =
        base64_encode(&serde_json::to_vec(&statement).unwrap()).into();
    std::fs::write(&path, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let stderr = fails(&scene, "public_key: @/pki/p256.pub");
    assert_contains!(
        stderr,
        "/model/model.sig: the signature does not verify with the configured P-256 key"
    );
}

#[test]
fn a_truncated_safetensors_file_fails_naming_it() {
    let scene = scene();
    sign(&scene, &["--key", "pki/p256.key", "--shard-size", "16384"]);
    let bytes = std::fs::read(scene.path("model/model.safetensors")).unwrap();
    std::fs::write(scene.path("model/model.safetensors"), &bytes[..60_000]).unwrap();
    // Under shards the signed size is known: found wrong before anything is hashed.
    let stderr = fails(&scene, "public_key: @/pki/p256.pub");
    assert_contains!(stderr, "model.safetensors  declared size 69824 B");
    assert_contains!(stderr, "found 60000 B");
    // Under files only the digest is signed: the header says how long the file must be, and
    // the file is refused from it, before any hash.
    std::fs::write(scene.path("model/model.safetensors"), &bytes).unwrap();
    sign(&scene, &["--key", "pki/p256.key"]);
    std::fs::write(scene.path("model/model.safetensors"), &bytes[..60_000]).unwrap();
    let stderr = fails(&scene, "public_key: @/pki/p256.pub");
    assert_contains!(stderr, "model.safetensors  truncated: ");
    assert_contains!(stderr, "69824 B");
    assert_contains!(stderr, "the file has 60000 B");
    assert!(
        !stderr.contains("hashing"),
        "hashed before refusing: {stderr}"
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    bootgate::encoding::base64_decoded(text.as_bytes()).unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    bootgate::encoding::base64(bytes)
}
