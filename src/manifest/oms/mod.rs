//! OpenSSF Model Signing (OMS) v1.0 bundles: what a signer vouched for about a model's files,
//! once the signature is verified against what the operator trusts.
//!
//! A bundle (specification: the ossf/model-signing-spec repository, `spec/v1.0.md`) is a
//! Sigstore bundle, JSON, holding a DSSE envelope whose payload is an in-toto statement; its
//! predicate lists every file's sha256, or every shard's under `shards` serialization. The
//! reference signer is the `model_signing` Python package, and what it writes is what is read:
//!
//! - **key**: the configured PEM key (ECDSA P-256, P-384 or P-521) verifies the DSSE signature
//!   over SHA-256, SHA-384 or SHA-512 by curve, as model_signing signs. The bundle names its key
//!   by `publicKey.hint`, the sha256 of the key's PEM text as Python's `cryptography` writes it;
//!   older bundles (model_signing before 1.1) carry `publicKey.rawBytes` instead. Either must be
//!   the configured key's; with neither, the signature alone decides. A key carried in a bundle
//!   is never used.
//! - **certificate**: `x509CertificateChain.certificates`, the signing certificate first. It must
//!   chain through the bundle's other certificates to a configured one (any configured
//!   certificate is a trust anchor), each link's signature verified (ECDSA, or RSA PKCS #1 v1.5
//!   for CAs), each certificate on the path valid at the signing certificate's notBefore, each
//!   issuer a CA allowed to sign certificates; and the signing certificate needs keyUsage
//!   digitalSignature or extendedKeyUsage codeSigning. Time: the chain is checked at the
//!   signing certificate's notBefore, as model_signing checks it, never at the current time: a
//!   model signed while its certificate was valid still verifies after the certificate
//!   expires. Names are compared as encoded, byte for byte.
//! - **keyless** (Sigstore: a Fulcio certificate and transparency-log entries) is refused by
//!   name. Verifying it offline needs a configured `trusted_root.json`, the log's inclusion
//!   proof or signed entry timestamp, the certificate's embedded SCTs and an identity and issuer
//!   policy: more code than the binary's size budget allows beside three curves and X.509.
//!
//! One signature per envelope: model_signing writes one, and verifies only the first of
//! several, so a bundle with several is refused rather than read one way here and another
//! there. model_signing 0.2's predicate (`https://model_signing/Digests/v0.1`), deprecated, is
//! refused by name, and so the escaping of its pre-authentication encoding (`pae_compat`) is
//! not needed. Only `sha256` is verified; `blake2` and `blake3` are refused by name.

mod bundle;
mod chain;
mod der;
mod ecdsa;
mod pem;
mod rsa;
mod spki;
mod statement;
mod trust;
mod x509;

#[cfg(test)]
mod tests;

use bundle::{Bundle, BundleError, Material};
use chain::ChainError;
use statement::StatementError;
use trust::{ConfiguredKey, Roots, TrustError};

/// The largest bundle read. A resource costs about 240 bytes of bundle (its JSON, then base64),
/// so this holds some 70,000 files or shards: a model of 1 TB in 16 MB shards. The largest
/// public models list a few hundred files.
pub const MAX_BUNDLE_BYTES: u64 = 16 << 20;

/// What the signer vouched for, once the signature and the statement have been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Who signed, for messages: `key sha256:0123456789ab…` (the configured key's hint) or
    /// `certificate "CN=…" issued by "CN=…"`. Never secret, always printable.
    pub signer: String,
    pub method: Method,
    pub allow_symlinks: bool,
    /// `serialization.ignore_paths` as signed (the defaults .git, .gitignore, .gitattributes,
    /// .github are the caller's business, not repeated here).
    pub ignore_paths: Vec<String>,
    /// Sorted by name as signed; a shard's name is its file's path (without `:start:end`).
    pub resources: Vec<Resource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Files,
    /// Every file cut into `shard_size` ranges, the last one shorter; an empty file has no
    /// range, so no resource, as model_signing writes it.
    Shards {
        shard_size: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The file's path relative to the model root, `/`-separated, canonical (no `..`, no leading
    /// `/`, no `.` components: refused otherwise).
    pub path: String,
    /// `Some(start..end)` under `shards`; `None` under `files`. Under `shards` the ranges of a
    /// file are contiguous from 0, each `shard_size` long but the last.
    pub range: Option<std::ops::Range<u64>>,
    pub digest: crate::digest::Digest,
}

/// What the operator trusts, as read from the configured files.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// `public_key:` a PEM SubjectPublicKeyInfo, ECDSA P-256, P-384 or P-521.
    Key { pem: &'a [u8] },
    /// `ca_roots:` one or more PEM certificates.
    Roots { pem: &'a [u8] },
}

/// Why a bundle does not verify, or the trust material is unusable: one line saying which part
/// failed and why, without the bundle's path (the caller names the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct OmsError(#[from] Failure);

/// Each part's error becomes the one this module returns.
macro_rules! from_part {
    ($($part:ident => $variant:ident),*) => {$(
        impl From<$part> for OmsError {
            fn from(error: $part) -> OmsError {
                OmsError(Failure::$variant(error))
            }
        }
    )*};
}

from_part!(
    BundleError => Bundle,
    TrustError => Trust,
    ChainError => Chain,
    StatementError => Statement
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Failure {
    #[error(
        "the bundle is {size} bytes, above the {} bound of a signature bundle",
        crate::text::human_bytes(MAX_BUNDLE_BYTES)
    )]
    TooLarge { size: usize },
    #[error(transparent)]
    Bundle(BundleError),
    #[error(transparent)]
    Trust(TrustError),
    #[error(
        "the bundle is signed with a key (the key method), but CA roots are configured \
         (ca_roots), not a public key (public_key)"
    )]
    KeyBundle,
    #[error(
        "the bundle is signed with a certificate (the certificate method), but a public key is \
         configured (public_key), not CA roots (ca_roots)"
    )]
    CertificateBundle,
    #[error("the bundle's key hint {found} is not the configured key's {expected}")]
    Hint { found: String, expected: String },
    #[error("the bundle's key (publicKey.rawBytes) is not the configured key")]
    RawBytes,
    #[error("the signature does not verify with the configured {0} key")]
    KeySignature(&'static str),
    #[error(transparent)]
    Chain(ChainError),
    #[error("the signature does not verify with the {curve} key of {signer}")]
    CertificateSignature { curve: &'static str, signer: String },
    #[error(transparent)]
    Statement(StatementError),
}

/// Reads the trust material alone, as [`verify`] reads it first: how a bad key or root file
/// is named, without a bundle.
#[cfg(test)]
fn parse_trust(trust: &Trust<'_>) -> Result<(), OmsError> {
    match trust {
        Trust::Key { pem } => ConfiguredKey::from_pem(pem).map(drop)?,
        Trust::Roots { pem } => Roots::from_pem(pem).map(drop)?,
    }
    Ok(())
}

/// Verifies `bundle` (the bundle file's bytes, at most [`MAX_BUNDLE_BYTES`]) against `trust`.
/// Never trusts key material carried in the bundle by itself.
pub fn verify(bundle: &[u8], trust: &Trust<'_>) -> Result<Signed, OmsError> {
    if bundle.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(Failure::TooLarge { size: bundle.len() }.into());
    }
    let Bundle {
        material,
        payload,
        signature,
    } = bundle::parse(bundle)?;
    let signed_bytes = bundle::pae(&payload);
    let signer = match (material, trust) {
        (Material::Key { hint, raw_bytes }, Trust::Key { pem }) => {
            let configured = ConfiguredKey::from_pem(pem)?;
            if let Some(hint) = hint {
                if !hint.eq_ignore_ascii_case(&configured.hint) {
                    return Err(Failure::Hint {
                        found: short(&hint),
                        expected: short(&configured.hint),
                    }
                    .into());
                }
            } else if raw_bytes.is_some_and(|raw| !configured.is_raw_bytes(&raw)) {
                return Err(Failure::RawBytes.into());
            }
            let curve = configured.key.curve();
            if !configured
                .key
                .verifies(&signed_bytes, curve.hash(), &signature)
            {
                return Err(Failure::KeySignature(curve.name()).into());
            }
            format!("key sha256:{}", short(&configured.hint))
        }
        (Material::Chain { leaf, others }, Trust::Roots { pem }) => {
            let roots = Roots::from_pem(pem)?;
            let trusted = chain::verify(&leaf, &others, &roots.certificates())?;
            let curve = trusted.key.curve();
            if !trusted
                .key
                .verifies(&signed_bytes, curve.hash(), &signature)
            {
                return Err(Failure::CertificateSignature {
                    curve: curve.name(),
                    signer: trusted.signer,
                }
                .into());
            }
            trusted.signer
        }
        (Material::Key { .. }, Trust::Roots { .. }) => return Err(Failure::KeyBundle.into()),
        (Material::Chain { .. }, Trust::Key { .. }) => {
            return Err(Failure::CertificateBundle.into());
        }
    };
    let statement = statement::parse(&payload)?;
    Ok(Signed {
        signer,
        method: statement.method,
        allow_symlinks: statement.allow_symlinks,
        ignore_paths: statement.ignore_paths,
        resources: statement.resources,
    })
}

/// The first 12 characters of a hex fingerprint and an ellipsis: enough to tell keys apart.
fn short(hex: &str) -> String {
    let shown: String = hex.chars().take(12).collect();
    format!("{}…", crate::echo::value(&shown))
}

/// The parsers of a bundle's content over arbitrary bytes, the signature check aside (a fuzzer
/// cannot forge one): the bundle, the statement as if it were the payload, and the
/// certificates as if they were configured roots. Each must return without a panic.
#[doc(hidden)]
pub fn parse_untrusted(bytes: &[u8]) {
    if let Ok(Bundle {
        material, payload, ..
    }) = bundle::parse(bytes)
    {
        let _ = statement::parse(&payload);
        if let Material::Chain { leaf, others } = material {
            let roots: Vec<_> = others
                .iter()
                .filter_map(|der| x509::parse(der).ok())
                .collect();
            let _ = chain::verify(&leaf, &others, &roots).map(|t| t.signer);
        }
    }
    let _ = statement::parse(bytes);
    let _ = ConfiguredKey::from_pem(bytes);
    let _ = Roots::from_pem(bytes).map(|roots| roots.certificates().len());
}
