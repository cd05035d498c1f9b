//! The Sigstore bundle around the signature (JSON, the protobuf form of
//! `dev.sigstore.bundle.v1.Bundle`): its media type, which verification material it carries,
//! and the DSSE envelope with its one signature, decoded but not yet checked.

use crate::echo;
use crate::encoding::base64_decoded;
use serde::Deserialize;

/// The media types of the Sigstore bundle versions: model_signing writes the last.
const MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
];

/// The one payload type OMS signs (an in-toto statement).
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// More certificates than any real chain has: a bound on the work a bundle can ask for.
pub const MAX_CHAIN: usize = 10;

/// What to do about a keyless bundle, said wherever one is refused.
pub const KEYLESS_ADVICE: &str = "verifying one offline needs Sigstore's trusted root, a \
    transparency-log proof and the signer's identity and issuer, which bootgate does not check; \
    sign with a key or a certificate (model_signing sign key / certificate), or verify keyless \
    signatures in CI before the model is published";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("the bundle is not JSON of a Sigstore bundle's form: {0}")]
    Json(String),
    #[error(
        "the bundle's mediaType \"{0}\" is not a Sigstore bundle's \
         (application/vnd.dev.sigstore.bundle.v0.3+json, or an earlier version's)"
    )]
    MediaType(String),
    #[error(
        "the bundle signs one file (messageSignature), not a model: OMS bundles carry a \
         dsseEnvelope"
    )]
    MessageSignature,
    #[error("the bundle has no dsseEnvelope")]
    NoEnvelope,
    #[error("the bundle has no verificationMaterial")]
    NoMaterial,
    #[error(
        "the bundle's verificationMaterial has neither publicKey (the key method) nor \
         x509CertificateChain (the certificate method)"
    )]
    UnknownMaterial,
    #[error(
        "the bundle's verificationMaterial holds more than one of publicKey, \
         x509CertificateChain and certificate"
    )]
    SeveralMaterials,
    #[error("a Sigstore keyless bundle ({0}): {KEYLESS_ADVICE}")]
    Keyless(&'static str),
    #[error("the bundle's x509CertificateChain has no certificate")]
    EmptyChain,
    #[error("the bundle's x509CertificateChain has {0} certificates; at most {MAX_CHAIN} are read")]
    LongChain(usize),
    #[error("the envelope's payloadType \"{0}\" is not {IN_TOTO}")]
    PayloadType(String),
    #[error("the envelope has {0} signatures; a model signature has exactly one")]
    SignatureCount(usize),
    #[error("the bundle's {0} is not base64")]
    Base64(&'static str),
}

/// How the signer said it can be verified.
pub enum Material {
    /// The `key` method: only an identifier of the key; the key itself is configured.
    Key {
        hint: Option<String>,
        raw_bytes: Option<Vec<u8>>,
    },
    /// The `certificate` method: DER certificates, the signing one and the rest of the chain.
    Chain { leaf: Vec<u8>, others: Vec<Vec<u8>> },
}

pub struct Bundle {
    pub material: Material,
    /// The signed statement, decoded from base64.
    pub payload: Vec<u8>,
    /// The one signature, decoded from base64: DER ECDSA.
    pub signature: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BundleJson {
    media_type: String,
    verification_material: Option<MaterialJson>,
    dsse_envelope: Option<EnvelopeJson>,
    message_signature: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MaterialJson {
    public_key: Option<PublicKeyJson>,
    x509_certificate_chain: Option<ChainJson>,
    certificate: Option<serde::de::IgnoredAny>,
    tlog_entries: Option<Vec<serde::de::IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyJson {
    hint: Option<String>,
    raw_bytes: Option<String>,
}

#[derive(Deserialize)]
struct ChainJson {
    certificates: Vec<CertificateJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateJson {
    raw_bytes: String,
}

// `keyid` is not read: OMS identifies the key through the verification material (absent, "",
// and null are all allowed).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeJson {
    payload: String,
    payload_type: String,
    signatures: Vec<SignatureJson>,
}

#[derive(Deserialize)]
struct SignatureJson {
    sig: String,
}

/// The bundle's parts, decoded. Nothing is verified yet.
pub fn parse(bytes: &[u8]) -> Result<Bundle, BundleError> {
    let json: BundleJson = serde_json::from_slice(bytes)
        .map_err(|e| BundleError::Json(echo::value(&e.to_string()).to_string()))?;
    if !MEDIA_TYPES.contains(&json.media_type.as_str()) {
        return Err(BundleError::MediaType(
            echo::value(&json.media_type).to_string(),
        ));
    }
    let envelope = match (json.dsse_envelope, json.message_signature) {
        (Some(envelope), _) => envelope,
        (None, Some(_)) => return Err(BundleError::MessageSignature),
        (None, None) => return Err(BundleError::NoEnvelope),
    };
    let material = material(json.verification_material.ok_or(BundleError::NoMaterial)?)?;
    if envelope.payload_type != IN_TOTO {
        return Err(BundleError::PayloadType(
            echo::value(&envelope.payload_type).to_string(),
        ));
    }
    // model_signing writes one signature and verifies only the first; with several, which one
    // vouches for the model would depend on the reader.
    let [signature] = envelope.signatures.as_slice() else {
        return Err(BundleError::SignatureCount(envelope.signatures.len()));
    };
    Ok(Bundle {
        material,
        payload: decoded(&envelope.payload, "dsseEnvelope.payload")?,
        signature: decoded(&signature.sig, "dsseEnvelope.signatures[0].sig")?,
    })
}

fn material(json: MaterialJson) -> Result<Material, BundleError> {
    // Transparency-log entries are what keyless signing adds; the key and certificate methods
    // write none (model_signing writes an empty list, other signers none at all).
    if json.tlog_entries.is_some_and(|entries| !entries.is_empty()) {
        return Err(BundleError::Keyless("it has transparency-log entries"));
    }
    match (
        json.public_key,
        json.x509_certificate_chain,
        json.certificate,
    ) {
        (Some(key), None, None) => Ok(Material::Key {
            hint: key.hint.filter(|hint| !hint.is_empty()),
            raw_bytes: key
                .raw_bytes
                .map(|raw| decoded(&raw, "publicKey.rawBytes"))
                .transpose()?,
        }),
        (None, Some(chain), None) => {
            let count = chain.certificates.len();
            if count > MAX_CHAIN {
                return Err(BundleError::LongChain(count));
            }
            let mut certificates = chain
                .certificates
                .iter()
                .map(|c| decoded(&c.raw_bytes, "x509CertificateChain certificate"));
            let leaf = certificates.next().ok_or(BundleError::EmptyChain)??;
            let others = certificates.collect::<Result<_, _>>()?;
            Ok(Material::Chain { leaf, others })
        }
        (None, None, Some(_)) => Err(BundleError::Keyless(
            "verificationMaterial.certificate, a Fulcio certificate",
        )),
        (None, None, None) => Err(BundleError::UnknownMaterial),
        _ => Err(BundleError::SeveralMaterials),
    }
}

fn decoded(text: &str, field: &'static str) -> Result<Vec<u8>, BundleError> {
    base64_decoded(text.as_bytes()).ok_or(BundleError::Base64(field))
}

/// DSSE's pre-authentication encoding (DSSE v1.0 protocol): what the signature covers.
pub fn pae(payload: &[u8]) -> Vec<u8> {
    let head = format!("DSSEv1 {} {IN_TOTO} {} ", IN_TOTO.len(), payload.len());
    [head.as_bytes(), payload].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(material: &str, envelope: &str) -> String {
        format!(
            r#"{{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "verificationMaterial": {material}, "dsseEnvelope": {envelope}}}"#
        )
    }

    const KEY: &str = r#"{"publicKey": {"hint": "ab12"}, "tlogEntries": []}"#;
    const ENVELOPE: &str = r#"{"payload": "e30=", "payloadType": "application/vnd.in-toto+json",
                              "signatures": [{"sig": "MAA=", "keyid": null}]}"#;

    fn error(text: &str) -> String {
        match parse(text.as_bytes()) {
            Ok(_) => panic!("parsed: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_key_bundle_decodes() {
        let parsed = parse(bundle(KEY, ENVELOPE).as_bytes()).unwrap();
        assert_eq!(parsed.payload, b"{}");
        assert_eq!(parsed.signature, [0x30, 0x00]);
        match parsed.material {
            Material::Key { hint, raw_bytes } => {
                assert_eq!(hint.as_deref(), Some("ab12"));
                assert_eq!(raw_bytes, None);
            }
            Material::Chain { .. } => panic!("a chain"),
        }
        // Older bundles: rawBytes and keyDetails, no hint, no tlogEntries, keyid absent.
        let old = r#"{"publicKey": {"rawBytes": "AQI=", "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}"#;
        let envelope = ENVELOPE.replace(r#", "keyid": null"#, "");
        match parse(bundle(old, &envelope).as_bytes()).unwrap().material {
            Material::Key { hint, raw_bytes } => {
                assert_eq!(hint, None);
                assert_eq!(raw_bytes.as_deref(), Some(&[1u8, 2][..]));
            }
            Material::Chain { .. } => panic!("a chain"),
        }
    }

    #[test]
    fn every_media_type_of_the_bundle_format_is_read_and_no_other() {
        for media_type in MEDIA_TYPES {
            let text = bundle(KEY, ENVELOPE).replace(MEDIA_TYPES[3], media_type);
            assert!(parse(text.as_bytes()).is_ok(), "{media_type}");
        }
        let text = bundle(KEY, ENVELOPE).replace(MEDIA_TYPES[3], "application/json\\u001b[2J");
        assert_eq!(
            error(&text),
            "the bundle's mediaType \"application/json\\u{1b}[2J\" is not a Sigstore bundle's \
             (application/vnd.dev.sigstore.bundle.v0.3+json, or an earlier version's)"
        );
    }

    #[test]
    fn keyless_bundles_are_refused_by_name() {
        let fulcio = r#"{"certificate": {"rawBytes": "AQI="}, "tlogEntries": [{"logIndex": "1"}]}"#;
        let message = error(&bundle(fulcio, ENVELOPE));
        assert!(
            message.starts_with(
                "a Sigstore keyless bundle (it has transparency-log entries): verifying one \
                 offline needs Sigstore's trusted root"
            ),
            "{message}"
        );
        let no_log = r#"{"certificate": {"rawBytes": "AQI="}}"#;
        assert!(error(&bundle(no_log, ENVELOPE)).starts_with(
            "a Sigstore keyless bundle (verificationMaterial.certificate, a Fulcio \
                 certificate): "
        ));
        // A chain with log entries is a keyless bundle of the 0.1 and 0.2 formats.
        let old_keyless = r#"{"x509CertificateChain": {"certificates": [{"rawBytes": "AQI="}]},
                              "tlogEntries": [{}]}"#;
        assert!(error(&bundle(old_keyless, ENVELOPE)).starts_with("a Sigstore keyless bundle"));
    }

    #[test]
    fn envelopes_other_than_one_signed_statement_are_refused() {
        let two = ENVELOPE.replace(
            r#"[{"sig": "MAA=", "keyid": null}]"#,
            r#"[{"sig": "MAA="}, {"sig": "MAA="}]"#,
        );
        assert_eq!(
            error(&bundle(KEY, &two)),
            "the envelope has 2 signatures; a model signature has exactly one"
        );
        let none = ENVELOPE.replace(r#"[{"sig": "MAA=", "keyid": null}]"#, "[]");
        assert_eq!(
            error(&bundle(KEY, &none)),
            "the envelope has 0 signatures; a model signature has exactly one"
        );
        let other = ENVELOPE.replace("application/vnd.in-toto+json", "text/plain");
        assert_eq!(
            error(&bundle(KEY, &other)),
            "the envelope's payloadType \"text/plain\" is not application/vnd.in-toto+json"
        );
        let bad = ENVELOPE.replace("e30=", "e30*");
        assert_eq!(
            error(&bundle(KEY, &bad)),
            "the bundle's dsseEnvelope.payload is not base64"
        );
        let message = r#"{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                          "verificationMaterial": {}, "messageSignature": {}}"#;
        assert_eq!(
            error(message),
            "the bundle signs one file (messageSignature), not a model: OMS bundles carry a \
             dsseEnvelope"
        );
    }

    #[test]
    fn material_must_name_one_method() {
        assert_eq!(
            error(&bundle("{}", ENVELOPE)),
            "the bundle's verificationMaterial has neither publicKey (the key method) nor \
             x509CertificateChain (the certificate method)"
        );
        let both = r#"{"publicKey": {}, "x509CertificateChain": {"certificates": []}}"#;
        assert_eq!(
            error(&bundle(both, ENVELOPE)),
            "the bundle's verificationMaterial holds more than one of publicKey, \
             x509CertificateChain and certificate"
        );
        let empty = r#"{"x509CertificateChain": {"certificates": []}}"#;
        assert_eq!(
            error(&bundle(empty, ENVELOPE)),
            "the bundle's x509CertificateChain has no certificate"
        );
        let long = format!(
            r#"{{"x509CertificateChain": {{"certificates": [{}]}}}}"#,
            [r#"{"rawBytes": "AQI="}"#; 11].join(",")
        );
        assert_eq!(
            error(&bundle(&long, ENVELOPE)),
            "the bundle's x509CertificateChain has 11 certificates; at most 10 are read"
        );
    }

    #[test]
    fn what_is_not_a_bundle_says_where() {
        assert!(error("").starts_with("the bundle is not JSON of a Sigstore bundle's form: "));
        assert_eq!(
            error("[]"),
            "the bundle is not JSON of a Sigstore bundle's form: invalid length 0, expected \
             struct BundleJson with 4 elements at line 1 column 2"
        );
        let doubled = bundle(KEY, ENVELOPE).replacen('{', r#"{"mediaType": "x","#, 1);
        assert!(
            error(&doubled).contains("duplicate field `mediaType`"),
            "{}",
            error(&doubled)
        );
        let deep = bundle(KEY, ENVELOPE).replacen(
            '{',
            &format!(
                r#"{{"extra": {}{}, "#,
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            1,
        );
        // Skipped iteratively: no stack to overflow.
        assert!(parse(deep.as_bytes()).is_ok());
    }

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae(b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
    }
}
