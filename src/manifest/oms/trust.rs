//! What the operator trusts, read from the configured PEM: one ECDSA public key (the key
//! method), or CA certificates (the certificate method).

use super::ecdsa::EcKey;
use super::pem::{self, PemError};
use super::spki::{self, KeyError, PublicKey};
use super::x509::{self, CertError, Certificate};
use sha2::Digest as _;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("the configured public key: {0}")]
    KeyPem(PemError),
    #[error("the configured public key: it holds no PUBLIC KEY block")]
    NoKey,
    #[error(
        "the configured public key: it holds a certificate, not a PUBLIC KEY block; configure \
         CA certificates as ca_roots, or take the key out with `openssl x509 -pubkey -noout`"
    )]
    CertificateAsKey,
    #[error(
        "the configured public key: it holds a private key; configure the public one \
         (`openssl pkey -pubout`)"
    )]
    PrivateKey,
    #[error("the configured public key: it holds {0} PUBLIC KEY blocks; configure one")]
    SeveralKeys(usize),
    #[error("the configured public key: {0}")]
    Key(KeyError),
    #[error(
        "the configured public key: it is an RSA key; model_signing signs with ECDSA keys \
         (P-256, P-384 or P-521)"
    )]
    RsaKey,
    #[error("the configured CA roots: {0}")]
    RootsPem(PemError),
    #[error("the configured CA roots: they hold no CERTIFICATE block")]
    NoRoots,
    #[error("the configured CA roots: they hold a \"{0}\" block, not only certificates")]
    NotCertificate(String),
    #[error("the configured CA roots: certificate {0}: {1}")]
    Root(usize, CertError),
    #[error("the configured CA roots: the key of certificate \"{name}\": {error}")]
    RootKey { name: String, error: KeyError },
}

/// The configured ECDSA key, and the hint model_signing writes for it.
pub struct ConfiguredKey {
    pub key: EcKey,
    /// The DER SubjectPublicKeyInfo.
    spki: Vec<u8>,
    /// The PEM text Python's `cryptography` writes for the key (`public_bytes(PEM,
    /// SubjectPublicKeyInfo)`): model_signing's hint is its sha256, so the file's own text,
    /// with its line ends and comments, is not what is hashed.
    pem: String,
    /// sha256 of `pem`, 64 lowercase hex digits.
    pub hint: String,
}

impl ConfiguredKey {
    pub fn from_pem(text: &[u8]) -> Result<ConfiguredKey, TrustError> {
        let blocks = pem::blocks(text).map_err(TrustError::KeyPem)?;
        let keys: Vec<&pem::Block> = blocks.iter().filter(|b| b.label == "PUBLIC KEY").collect();
        let spki = match keys.as_slice() {
            [key] => key.der.clone(),
            [] if blocks.iter().any(|b| b.label.contains("PRIVATE KEY")) => {
                return Err(TrustError::PrivateKey);
            }
            [] if blocks.iter().any(|b| b.label == "CERTIFICATE") => {
                return Err(TrustError::CertificateAsKey);
            }
            [] => return Err(TrustError::NoKey),
            several => return Err(TrustError::SeveralKeys(several.len())),
        };
        let key = match spki::parse(&spki).map_err(TrustError::Key)? {
            PublicKey::Ec(key) => key,
            PublicKey::Rsa(_) => return Err(TrustError::RsaKey),
        };
        // DER has one encoding of a key, so these bytes are the ones `cryptography` writes.
        let pem = pem::encode("PUBLIC KEY", &spki);
        let hint = crate::digest::Digest::from_bytes(sha2::Sha256::digest(&pem).into()).to_hex();
        Ok(ConfiguredKey {
            key,
            spki,
            pem,
            hint,
        })
    }

    /// Whether a bundle's `publicKey.rawBytes` is this key: model_signing before 1.1 wrote the
    /// PEM text there, the Sigstore format the DER.
    pub fn is_raw_bytes(&self, raw: &[u8]) -> bool {
        raw == self.spki || raw == self.pem.as_bytes()
    }
}

/// The configured CA certificates, DER, each readable and with a usable key.
pub struct Roots {
    der: Vec<Vec<u8>>,
}

impl Roots {
    pub fn from_pem(text: &[u8]) -> Result<Roots, TrustError> {
        let blocks = pem::blocks(text).map_err(TrustError::RootsPem)?;
        if let Some(other) = blocks.iter().find(|b| b.label != "CERTIFICATE") {
            return Err(TrustError::NotCertificate(
                crate::echo::value(&other.label).to_string(),
            ));
        }
        if blocks.is_empty() {
            return Err(TrustError::NoRoots);
        }
        let roots = Roots {
            der: blocks.into_iter().map(|b| b.der).collect(),
        };
        for (i, der) in roots.der.iter().enumerate() {
            let root = x509::parse(der).map_err(|e| TrustError::Root(i + 1, e))?;
            spki::parse(root.spki).map_err(|error| TrustError::RootKey {
                name: x509::name_text(root.subject),
                error,
            })?;
        }
        Ok(roots)
    }

    /// Each root, read (every one was readable when configured).
    pub fn certificates(&self) -> Vec<Certificate<'_>> {
        self.der
            .iter()
            .filter_map(|der| x509::parse(der).ok())
            .collect()
    }
}
