//! The signed in-toto statement and its OMS predicate (spec v1.0, §5 and §6): which files, or
//! which byte ranges of them, have which sha256, and how the signer enumerated them.

use super::{Method, Resource};
use crate::digest::Digest;
use crate::echo;
use serde::Deserialize;
use sha2::Digest as _;

const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// model_signing 0.2's predicate, deprecated by the specification.
const LEGACY_PREDICATE_TYPE: &str = "https://model_signing/Digests/v0.1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("the signed statement is not JSON of an in-toto statement's form: {0}")]
    Json(String),
    #[error("the statement's _type \"{0}\" is not {STATEMENT_TYPE}")]
    Type(String),
    #[error(
        "the statement's predicateType {LEGACY_PREDICATE_TYPE} is model_signing 0.2's, which \
         does not say how files were enumerated: sign the model again with model_signing 1.0 \
         or later"
    )]
    LegacyPredicate,
    #[error("the statement's predicateType \"{0}\" is not {PREDICATE_TYPE}")]
    PredicateType(String),
    #[error("the statement has {0} subjects; a model signature has one")]
    Subjects(usize),
    #[error(
        "the statement's subject digest {found} is not the sha256 of its resources' digests, \
         {computed}"
    )]
    RootDigest { found: String, computed: String },
    #[error("the serialization method \"{0}\" is neither files nor shards")]
    Method(String),
    #[error(
        "the hash_type \"{0}\" is not verified here, only sha256: sign with sha256, \
         model_signing's default"
    )]
    HashType(String),
    #[error("the serialization method shards has no shard_size")]
    NoShardSize,
    #[error("the shard_size {0} is not a positive whole number of bytes")]
    ShardSize(String),
    #[error("the statement lists no resources")]
    NoResources,
    #[error("resource \"{name}\": {why}")]
    Resource { name: String, why: String },
    #[error("ignore_paths entry \"{path}\": {why}")]
    IgnorePath { path: String, why: &'static str },
    #[error("resource \"{0}\" is listed twice")]
    Duplicate(String),
    #[error("the shards of \"{path}\": {why}")]
    Shards { path: String, why: String },
}

/// The predicate's content, checked.
pub struct Statement {
    pub method: Method,
    pub allow_symlinks: bool,
    pub ignore_paths: Vec<String>,
    pub resources: Vec<Resource>,
}

#[derive(Deserialize)]
struct Header {
    #[serde(rename = "_type")]
    kind: String,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct Body {
    subject: Vec<Subject>,
    predicate: Predicate,
}

#[derive(Deserialize)]
struct Subject {
    digest: SubjectDigest,
}

#[derive(Deserialize)]
struct SubjectDigest {
    sha256: String,
}

#[derive(Deserialize)]
struct Predicate {
    resources: Vec<ResourceJson>,
    serialization: Serialization,
}

#[derive(Deserialize)]
struct ResourceJson {
    name: String,
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
struct Serialization {
    method: String,
    hash_type: String,
    // model_signing writes it as a float (`1000000000.0`); the specification as an integer.
    shard_size: Option<serde_json::Number>,
    allow_symlinks: bool,
    ignore_paths: Option<Vec<String>>,
}

pub fn parse(payload: &[u8]) -> Result<Statement, StatementError> {
    let json = |e: serde_json::Error| StatementError::Json(echo::value(&e.to_string()).to_string());
    // The types first: a statement of another kind has another shape.
    let header: Header = serde_json::from_slice(payload).map_err(json)?;
    if header.kind != STATEMENT_TYPE {
        return Err(StatementError::Type(echo::value(&header.kind).to_string()));
    }
    if header.predicate_type == LEGACY_PREDICATE_TYPE {
        return Err(StatementError::LegacyPredicate);
    }
    if header.predicate_type != PREDICATE_TYPE {
        return Err(StatementError::PredicateType(
            echo::value(&header.predicate_type).to_string(),
        ));
    }
    let body: Body = serde_json::from_slice(payload).map_err(json)?;
    let [subject] = body.subject.as_slice() else {
        return Err(StatementError::Subjects(body.subject.len()));
    };
    let serialization = body.predicate.serialization;
    let method = method(&serialization)?;
    let resources = body.predicate.resources;
    if resources.is_empty() {
        return Err(StatementError::NoResources);
    }
    let mut root = sha2::Sha256::new();
    let mut read = Vec::with_capacity(resources.len());
    for resource in &resources {
        let parsed = self::resource(resource, method)?;
        // The root digest is over the digests in the order written (spec §6.5.1).
        root.update(parsed.digest.as_bytes());
        read.push(parsed);
    }
    let computed = Digest::from_bytes(root.finalize().into()).to_hex();
    if !subject.digest.sha256.eq_ignore_ascii_case(&computed) {
        return Err(StatementError::RootDigest {
            found: echo::value(&subject.digest.sha256).to_string(),
            computed,
        });
    }
    // model_signing orders shards by their offsets as numbers, not as text.
    read.sort_by(|a, b| {
        (&a.path, a.range.as_ref().map(|r| r.start))
            .cmp(&(&b.path, b.range.as_ref().map(|r| r.start)))
    });
    match method {
        Method::Files => no_duplicates(&read)?,
        Method::Shards { shard_size } => contiguous(&read, shard_size)?,
    }
    let ignore_paths = serialization.ignore_paths.unwrap_or_default();
    for path in &ignore_paths {
        if let Some(why) = not_canonical(path) {
            return Err(StatementError::IgnorePath {
                path: echo::value(path).to_string(),
                why,
            });
        }
    }
    Ok(Statement {
        method,
        allow_symlinks: serialization.allow_symlinks,
        ignore_paths,
        resources: read,
    })
}

fn method(serialization: &Serialization) -> Result<Method, StatementError> {
    if serialization.hash_type != "sha256" {
        return Err(StatementError::HashType(
            echo::value(&serialization.hash_type).to_string(),
        ));
    }
    match serialization.method.as_str() {
        "files" => Ok(Method::Files),
        "shards" => {
            let size = serialization
                .shard_size
                .as_ref()
                .ok_or(StatementError::NoShardSize)?;
            let whole = size.as_u64().or_else(|| {
                // Whole, positive and exact in a double: what a Python int becomes as a float.
                size.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f > 0.0 && *f <= 9_007_199_254_740_992.0)
                    .map(|f| f as u64)
            });
            match whole {
                Some(shard_size) if shard_size > 0 => Ok(Method::Shards { shard_size }),
                _ => Err(StatementError::ShardSize(
                    echo::value(&size.to_string()).to_string(),
                )),
            }
        }
        other => Err(StatementError::Method(echo::value(other).to_string())),
    }
}

fn resource(json: &ResourceJson, method: Method) -> Result<Resource, StatementError> {
    let refuse = |why: String| StatementError::Resource {
        name: echo::value(&json.name).to_string(),
        why,
    };
    let (path, range) = match method {
        Method::Files => (json.name.as_str(), None),
        Method::Shards { .. } => {
            let (path, start, end) = shard_name(&json.name)
                .ok_or_else(|| refuse("a shard is named PATH:START:END".to_string()))?;
            if end <= start {
                return Err(refuse(format!("the range {start}..{end} is empty")));
            }
            (path, Some(start..end))
        }
    };
    if let Some(why) = not_canonical(path) {
        return Err(refuse(format!("its path {why}")));
    }
    // model_signing names a shard's digest after its size (`sha256-sharded-1000`); the
    // specification after the hash alone.
    let algorithm_fits = match method {
        Method::Files => json.algorithm == "sha256",
        Method::Shards { shard_size } => {
            json.algorithm == "sha256" || json.algorithm == format!("sha256-sharded-{shard_size}")
        }
    };
    if !algorithm_fits {
        return Err(refuse(format!(
            "its algorithm \"{}\" is not the serialization's sha256",
            echo::value(&json.algorithm)
        )));
    }
    let digest = json
        .digest
        .parse::<Digest>()
        .map_err(|e| refuse(format!("its digest: {e}")))?;
    Ok(Resource {
        path: path.to_string(),
        range,
        digest,
    })
}

/// `PATH:START:END`, split at the last two colons: a path may hold colons (spec §6.3.2).
fn shard_name(name: &str) -> Option<(&str, u64, u64)> {
    let (rest, end) = name.rsplit_once(':')?;
    let (path, start) = rest.rsplit_once(':')?;
    let number = |digits: &str| {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u64>().ok()
    };
    Some((path, number(start)?, number(end)?))
}

/// Why `path` is not relative, `/`-separated and normalised (spec §6.1.2), as a phrase.
fn not_canonical(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        Some("is empty")
    } else if path.starts_with('/') {
        Some("is absolute")
    } else if path.contains('\0') {
        Some("holds a NUL character")
    } else if path.split('/').any(|part| part == "..") {
        Some("has a .. component")
    } else if path.split('/').any(|part| part == ".") {
        Some("has a . component")
    } else if path.split('/').any(str::is_empty) {
        Some("has an empty component (// or a trailing /)")
    } else {
        None
    }
}

fn no_duplicates(sorted: &[Resource]) -> Result<(), StatementError> {
    match sorted.windows(2).find(|pair| pair[0].path == pair[1].path) {
        Some(pair) => Err(StatementError::Duplicate(
            echo::value(&pair[0].path).to_string(),
        )),
        None => Ok(()),
    }
}

/// Each file's shards, sorted: from 0 on with no gap or overlap, each `shard_size` long but
/// the last, which may be shorter (spec §6.3.2).
fn contiguous(sorted: &[Resource], shard_size: u64) -> Result<(), StatementError> {
    for file in sorted.chunk_by(|a, b| a.path == b.path) {
        let refuse = |why: String| StatementError::Shards {
            path: echo::value(&file[0].path).to_string(),
            why,
        };
        let mut expected = 0;
        for (i, shard) in file.iter().enumerate() {
            let Some(range) = &shard.range else {
                continue;
            };
            if range.start > expected {
                return Err(refuse(format!(
                    "bytes {expected}..{} are in no shard",
                    range.start
                )));
            }
            if range.start < expected {
                return Err(refuse(format!(
                    "the shard {}..{} overlaps the one before, which ends at {expected}",
                    range.start, range.end
                )));
            }
            let len = range.end - range.start;
            let last = i + 1 == file.len();
            if len > shard_size || (!last && len != shard_size) {
                return Err(refuse(format!(
                    "the shard {}..{} holds {len} bytes, not the shard_size {shard_size}{}",
                    range.start,
                    range.end,
                    if last {
                        ""
                    } else {
                        " (only the last may be shorter)"
                    }
                )));
            }
            expected = range.end;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn hex(byte: u8) -> String {
        Digest::from_bytes([byte; 32]).to_hex()
    }

    /// A statement over `resources` (name, digest byte), with the root digest they need.
    fn statement(resources: &[(&str, u8)], serialization: Value) -> Value {
        let algorithm = match serialization["method"].as_str() {
            Some("shards") => format!("sha256-sharded-{}", serialization["shard_size"]),
            _ => "sha256".to_string(),
        };
        let mut root = sha2::Sha256::new();
        for (_, byte) in resources {
            root.update([*byte; 32]);
        }
        json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": "model", "digest": {"sha256": Digest::from_bytes(root.finalize().into()).to_hex()}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "resources": resources.iter().map(|(name, byte)| json!({
                    "name": name, "algorithm": algorithm.replace(".0", ""), "digest": hex(*byte)
                })).collect::<Vec<_>>(),
                "serialization": serialization,
            }
        })
    }

    fn files() -> Value {
        json!({"method": "files", "hash_type": "sha256", "allow_symlinks": false})
    }

    fn shards(size: Value) -> Value {
        json!({"method": "shards", "hash_type": "sha256", "shard_size": size, "allow_symlinks": false})
    }

    fn parsed(value: &Value) -> Result<Statement, String> {
        parse(&serde_json::to_vec(value).unwrap()).map_err(|e| e.to_string())
    }

    fn error(value: &Value) -> String {
        parsed(value).err().expect("parsed")
    }

    #[test]
    fn files_are_listed_sorted_with_their_digests() {
        let value = statement(&[("b.bin", 2), ("a/x.json", 1)], files());
        let read = parsed(&value).unwrap();
        assert_eq!(read.method, Method::Files);
        let listed: Vec<(&str, String)> = read
            .resources
            .iter()
            .map(|r| (r.path.as_str(), r.digest.to_hex()))
            .collect();
        assert_eq!(listed, [("a/x.json", hex(1)), ("b.bin", hex(2))]);
        assert!(read.resources.iter().all(|r| r.range.is_none()));
        assert!(read.ignore_paths.is_empty());
    }

    #[test]
    fn shard_size_is_an_integer_or_a_whole_float() {
        for size in [json!(1000), json!(1000.0)] {
            let value = statement(&[("w.bin:0:1000", 1), ("w.bin:1000:1500", 2)], shards(size));
            let read = parsed(&value).unwrap();
            assert_eq!(read.method, Method::Shards { shard_size: 1000 });
            let ranges: Vec<_> = read
                .resources
                .iter()
                .map(|r| r.range.clone().unwrap())
                .collect();
            assert_eq!(ranges, [0..1000, 1000..1500]);
        }
        for (size, shown) in [
            (json!(1000.5), "1000.5"),
            (json!(0), "0"),
            (json!(-5), "-5"),
            (json!(1e300), "1e+300"),
        ] {
            let value = statement(&[("w.bin:0:1", 1)], shards(size));
            assert_eq!(
                error(&value),
                format!("the shard_size {shown} is not a positive whole number of bytes")
            );
        }
        let mut value = statement(&[("w.bin:0:1", 1)], shards(json!(1)));
        value["predicate"]["serialization"]
            .as_object_mut()
            .unwrap()
            .remove("shard_size");
        assert_eq!(
            error(&value),
            "the serialization method shards has no shard_size"
        );
    }

    #[test]
    fn shards_are_ordered_as_numbers_and_paths_keep_their_colons() {
        // model_signing orders 2000 before 10000; text would not.
        let value = statement(
            &[
                ("a:b.bin:0:1000", 1),
                ("w.bin:0:1000", 2),
                ("w.bin:1000:2000", 3),
                ("w.bin:2000:3000", 4),
                ("w.bin:10000:10500", 5),
                ("w.bin:3000:4000", 6),
                ("w.bin:4000:5000", 7),
                ("w.bin:5000:6000", 8),
                ("w.bin:6000:7000", 9),
                ("w.bin:7000:8000", 10),
                ("w.bin:8000:9000", 11),
                ("w.bin:9000:10000", 12),
            ],
            shards(json!(1000)),
        );
        let read = parsed(&value).unwrap();
        assert_eq!(read.resources[0].path, "a:b.bin");
        let ends: Vec<u64> = read.resources[1..]
            .iter()
            .map(|r| r.range.clone().unwrap().end)
            .collect();
        assert_eq!(
            ends,
            (1..=10)
                .map(|k| k * 1000)
                .chain([10500])
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn shard_ranges_must_tile_each_file() {
        let cases: &[(&[(&str, u8)], &str)] = &[
            (
                &[("w.bin:5:1000", 1)],
                "the shards of \"w.bin\": bytes 0..5 are in no shard",
            ),
            (
                &[("w.bin:0:1000", 1), ("w.bin:1500:2000", 2)],
                "the shards of \"w.bin\": bytes 1000..1500 are in no shard",
            ),
            (
                &[("w.bin:0:1000", 1), ("w.bin:0:1000", 2)],
                "the shards of \"w.bin\": the shard 0..1000 overlaps the one before, which ends \
                 at 1000",
            ),
            (
                &[("w.bin:0:500", 1), ("w.bin:500:1000", 2)],
                "the shards of \"w.bin\": the shard 0..500 holds 500 bytes, not the shard_size \
                 1000 (only the last may be shorter)",
            ),
            (
                &[("w.bin:0:1001", 1)],
                "the shards of \"w.bin\": the shard 0..1001 holds 1001 bytes, not the \
                 shard_size 1000",
            ),
            (
                &[("w.bin:7:7", 1)],
                "resource \"w.bin:7:7\": the range 7..7 is empty",
            ),
            (
                &[("w.bin:0", 1)],
                "resource \"w.bin:0\": a shard is named PATH:START:END",
            ),
            (
                &[("w.bin:0:+5", 1)],
                "resource \"w.bin:0:+5\": a shard is named PATH:START:END",
            ),
            (
                &[("w.bin:0:99999999999999999999", 1)],
                "resource \"w.bin:0:99999999999999999999\": a shard is named PATH:START:END",
            ),
            (
                &[("../w.bin:0:10", 1)],
                "resource \"../w.bin:0:10\": its path has a .. component",
            ),
        ];
        for (resources, expected) in cases {
            assert_eq!(error(&statement(resources, shards(json!(1000)))), *expected);
        }
    }

    #[test]
    fn paths_must_be_canonical_and_listed_once() {
        let cases = [
            ("", "resource \"\": its path is empty"),
            (
                "/etc/passwd",
                "resource \"/etc/passwd\": its path is absolute",
            ),
            ("a/../b", "resource \"a/../b\": its path has a .. component"),
            ("./a", "resource \"./a\": its path has a . component"),
            (
                "a//b",
                "resource \"a//b\": its path has an empty component (// or a trailing /)",
            ),
            (
                "a/",
                "resource \"a/\": its path has an empty component (// or a trailing /)",
            ),
            (
                "a\0b",
                "resource \"a\\u{0}b\": its path holds a NUL character",
            ),
        ];
        for (name, expected) in cases {
            assert_eq!(error(&statement(&[(name, 1)], files())), expected);
        }
        assert_eq!(
            error(&statement(&[("a", 1), ("a", 2)], files())),
            "resource \"a\" is listed twice"
        );
        let mut ignored = files();
        ignored["ignore_paths"] = json!([".git", "cache", "../outside"]);
        assert_eq!(
            error(&statement(&[("a", 1)], ignored)),
            "ignore_paths entry \"../outside\": has a .. component"
        );
    }

    #[test]
    fn the_statement_and_serialization_kinds_are_checked() {
        let mut value = statement(&[("a", 1)], files());
        value["_type"] = json!("https://in-toto.io/Statement/v0.1");
        assert_eq!(
            error(&value),
            "the statement's _type \"https://in-toto.io/Statement/v0.1\" is not \
             https://in-toto.io/Statement/v1"
        );
        let mut value = statement(&[("a", 1)], files());
        value["predicateType"] = json!(LEGACY_PREDICATE_TYPE);
        value["predicate"] = json!({});
        assert_eq!(
            error(&value),
            "the statement's predicateType https://model_signing/Digests/v0.1 is model_signing \
             0.2's, which does not say how files were enumerated: sign the model again with \
             model_signing 1.0 or later"
        );
        for hash_type in ["blake2", "blake3", "sha512"] {
            let mut serialization = files();
            serialization["hash_type"] = json!(hash_type);
            assert_eq!(
                error(&statement(&[("a", 1)], serialization)),
                format!(
                    "the hash_type \"{hash_type}\" is not verified here, only sha256: sign with \
                     sha256, model_signing's default"
                )
            );
        }
        let mut serialization = files();
        serialization["method"] = json!("manifest");
        assert_eq!(
            error(&statement(&[("a", 1)], serialization)),
            "the serialization method \"manifest\" is neither files nor shards"
        );
        let mut value = statement(&[("a", 1)], files());
        value["predicate"]["resources"][0]["algorithm"] = json!("blake3");
        assert_eq!(
            error(&value),
            "resource \"a\": its algorithm \"blake3\" is not the serialization's sha256"
        );
        let mut value = statement(&[("a", 1)], files());
        value["predicate"]["resources"][0]["digest"] = json!("abc");
        assert_eq!(
            error(&value),
            "resource \"a\": its digest: a sha256 is 64 hex digits; this has 3 characters"
        );
        assert_eq!(
            error(&statement(&[], files())),
            "the statement lists no resources"
        );
    }

    #[test]
    fn the_subject_digest_must_cover_the_resources() {
        let mut value = statement(&[("a", 1), ("b", 2)], files());
        let honest = value["subject"][0]["digest"]["sha256"]
            .as_str()
            .unwrap()
            .to_string();
        value["subject"][0]["digest"]["sha256"] = json!(hex(9));
        assert_eq!(
            error(&value),
            format!(
                "the statement's subject digest {} is not the sha256 of its resources' digests, \
                 {honest}",
                hex(9)
            )
        );
        let mut value = statement(&[("a", 1)], files());
        let subject = value["subject"][0].clone();
        value["subject"] = json!([subject.clone(), subject]);
        assert_eq!(
            error(&value),
            "the statement has 2 subjects; a model signature has one"
        );
        assert!(error(&json!({"_type": STATEMENT_TYPE})).starts_with(
            "the signed statement is not JSON of an in-toto statement's form: missing field \
             `predicateType`"
        ));
    }
}
