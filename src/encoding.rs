//! The two encodings bootgate reads and writes by hand: percent escapes (a query string, a
//! URL's credentials) and base64 (a Basic credential; a signature bundle's fields and PEM
//! bodies). Each is a few lines; a crate apiece would cost more binary than it saves.

/// The standard base64 alphabet (RFC 4648 §4).
pub const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Basic auth uses it.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let group = byte(0) << 16 | byte(1) << 8 | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(
                    BASE64_ALPHABET[(group >> (18 - 6 * i) & 63) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (RFC 4648 §4) back to bytes, padded or not, as protobuf's JSON form and PEM
/// write it. `None` for any other character (whitespace included: PEM's line breaks are the
/// caller's to drop), for padding anywhere but at the end, and for a length no encoding has.
pub fn base64_decoded(text: &[u8]) -> Option<Vec<u8>> {
    let unpadded = match text {
        [rest @ .., b'=', b'='] | [rest @ .., b'='] if text.len().is_multiple_of(4) => rest,
        _ => text,
    };
    if unpadded.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() / 4 * 3 + 2);
    for chunk in unpadded.chunks(4) {
        let mut group = 0u32;
        for &c in chunk {
            let sextet = BASE64_ALPHABET.iter().position(|&a| a == c)?;
            group = group << 6 | sextet as u32;
        }
        group <<= 6 * (4 - chunk.len());
        let bytes = group.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// `%XX` → the byte, in either case; `+` → a space when `plus_is_space` (a query string). A `%`
/// not followed by two hex digits stays as it is, as curl and Go leave it.
pub fn percent_decoded(text: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn base64_decodes_what_it_encodes_padded_or_not() {
        for plain in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let encoded = base64(plain.as_bytes());
            assert_eq!(
                base64_decoded(encoded.as_bytes()).unwrap(),
                plain.as_bytes()
            );
            let bare = encoded.trim_end_matches('=');
            assert_eq!(base64_decoded(bare.as_bytes()).unwrap(), plain.as_bytes());
        }
        let every_byte: Vec<u8> = (0..=255).collect();
        assert_eq!(
            base64_decoded(base64(&every_byte).as_bytes()).unwrap(),
            every_byte
        );
    }

    #[test]
    fn base64_refuses_what_no_encoder_writes() {
        for bad in [
            "Zg=", "Z", "Zm9vY", "Zg==Zg==", "Zm 9v", "Zm9v\n", "Zm-v", "Zm_v", "=Zm9", "Zm9v=",
            "Zg===", "é===",
        ] {
            assert_eq!(base64_decoded(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn percent_escapes_decode_and_malformed_ones_stay() {
        assert_eq!(percent_decoded("%61b%2Fc+d", true), b"ab/c d");
        assert_eq!(percent_decoded("%61b%2fc+d", false), b"ab/c+d");
        assert_eq!(percent_decoded("%zz%é%", true), "%zz%é%".as_bytes());
        assert_eq!(percent_decoded("%4", true), b"%4");
    }
}
