//! Completeness: the shards a sharded checkpoint's index lists. `save_pretrained` writes
//! `model.safetensors.index.json` (or `pytorch_model.bin.index.json`, and the same under other
//! names in subfolders, as diffusers does) with a `weight_map` from each tensor to the file that
//! holds it, relative to the index's folder. A snapshot that lacks one of those files is
//! incomplete, whatever the other files hash to.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{Snapshot, add_problem};
use crate::config::manifest::stays_below;
use crate::echo;
use crate::files::{irregular, open_nonblocking};
use crate::text::io_phrase;

/// The largest index read. A weight map costs about 100 bytes a tensor, so 64 MiB holds over
/// half a million tensors, many times the largest released checkpoints. The file is streamed:
/// what stays in memory is the set of shard names, not the file.
pub const MAX_INDEX_BYTES: u64 = 64 << 20;

/// Bytes read from the index at a time.
const READ_BUFFER: usize = 64 << 10;

/// Whether a file is a weight map's index, by its name.
fn is_index(name: &str) -> bool {
    name.ends_with(".safetensors.index.json") || name.ends_with(".bin.index.json")
}

/// Adds to `snapshot.missing` every file an index lists that the snapshot does not hold, and to
/// `snapshot.problems` every index that cannot be read or names a path outside the snapshot.
/// `files` and `problems` are sorted by name, and stay so. An index already in `problems` is
/// not read: nothing vouches for it.
pub(super) fn find_missing(snapshot: &mut Snapshot) {
    let held = |name: &str| {
        snapshot
            .files
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .is_ok()
            || snapshot
                .problems
                .binary_search_by(|(n, _)| n.as_str().cmp(name))
                .is_ok()
    };
    let mut missing = BTreeSet::new();
    let mut problems = Vec::new();
    for index in snapshot.files.iter().filter(|f| is_index(&f.name)) {
        let listed = match read_index(&index.path) {
            Ok(listed) => listed,
            Err(text) => {
                problems.push((index.name.clone(), text));
                continue;
            }
        };
        let folder = index.name.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut outside = listed.iter().filter(|file| !stays_below(file));
        if let Some(first) = outside.next() {
            let more = outside.count();
            let also = if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            };
            problems.push((
                index.name.clone(),
                format!(
                    "its weight_map names `{}`{also}, not a path inside the snapshot",
                    echo::value(first)
                ),
            ));
        }
        for file in listed.iter().filter(|file| stays_below(file)) {
            let name = if folder.is_empty() {
                file.clone()
            } else {
                format!("{folder}/{file}")
            };
            if !held(&name) {
                missing.insert(name);
            }
        }
    }
    snapshot.missing.extend(missing);
    for (name, text) in problems {
        add_problem(&mut snapshot.problems, name, text);
    }
}

/// The files an index's `weight_map` lists, read from the file without holding it whole.
fn read_index(path: &Path) -> Result<BTreeSet<String>, String> {
    let file = open_nonblocking(path).map_err(|e| format!("cannot read it: {}", io_phrase(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read it: {}", io_phrase(&e)))?;
    if let Some(what) = irregular(meta.file_type()) {
        return Err(format!("it is {what}, not a regular file"));
    }
    if meta.len() > MAX_INDEX_BYTES {
        return Err(format!(
            "it is {} B, above the {MAX_INDEX_BYTES} B an index may hold",
            meta.len()
        ));
    }
    // The cap holds even if the file grows after the `fstat`.
    let reader = BufReader::with_capacity(READ_BUFFER, file.take(MAX_INDEX_BYTES));
    parse(&mut serde_json::Deserializer::from_reader(reader))
        .map_err(|e| format!("not a weight map: {e}"))
}

/// The files a weight map index lists (the fuzz entry): the distinct values of its
/// `weight_map`, as written.
pub fn weight_map_files(index: &[u8]) -> Result<BTreeSet<String>, serde_json::Error> {
    parse(&mut serde_json::Deserializer::from_slice(index))
}

fn parse<'de, R: serde_json::de::Read<'de>>(
    json: &mut serde_json::Deserializer<R>,
) -> Result<BTreeSet<String>, serde_json::Error> {
    let files = json.deserialize_map(Index)?;
    json.end()?;
    Ok(files)
}

/// The index object: `weight_map` kept, `metadata` and anything else skipped.
struct Index;

impl<'de> Visitor<'de> for Index {
    type Value = BTreeSet<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a `weight_map`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut files = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "weight_map" {
                map.next_value::<IgnoredAny>()?;
            } else if files.is_some() {
                return Err(de::Error::custom("`weight_map` appears twice"));
            } else {
                files = Some(map.next_value_seed(WeightMap)?);
            }
        }
        files.ok_or_else(|| de::Error::custom("no `weight_map`"))
    }
}

/// `weight_map`: tensor names skipped, each distinct file name kept once.
struct WeightMap;

impl<'de> DeserializeSeed<'de> for WeightMap {
    type Value = BTreeSet<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for WeightMap {
    type Value = BTreeSet<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of tensor names to file names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut files = BTreeSet::new();
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(FileName { files: &mut files })?;
        }
        Ok(files)
    }
}

/// One file name, added to the set only when new: a weight map repeats each shard's name for
/// every tensor in it.
struct FileName<'a> {
    files: &'a mut BTreeSet<String>,
}

impl<'de> DeserializeSeed<'de> for FileName<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for FileName<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a file name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<(), E> {
        if !self.files.contains(name) {
            self.files.insert(name.to_string());
        }
        Ok(())
    }
}
