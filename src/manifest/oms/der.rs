//! A strict reader of DER (ITU-T X.690), as much as certificates, public keys and signatures
//! need: one-byte tags, definite lengths in their shortest form, nothing left over. Anything
//! else is malformed: a bundle's certificates come from whoever wrote the bundle.

pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// A context-specific tag, constructed: `[n]` around a structure (explicit tagging).
pub const fn explicit(n: u8) -> u8 {
    0xa0 | n
}

/// Not DER, or not the structure expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The elements of one DER value's contents, read in order.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element's tag, without reading it.
    pub fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, which must have `tag`: its whole encoding and its contents.
    pub fn element(&mut self, tag: u8) -> Result<(&'a [u8], &'a [u8]), Malformed> {
        let (&found, after_tag) = self.rest.split_first().ok_or(Malformed)?;
        // The low five bits all set would start a multi-byte tag, which nothing read here has.
        if found != tag || found & 0x1f == 0x1f {
            return Err(Malformed);
        }
        let (&first, after_length) = after_tag.split_first().ok_or(Malformed)?;
        let (length, after_length) = match first {
            0..=0x7f => (usize::from(first), after_length),
            0x81..=0x84 => {
                let count = usize::from(first & 0x7f);
                let digits = after_length.get(..count).ok_or(Malformed)?;
                let length = digits
                    .iter()
                    .fold(0usize, |acc, &d| acc << 8 | usize::from(d));
                // Shortest form: no leading zero byte, and the long form only from 128 on.
                if digits.first() == Some(&0) || length < 0x80 {
                    return Err(Malformed);
                }
                (length, &after_length[count..])
            }
            _ => return Err(Malformed),
        };
        let contents = after_length.get(..length).ok_or(Malformed)?;
        let whole_len = self.rest.len() - after_length.len() + length;
        let whole = &self.rest[..whole_len];
        self.rest = &after_length[length..];
        Ok((whole, contents))
    }

    /// The next element's contents, which must have `tag`.
    pub fn read(&mut self, tag: u8) -> Result<&'a [u8], Malformed> {
        self.element(tag).map(|(_, contents)| contents)
    }

    /// The next element's contents when it has `tag`; nothing read otherwise.
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, Malformed> {
        if self.peek() == Some(tag) {
            self.read(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The next element, a SEQUENCE, to read inside.
    pub fn sequence(&mut self) -> Result<Reader<'a>, Malformed> {
        self.read(SEQUENCE).map(Reader::new)
    }

    /// Everything must have been read.
    pub fn finish(self) -> Result<(), Malformed> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }
}

/// `bytes` must be exactly one element with `tag`: its contents.
pub fn single(bytes: &[u8], tag: u8) -> Result<&[u8], Malformed> {
    let mut reader = Reader::new(bytes);
    let contents = reader.read(tag)?;
    reader.finish()?;
    Ok(contents)
}

/// A non-negative INTEGER's magnitude, big-endian without the sign byte: what a key or a
/// signature scalar is. Negative and non-minimal encodings are malformed.
pub fn unsigned(contents: &[u8]) -> Result<&[u8], Malformed> {
    match contents {
        [] => Err(Malformed),
        [first, ..] if first & 0x80 != 0 => Err(Malformed),
        [0, next, ..] if next & 0x80 == 0 => Err(Malformed),
        [0, rest @ ..] if !rest.is_empty() => Ok(rest),
        _ => Ok(contents),
    }
}

/// A BIT STRING's bits, which must fill whole bytes (a key or a signature does).
pub fn whole_bytes(contents: &[u8]) -> Result<&[u8], Malformed> {
    match contents.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(Malformed),
    }
}

/// An OBJECT IDENTIFIER's contents in dotted form (`1.2.840.10045.2.1`), for messages.
pub fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut value: u128 = 0;
    for &byte in oid {
        value = value.saturating_mul(128) | u128::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    let mut text = match arcs.first() {
        Some(&first) => {
            let top = first.min(80) / 40;
            format!("{top}.{}", first - top * 40)
        }
        None => return "(empty)".to_string(),
    };
    for arc in &arcs[1..] {
        text.push_str(&format!(".{arc}"));
    }
    if oid.last().is_some_and(|b| b & 0x80 != 0) {
        text.push_str(".(cut)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_elements_and_their_encodings() {
        // SEQUENCE { INTEGER 5, OCTET STRING "ab" }
        let bytes = [0x30, 0x07, 0x02, 0x01, 0x05, 0x04, 0x02, b'a', b'b'];
        let mut outer = Reader::new(&bytes);
        let (whole, contents) = outer.element(SEQUENCE).unwrap();
        assert_eq!(whole, &bytes);
        outer.finish().unwrap();
        let mut inner = Reader::new(contents);
        assert_eq!(inner.optional(NULL).unwrap(), None);
        assert_eq!(inner.read(INTEGER).unwrap(), [5]);
        assert_eq!(inner.peek(), Some(OCTET_STRING));
        assert_eq!(inner.read(OCTET_STRING).unwrap(), b"ab");
        assert!(inner.is_empty());
    }

    #[test]
    fn long_lengths_must_be_minimal_and_fit() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        assert_eq!(single(&long, OCTET_STRING).unwrap().len(), 0x80);
        for bad in [
            &[0x04, 0x81, 0x05, 1, 2, 3, 4, 5][..], // long form below 128
            &[0x04, 0x82, 0x00, 0x80],              // leading zero
            &[0x04, 0x80],                          // indefinite
            &[0x04, 0x85, 1, 1, 1, 1, 1],           // five length bytes
            &[0x04, 0x84, 0xff, 0xff, 0xff, 0xff],  // past the end
            &[0x04, 0x03, 1, 2],                    // short
            &[0x04, 0x01, 1, 0],                    // left over
            &[0x1f, 0x01, 0x00],                    // multi-byte tag
            &[0x04],
            &[],
        ] {
            assert_eq!(
                single(bad, bad.first().copied().unwrap_or(0)),
                Err(Malformed)
            );
        }
        assert_eq!(single(&[0x02, 0x01, 0x05], OCTET_STRING), Err(Malformed));
    }

    #[test]
    fn integers_are_unsigned_and_minimal() {
        assert_eq!(unsigned(&[0x00, 0x80]).unwrap(), [0x80]);
        assert_eq!(unsigned(&[0x7f]).unwrap(), [0x7f]);
        assert_eq!(unsigned(&[0x00]).unwrap(), [0x00]);
        assert_eq!(unsigned(&[0x80]), Err(Malformed));
        assert_eq!(unsigned(&[0x00, 0x01]), Err(Malformed));
        assert_eq!(unsigned(&[]), Err(Malformed));
        assert_eq!(whole_bytes(&[0, 1, 2]).unwrap(), [1, 2]);
        assert_eq!(whole_bytes(&[3, 1, 2]), Err(Malformed));
        assert_eq!(whole_bytes(&[]), Err(Malformed));
    }

    #[test]
    fn object_identifiers_read_dotted() {
        let ec_public_key = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        assert_eq!(dotted(&ec_public_key), "1.2.840.10045.2.1");
        assert_eq!(dotted(&[0x2b, 0x81, 0x04, 0x00, 0x22]), "1.3.132.0.34");
        assert_eq!(dotted(&[0x88, 0x37]), "2.999");
        assert_eq!(dotted(&[]), "(empty)");
        assert_eq!(dotted(&[0x2a, 0x86]), "1.2.(cut)");
    }
}
