//! Outside text as it may carry a secret in disguise: percent-encoded (`%2F`, `%2f`, `+` for a
//! space, as a query string is) or JSON-escaped (`\u0041`, `\/`). Decoding keeps, for every
//! decoded byte, the span of the original text it came from, so that a secret found in the
//! decoded text hides the original span, whatever mix of forms wrote it.

use std::ops::Range;

/// Whether [`decode`] would change anything: the common case costs one scan.
pub fn has_escapes(text: &[u8]) -> bool {
    text.iter().any(|b| matches!(b, b'%' | b'+' | b'\\'))
}

pub struct Decoded {
    pub bytes: Vec<u8>,
    /// For each decoded byte, where in the original it was written.
    spans: Vec<Range<u32>>,
}

impl Decoded {
    /// The original span that decoded bytes `range` came from.
    pub fn source(&self, range: Range<usize>) -> Range<usize> {
        let first = &self.spans[range.start];
        let last = &self.spans[range.end - 1];
        first.start as usize..last.end as usize
    }

    /// A further layer decoded from this one, its spans pointing into the original.
    fn through(&self, inner: Decoded) -> Decoded {
        let spans = inner
            .spans
            .iter()
            .map(|r| self.spans[r.start as usize].start..self.spans[r.end as usize - 1].end)
            .collect();
        Decoded {
            bytes: inner.bytes,
            spans,
        }
    }
}

/// Layers decoded one after the other: a JSON string holding a percent-encoded value, or a
/// value percent-encoded twice.
const LAYERS: usize = 3;

/// Which escapes a layer decodes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// Both at once: a value written half one way, half the other.
    Both,
    /// `%XX` and `+` alone: a backslash before a percent-encoded secret is not read as an
    /// escape that swallows its first letter.
    Percent,
    /// JSON's escapes alone: a `%` before a JSON-escaped secret stays a `%`.
    Json,
}

impl Scheme {
    /// Whether `text` holds an escape this scheme decodes.
    fn escapes(self, text: &[u8]) -> bool {
        match self {
            Scheme::Both => has_escapes(text),
            Scheme::Percent => text.iter().any(|b| matches!(b, b'%' | b'+')),
            Scheme::Json => text.contains(&b'\\'),
        }
    }
}

/// Each decoded layer of `text`, for as long as decoding changes something: one stack for
/// both kinds of escape together, and, where the text holds both kinds, one for each alone.
pub fn layers(text: &[u8]) -> Vec<Decoded> {
    let mut out = Vec::new();
    if !has_escapes(text) {
        return out;
    }
    let schemes: &[Scheme] = if Scheme::Percent.escapes(text) && Scheme::Json.escapes(text) {
        &[Scheme::Both, Scheme::Percent, Scheme::Json]
    } else {
        &[Scheme::Both]
    };
    for &scheme in schemes {
        let mut stack: Vec<Decoded> = Vec::new();
        while stack.len() < LAYERS {
            let from = stack.last().map_or(text, |d| &d.bytes);
            if !scheme.escapes(from) {
                break;
            }
            let Some(next) = decode_with(from, scheme) else {
                break;
            };
            let next = match stack.last() {
                Some(outer) => outer.through(next),
                None => next,
            };
            stack.push(next);
        }
        out.extend(stack);
    }
    out
}

/// One layer: `%XX` (either case), `+`, and JSON's backslash escapes decoded; anything
/// malformed is kept as written. `None` when nothing was decoded, or the text is too long to
/// map (over 4 GiB, which no caller holds).
pub fn decode(text: &[u8]) -> Option<Decoded> {
    decode_with(text, Scheme::Both)
}

fn decode_with(text: &[u8], scheme: Scheme) -> Option<Decoded> {
    if u32::try_from(text.len()).is_err() {
        return None;
    }
    let percent = scheme != Scheme::Json;
    let json = scheme != Scheme::Percent;
    let mut bytes = Vec::with_capacity(text.len());
    let mut spans = Vec::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < text.len() {
        let (decoded, len) = match text[i] {
            b'%' if percent => match (hex(text.get(i + 1)), hex(text.get(i + 2))) {
                (Some(high), Some(low)) => (Unit::Byte(high << 4 | low), 3),
                _ => (Unit::Byte(b'%'), 1),
            },
            b'+' if percent => {
                changed = true;
                (Unit::Byte(b' '), 1)
            }
            b'\\' if json => json_escape(&text[i..]).unwrap_or((Unit::Byte(b'\\'), 1)),
            other => (Unit::Byte(other), 1),
        };
        changed |= len > 1;
        let span = i as u32..(i + len) as u32;
        match decoded {
            Unit::Byte(b) => {
                bytes.push(b);
                spans.push(span);
            }
            Unit::Char(c) => {
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    bytes.push(b);
                    spans.push(span.clone());
                }
            }
        }
        i += len;
    }
    changed.then_some(Decoded { bytes, spans })
}

enum Unit {
    Byte(u8),
    Char(char),
}

/// A JSON escape at the start of `text` (which starts with `\`): what it stands for and how
/// many bytes it takes. A lone surrogate is no character, so it is left as written.
fn json_escape(text: &[u8]) -> Option<(Unit, usize)> {
    let byte = match *text.get(1)? {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => {
            let unit = hex4(text.get(2..6)?)?;
            if let Some(c) = char::from_u32(unit) {
                return Some((Unit::Char(c), 6));
            }
            // A high surrogate, then its low half.
            if !(0xd800..0xdc00).contains(&unit) || text.get(6..8)? != b"\\u" {
                return None;
            }
            let low = hex4(text.get(8..12)?)?;
            if !(0xdc00..0xe000).contains(&low) {
                return None;
            }
            let c = char::from_u32(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00))?;
            return Some((Unit::Char(c), 12));
        }
        _ => return None,
    };
    Some((Unit::Byte(byte), 2))
}

fn hex(byte: Option<&u8>) -> Option<u8> {
    (*byte? as char).to_digit(16).map(|d| d as u8)
}

fn hex4(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |acc, b| Some(acc << 4 | hex(Some(b))? as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(text: &str) -> Vec<u8> {
        decode(text.as_bytes()).map_or_else(|| text.as_bytes().to_vec(), |d| d.bytes)
    }

    #[test]
    fn decodes_percent_plus_and_json_escapes() {
        assert_eq!(decoded("a%2Fb%2fc+d"), b"a/b/c d");
        assert_eq!(decoded(r#"\u0041\/\"\\\n"#), b"A/\"\\\n");
        assert_eq!(decoded(r"\ud83d\ude00"), "😀".as_bytes());
        assert_eq!(decoded(r"\u00e9"), "é".as_bytes());
    }

    #[test]
    fn keeps_malformed_escapes_as_written() {
        for text in [
            "%",
            "%4",
            "%zz",
            r"\",
            r"\x",
            r"\u12",
            r"\ud83d",
            r"\ud83d\u0041",
            "%%41",
        ] {
            let out = decoded(text);
            assert!(
                out == text.as_bytes() || out.ends_with(b"A"),
                "{text:?} -> {out:?}"
            );
        }
        assert!(decode(b"plain text").is_none());
    }

    #[test]
    fn spans_point_back_into_the_original() {
        let d = decode(br"x%41\u0042y").unwrap();
        assert_eq!(d.bytes, b"xABy");
        assert_eq!(d.source(1..3), 1..10);
        assert_eq!(d.source(3..4), 10..11);
    }

    #[test]
    fn layers_compose_their_spans() {
        // `%2541` is `%41` once decoded, `A` twice.
        let text = b"a%2541b";
        let layers = layers(text);
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[1].bytes, b"aAb");
        assert_eq!(layers[1].source(1..2), 1..6);
    }
}
