//! Bundles made by the real signer (`model_signing`, through tests/fixtures/oms_sign.py) with
//! keys and certificates made by the real `openssl`, and the specification's own vectors.

use super::*;
use crate::encoding::{base64, base64_decoded};
use sha2::Digest as _;
use std::path::{Path, PathBuf};

use crate::manifest::py_tools;

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A directory with keys and certificates (`oms_sign.py pki`) and a model to sign.
struct Lab {
    dir: tempfile::TempDir,
}

const MODEL: &[(&str, usize)] = &[
    ("config.json", 40),
    ("weights/model-00001.safetensors", 2500),
    ("weights/empty.bin", 0),
    ("odd:name:with:colons.bin", 7),
];

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        for (name, len) in MODEL {
            let path = model.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content(name, *len)).unwrap();
        }
        let lab = Lab { dir };
        lab.run(&["pki", "pki"]);
        lab
    }

    fn run(&self, args: &[&str]) {
        py_tools::run_fixture("oms_sign.py", args, self.dir.path());
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// The bundle model_signing writes for the model with `args` (`--key pki/p256.key`…).
    fn sign(&self, args: &[&str]) -> Vec<u8> {
        self.run(&[&["sign", "model", "model.sig"], args].concat());
        self.read("model.sig")
    }

    fn key(&self, name: &str) -> Vec<u8> {
        self.read(&format!("pki/{name}"))
    }
}

/// Distinct bytes for each file, so that a swapped digest would show.
fn content(name: &str, len: usize) -> Vec<u8> {
    name.bytes().cycle().take(len).collect()
}

fn sha256(bytes: &[u8]) -> crate::digest::Digest {
    crate::digest::Digest::from_bytes(sha2::Sha256::digest(bytes).into())
}

fn key_trust(pem: &[u8]) -> Trust<'_> {
    Trust::Key { pem }
}

fn roots_trust(pem: &[u8]) -> Trust<'_> {
    Trust::Roots { pem }
}

fn failure(bundle: &[u8], trust: Trust<'_>) -> String {
    match verify(bundle, &trust) {
        Ok(signed) => panic!("verified: {signed:?}"),
        Err(e) => e.to_string(),
    }
}

/// The bundle as JSON, to edit as a forger would.
fn json(bundle: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bundle).unwrap()
}

fn hint(bundle: &[u8]) -> String {
    json(bundle)["verificationMaterial"]["publicKey"]["hint"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The bundle with its payload changed by `edit`, the signature left as it was.
fn with_payload(bundle: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let mut value = json(bundle);
    let payload = base64_decoded(
        value["dsseEnvelope"]["payload"]
            .as_str()
            .unwrap()
            .as_bytes(),
    );
    let edited = edit(std::str::from_utf8(&payload.unwrap()).unwrap());
    value["dsseEnvelope"]["payload"] = base64(edited.as_bytes()).into();
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn keys_on_all_three_curves_verify_and_list_every_file() {
    let lab = Lab::new();
    for curve in ["p256", "p384", "p521"] {
        let bundle = lab.sign(&["--key", &format!("pki/{curve}.key")]);
        let public = lab.key(&format!("{curve}.pub"));
        let signed = verify(&bundle, &key_trust(&public)).unwrap();
        // The hint model_signing wrote is the sha256 of the key's PEM text.
        assert_eq!(hint(&bundle), sha256(&public).to_hex());
        assert_eq!(
            signed.signer,
            format!("key sha256:{}…", &hint(&bundle)[..12])
        );
        assert_eq!(signed.method, Method::Files);
        assert!(!signed.allow_symlinks);
        let mut expected: Vec<Resource> = MODEL
            .iter()
            .map(|(name, len)| Resource {
                path: name.to_string(),
                range: None,
                digest: sha256(&content(name, *len)),
            })
            .collect();
        expected.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(signed.resources, expected, "{curve}");
        let mut ignored = signed.ignore_paths.clone();
        ignored.sort();
        assert_eq!(
            ignored,
            [".git", ".gitattributes", ".github", ".gitignore"],
            "{curve}"
        );
    }
}

#[test]
fn the_key_file_is_read_as_pem_whatever_its_line_ends_and_comments() {
    let lab = Lab::new();
    let bundle = lab.sign(&["--key", "pki/p384.key"]);
    let public = String::from_utf8(lab.key("p384.pub")).unwrap();
    let reformatted = format!("the signer's key\r\n{}", public.replace('\n', "\r\n"));
    let signed = verify(&bundle, &key_trust(reformatted.as_bytes())).unwrap();
    assert_eq!(
        signed.signer,
        format!("key sha256:{}…", &hint(&bundle)[..12])
    );
}

#[test]
fn another_signers_key_fails_by_its_hint_and_without_one_by_the_signature() {
    let lab = Lab::new();
    let bundle = lab.sign(&["--key", "pki/p256.key"]);
    let other = lab.key("other.pub");
    assert_eq!(
        failure(&bundle, key_trust(&other)),
        format!(
            "the bundle's key hint {}… is not the configured key's {}…",
            &hint(&bundle)[..12],
            &sha256(&other).to_hex()[..12]
        )
    );
    // A bundle without a hint is decided by the signature alone.
    let mut value = json(&bundle);
    value["verificationMaterial"]["publicKey"] = serde_json::json!({});
    let no_hint = serde_json::to_vec(&value).unwrap();
    assert_eq!(
        failure(&no_hint, key_trust(&other)),
        "the signature does not verify with the configured P-256 key"
    );
    verify(&no_hint, &key_trust(&lab.key("p256.pub"))).unwrap();
    // Older bundles name the key by its PEM text in rawBytes.
    value["verificationMaterial"]["publicKey"] = serde_json::json!({
        "rawBytes": base64(&lab.key("p256.pub")),
        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
    });
    let old = serde_json::to_vec(&value).unwrap();
    verify(&old, &key_trust(&lab.key("p256.pub"))).unwrap();
    assert_eq!(
        failure(&old, key_trust(&other)),
        "the bundle's key (publicKey.rawBytes) is not the configured key"
    );
    // A key in the bundle is never trusted: the other key's own rawBytes changes nothing.
    value["verificationMaterial"]["publicKey"]["rawBytes"] = base64(&other).into();
    let swapped = serde_json::to_vec(&value).unwrap();
    assert_eq!(
        failure(&swapped, key_trust(&other)),
        "the signature does not verify with the configured P-256 key"
    );
}

#[test]
fn a_payload_edited_after_signing_fails_whatever_the_method() {
    let lab = Lab::new();
    let key_bundle = lab.sign(&["--key", "pki/p521.key"]);
    let config = sha256(&content("config.json", 40)).to_hex();
    let forged = sha256(b"{\"evil\": true}").to_hex();
    let edit = |payload: &str| {
        assert!(payload.contains(&config));
        payload.replace(&config, &forged)
    };
    assert_eq!(
        failure(
            &with_payload(&key_bundle, edit),
            key_trust(&lab.key("p521.pub"))
        ),
        "the signature does not verify with the configured P-521 key"
    );
    let certificate_bundle = lab.sign(&["--cert", "pki/leaf.pem", "--chain", "pki/chain.pem"]);
    assert_eq!(
        failure(
            &with_payload(&certificate_bundle, edit),
            roots_trust(&lab.key("root.pem"))
        ),
        "the signature does not verify with the P-521 key of certificate \"CN=model signer\" \
         issued by \"O=bootgate tests, CN=Test Intermediate CA\""
    );
    // One byte of the signature flipped.
    let mut value = json(&key_bundle);
    let sig = base64_decoded(
        value["dsseEnvelope"]["signatures"][0]["sig"]
            .as_str()
            .unwrap()
            .as_bytes(),
    );
    let mut sig = sig.unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    value["dsseEnvelope"]["signatures"][0]["sig"] = base64(&sig).into();
    assert_eq!(
        failure(
            &serde_json::to_vec(&value).unwrap(),
            key_trust(&lab.key("p521.pub"))
        ),
        "the signature does not verify with the configured P-521 key"
    );
}

#[test]
fn a_certificate_chain_to_a_configured_root_verifies() {
    let lab = Lab::new();
    let bundle = lab.sign(&["--cert", "pki/leaf.pem", "--chain", "pki/chain.pem"]);
    let signed = verify(&bundle, &roots_trust(&lab.key("root.pem"))).unwrap();
    assert_eq!(
        signed.signer,
        "certificate \"CN=model signer\" issued by \"O=bootgate tests, CN=Test Intermediate CA\""
    );
    assert_eq!(signed.method, Method::Files);
    assert_eq!(signed.resources.len(), MODEL.len());
    // Among other roots; or with the intermediate itself trusted.
    let several = [lab.key("other-root.pem"), lab.key("root.pem")].concat();
    verify(&bundle, &roots_trust(&several)).unwrap();
    verify(&bundle, &roots_trust(&lab.key("intermediate.pem"))).unwrap();
    // An RSA CA over an ECDSA signing certificate.
    let rsa = lab.sign(&["--cert", "pki/rsa-leaf.pem", "--chain", "pki/rsa-root.pem"]);
    let signed = verify(&rsa, &roots_trust(&lab.key("rsa-root.pem"))).unwrap();
    assert_eq!(
        signed.signer,
        "certificate \"CN=rsa-issued signer\" issued by \"CN=RSA Root CA\""
    );
    // The same with one byte of the RSA signature over the signing certificate changed.
    let mut value = json(&rsa);
    let leaf = &mut value["verificationMaterial"]["x509CertificateChain"]["certificates"][0];
    let mut der = base64_decoded(leaf["rawBytes"].as_str().unwrap().as_bytes()).unwrap();
    let last = der.len() - 1;
    der[last] ^= 1;
    leaf["rawBytes"] = base64(&der).into();
    assert_eq!(
        failure(
            &serde_json::to_vec(&value).unwrap(),
            roots_trust(&lab.key("rsa-root.pem"))
        ),
        "certificate \"CN=rsa-issued signer\" does not chain to a configured root: the \
         signature of \"CN=rsa-issued signer\" does not verify with the key of \"CN=RSA Root \
         CA\""
    );
}

#[test]
fn another_ca_fails_naming_the_certificate_and_its_issuer() {
    let lab = Lab::new();
    let other = lab.sign(&[
        "--cert",
        "pki/other-leaf.pem",
        "--chain",
        "pki/other-root.pem",
    ]);
    assert_eq!(
        failure(&other, roots_trust(&lab.key("root.pem"))),
        "certificate \"CN=another signer\" does not chain to a configured root: the bundle's \
         chain ends at the root \"CN=Another CA\", which is not a configured one"
    );
    let ours = lab.sign(&["--cert", "pki/leaf.pem", "--chain", "pki/chain.pem"]);
    assert_eq!(
        failure(&ours, roots_trust(&lab.key("other-root.pem"))),
        "certificate \"CN=model signer\" does not chain to a configured root: no configured \
         root and no certificate in the bundle is the issuer \"O=bootgate tests, CN=Test Root \
         CA\" of \"O=bootgate tests, CN=Test Intermediate CA\""
    );
    // A root of the same name with another key: the link's signature is what counts.
    assert_eq!(
        failure(&ours, roots_trust(&lab.key("impostor-root.pem"))),
        "certificate \"CN=model signer\" does not chain to a configured root: the signature \
         of \"O=bootgate tests, CN=Test Intermediate CA\" does not verify with the key of \
         \"O=bootgate tests, CN=Test Root CA\""
    );
    // Without the intermediate in the bundle, the leaf reaches no root.
    let bare = lab.sign(&["--cert", "pki/leaf.pem", "--chain", "pki/root.pem"]);
    assert_eq!(
        failure(&bare, roots_trust(&lab.key("root.pem"))),
        "certificate \"CN=model signer\" does not chain to a configured root: no configured \
         root and no certificate in the bundle is its issuer \"O=bootgate tests, CN=Test \
         Intermediate CA\""
    );
}

#[test]
fn the_chain_is_checked_at_the_signing_time_and_for_signing_use() {
    let lab = Lab::new();
    let root = lab.key("root.pem");
    // Valid 2020 to 2021: expired now, valid when it signed.
    let expired = lab.sign(&["--cert", "pki/expired-leaf.pem", "--chain", "pki/chain.pem"]);
    let signed = verify(&expired, &roots_trust(&root)).unwrap();
    assert!(
        signed
            .signer
            .starts_with("certificate \"CN=expired signer\"")
    );
    let early = lab.sign(&["--cert", "pki/early-leaf.pem", "--chain", "pki/chain.pem"]);
    assert_eq!(
        failure(&early, roots_trust(&root)),
        "certificate \"O=bootgate tests, CN=Test Intermediate CA\" was not valid at the signing \
         time 2018-01-01T00:00:00Z (the signing certificate's notBefore, where model_signing \
         checks the chain): it is valid from 2019-01-01T00:00:00Z to 2044-01-01T00:00:00Z"
    );
    let web = lab.sign(&["--cert", "pki/nousage-leaf.pem", "--chain", "pki/chain.pem"]);
    assert_eq!(
        failure(&web, roots_trust(&root)),
        "certificate \"CN=web server\" may not sign: its key usage lacks digitalSignature and \
         its extended key usage lacks codeSigning"
    );
}

#[test]
fn each_issuer_must_be_a_ca_allowed_to_issue_and_no_extension_unread() {
    let lab = Lab::new();
    let root = lab.key("root.pem");
    let cases = [
        (
            "notca",
            "certificate \"CN=notca CA\" issued \"CN=notca signer\" but is not a CA \
             (basicConstraints)",
        ),
        (
            "nocertsign",
            "certificate \"CN=nocertsign CA\" issued \"CN=nocertsign signer\" but its key usage \
             lacks keyCertSign",
        ),
        (
            "pathlen",
            "certificate \"CN=pathlen CA\" allows 0 CA certificates below it \
             (pathLenConstraint); the chain has 1",
        ),
        (
            "critical",
            "certificate \"CN=critical signer\" has a critical extension not checked here: \
             1.2.3.4",
        ),
    ];
    for (name, expected) in cases {
        let bundle = lab.sign(&[
            "--cert",
            &format!("pki/{name}-leaf.pem"),
            "--chain",
            &format!("pki/{name}-chain.pem"),
        ]);
        assert_eq!(failure(&bundle, roots_trust(&root)), expected, "{name}");
    }
    let fulcio = lab.sign(&[
        "--cert",
        "pki/fulcio-leaf.pem",
        "--chain",
        "pki/fulcio-chain.pem",
    ]);
    assert!(failure(&fulcio, roots_trust(&root)).starts_with(
        "a Sigstore keyless bundle (certificate \"CN=fulcio signer\" is one of Sigstore's \
             Fulcio CA): verifying one offline needs"
    ));
}

#[test]
fn shards_verify_and_give_each_files_ranges() {
    let lab = Lab::new();
    let bundle = lab.sign(&["--key", "pki/p256.key", "--shard-size", "1000"]);
    // model_signing writes the size as a float.
    let payload = base64_decoded(
        json(&bundle)["dsseEnvelope"]["payload"]
            .as_str()
            .unwrap()
            .as_bytes(),
    );
    assert!(
        String::from_utf8(payload.unwrap())
            .unwrap()
            .contains("\"shard_size\": 1000.0")
    );
    let signed = verify(&bundle, &key_trust(&lab.key("p256.pub"))).unwrap();
    assert_eq!(signed.method, Method::Shards { shard_size: 1000 });
    let weights = content("weights/model-00001.safetensors", 2500);
    let shard = |path: &str, bytes: &[u8], range: std::ops::Range<u64>| Resource {
        path: path.to_string(),
        digest: sha256(&bytes[range.start as usize..range.end as usize]),
        range: Some(range),
    };
    let config = content("config.json", 40);
    let colons = content("odd:name:with:colons.bin", 7);
    // The empty file has no shard; a path with colons keeps them.
    assert_eq!(
        signed.resources,
        [
            shard("config.json", &config, 0..40),
            shard("odd:name:with:colons.bin", &colons, 0..7),
            shard("weights/model-00001.safetensors", &weights, 0..1000),
            shard("weights/model-00001.safetensors", &weights, 1000..2000),
            shard("weights/model-00001.safetensors", &weights, 2000..2500),
        ]
    );
}

#[test]
fn ignored_paths_and_symlinks_are_as_signed() {
    let lab = Lab::new();
    std::fs::write(lab.path("model/notes.txt"), "unsigned").unwrap();
    std::os::unix::fs::symlink("config.json", lab.path("model/link.json")).unwrap();
    let bundle = lab.sign(&[
        "--key",
        "pki/p256.key",
        "--ignore",
        "notes.txt",
        "--allow-symlinks",
    ]);
    let signed = verify(&bundle, &key_trust(&lab.key("p256.pub"))).unwrap();
    assert!(signed.allow_symlinks);
    assert!(signed.ignore_paths.contains(&"notes.txt".to_string()));
    assert!(!signed.resources.iter().any(|r| r.path == "notes.txt"));
    let link = signed
        .resources
        .iter()
        .find(|r| r.path == "link.json")
        .unwrap();
    assert_eq!(link.digest, sha256(&content("config.json", 40)));
}

#[test]
fn a_bundle_for_the_other_method_says_what_to_configure() {
    let lab = Lab::new();
    let key_bundle = lab.sign(&["--key", "pki/p256.key"]);
    assert_eq!(
        failure(&key_bundle, roots_trust(&lab.key("root.pem"))),
        "the bundle is signed with a key (the key method), but CA roots are configured \
         (ca_roots), not a public key (public_key)"
    );
    let certificate_bundle = lab.sign(&["--cert", "pki/leaf.pem", "--chain", "pki/chain.pem"]);
    assert_eq!(
        failure(&certificate_bundle, key_trust(&lab.key("leaf.pub"))),
        "the bundle is signed with a certificate (the certificate method), but a public key is \
         configured (public_key), not CA roots (ca_roots)"
    );
}

#[test]
fn trust_material_is_checked_alone_and_named() {
    let lab = Lab::new();
    let check = |trust: Trust<'_>| parse_trust(&trust).map_err(|e| e.to_string());
    assert_eq!(check(key_trust(&lab.key("p521.pub"))), Ok(()));
    assert_eq!(check(roots_trust(&lab.key("root.pem"))), Ok(()));
    assert_eq!(
        check(key_trust(&lab.key("root.pem"))),
        Err(
            "the configured public key: it holds a certificate, not a PUBLIC KEY block; \
             configure CA certificates as ca_roots, or take the key out with `openssl x509 \
             -pubkey -noout`"
                .to_string()
        )
    );
    assert_eq!(
        check(key_trust(&lab.key("p256.key"))),
        Err(
            "the configured public key: it holds a private key; configure the public one \
             (`openssl pkey -pubout`)"
                .to_string()
        )
    );
    let two = [lab.key("p256.pub"), lab.key("p384.pub")].concat();
    assert_eq!(
        check(key_trust(&two)),
        Err("the configured public key: it holds 2 PUBLIC KEY blocks; configure one".to_string())
    );
    let rsa = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(lab.path("pki/rsa-root.key"))
        .output()
        .unwrap()
        .stdout;
    assert_eq!(
        check(key_trust(&rsa)),
        Err(
            "the configured public key: it is an RSA key; model_signing signs with ECDSA keys \
             (P-256, P-384 or P-521)"
                .to_string()
        )
    );
    assert_eq!(
        check(key_trust(b"")),
        Err("the configured public key: it holds no PUBLIC KEY block".to_string())
    );
    let with_key = [lab.key("root.pem"), lab.key("p256.key")].concat();
    assert_eq!(
        check(roots_trust(&with_key)),
        Err(
            "the configured CA roots: they hold a \"PRIVATE KEY\" block, not only certificates"
                .to_string()
        )
    );
    assert_eq!(
        check(roots_trust(b"nothing")),
        Err("the configured CA roots: they hold no CERTIFICATE block".to_string())
    );
    let broken = String::from_utf8(lab.key("root.pem"))
        .unwrap()
        .replacen("MII", "MIJ", 1);
    assert_eq!(
        check(roots_trust(broken.as_bytes())),
        Err(
            "the configured CA roots: certificate 1: it is not a DER X.509 certificate \
             (certificate)"
                .to_string()
        )
    );
}

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(
        repository()
            .join("tests/fixtures/oms-spec-vectors")
            .join(name),
    )
    .unwrap()
}

#[test]
fn the_specifications_keyless_vectors_are_refused_by_name() {
    let lab = Lab::new();
    let expected = "a Sigstore keyless bundle (it has transparency-log entries): verifying one \
                    offline needs Sigstore's trusted root, a transparency-log proof and the \
                    signer's identity and issuer, which bootgate does not check; sign with a \
                    key or a certificate (model_signing sign key / certificate), or verify \
                    keyless signatures in CI before the model is published";
    let sigstore = vector("valid-sigstore.bundle.json");
    assert_eq!(
        failure(&sigstore, roots_trust(&lab.key("root.pem"))),
        expected
    );
    assert_eq!(
        failure(&sigstore, key_trust(&lab.key("p256.pub"))),
        expected
    );
    let no_log = vector("invalid-missing-tlog-entries.bundle.json");
    assert!(
        failure(&no_log, roots_trust(&lab.key("root.pem"))).starts_with(
            "a Sigstore keyless bundle (verificationMaterial.certificate, a Fulcio certificate): \
             verifying one offline"
        )
    );
}

#[test]
fn the_specifications_vectors_parse_and_its_certificate_vector_verifies() {
    // The key vector's key is not published: it parses as far as the hint.
    let key = vector("valid-key.bundle.json");
    let p256 = Lab::new().key("p256.pub");
    assert!(
        failure(&key, key_trust(&p256)).starts_with("the bundle's key hint e8450dec4eb9… is not")
    );
    let parsed = bundle::parse(&key).unwrap();
    let statement = statement::parse(&parsed.payload).unwrap();
    let names: Vec<&str> = statement
        .resources
        .iter()
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(names, ["signme-1", "signme-2"]);
    assert!(statement.ignore_paths.contains(&"ignore-me".to_string()));
    // The certificate vector's chain ends at an RSA CA whose root is not published: with its
    // intermediate trusted, the RSA link and the P-384 signature both verify.
    let certificate = vector("valid-certificate.bundle.json");
    let Material::Chain { others, .. } = bundle::parse(&certificate).unwrap().material else {
        panic!("not a chain");
    };
    let intermediate = pem::encode("CERTIFICATE", &others[0]);
    let signed = verify(&certificate, &roots_trust(intermediate.as_bytes())).unwrap();
    assert_eq!(
        signed.signer,
        "certificate \"CN=intermediate-ca\" issued by \"CN=intermediate-ca\""
    );
    assert_eq!(signed.resources.len(), 2);
    let root_missing = failure(&certificate, roots_trust(&Lab::new().key("root.pem")));
    assert_eq!(
        root_missing,
        "certificate \"CN=intermediate-ca\" does not chain to a configured root: no configured \
         root and no certificate in the bundle is the issuer \"CN=root-ca\" of \
         \"CN=intermediate-ca\""
    );
}

#[test]
fn the_specifications_invalid_vectors_are_refused() {
    let any_key = Lab::new().key("p256.pub");
    let trust = key_trust(&any_key);
    assert!(
        failure(b"", trust).starts_with("the bundle is not JSON of a Sigstore bundle's form: EOF")
    );
    assert_eq!(
        failure(&vector("invalid-missing-envelope.bundle.json"), trust),
        "the bundle has no dsseEnvelope"
    );
    assert_eq!(
        failure(
            &vector("invalid-missing-verification-material.bundle.json"),
            trust
        ),
        "the bundle has no verificationMaterial"
    );
    // Signed by a key not published: the predicate is checked as the statement is read.
    let wrong = vector("invalid-payload-wrong-predicate.bundle.json");
    assert_eq!(
        statement::parse(&bundle::parse(&wrong).unwrap().payload)
            .err()
            .unwrap()
            .to_string(),
        "the statement's predicateType \"https://example.com/wrong-predicate/v1.0\" is not \
         https://model_signing/signature/v1.0"
    );
}

#[test]
fn malformed_and_huge_bundles_are_refused_without_panic() {
    let lab = Lab::new();
    let bundle = lab.sign(&["--cert", "pki/leaf.pem", "--chain", "pki/chain.pem"]);
    let roots = lab.key("root.pem");
    let huge = vec![b' '; MAX_BUNDLE_BYTES as usize + 1];
    assert_eq!(
        failure(&huge, roots_trust(&roots)),
        "the bundle is 16777217 bytes, above the 16.0 MiB bound of a signature bundle"
    );
    // Every prefix, and every byte changed, fails or verifies without a panic.
    let bundle = bundle.trim_ascii_end().to_vec();
    for end in 0..bundle.len() {
        assert!(verify(&bundle[..end], &roots_trust(&roots)).is_err());
        parse_untrusted(&bundle[..end]);
    }
    for at in (0..bundle.len()).step_by(61) {
        let mut changed = bundle.clone();
        changed[at] = changed[at].wrapping_add(1);
        let _ = verify(&changed, &roots_trust(&roots));
    }
    // The certificates themselves, cut and changed, inside a bundle that parses.
    let value = json(&bundle);
    let leaf = base64_decoded(
        value["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"]
            .as_str()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    for at in 0..leaf.len() {
        let mut changed = leaf.clone();
        changed[at] ^= 0x5a;
        let mut edited = value.clone();
        edited["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"] =
            base64(&changed).into();
        let edited = serde_json::to_vec(&edited).unwrap();
        assert!(verify(&edited, &roots_trust(&roots)).is_err(), "byte {at}");
        parse_untrusted(&edited);
        let _ = x509::parse(&changed[..at]);
    }
}
