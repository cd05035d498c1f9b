//! A SHA-256 digest: 32 bytes, shown and parsed as 64 hex digits.

use std::fmt;
use std::str::FromStr;

/// A SHA-256 digest. Shown as 64 lowercase hex digits (the form of `sha256sum`, Hugging Face
/// LFS object ids and OCI digests without their `sha256:`); parsed from 64 hex digits of
/// either case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    pub const fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

/// Lowercase hex digits, two a byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(2 * bytes.len());
    for &byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

/// Why a string is not a SHA-256 digest. Its message names what was found, but never echoes
/// the string itself: a mistyped digest may well be a secret pasted into the wrong field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDigestError {
    #[error("a sha256 is 64 hex digits; this has {0} characters")]
    Length(usize),
    #[error("a sha256 is 64 hex digits; character {0} is not one")]
    NotHex(usize),
}

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(text: &str) -> Result<Digest, ParseDigestError> {
        let chars = text.chars().count();
        if chars != 64 || text.len() != 64 {
            return Err(ParseDigestError::Length(chars));
        }
        let mut bytes = [0u8; 32];
        for (i, pair) in text.as_bytes().chunks_exact(2).enumerate() {
            let high = nibble(pair[0]).ok_or(ParseDigestError::NotHex(2 * i + 1))?;
            let low = nibble(pair[1]).ok_or(ParseDigestError::NotHex(2 * i + 2))?;
            bytes[i] = high << 4 | low;
        }
        Ok(Digest(bytes))
    }
}

/// `N` bytes from exactly `2 × N` hex digits of either case.
pub fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(bytes)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// As its hex string, so a stored digest reads like `sha256sum`'s.
impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hex_round_trip_in_either_case() {
        let digest: Digest = ABC.parse().unwrap();
        assert_eq!(digest.to_hex(), ABC);
        assert_eq!(digest.to_string(), ABC);
        assert_eq!(ABC.to_uppercase().parse::<Digest>().unwrap(), digest);
        assert_eq!(digest.as_bytes()[0], 0xba);
        assert_eq!(Digest::from_bytes(*digest.as_bytes()), digest);
    }

    #[test]
    fn wrong_strings_are_refused_without_panicking() {
        assert_eq!("".parse::<Digest>(), Err(ParseDigestError::Length(0)));
        assert_eq!(
            ABC[1..].parse::<Digest>(),
            Err(ParseDigestError::Length(63))
        );
        let mut bad = ABC.to_string();
        bad.replace_range(10..11, "g");
        assert_eq!(bad.parse::<Digest>(), Err(ParseDigestError::NotHex(11)));
        // 64 bytes, but not 64 characters: multi-byte UTF-8 must not be split or accepted.
        let wide = format!("é{}", &ABC[2..]);
        assert_eq!(wide.len(), 64);
        assert_eq!(wide.parse::<Digest>(), Err(ParseDigestError::Length(63)));
        let message = bad.parse::<Digest>().unwrap_err().to_string();
        assert!(!message.contains(&bad), "{message}");
    }

    #[test]
    fn serde_uses_the_hex_string() {
        let digest: Digest = ABC.parse().unwrap();
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"{ABC}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
        assert!(serde_json::from_str::<Digest>("\"abc\"").is_err());
        assert!(serde_json::from_str::<Digest>("17").is_err());
    }
}
