//! A secret inside base64 (an `Authorization: Basic` header carries `base64(user:password)`).
//! Its bytes may start at any of three offsets within the encoded data, and each offset
//! encodes them differently; for each, the characters that encode the secret's bytes alone
//! are the same whatever surrounds them, padded or not. Those runs are what outside text is
//! searched for.

use crate::encoding::BASE64_ALPHABET as STANDARD;

/// Shorter runs would match ordinary words.
const MIN_CORE: usize = 4;

/// The runs for the three offsets, in the standard alphabet and in the URL-safe one (`-_` for
/// `+/`) where that differs.
pub fn cores(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for offset in 0..3 {
        let start_bit = 8 * offset;
        let end_bit = start_bit + 8 * secret.len();
        // Only characters whose six bits all come from the secret.
        let first = start_bit.div_ceil(6);
        let end = end_bit / 6;
        if end < first + MIN_CORE {
            continue;
        }
        let standard: Vec<u8> = (first..end)
            .map(|j| STANDARD[sextet(secret, 6 * j - start_bit)])
            .collect();
        let url_safe: Vec<u8> = standard
            .iter()
            .map(|&c| match c {
                b'+' => b'-',
                b'/' => b'_',
                c => c,
            })
            .collect();
        if url_safe != standard {
            out.push(url_safe);
        }
        out.push(standard);
    }
    out
}

/// The six bits of `bytes` from bit `at` on.
fn sextet(bytes: &[u8], at: usize) -> usize {
    (at..at + 6).fold(0, |acc, bit| {
        acc << 1 | usize::from(bytes[bit / 8] >> (7 - bit % 8) & 1)
    })
}

/// Whether `byte` may belong to base64 as outside text carries it: either alphabet, or a
/// percent-encoded `+`, `/` or `=`. A match is widened over these, so the characters that
/// mix the secret's bits with its neighbours' go too.
pub fn in_run(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'-' | b'_' | b'%')
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The whole encoding, padded or not, to check the runs against.
    pub fn encode(bytes: &[u8], pad: bool) -> String {
        let padded = crate::encoding::base64(bytes);
        if pad {
            padded
        } else {
            padded.trim_end_matches('=').to_string()
        }
    }

    #[test]
    fn a_run_is_found_at_every_offset_and_in_both_alphabets() {
        let secret = b"s3cr3t-p>ss?word";
        let cores = cores(secret);
        for prefix in ["", "u:", "user:", "ab"] {
            for pad in [true, false] {
                let whole = [prefix.as_bytes(), secret, b"!tail"].concat();
                let standard = encode(&whole, pad);
                let url_safe = standard.replace('+', "-").replace('/', "_");
                for encoded in [standard, url_safe] {
                    assert!(
                        cores
                            .iter()
                            .any(|c| encoded.as_bytes().windows(c.len()).any(|w| w == c)),
                        "{prefix:?}: no run in {encoded}"
                    );
                }
            }
        }
    }

    #[test]
    fn short_secrets_give_no_run_that_would_match_noise() {
        assert!(cores(b"ab").is_empty());
        assert!(cores(b"abcd").iter().all(|c| c.len() >= MIN_CORE));
    }
}
