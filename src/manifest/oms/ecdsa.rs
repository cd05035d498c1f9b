//! ECDSA on the three NIST curves OMS requires (P-256, P-384, P-521): a public key from its
//! SEC1 point, and the check of a signature as OpenSSL and Python's `cryptography` write one
//! (DER `SEQUENCE { r INTEGER, s INTEGER }`) over a message and a named hash.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::Digest as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// The hash `model_signing` signs with on this curve (its `get_ec_key_hash`), for keys and
    /// certificates alike.
    pub fn hash(self) -> Hash {
        match self {
            Curve::P256 => Hash::Sha256,
            Curve::P384 => Hash::Sha384,
            Curve::P521 => Hash::Sha512,
        }
    }

    /// Bytes of a scalar (`r`, `s`) on this curve.
    fn scalar_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(message).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(message).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(message).to_vec(),
        }
    }
}

/// A point that is not on its curve, or not a SEC1 encoding of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotOnCurve;

/// A public key, checked to be a point of its curve.
#[derive(Clone)]
pub struct EcKey {
    curve: Curve,
    key: Verifying,
}

#[derive(Clone)]
enum Verifying {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

impl EcKey {
    /// From a SEC1 point (`04 || x || y`, or compressed).
    pub fn from_point(curve: Curve, point: &[u8]) -> Result<EcKey, NotOnCurve> {
        let key = match curve {
            Curve::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map(Verifying::P256),
            Curve::P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map(Verifying::P384),
            Curve::P521 => p521::ecdsa::VerifyingKey::from_sec1_bytes(point).map(Verifying::P521),
        };
        key.map(|key| EcKey { curve, key }).map_err(|_| NotOnCurve)
    }

    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// Whether `signature` (DER) is this key's over `message` hashed with `hash`.
    pub fn verifies(&self, message: &[u8], hash: Hash, signature: &[u8]) -> bool {
        let Some(fixed) = fixed_width(signature, self.curve.scalar_len()) else {
            return false;
        };
        let prehash = field_width(hash.digest(message), self.curve.scalar_len());
        match &self.key {
            Verifying::P256(key) => p256::ecdsa::Signature::from_slice(&fixed)
                .is_ok_and(|sig| key.verify_prehash(&prehash, &sig).is_ok()),
            Verifying::P384(key) => p384::ecdsa::Signature::from_slice(&fixed)
                .is_ok_and(|sig| key.verify_prehash(&prehash, &sig).is_ok()),
            Verifying::P521(key) => p521::ecdsa::Signature::from_slice(&fixed)
                .is_ok_and(|sig| key.verify_prehash(&prehash, &sig).is_ok()),
        }
    }
}

/// A DER `ECDSA-Sig-Value` as `r || s`, each left-padded to `width` bytes.
fn fixed_width(der: &[u8], width: usize) -> Option<Vec<u8>> {
    use super::der::{INTEGER, Reader, SEQUENCE, single, unsigned};
    let mut scalars = Reader::new(single(der, SEQUENCE).ok()?);
    let mut fixed = Vec::with_capacity(2 * width);
    for _ in 0..2 {
        let scalar = unsigned(scalars.read(INTEGER).ok()?).ok()?;
        let pad = width.checked_sub(scalar.len())?;
        fixed.resize(fixed.len() + pad, 0);
        fixed.extend_from_slice(scalar);
    }
    scalars.finish().ok()?;
    Some(fixed)
}

/// A hash shorter than the curve's scalars as the same number, left-padded with zeros: ECDSA
/// takes a short hash whole (FIPS 186-5, 6.4.2), where the verifier below refuses one under
/// half the scalar's width (SHA-256 under a P-521 key, OpenSSL's default for such a CA).
fn field_width(mut hash: Vec<u8>, width: usize) -> Vec<u8> {
    if let Some(pad) = width.checked_sub(hash.len()) {
        hash.splice(0..0, std::iter::repeat_n(0, pad));
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_signatures_become_fixed_width_scalars() {
        // r = 0x80 (with its sign byte), s = 1
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01];
        let fixed = fixed_width(&der, 4).unwrap();
        assert_eq!(fixed, [0, 0, 0, 0x80, 0, 0, 0, 1]);
        // A scalar wider than the curve's, trailing bytes, or not DER at all.
        assert_eq!(fixed_width(&der, 0), None);
        assert_eq!(fixed_width(&[der.as_slice(), &[0]].concat(), 4), None);
        assert_eq!(fixed_width(b"MEUCIQ", 32), None);
    }

    #[test]
    fn short_hashes_are_padded_and_long_ones_kept() {
        assert_eq!(field_width(vec![1, 2], 4), [0, 0, 1, 2]);
        assert_eq!(field_width(vec![1, 2, 3], 2), [1, 2, 3]);
    }

    #[test]
    fn points_off_the_curve_are_refused() {
        let mut point = vec![0x04];
        point.extend([1u8; 64]);
        assert!(EcKey::from_point(Curve::P256, &point).is_err());
        assert!(EcKey::from_point(Curve::P384, &point).is_err());
        assert!(EcKey::from_point(Curve::P521, &[]).is_err());
    }
}
