//! PEM (RFC 7468): the text form of the configured key and roots. Text around the blocks (the
//! comments `openssl x509 -text` writes, a bundle of several files) is allowed, as OpenSSL
//! allows it; a block's body is base64 over any line breaks and spaces.

use crate::encoding::base64_decoded;

/// A block that is not base64, or has no end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("its {0} block has no END line")]
    Unterminated(String),
    #[error("its {0} block is not base64")]
    NotBase64(String),
}

/// One `-----BEGIN LABEL-----` … `-----END LABEL-----` block.
#[derive(Debug)]
pub struct Block {
    pub label: String,
    pub der: Vec<u8>,
}

/// Every block of `text`, in order.
pub fn blocks(text: &[u8]) -> Result<Vec<Block>, PemError> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const DASHES: &[u8] = b"-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = find(rest, BEGIN) {
        let after = &rest[at + BEGIN.len()..];
        let Some(label_end) = find(after, DASHES) else {
            break;
        };
        let label = String::from_utf8_lossy(&after[..label_end]).into_owned();
        let body = &after[label_end + DASHES.len()..];
        let end_line = [b"-----END ", label.as_bytes(), DASHES].concat();
        let Some(body_end) = find(body, &end_line) else {
            return Err(PemError::Unterminated(quoted(&label)));
        };
        let compact: Vec<u8> = body[..body_end]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let der = base64_decoded(&compact).ok_or_else(|| PemError::NotBase64(quoted(&label)))?;
        out.push(Block { label, der });
        rest = &body[body_end + end_line.len()..];
    }
    Ok(out)
}

/// `label` as a message names it.
fn quoted(label: &str) -> String {
    format!("\"{}\"", crate::echo::value(label))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The block as OpenSSL and Python's `cryptography` write it: 64 characters a line, `\n` line
/// ends, a line break after the END line.
pub fn encode(label: &str, der: &[u8]) -> String {
    let body = crate::encoding::base64(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 is ASCII: every chunk is whole characters.
        text.extend(line.iter().map(|&b| char::from(b)));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_read_among_comments_and_crlf_lines() {
        let text = b"Subject: CN=x\r\n-----BEGIN CERTIFICATE-----\r\nAAEC\r\nAw==\r\n-----END CERTIFICATE-----\r\n\
                     junk\n-----BEGIN PUBLIC KEY-----\nBAU=\n-----END PUBLIC KEY-----\n";
        let found = blocks(text).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].label, "CERTIFICATE");
        assert_eq!(found[0].der, [0, 1, 2, 3]);
        assert_eq!(found[1].label, "PUBLIC KEY");
        assert_eq!(found[1].der, [4, 5]);
        assert!(blocks(b"no blocks here").unwrap().is_empty());
    }

    #[test]
    fn broken_blocks_are_named() {
        let open = b"-----BEGIN PUBLIC KEY-----\nBAU=\n";
        assert_eq!(
            blocks(open).unwrap_err().to_string(),
            "its \"PUBLIC KEY\" block has no END line"
        );
        let bad = b"-----BEGIN PUBLIC KEY-----\nB*U=\n-----END PUBLIC KEY-----\n";
        assert_eq!(
            blocks(bad).unwrap_err().to_string(),
            "its \"PUBLIC KEY\" block is not base64"
        );
    }

    #[test]
    fn encoding_wraps_at_64_characters() {
        let der = [7u8; 60];
        let text = encode("PUBLIC KEY", &der);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PUBLIC KEY-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 16);
        assert_eq!(lines[3], "-----END PUBLIC KEY-----");
        assert!(text.ends_with("-----\n"));
        assert_eq!(blocks(text.as_bytes()).unwrap()[0].der, der);
    }
}
