//! RSA signatures of certificates (PKCS #1 v1.5 with SHA-256, SHA-384 or SHA-512, RFC 8017
//! §8.2.2): most CAs' roots and intermediates are RSA even when the signing leaf is ECDSA.
//! Verification only, over public values: the modular power comes from `crypto-bigint`, which
//! the elliptic curves already bring; the encoding is rebuilt whole and compared, never parsed.

use super::der::{INTEGER, Reader, unsigned};
use super::ecdsa::Hash;
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{U64, U4096};

/// Weaker keys are refused (NIST SP 800-131A), larger ones are rarer than the code they need.
pub const MIN_BITS: usize = 2048;
pub const MAX_BITS: usize = 4096;

const WIDTH: usize = MAX_BITS / 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RsaKeyError {
    #[error("its RSA public key is not DER")]
    Malformed,
    #[error("an RSA key of {0} bits: {MIN_BITS} to {MAX_BITS} are verified")]
    Size(usize),
    #[error("its RSA modulus is even, so no RSA modulus")]
    EvenModulus,
    #[error("its RSA public exponent is not an odd number from 3 to 2^32")]
    Exponent,
}

#[derive(Clone)]
pub struct RsaKey {
    /// Big-endian, no leading zero.
    modulus: Vec<u8>,
    exponent: u32,
}

impl RsaKey {
    /// From an `RSAPublicKey` (RFC 8017 A.1.1): `SEQUENCE { modulus, publicExponent }`.
    pub fn from_der(der: &[u8]) -> Result<RsaKey, RsaKeyError> {
        let malformed = |_| RsaKeyError::Malformed;
        let mut outer = Reader::new(der);
        let mut fields = outer.sequence().map_err(malformed)?;
        outer.finish().map_err(malformed)?;
        let modulus = unsigned(fields.read(INTEGER).map_err(malformed)?).map_err(malformed)?;
        let exponent = unsigned(fields.read(INTEGER).map_err(malformed)?).map_err(malformed)?;
        fields.finish().map_err(malformed)?;
        let bits = bit_length(modulus);
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(RsaKeyError::Size(bits));
        }
        // Montgomery arithmetic needs an odd modulus, as every real one is.
        if modulus.last().is_none_or(|b| b & 1 == 0) {
            return Err(RsaKeyError::EvenModulus);
        }
        let exponent = match exponent {
            [_, _, _, _, _, ..] => None,
            bytes => Some(bytes.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b))),
        }
        .filter(|e| *e >= 3 && e % 2 == 1)
        .ok_or(RsaKeyError::Exponent)?;
        Ok(RsaKey {
            modulus: modulus.to_vec(),
            exponent,
        })
    }

    /// Whether `signature` is this key's PKCS #1 v1.5 signature of `message` hashed with `hash`.
    pub fn verifies(&self, message: &[u8], hash: Hash, signature: &[u8]) -> bool {
        let k = self.modulus.len();
        // The signature is as long as the modulus, and a number below it.
        if signature.len() != k || signature >= self.modulus.as_slice() {
            return false;
        }
        let modulus = U4096::from_be_slice(&widened(&self.modulus));
        let params = DynResidueParams::new(&modulus);
        let base = DynResidue::new(&U4096::from_be_slice(&widened(signature)), params);
        let exponent = U64::from_u32(self.exponent);
        let power = base.pow_bounded_exp(&exponent, 32).retrieve();
        let mut decrypted: Vec<u8> = power
            .as_words()
            .iter()
            .rev()
            .flat_map(|word| word.to_be_bytes())
            .collect();
        decrypted.drain(..WIDTH - k);
        decrypted == encoded(message, hash, k)
    }
}

/// Left-padded with zeros to the 4096-bit width (at most that long: checked by the callers).
fn widened(bytes: &[u8]) -> Vec<u8> {
    let mut wide = vec![0u8; WIDTH - bytes.len()];
    wide.extend_from_slice(bytes);
    wide
}

fn bit_length(magnitude: &[u8]) -> usize {
    match magnitude.iter().position(|&b| b != 0) {
        Some(at) => (magnitude.len() - at) * 8 - magnitude[at].leading_zeros() as usize,
        None => 0,
    }
}

/// EMSA-PKCS1-v1_5 (RFC 8017 §9.2): `00 01 FF…FF 00 DigestInfo`, `k` bytes in all.
fn encoded(message: &[u8], hash: Hash, k: usize) -> Vec<u8> {
    // The DER DigestInfo before the digest, with the NULL parameters (RFC 8017 note 1 of §9.2).
    let prefix: &[u8] = match hash {
        Hash::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        Hash::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        Hash::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    };
    let digest = hash.digest(message);
    let filler = k - 3 - prefix.len() - digest.len();
    let mut out = Vec::with_capacity(k);
    out.extend([0x00, 0x01]);
    out.resize(2 + filler, 0xff);
    out.push(0x00);
    out.extend_from_slice(prefix);
    out.extend_from_slice(&digest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_public_key(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
        let integer = |magnitude: &[u8]| {
            let mut contents = magnitude.to_vec();
            if magnitude.first().is_some_and(|b| b & 0x80 != 0) {
                contents.insert(0, 0);
            }
            let mut out = vec![INTEGER];
            push_length(&mut out, contents.len());
            out.extend(contents);
            out
        };
        let body = [integer(modulus), integer(exponent)].concat();
        let mut out = vec![0x30];
        push_length(&mut out, body.len());
        out.extend(body);
        out
    }

    fn push_length(out: &mut Vec<u8>, len: usize) {
        match len {
            0..=0x7f => out.push(len as u8),
            0x80..=0xff => out.extend([0x81, len as u8]),
            _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
        }
    }

    #[test]
    fn sizes_and_exponents_outside_the_verified_range_are_named() {
        let odd = |bytes: usize| {
            let mut m = vec![0xc5; bytes];
            m[bytes - 1] = 0x01;
            m
        };
        let too_small = rsa_public_key(&odd(128), &[1, 0, 1]);
        assert_eq!(
            RsaKey::from_der(&too_small).err().unwrap().to_string(),
            "an RSA key of 1024 bits: 2048 to 4096 are verified"
        );
        let too_big = rsa_public_key(&odd(513), &[1, 0, 1]);
        assert_eq!(
            RsaKey::from_der(&too_big).err(),
            Some(RsaKeyError::Size(4104))
        );
        let even = rsa_public_key(&[0xc4; 256], &[1, 0, 1]);
        assert_eq!(
            RsaKey::from_der(&even).err(),
            Some(RsaKeyError::EvenModulus)
        );
        for exponent in [&[1u8][..], &[2], &[1, 0, 0, 0, 1]] {
            let key = rsa_public_key(&odd(256), exponent);
            assert_eq!(RsaKey::from_der(&key).err(), Some(RsaKeyError::Exponent));
        }
        let key = RsaKey::from_der(&rsa_public_key(&odd(256), &[1, 0, 1])).unwrap();
        assert_eq!(bit_length(&key.modulus), 2048);
        assert_eq!(key.exponent, 65537);
        assert_eq!(
            RsaKey::from_der(b"\x30\x00").err(),
            Some(RsaKeyError::Malformed)
        );
    }

    #[test]
    fn signatures_of_the_wrong_length_or_not_below_the_modulus_fail() {
        let mut modulus = vec![0xc5; 256];
        modulus[255] = 1;
        let key = RsaKey::from_der(&rsa_public_key(&modulus, &[1, 0, 1])).unwrap();
        assert!(!key.verifies(b"m", Hash::Sha256, &[1; 255]));
        assert!(!key.verifies(b"m", Hash::Sha256, &modulus));
        assert!(!key.verifies(b"m", Hash::Sha256, &[0xff; 256]));
        assert!(!key.verifies(b"m", Hash::Sha256, &[1; 256]));
    }

    #[test]
    fn the_encoding_fills_the_modulus_width() {
        let em = encoded(b"abc", Hash::Sha256, 256);
        assert_eq!(em.len(), 256);
        assert_eq!(&em[..3], &[0, 1, 0xff]);
        assert_eq!(em[256 - 32 - 19 - 1], 0);
        assert_eq!(&em[256 - 32..], Hash::Sha256.digest(b"abc"));
    }
}
