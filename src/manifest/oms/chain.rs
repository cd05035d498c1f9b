//! The certificate method's trust: the signing certificate must chain, through the bundle's
//! other certificates, to a configured root, every link's signature verified, every
//! certificate on the path valid at the signing time, and the signing one allowed to sign.
//!
//! The signing time is the signing certificate's notBefore, as model_signing verifies
//! (`sign_certificate.py` sets its OpenSSL store's time there): a model signed while the
//! certificate was valid still verifies after it expires, and a pod does not stop starting
//! the day it does. The current clock is not read.

use super::bundle::KEYLESS_ADVICE;
use super::ecdsa::EcKey;
use super::spki::{self, KeyError, PublicKey};
use super::x509::{
    self, CertError, Certificate, DIGITAL_SIGNATURE, KEY_CERT_SIGN, SignatureAlgorithm,
};
use std::time::{Duration, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("certificate {0} of the bundle's x509CertificateChain: {1}")]
    Unreadable(usize, CertError),
    #[error(
        "a Sigstore keyless bundle (certificate \"{0}\" is one of Sigstore's Fulcio CA): \
         {KEYLESS_ADVICE}"
    )]
    Fulcio(String),
    #[error("the key of certificate \"{name}\": {error}")]
    Key { name: String, error: KeyError },
    #[error(
        "the key of certificate \"{0}\" is RSA: models are signed with ECDSA keys (P-256, \
         P-384 or P-521)"
    )]
    RsaSigner(String),
    #[error("certificate \"{leaf}\" does not chain to a configured root: {why}")]
    Unchained { leaf: String, why: String },
    #[error(
        "certificate \"{name}\" was not valid at the signing time {at} (the signing \
         certificate's notBefore, where model_signing checks the chain): it is valid from \
         {from} to {until}"
    )]
    Validity {
        name: String,
        at: String,
        from: String,
        until: String,
    },
    #[error("certificate \"{issuer}\" issued \"{subject}\" but is not a CA (basicConstraints)")]
    NotCa { issuer: String, subject: String },
    #[error("certificate \"{issuer}\" issued \"{subject}\" but its key usage lacks keyCertSign")]
    NoCertSign { issuer: String, subject: String },
    #[error(
        "certificate \"{issuer}\" allows {allowed} CA certificates below it (pathLenConstraint); \
         the chain has {found}"
    )]
    PathLength {
        issuer: String,
        allowed: u64,
        found: usize,
    },
    #[error("certificate \"{name}\" has a critical extension not checked here: {extension}")]
    Critical { name: String, extension: String },
    #[error(
        "certificate \"{0}\" may not sign: its key usage lacks digitalSignature and its \
         extended key usage lacks codeSigning"
    )]
    Usage(String),
}

/// The signing certificate, once trusted.
pub struct Trusted {
    pub key: EcKey,
    /// `certificate "CN=…" issued by "CN=…"`.
    pub signer: String,
}

/// `leaf`: the signing certificate; `others`: the rest of the bundle's chain; `roots`: the
/// configured certificates, each a trust anchor whether self-signed or not.
pub fn verify(
    leaf: &[u8],
    others: &[Vec<u8>],
    roots: &[Certificate<'_>],
) -> Result<Trusted, ChainError> {
    let leaf = x509::parse(leaf).map_err(|e| ChainError::Unreadable(1, e))?;
    let others = others
        .iter()
        .enumerate()
        .map(|(i, der)| x509::parse(der).map_err(|e| ChainError::Unreadable(i + 2, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf_name = x509::name_text(leaf.subject);
    if leaf.fulcio {
        return Err(ChainError::Fulcio(leaf_name));
    }
    let key = match spki::parse(leaf.spki) {
        Ok(PublicKey::Ec(key)) => key,
        Ok(PublicKey::Rsa(_)) => return Err(ChainError::RsaSigner(leaf_name)),
        Err(error) => {
            return Err(ChainError::Key {
                name: leaf_name,
                error,
            });
        }
    };
    let path = path(&leaf, &others, roots).map_err(|why| ChainError::Unchained {
        leaf: leaf_name.clone(),
        why,
    })?;
    check_path(&path)?;
    // model_signing's rule: either usage will do.
    let may_sign = leaf.key_usage.is_some_and(|u| u & DIGITAL_SIGNATURE != 0)
        || leaf.code_signing == Some(true);
    if !may_sign {
        return Err(ChainError::Usage(leaf_name));
    }
    Ok(Trusted {
        key,
        signer: format!(
            "certificate \"{leaf_name}\" issued by \"{}\"",
            x509::name_text(leaf.issuer)
        ),
    })
}

/// From the signing certificate up to a configured root, each signed by the next; the bundle's
/// certificates are each used once at most, so the walk ends. Why there is none, as a phrase.
fn path<'c, 'a>(
    leaf: &'c Certificate<'a>,
    others: &'c [Certificate<'a>],
    roots: &'c [Certificate<'a>],
) -> Result<Vec<&'c Certificate<'a>>, String> {
    let mut path = vec![leaf];
    let mut unused: Vec<&Certificate<'a>> = others.iter().collect();
    let mut current = leaf;
    loop {
        // The first candidate's refusal, when a certificate of the right name does not fit.
        let mut refusal = None;
        let mut fits = |candidate: &Certificate<'_>| {
            candidate.subject == current.issuer
                && signed_by(current, candidate)
                    .map_err(|why| refusal.get_or_insert(why))
                    .is_ok()
        };
        if let Some(root) = roots.iter().find(|root| fits(root)) {
            path.push(root);
            return Ok(path);
        }
        match unused.iter().position(|c| fits(c)) {
            Some(at) => {
                current = unused.remove(at);
                path.push(current);
            }
            None if path.len() > 1 && current.subject == current.issuer => {
                return Err(refusal.unwrap_or_else(|| {
                    format!(
                        "the bundle's chain ends at the root \"{}\", which is not a configured \
                         one",
                        x509::name_text(current.subject)
                    )
                }));
            }
            None => {
                let issuer = x509::name_text(current.issuer);
                let whose = if path.len() == 1 {
                    format!("its issuer \"{issuer}\"")
                } else {
                    let name = x509::name_text(current.subject);
                    format!("the issuer \"{issuer}\" of \"{name}\"")
                };
                return Err(refusal.unwrap_or_else(|| {
                    format!("no configured root and no certificate in the bundle is {whose}")
                }));
            }
        }
    }
}

/// Whether `issuer`'s key made `child`'s signature; why not, as a phrase.
fn signed_by(child: &Certificate<'_>, issuer: &Certificate<'_>) -> Result<(), String> {
    let child_name = x509::name_text(child.subject);
    let issuer_name = x509::name_text(issuer.subject);
    let key = spki::parse(issuer.spki)
        .map_err(|e| format!("the key of \"{issuer_name}\", which issued \"{child_name}\": {e}"))?;
    let verified = match (&child.algorithm, &key) {
        (SignatureAlgorithm::Ecdsa(hash), PublicKey::Ec(key)) => {
            key.verifies(child.tbs, *hash, child.signature)
        }
        (SignatureAlgorithm::RsaPkcs1(hash), PublicKey::Rsa(key)) => {
            key.verifies(child.tbs, *hash, child.signature)
        }
        (SignatureAlgorithm::Unsupported(algorithm), _) => {
            return Err(format!(
                "\"{child_name}\" is signed with {algorithm}, which is not verified here (ECDSA \
                 and RSA PKCS #1 v1.5 with SHA-256, SHA-384 or SHA-512 are)"
            ));
        }
        // An ECDSA signature by an RSA key, or the other way round.
        _ => false,
    };
    if verified {
        Ok(())
    } else {
        Err(format!(
            "the signature of \"{child_name}\" does not verify with the key of \"{issuer_name}\""
        ))
    }
}

/// Validity at the signing time, CA constraints and critical extensions along `path`.
fn check_path(path: &[&Certificate<'_>]) -> Result<(), ChainError> {
    let Some(leaf) = path.first() else {
        return Ok(());
    };
    let at = leaf.not_before;
    for (depth, certificate) in path.iter().enumerate() {
        let name = || x509::name_text(certificate.subject);
        if !(certificate.not_before..=certificate.not_after).contains(&at) {
            return Err(ChainError::Validity {
                name: name(),
                at: moment(at),
                from: moment(certificate.not_before),
                until: moment(certificate.not_after),
            });
        }
        if let Some(extension) = &certificate.unknown_critical {
            return Err(ChainError::Critical {
                name: name(),
                extension: extension.clone(),
            });
        }
        let Some(child) = depth.checked_sub(1).and_then(|below| path.get(below)) else {
            continue;
        };
        let subject = || x509::name_text(child.subject);
        if !certificate.basic_constraints.is_some_and(|c| c.ca) {
            return Err(ChainError::NotCa {
                issuer: name(),
                subject: subject(),
            });
        }
        if certificate
            .key_usage
            .is_some_and(|u| u & KEY_CERT_SIGN == 0)
        {
            return Err(ChainError::NoCertSign {
                issuer: name(),
                subject: subject(),
            });
        }
        // The CA certificates between this one and the signing one.
        let below = depth - 1;
        if let Some(allowed) = certificate.basic_constraints.and_then(|c| c.path_len)
            && (below as u64) > allowed
        {
            return Err(ChainError::PathLength {
                issuer: name(),
                allowed,
                found: below,
            });
        }
    }
    Ok(())
}

/// `2024-01-01T00:00:00Z`; times before 1970 read as 1970, which no signing time is.
fn moment(seconds: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
    crate::text::rfc3339(at).replace(".000Z", "Z")
}
