//! A `.safetensors` file's structure, checked from its header alone, before any hash: a
//! download cut short, a shard copied half way or a header that does not describe its data is
//! refused in milliseconds, naming both sizes, where a hash would take minutes to say only
//! "different".
//!
//! The format (the `safetensors` crate's `tensor.rs` and its README are the authority): an
//! 8-byte little-endian header length N, N bytes of UTF-8 JSON beginning with `{` and maybe
//! padded with spaces, then the data. The JSON maps each tensor's name to its `dtype`, `shape`
//! and `data_offsets` `[start, end]` into the data, plus an optional `__metadata__` map of
//! strings. Sorted by offset, the tensors must cover the data with no gap and no overlap, each
//! holding exactly dtype bits × product of shape, a whole number of bytes; the last end is the
//! data's length, so 8 + N + that length is the file's size.
//!
//! Everything in the header is someone else's: it is parsed without building a JSON tree (one
//! small record per tensor, names included, so memory stays within about twice the header), all
//! arithmetic is checked, and an error says which tensor and why.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::verify::exact_bytes;
use crate::echo;
use crate::files::{irregular, open_nonblocking};
use crate::text::{human_bytes, io_phrase};

/// The largest header read, unless configured otherwise: refused by name above it. The
/// config's default (why 8 MiB is said there); the crate's own limit is 100 MB, a guard against
/// a JSON bomb rather than a size real files reach.
pub const DEFAULT_MAX_HEADER: u64 = crate::config::manifest::DEFAULT_MAX_SAFETENSORS_HEADER;

/// The header length's own bytes, at the start of the file.
const LENGTH_BYTES: u64 = 8;

/// Dimensions of a shape kept for messages; a longer shape is shown cut, with its rank.
const SHAPE_SHOWN: usize = 8;

/// Checks a .safetensors file's structure from its header alone: the 8-byte little-endian
/// header length (≤ `max_header`), the header JSON, `__metadata__` skipped, every tensor's
/// dtype known and `data_offsets` contiguous, non-overlapping, end − start = dtype size ×
/// product of `shape`, and 8 + header length + last end = the file's size. Opens without
/// blocking; reads at most 8 + max_header bytes.
pub fn check_file(path: &Path, max_header: u64) -> Result<(), StructureError> {
    let file = open_nonblocking(path).map_err(Problem::Io)?;
    let meta = file.metadata().map_err(Problem::Io)?;
    if let Some(what) = irregular(meta.file_type()) {
        return Err(Problem::NotRegular(what).into());
    }
    let file_len = meta.len();
    if file_len < LENGTH_BYTES {
        return Err(Problem::NoLength { file_len }.into());
    }
    let mut file = file.take(LENGTH_BYTES.saturating_add(max_header));
    let mut length = [0u8; LENGTH_BYTES as usize];
    file.read_exact(&mut length).map_err(Problem::Io)?;
    let header_len = u64::from_le_bytes(length);
    if header_len > max_header {
        return Err(Problem::HeaderTooLarge {
            header_len,
            max: max_header,
        }
        .into());
    }
    // No overflow: header_len is at most max_header, and the sum is compared, not allocated.
    let needed = LENGTH_BYTES.saturating_add(header_len);
    if needed > file_len {
        return Err(Problem::HeaderTruncated { needed, file_len }.into());
    }
    // At most max_header, and no more than the file holds: the length field cannot make this
    // allocate what is not there.
    let mut header = vec![
        0;
        usize::try_from(header_len).map_err(|_| Problem::HeaderTooLarge {
            header_len,
            max: max_header,
        })?
    ];
    file.read_exact(&mut header).map_err(Problem::Io)?;
    check_header(&header, file_len)
}

/// The same over bytes already read (the fuzz entry): `header` is the JSON, `file_len` the size.
pub fn check_header(header: &[u8], file_len: u64) -> Result<(), StructureError> {
    if header.first() != Some(&b'{') {
        return Err(Problem::NotAnObject.into());
    }
    let problem = RefCell::new(None);
    let mut json = serde_json::Deserializer::from_slice(header);
    let parsed = json
        .deserialize_map(HeaderVisitor { problem: &problem })
        .and_then(|tensors| json.end().map(|()| tensors));
    let mut tensors = match parsed {
        Ok(tensors) => tensors,
        // A problem found inside the JSON is the reason the parse stopped, not the JSON error
        // that stopping left behind.
        Err(error) => return Err(problem.into_inner().unwrap_or(Problem::Json(error)).into()),
    };
    let data_len = check_layout(&mut tensors)?;
    let needed = LENGTH_BYTES
        .checked_add(header.len() as u64)
        .and_then(|n| n.checked_add(data_len))
        .unwrap_or(u64::MAX);
    if needed > file_len {
        return Err(Problem::Truncated { needed, file_len }.into());
    }
    if needed < file_len {
        return Err(Problem::TrailingBytes { needed, file_len }.into());
    }
    Ok(())
}

/// Sorted by offsets, the tensors must tile the data from 0: the crate's `validate`. Returns
/// the data's length, the last end.
fn check_layout(tensors: &mut [Tensor]) -> Result<u64, Problem> {
    // Two tensors of one name would be one entry to any reader that maps names; the README
    // disallows them.
    // One comparator type for both sorts: one sort in the binary, not two.
    type Order = fn(&Tensor, &Tensor) -> std::cmp::Ordering;
    let by_name: Order = |a, b| a.name.cmp(&b.name);
    let by_offsets: Order = |a, b| (a.start, a.end).cmp(&(b.start, b.end));
    tensors.sort_unstable_by(by_name);
    if let Some(pair) = tensors.windows(2).find(|pair| pair[0].name == pair[1].name) {
        return Err(Problem::Duplicate {
            tensor: pair[0].name.clone(),
        });
    }
    tensors.sort_unstable_by(by_offsets);
    let mut covered = 0u64;
    let mut previous: Option<&Tensor> = None;
    for tensor in tensors.iter() {
        // Data covered means a tensor before this one: the overlap has a name on each side.
        if let Some(earlier) = previous
            && tensor.start < covered
        {
            return Err(Problem::Overlap {
                earlier: earlier.name.clone(),
                earlier_range: earlier.start..earlier.end,
                later: tensor.name.clone(),
                later_range: tensor.start..tensor.end,
            });
        }
        if tensor.start > covered {
            return Err(Problem::Gap {
                range: covered..tensor.start,
                before: tensor.name.clone(),
            });
        }
        covered = tensor.end;
        previous = Some(tensor);
    }
    Ok(covered)
}

/// Why a file's structure is not whole. One line without the path: the caller names the file.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StructureError(#[from] Problem);

#[derive(Debug)]
enum Problem {
    Io(io::Error),
    NotRegular(&'static str),
    NoLength {
        file_len: u64,
    },
    HeaderTooLarge {
        header_len: u64,
        max: u64,
    },
    HeaderTruncated {
        needed: u64,
        file_len: u64,
    },
    NotAnObject,
    Json(serde_json::Error),
    Field {
        tensor: String,
        text: String,
    },
    UnknownDtype {
        tensor: String,
        dtype: String,
    },
    Size {
        tensor: String,
        dtype: Dtype,
        // Boxed: the rarest problem need not make every `Result` larger.
        shape: Box<Shape>,
        fault: SizeFault,
    },
    Duplicate {
        tensor: String,
    },
    Overlap {
        earlier: String,
        earlier_range: std::ops::Range<u64>,
        later: String,
        later_range: std::ops::Range<u64>,
    },
    Gap {
        range: std::ops::Range<u64>,
        before: String,
    },
    Truncated {
        needed: u64,
        file_len: u64,
    },
    TrailingBytes {
        needed: u64,
        file_len: u64,
    },
}

/// How a tensor's offsets disagree with its dtype and shape.
#[derive(Debug)]
enum SizeFault {
    /// More elements × bits than 64 bits count.
    Overflow,
    /// A sub-byte dtype whose elements end inside a byte.
    PartByte {
        bits: u64,
    },
    Backwards {
        start: u64,
        end: u64,
    },
    Mismatch {
        start: u64,
        end: u64,
        needs: u64,
    },
}

impl std::error::Error for Problem {}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Io(e) => write!(f, "cannot read it: {}", io_phrase(e)),
            Problem::NotRegular(what) => write!(f, "it is {what}, not a regular file"),
            Problem::NoLength { file_len } => write!(
                f,
                "truncated: the file has {file_len} B, fewer than the 8-byte header length"
            ),
            Problem::HeaderTooLarge { header_len, max } => write!(
                f,
                "header is {}, above the {} bound (max_safetensors_header)",
                exact_bytes(*header_len),
                exact_bytes(*max)
            ),
            Problem::HeaderTruncated { needed, file_len } => write!(
                f,
                "truncated: the header alone needs {}, the file has {}",
                exact_bytes(*needed),
                exact_bytes(*file_len)
            ),
            Problem::NotAnObject => f.write_str("the header is not a JSON object: no `{` first"),
            Problem::Json(e) => write!(f, "header JSON: {e}"),
            Problem::Field { tensor, text } => {
                write!(f, "tensor `{}`: {text}", echo::value(tensor))
            }
            Problem::UnknownDtype { tensor, dtype } => write!(
                f,
                "tensor `{}`: unknown dtype `{}`",
                echo::value(tensor),
                echo::value(dtype)
            ),
            Problem::Size {
                tensor,
                dtype,
                shape,
                fault,
            } => {
                write!(f, "tensor `{}`: ", echo::value(tensor))?;
                match fault {
                    SizeFault::Overflow => write!(
                        f,
                        "dtype {} × shape {shape} overflows 64 bits",
                        dtype.name()
                    ),
                    SizeFault::PartByte { bits } => write!(
                        f,
                        "dtype {} × shape {shape} is {bits} bits, not a whole number of bytes",
                        dtype.name()
                    ),
                    SizeFault::Backwards { start, end } => {
                        write!(f, "data_offsets {start}..{end} end before they start")
                    }
                    SizeFault::Mismatch { start, end, needs } => write!(
                        f,
                        "data_offsets {start}..{end} hold {} B, dtype {} × shape {shape} needs {needs} B",
                        end - start,
                        dtype.name()
                    ),
                }
            }
            Problem::Duplicate { tensor } => {
                write!(f, "tensor `{}` appears twice", echo::value(tensor))
            }
            Problem::Overlap {
                earlier,
                earlier_range,
                later,
                later_range,
            } => write!(
                f,
                "tensors `{}` (data_offsets {}..{}) and `{}` ({}..{}) overlap",
                echo::value(earlier),
                earlier_range.start,
                earlier_range.end,
                echo::value(later),
                later_range.start,
                later_range.end
            ),
            Problem::Gap { range, before } => write!(
                f,
                "data bytes {}..{} belong to no tensor (a gap before `{}`)",
                range.start,
                range.end,
                echo::value(before)
            ),
            Problem::Truncated { needed, file_len } => write!(
                f,
                "truncated: the header and tensors need {}, the file has {}",
                exact_bytes(*needed),
                exact_bytes(*file_len)
            ),
            Problem::TrailingBytes { needed, file_len } => write!(
                f,
                "{} after the last tensor: the header and tensors need {}, the file has {}",
                human_bytes(file_len - needed),
                exact_bytes(*needed),
                exact_bytes(*file_len)
            ),
        }
    }
}

/// The element types the crate knows, with their width in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    Bool,
    F4,
    F6E2M3,
    F6E3M2,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    F8E8M0,
    F8E4M3Fnuz,
    F8E5M2Fnuz,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    F64,
    I64,
    U64,
}

/// Each dtype's name in the header, beside it.
const DTYPES: [(&str, Dtype); 22] = [
    ("BOOL", Dtype::Bool),
    ("F4", Dtype::F4),
    ("F6_E2M3", Dtype::F6E2M3),
    ("F6_E3M2", Dtype::F6E3M2),
    ("U8", Dtype::U8),
    ("I8", Dtype::I8),
    ("F8_E5M2", Dtype::F8E5M2),
    ("F8_E4M3", Dtype::F8E4M3),
    ("F8_E8M0", Dtype::F8E8M0),
    ("F8_E4M3FNUZ", Dtype::F8E4M3Fnuz),
    ("F8_E5M2FNUZ", Dtype::F8E5M2Fnuz),
    ("I16", Dtype::I16),
    ("U16", Dtype::U16),
    ("F16", Dtype::F16),
    ("BF16", Dtype::BF16),
    ("I32", Dtype::I32),
    ("U32", Dtype::U32),
    ("F32", Dtype::F32),
    ("C64", Dtype::C64),
    ("F64", Dtype::F64),
    ("I64", Dtype::I64),
    ("U64", Dtype::U64),
];

impl Dtype {
    fn from_name(name: &str) -> Option<Dtype> {
        DTYPES.iter().find(|(n, _)| *n == name).map(|&(_, d)| d)
    }

    fn name(self) -> &'static str {
        DTYPES
            .iter()
            .find(|(_, d)| *d == self)
            .map_or("?", |&(n, _)| n)
    }

    fn bits(self) -> u64 {
        match self {
            Dtype::F4 => 4,
            Dtype::F6E2M3 | Dtype::F6E3M2 => 6,
            Dtype::Bool
            | Dtype::U8
            | Dtype::I8
            | Dtype::F8E5M2
            | Dtype::F8E4M3
            | Dtype::F8E8M0
            | Dtype::F8E4M3Fnuz
            | Dtype::F8E5M2Fnuz => 8,
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 16,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 32,
            Dtype::C64 | Dtype::F64 | Dtype::I64 | Dtype::U64 => 64,
        }
    }
}

/// A shape as it is read: its element count folded in order with overflow checked (as the crate
/// does), and its first dimensions kept for messages.
#[derive(Debug, Clone, Copy)]
struct Shape {
    shown: [u64; SHAPE_SHOWN],
    rank: u64,
    /// `None` once the product overflowed.
    elements: Option<u64>,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = usize::try_from(self.rank).map_or(SHAPE_SHOWN, |r| r.min(SHAPE_SHOWN));
        f.write_str("[")?;
        for (i, dim) in self.shown.iter().take(shown).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{dim}")?;
        }
        if self.rank > SHAPE_SHOWN as u64 {
            write!(f, ", … {} dimensions in all", self.rank)?;
        }
        f.write_str("]")
    }
}

/// What the layout check needs of a tensor once its own entry has been checked.
#[derive(Debug)]
struct Tensor {
    name: String,
    start: u64,
    end: u64,
}

/// The header object: each tensor's entry checked as it is read. A problem that is not the
/// JSON's own is put in `problem` and stops the parse.
struct HeaderVisitor<'a> {
    problem: &'a RefCell<Option<Problem>>,
}

impl HeaderVisitor<'_> {
    fn stop<E: de::Error>(&self, problem: Problem) -> E {
        let text = problem.to_string();
        *self.problem.borrow_mut() = Some(problem);
        E::custom(text)
    }
}

impl<'de> Visitor<'de> for HeaderVisitor<'_> {
    type Value = Vec<Tensor>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of tensor names to their dtype, shape and data_offsets")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Tensor>, A::Error> {
        let mut tensors = Vec::new();
        let mut metadata_seen = false;
        while let Some(name) = map.next_key::<String>()? {
            if name == "__metadata__" {
                if metadata_seen {
                    return Err(de::Error::custom("`__metadata__` appears twice"));
                }
                metadata_seen = true;
                map.next_value_seed(Metadata)?;
                continue;
            }
            let entry = map.next_value_seed(EntrySeed)?;
            let (start, end) = entry.check(&name).map_err(|p| self.stop(p))?;
            tensors.push(Tensor { name, start, end });
        }
        Ok(tensors)
    }
}

/// One tensor's entry as written; its fields checked against each other by [`Entry::check`].
#[derive(Default)]
struct Entry {
    dtype: Option<Result<Dtype, String>>,
    shape: Option<Shape>,
    offsets: Option<Offsets>,
    repeated: Option<&'static str>,
}

enum Offsets {
    Pair(u64, u64),
    Count(usize),
}

impl Entry {
    fn check(self, name: &str) -> Result<(u64, u64), Problem> {
        let field = |text: String| Problem::Field {
            tensor: name.to_string(),
            text,
        };
        if let Some(key) = self.repeated {
            return Err(field(format!("`{key}` appears twice")));
        }
        let dtype = match self.dtype {
            None => return Err(field("no `dtype`".into())),
            Some(Err(unknown)) => {
                return Err(Problem::UnknownDtype {
                    tensor: name.to_string(),
                    dtype: unknown,
                });
            }
            Some(Ok(dtype)) => dtype,
        };
        let shape = self.shape.ok_or_else(|| field("no `shape`".into()))?;
        let (start, end) = match self.offsets {
            None => return Err(field("no `data_offsets`".into())),
            Some(Offsets::Count(n)) => {
                return Err(field(format!(
                    "data_offsets has {n} numbers, not two (start and end)"
                )));
            }
            Some(Offsets::Pair(start, end)) => (start, end),
        };
        let size = |fault| Problem::Size {
            tensor: name.to_string(),
            dtype,
            shape: Box::new(shape),
            fault,
        };
        let bits = shape
            .elements
            .and_then(|n| n.checked_mul(dtype.bits()))
            .ok_or_else(|| size(SizeFault::Overflow))?;
        if bits % 8 != 0 {
            return Err(size(SizeFault::PartByte { bits }));
        }
        if end < start {
            return Err(size(SizeFault::Backwards { start, end }));
        }
        let needs = bits / 8;
        if end - start != needs {
            return Err(size(SizeFault::Mismatch { start, end, needs }));
        }
        Ok((start, end))
    }
}

struct EntrySeed;

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Entry;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Entry, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tensor's dtype, shape and data_offsets")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut entry = Entry::default();
        while let Some(key) = map.next_key::<Key>()? {
            let repeated = match key {
                Key::Dtype => entry
                    .dtype
                    .replace(map.next_value_seed(DtypeSeed)?)
                    .is_some(),
                Key::Shape => entry
                    .shape
                    .replace(map.next_value_seed(ShapeSeed)?)
                    .is_some(),
                Key::Offsets => entry
                    .offsets
                    .replace(map.next_value_seed(OffsetsSeed)?)
                    .is_some(),
                // The crate ignores fields it does not know; so does this.
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    false
                }
            };
            if repeated && entry.repeated.is_none() {
                entry.repeated = Some(key.name());
            }
        }
        Ok(entry)
    }
}

#[derive(Clone, Copy)]
enum Key {
    Dtype,
    Shape,
    Offsets,
    Other,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::Dtype => "dtype",
            Key::Shape => "shape",
            Key::Offsets => "data_offsets",
            Key::Other => "?",
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "dtype" => Key::Dtype,
                    "shape" => Key::Shape,
                    "data_offsets" => Key::Offsets,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct DtypeSeed;

impl<'de> DeserializeSeed<'de> for DtypeSeed {
    type Value = Result<Dtype, String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for DtypeSeed {
    type Value = Result<Dtype, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a dtype name such as BF16")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(Dtype::from_name(name).ok_or_else(|| name.to_string()))
    }
}

/// A shape read without keeping it: a hostile header's million dimensions cost nothing.
struct ShapeSeed;

impl<'de> DeserializeSeed<'de> for ShapeSeed {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ShapeSeed {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of dimensions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut shape = Shape {
            shown: [0; SHAPE_SHOWN],
            rank: 0,
            elements: Some(1),
        };
        while let Some(dim) = seq.next_element::<u64>()? {
            if let Some(slot) = usize::try_from(shape.rank)
                .ok()
                .and_then(|i| shape.shown.get_mut(i))
            {
                *slot = dim;
            }
            shape.rank = shape.rank.saturating_add(1);
            shape.elements = shape.elements.and_then(|n| n.checked_mul(dim));
        }
        Ok(shape)
    }
}

struct OffsetsSeed;

impl<'de> DeserializeSeed<'de> for OffsetsSeed {
    type Value = Offsets;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Offsets, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for OffsetsSeed {
    type Value = Offsets;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[start, end]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Offsets, A::Error> {
        let mut numbers = [0u64; 2];
        let mut count = 0usize;
        while let Some(n) = seq.next_element::<u64>()? {
            if let Some(slot) = numbers.get_mut(count) {
                *slot = n;
            }
            count = count.saturating_add(1);
        }
        Ok(if count == 2 {
            Offsets::Pair(numbers[0], numbers[1])
        } else {
            Offsets::Count(count)
        })
    }
}

/// `__metadata__`: free-form, so skipped, but it must be what the crate reads — null or a map
/// of strings to strings — or the file would not load.
struct Metadata;

impl<'de> DeserializeSeed<'de> for Metadata {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Metadata {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`__metadata__` as a map of strings to strings")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<AnyString, AnyString>()?.is_some() {}
        Ok(())
    }
}

/// A string, read and dropped.
struct AnyString;

impl<'de> serde::Deserialize<'de> for AnyString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AnyString, D::Error> {
        struct StringVisitor;
        impl Visitor<'_> for StringVisitor {
            type Value = AnyString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<AnyString, E> {
                Ok(AnyString)
            }
        }
        deserializer.deserialize_str(StringVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use serde_json::{Value, json};

    use super::*;
    use crate::manifest::py_tools;

    /// Writes real files with the `safetensors` package: `small.safetensors` (five dtypes, a
    /// scalar, an empty tensor and `__metadata__`) and `large.safetensors` (3 MiB of F32 in
    /// three tensors, so that a 1 MiB piece can be cut from it).
    fn real_files() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.safetensors");
        let large = dir.path().join("large.safetensors");
        let code = r#"
import sys
import numpy as np
from safetensors.numpy import save_file
rng = np.random.default_rng(0)
save_file({
    "model.embed_tokens.weight": rng.standard_normal((256, 64), dtype=np.float32),
    "model.norm.weight": np.ones(64, np.float16),
    "step": np.array(7, np.int64),
    "empty": np.zeros((0, 8), np.uint8),
    "mask": np.zeros((3, 5), bool),
}, sys.argv[1], metadata={"format": "pt", "note": "written by the real package"})
save_file({
    f"layers.{i}.weight": rng.standard_normal((512, 512), dtype=np.float32) for i in range(3)
}, sys.argv[2])
"#;
        py_tools::run([
            "-c".as_ref(),
            code.as_ref(),
            small.as_os_str(),
            large.as_os_str(),
        ]);
        (dir, small, large)
    }

    fn header_of(bytes: &[u8]) -> Value {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        serde_json::from_slice(&bytes[8..8 + n]).unwrap()
    }

    /// The real file with its header edited and written back as the package writes one
    /// (space-padded to 8 bytes), the data unchanged.
    fn with_header(bytes: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let mut header = header_of(bytes);
        edit(&mut header);
        let mut text = serde_json::to_vec(&header).unwrap();
        while !text.len().is_multiple_of(8) {
            text.push(b' ');
        }
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend(text);
        out.extend(&bytes[8 + n..]);
        out
    }

    fn check_bytes(dir: &Path, bytes: &[u8]) -> Result<(), StructureError> {
        let path = dir.join("edited.safetensors");
        fs::write(&path, bytes).unwrap();
        check_file(&path, DEFAULT_MAX_HEADER)
    }

    fn err(result: Result<(), StructureError>) -> String {
        result.expect_err("the check must refuse it").to_string()
    }

    #[test]
    fn whole_files_written_by_the_package_pass() {
        let (_dir, small, large) = real_files();
        let bytes = fs::read(&small).unwrap();
        assert!(header_of(&bytes).get("__metadata__").is_some());
        check_file(&small, DEFAULT_MAX_HEADER).unwrap();
        check_file(&large, DEFAULT_MAX_HEADER).unwrap();
        // `__metadata__` may also be null, as the crate reads it.
        let null = with_header(&bytes, |h| h["__metadata__"] = Value::Null);
        check_bytes(_dir.path(), &null).unwrap();
    }

    #[test]
    fn a_truncated_file_is_refused_naming_both_sizes() {
        let (dir, small, large) = real_files();
        let bytes = fs::read(&large).unwrap();
        let whole = bytes.len() as u64;
        assert_eq!(
            err(check_bytes(dir.path(), &bytes[..bytes.len() - 1])),
            format!(
                "truncated: the header and tensors need {whole} B ({}), the file has {} B ({})",
                human_bytes(whole),
                whole - 1,
                human_bytes(whole - 1)
            )
        );
        // A whole shard's worth (1 MiB) gone: the same check, the same instant.
        let cut = whole - (1 << 20);
        assert_eq!(
            err(check_bytes(dir.path(), &bytes[..cut as usize])),
            format!(
                "truncated: the header and tensors need {whole} B (3.0 MiB), the file has {cut} B (2.0 MiB)"
            )
        );
        // Cut inside the header, and before its length.
        let small_bytes = fs::read(&small).unwrap();
        let n = u64::from_le_bytes(small_bytes[..8].try_into().unwrap());
        assert_eq!(
            err(check_bytes(dir.path(), &small_bytes[..20])),
            format!(
                "truncated: the header alone needs {} B, the file has 20 B",
                8 + n
            )
        );
        assert_eq!(
            err(check_bytes(dir.path(), &small_bytes[..5])),
            "truncated: the file has 5 B, fewer than the 8-byte header length"
        );
        // Bytes past the last tensor are no better.
        let mut longer = small_bytes.clone();
        longer.extend([0; 3]);
        let len = small_bytes.len();
        assert_eq!(
            err(check_bytes(dir.path(), &longer)),
            format!(
                "3 B after the last tensor: the header and tensors need {len} B (64.6 KiB), the file \
                 has {} B (64.6 KiB)",
                len + 3
            )
        );
    }

    #[test]
    fn a_header_above_the_bound_is_refused_by_name_without_reading_it() {
        let (dir, small, _) = real_files();
        let n = u64::from_le_bytes(fs::read(&small).unwrap()[..8].try_into().unwrap());
        assert_eq!(
            err(check_file(&small, n - 1)),
            format!(
                "header is {n} B, above the {} B bound (max_safetensors_header)",
                n - 1
            )
        );
        // A length that would be 16 EiB: refused from the 8 bytes alone.
        let path = dir.path().join("huge.safetensors");
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend(b"{}");
        fs::write(&path, bytes).unwrap();
        assert_eq!(
            err(check_file(&path, DEFAULT_MAX_HEADER)),
            "header is 18446744073709551615 B (16777216.0 TiB), above the 8388608 B (8.0 MiB) \
             bound (max_safetensors_header)"
        );
    }

    #[test]
    fn a_corrupt_header_is_refused() {
        let (dir, small, _) = real_files();
        let mut bytes = fs::read(&small).unwrap();
        // A quote of the first key overwritten: the JSON breaks where the file says it does.
        bytes[9] = b'#';
        let text = err(check_bytes(dir.path(), &bytes));
        assert!(
            text.starts_with("header JSON: key must be a string at line 1 column 2"),
            "{text}"
        );
        bytes[8] = b' ';
        assert_eq!(
            err(check_bytes(dir.path(), &bytes)),
            "the header is not a JSON object: no `{` first"
        );
        let bytes = fs::read(&small).unwrap();
        let metadata = with_header(&bytes, |h| h["__metadata__"]["n"] = json!(1));
        let text = err(check_bytes(dir.path(), &metadata));
        assert!(
            text.starts_with("header JSON: invalid type: integer `1`, expected a string"),
            "{text}"
        );
    }

    #[test]
    fn overlapping_offsets_and_gaps_are_refused_naming_the_tensors() {
        let (dir, _, large) = real_files();
        let bytes = fs::read(&large).unwrap();
        let header = header_of(&bytes);
        let range = |name: &str| {
            let o = &header[name]["data_offsets"];
            (o[0].as_u64().unwrap(), o[1].as_u64().unwrap())
        };
        let mut names = ["layers.0.weight", "layers.1.weight", "layers.2.weight"];
        names.sort_by_key(|n| range(n));
        let [first, second, _] = names;
        let (_, first_end) = range(first);
        let (second_start, second_end) = range(second);
        // The second tensor moved back 4 bytes (its size kept): it overlaps the first.
        let overlapping = with_header(&bytes, |h| {
            h[second]["data_offsets"] = json!([second_start - 4, second_end - 4]);
        });
        assert_eq!(
            err(check_bytes(dir.path(), &overlapping)),
            format!(
                "tensors `{first}` (data_offsets 0..{first_end}) and `{second}` ({}..{}) overlap",
                second_start - 4,
                second_end - 4
            )
        );
        // Moved forward 4 bytes: 4 bytes of the data belong to no tensor.
        let gap = with_header(&bytes, |h| {
            h[second]["data_offsets"] = json!([second_start + 4, second_end + 4]);
        });
        assert_eq!(
            err(check_bytes(dir.path(), &gap)),
            format!(
                "data bytes {first_end}..{} belong to no tensor (a gap before `{second}`)",
                first_end + 4
            )
        );
        let twice = with_header(&bytes, |h| {
            h[second]["data_offsets"] = json!([0, first_end]);
        });
        assert_eq!(
            err(check_bytes(dir.path(), &twice)),
            format!(
                "tensors `{a}` (data_offsets 0..{first_end}) and `{b}` (0..{first_end}) overlap",
                a = first.min(second),
                b = first.max(second)
            )
        );
    }

    #[test]
    fn a_size_that_is_not_the_shape_is_refused() {
        let (dir, small, _) = real_files();
        let bytes = fs::read(&small).unwrap();
        let header = header_of(&bytes);
        let o = &header["model.embed_tokens.weight"]["data_offsets"];
        let (start, end) = (o[0].as_u64().unwrap(), o[1].as_u64().unwrap());
        let wider = with_header(&bytes, |h| {
            h["model.embed_tokens.weight"]["shape"] = json!([256, 65]);
        });
        assert_eq!(
            err(check_bytes(dir.path(), &wider)),
            format!(
                "tensor `model.embed_tokens.weight`: data_offsets {start}..{end} hold 65536 B, \
                 dtype F32 × shape [256, 65] needs 66560 B"
            )
        );
        let bf16 = with_header(&bytes, |h| {
            h["model.embed_tokens.weight"]["dtype"] = json!("BF16");
        });
        assert_eq!(
            err(check_bytes(dir.path(), &bf16)),
            format!(
                "tensor `model.embed_tokens.weight`: data_offsets {start}..{end} hold 65536 B, \
                 dtype BF16 × shape [256, 64] needs 32768 B"
            )
        );
        let unknown = with_header(&bytes, |h| h["step"]["dtype"] = json!("F7\u{1b}[2J"));
        assert_eq!(
            err(check_bytes(dir.path(), &unknown)),
            "tensor `step`: unknown dtype `F7\\u{1b}[2J`"
        );
        let no_shape = with_header(&bytes, |h| {
            h["step"].as_object_mut().unwrap().remove("shape");
        });
        assert_eq!(
            err(check_bytes(dir.path(), &no_shape)),
            "tensor `step`: no `shape`"
        );
        let three = with_header(&bytes, |h| h["step"]["data_offsets"] = json!([0, 8, 16]));
        assert_eq!(
            err(check_bytes(dir.path(), &three)),
            "tensor `step`: data_offsets has 3 numbers, not two (start and end)"
        );
    }

    /// Headers made by hand for what the numpy writer cannot make: sub-byte dtypes, shapes whose
    /// product overflows, backwards offsets, repeated names and fields.
    #[test]
    fn hand_made_headers_follow_the_crate_rules() {
        let check = |header: &str, data: u64| {
            check_header(header.as_bytes(), 8 + header.len() as u64 + data)
        };
        // F4: two elements a byte; F6: four elements in three bytes.
        check(
            r#"{"a":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]}}"#,
            3,
        )
        .unwrap();
        check(
            r#"{"a":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[0,3]}}"#,
            3,
        )
        .unwrap();
        check(
            r#"{"a":{"dtype":"F8_E8M0","shape":[4],"data_offsets":[0,4]}}"#,
            4,
        )
        .unwrap();
        check("{}", 0).unwrap();
        check(
            r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"x":[{}]}}   "#,
            2,
        )
        .unwrap();
        assert_eq!(
            err(check(
                r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#,
                2
            )),
            "tensor `a`: dtype F4 × shape [3] is 12 bits, not a whole number of bytes"
        );
        assert_eq!(
            err(check(
                r#"{"a":{"dtype":"F64","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}"#,
                0
            )),
            "tensor `a`: dtype F64 × shape [4294967296, 4294967296, 0] overflows 64 bits"
        );
        assert_eq!(
            err(check(
                r#"{"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,2]}}"#,
                2
            )),
            "tensor `a`: data_offsets 0..2 hold 2 B, dtype U8 × shape \
             [1, 1, 1, 1, 1, 1, 1, 1, … 10 dimensions in all] needs 1 B"
        );
        assert_eq!(
            err(check(
                r#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#,
                4
            )),
            "tensor `a`: data_offsets 4..0 end before they start"
        );
        assert_eq!(
            err(check(
                r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
                2
            )),
            "tensor `a` appears twice"
        );
        assert_eq!(
            err(check(
                r#"{"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
                1
            )),
            "tensor `a`: `dtype` appears twice"
        );
        assert_eq!(
            err(check(
                r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
                2
            )),
            "data bytes 0..1 belong to no tensor (a gap before `a`)"
        );
        assert!(
            err(check(r#"{"__metadata__":{},"__metadata__":{}}"#, 0)).contains("appears twice")
        );
        assert!(
            err(check(
                r#"{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}"#,
                0
            ))
            .starts_with("header JSON: invalid value: integer `-1`")
        );
        // A field nobody reads, nested 100,000 deep: skipped without recursion, so no stack
        // overflow.
        let deep = format!(
            r#"{{"a":{{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":{}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        check(&deep, 0).unwrap();
        // Eight tensors of 2^61 - 1 bytes each: their offsets fit in 64 bits, the file they
        // need does not. A truncation, counted without overflow.
        let piece = (1u64 << 61) - 1;
        let entries: Vec<String> = (0..8u64)
            .map(|i| {
                format!(
                    r#""t{i}":{{"dtype":"U8","shape":[{piece}],"data_offsets":[{},{}]}}"#,
                    i * piece,
                    (i + 1) * piece
                )
            })
            .collect();
        let far = format!("{{{}}}", entries.join(","));
        assert_eq!(
            err(check_header(far.as_bytes(), 1 << 40)),
            "truncated: the header and tensors need 18446744073709551615 B (16777216.0 TiB), \
             the file has 1099511627776 B (1.0 TiB)"
        );
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("model.safetensors");
        crate::files::make_fifo(&fifo);
        assert_eq!(
            err(check_file(&fifo, DEFAULT_MAX_HEADER)),
            "it is a FIFO, not a regular file"
        );
        assert_eq!(
            err(check_file(&dir.path().join("absent"), DEFAULT_MAX_HEADER)),
            "cannot read it: no such file or directory"
        );
    }
}
