//! SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, RFC 5480): the configured key, and the key in
//! each certificate. ECDSA keys on the three NIST curves sign models and certificates; RSA
//! keys sign only certificates.

use super::der::{self, Malformed, Reader};
use super::ecdsa::{Curve, EcKey};
use super::rsa::{RsaKey, RsaKeyError};

const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("it is not a DER SubjectPublicKeyInfo")]
    Malformed,
    #[error("its key algorithm {0} is neither ECDSA nor RSA")]
    Algorithm(String),
    #[error("its curve {0} is not P-256, P-384 or P-521")]
    Curve(String),
    #[error("its curve is given by explicit parameters, not by name")]
    ExplicitCurve,
    #[error("its point is not on {0}")]
    NotOnCurve(&'static str),
    #[error(transparent)]
    Rsa(#[from] RsaKeyError),
}

impl From<Malformed> for KeyError {
    fn from(_: Malformed) -> KeyError {
        KeyError::Malformed
    }
}

#[derive(Clone)]
pub enum PublicKey {
    Ec(EcKey),
    Rsa(RsaKey),
}

/// The key of a DER SubjectPublicKeyInfo, checked to be usable.
pub fn parse(spki: &[u8]) -> Result<PublicKey, KeyError> {
    let mut outer = Reader::new(spki);
    let mut info = outer.sequence()?;
    outer.finish()?;
    let mut algorithm = info.sequence()?;
    let key = der::whole_bytes(info.read(der::BIT_STRING)?)?;
    info.finish()?;
    let oid = algorithm.read(der::OID)?;
    let key = match oid {
        EC_PUBLIC_KEY => {
            if algorithm.peek() != Some(der::OID) {
                return Err(KeyError::ExplicitCurve);
            }
            let curve = match algorithm.read(der::OID)? {
                P256 => Curve::P256,
                P384 => Curve::P384,
                P521 => Curve::P521,
                other => return Err(KeyError::Curve(curve_name(other))),
            };
            EcKey::from_point(curve, key)
                .map(PublicKey::Ec)
                .map_err(|_| KeyError::NotOnCurve(curve.name()))?
        }
        RSA_ENCRYPTION => {
            algorithm.optional(der::NULL)?;
            PublicKey::Rsa(RsaKey::from_der(key)?)
        }
        other => return Err(KeyError::Algorithm(algorithm_name(other))),
    };
    algorithm.finish()?;
    Ok(key)
}

fn curve_name(oid: &[u8]) -> String {
    match oid {
        [0x2b, 0x81, 0x04, 0x00, 0x0a] => "secp256k1".to_string(),
        _ => der::dotted(oid),
    }
}

fn algorithm_name(oid: &[u8]) -> String {
    match oid {
        [0x2b, 0x65, 0x70] => "Ed25519".to_string(),
        [0x2b, 0x65, 0x71] => "Ed448".to_string(),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a] => "RSASSA-PSS".to_string(),
        _ => der::dotted(oid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SEQUENCE { SEQUENCE { algorithm… }, BIT STRING key }`, all lengths under 128.
    fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
        let mut bits = vec![der::BIT_STRING, key.len() as u8 + 1, 0];
        bits.extend_from_slice(key);
        let mut inner = vec![der::SEQUENCE, algorithm.len() as u8];
        inner.extend_from_slice(algorithm);
        inner.extend(bits);
        let mut out = vec![der::SEQUENCE, inner.len() as u8];
        out.extend(inner);
        out
    }

    fn oid(content: &[u8]) -> Vec<u8> {
        [&[der::OID, content.len() as u8][..], content].concat()
    }

    #[test]
    fn keys_other_than_named_nist_curves_and_rsa_are_named() {
        let error = |algorithm: Vec<u8>| parse(&spki(&algorithm, &[4; 65])).err().unwrap();
        assert_eq!(
            error([oid(EC_PUBLIC_KEY), oid(&[0x2b, 0x81, 0x04, 0x00, 0x0a])].concat()).to_string(),
            "its curve secp256k1 is not P-256, P-384 or P-521"
        );
        assert_eq!(
            error([oid(EC_PUBLIC_KEY), vec![der::SEQUENCE, 0]].concat()).to_string(),
            "its curve is given by explicit parameters, not by name"
        );
        assert_eq!(
            error(oid(&[0x2b, 0x65, 0x70])).to_string(),
            "its key algorithm Ed25519 is neither ECDSA nor RSA"
        );
        assert_eq!(
            error(oid(&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01])).to_string(),
            "its key algorithm 1.2.840.10040.4.1 is neither ECDSA nor RSA"
        );
        assert_eq!(
            error([oid(EC_PUBLIC_KEY), oid(P256)].concat()).to_string(),
            "its point is not on P-256"
        );
        assert_eq!(
            error([oid(RSA_ENCRYPTION), vec![der::NULL, 0]].concat()).to_string(),
            "its RSA public key is not DER"
        );
        assert_eq!(parse(b"\x30\x00").err(), Some(KeyError::Malformed));
    }
}
