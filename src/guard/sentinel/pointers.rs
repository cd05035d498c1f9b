//! The values at a few JSON pointers, found while the document is parsed: only what a pointer
//! reaches becomes a `Value`; every other member is skipped as it goes by, so a 1 MiB answer
//! costs its bytes, not a tree several times their size.
//!
//! The answers are those of `Value::pointer` on the parsed document, duplicate keys included
//! (the last one counts). A skipped member is only checked for syntax, so it may nest deeper
//! than serde_json's 128 levels, or hold a number past `f64`, where a parsed tree would fail.

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// For each pointer, the value there; `Err` when `json` is not one JSON document.
pub fn values_at(json: &str, pointers: &[&str]) -> Result<Vec<Option<Value>>, serde_json::Error> {
    let parsed: Vec<Option<Vec<String>>> = pointers.iter().map(|p| tokens(p)).collect();
    let active = (0..parsed.len()).filter(|&i| parsed[i].is_some()).collect();
    let paths: Vec<Vec<String>> = parsed.into_iter().map(Option::unwrap_or_default).collect();
    let mut found = vec![None; pointers.len()];
    let mut de = serde_json::Deserializer::from_str(json);
    Walk {
        paths: &paths,
        active,
        depth: 0,
        found: &mut found,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// `/data/*/id` → `("/data", "/id")`: the list a `*` stands in, and the pointer into each of
/// its elements; `None` without a `*` token.
pub fn split_star(pointer: &str) -> Option<(&str, &str)> {
    let mut at = 0;
    for token in pointer.split('/').skip(1) {
        let start = at;
        at += 1 + token.len();
        if token == "*" {
            return Some((&pointer[..start], &pointer[at..]));
        }
    }
    None
}

/// The value at `pointer` (RFC 6901) inside `value`.
pub fn at<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    descend(value, &tokens(pointer)?)
}

/// `/a~1b/0` → `["a/b", "0"]`, unescaped as RFC 6901 says (`~1` first, then `~0`); `None` for
/// a pointer that does not start with `/`, which points nowhere.
fn tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// An array index as serde_json reads one: digits, no sign, no leading zero.
fn index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// The rest of a path, inside a value already built.
fn descend<'v>(value: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    tokens.iter().try_fold(value, |target, token| match target {
        Value::Object(map) => map.get(token),
        Value::Array(list) => index(token).and_then(|i| list.get(i)),
        _ => None,
    })
}

/// One value of the document, with the pointers whose path runs through it.
struct Walk<'a> {
    paths: &'a [Vec<String>],
    active: Vec<usize>,
    depth: usize,
    found: &'a mut [Option<Value>],
}

impl Walk<'_> {
    fn child(&mut self, active: Vec<usize>) -> Walk<'_> {
        Walk {
            paths: self.paths,
            active,
            depth: self.depth + 1,
            found: self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        if self.active.is_empty() {
            de.deserialize_ignored_any(IgnoredAny)?;
            return Ok(());
        }
        // A pointer ends here: this value is wanted, and any pointer going deeper is read
        // from it.
        if self
            .active
            .iter()
            .any(|&p| self.paths[p].len() == self.depth)
        {
            let value = Value::deserialize(de)?;
            for &p in &self.active {
                self.found[p] = descend(&value, &self.paths[p][self.depth..]).cloned();
            }
            return Ok(());
        }
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    // A scalar where a path goes on: nothing there.
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let here: Vec<usize> = self
                .active
                .iter()
                .copied()
                .filter(|&p| self.paths[p][self.depth] == key)
                .collect();
            if here.is_empty() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            // Of duplicate keys, the last is the one a parsed document keeps.
            for &p in &here {
                self.found[p] = None;
            }
            map.next_value_seed(self.child(here))?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        for at in 0.. {
            let here: Vec<usize> = self
                .active
                .iter()
                .copied()
                .filter(|&p| index(&self.paths[p][self.depth]) == Some(at))
                .collect();
            let more = if here.is_empty() {
                seq.next_element::<IgnoredAny>()?.is_some()
            } else {
                seq.next_element_seed(self.child(here))?.is_some()
            };
            if !more {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_splits_a_pointer_at_its_list() {
        assert_eq!(split_star("/data/*/id"), Some(("/data", "/id")));
        assert_eq!(split_star("/*/name"), Some(("", "/name")));
        assert_eq!(split_star("/models/*"), Some(("/models", "")));
        assert_eq!(split_star("/a/*b/c"), None);
    }

    /// The tree-building answer this module must agree with.
    fn parsed(json: &str, pointers: &[&str]) -> Result<Vec<Option<Value>>, serde_json::Error> {
        let doc: Value = serde_json::from_str(json)?;
        Ok(pointers.iter().map(|p| doc.pointer(p).cloned()).collect())
    }

    fn agree(json: &str, pointers: &[&str]) {
        match (values_at(json, pointers), parsed(json, pointers)) {
            (Ok(walked), Ok(built)) => assert_eq!(walked, built, "{json} at {pointers:?}"),
            (Err(_), Err(_)) => {}
            (walked, built) => panic!("{json}: walked {walked:?}, built {built:?}"),
        }
    }

    #[test]
    fn pointers_into_objects_arrays_and_escaped_keys() {
        let json = r#"{"choices":[{"text":" 4","index":0},{"text":"x"}],"a/b":{"c~d":1,"~1":2},"":{"":3},"01":4,"n":null}"#;
        let pointers = [
            "/choices/0/text",
            "/choices/1",
            "/choices/2",
            "/choices/01",
            "/choices/-",
            "/choices/+1",
            "/a~1b/c~0d",
            "/a~1b/~01",
            "/a~1b",
            "/",
            "//",
            "/01",
            "/n",
            "/n/x",
            "/choices/0/text/0",
            "",
            "no-slash",
        ];
        let walked = values_at(json, &pointers).unwrap();
        assert_eq!(walked[0], Some(Value::from(" 4")));
        assert_eq!(walked[6], Some(Value::from(1)));
        assert_eq!(walked[7], Some(Value::from(2)));
        assert_eq!(walked[11], Some(Value::from(4)));
        assert_eq!(walked[12], Some(Value::Null));
        agree(json, &pointers);
    }

    #[test]
    fn duplicate_keys_and_nested_pointers_agree_with_a_parsed_document() {
        for json in [
            r#"{"a":{"b":1},"a":{"c":2}}"#,
            r#"{"a":{"b":1},"a":2}"#,
            r#"{"a":[1,2],"a":[3]}"#,
            r#"{"a":{"b":{"c":[true]}}}"#,
        ] {
            agree(json, &["/a/b", "/a/c", "/a", "/a/1", "/a/b/c/0", "/a/0"]);
        }
    }

    #[test]
    fn what_is_not_one_json_document_is_refused() {
        for json in ["", "{", r#"{"a":1} x"#, r#"{"a":}"#, "[1,]", "nul"] {
            assert!(values_at(json, &["/a"]).is_err(), "{json}");
            assert!(values_at(json, &[]).is_err(), "{json}");
        }
        assert!(values_at(" [1] ", &["/0"]).is_ok());
    }

    /// xorshift64*: the same documents on every run, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const KEYS: [&str; 9] = ["a", "b", "a/b", "c~d", "~1", "", "0", "01", "é"];

    fn random_value(rng: &mut Rng, depth: usize) -> Value {
        match rng.below(if depth > 4 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::from(rng.below(2) == 0),
            2 => Value::from(rng.next() as i64 >> rng.below(64)),
            3 => Value::from((rng.next() % 10_000) as f64 / 7.0),
            4 => Value::from(KEYS[rng.below(KEYS.len())]),
            5 => (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
            _ => Value::Object(
                (0..rng.below(4))
                    .map(|_| {
                        let key = KEYS[rng.below(KEYS.len())].to_string();
                        (key, random_value(rng, depth + 1))
                    })
                    .collect(),
            ),
        }
    }

    fn escaped(token: &str) -> String {
        token.replace('~', "~0").replace('/', "~1")
    }

    /// Pointers to every value of the document, and near misses.
    fn pointers_into(value: &Value, at: &str, out: &mut Vec<String>) {
        out.push(at.to_string());
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    pointers_into(child, &format!("{at}/{}", escaped(key)), out);
                }
                out.push(format!("{at}/missing"));
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    pointers_into(child, &format!("{at}/{i}"), out);
                }
                out.push(format!("{at}/{}", items.len()));
                out.push(format!("{at}/00"));
            }
            _ => out.push(format!("{at}/0")),
        }
    }

    #[test]
    fn agrees_with_value_pointer_over_many_documents() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3_000 {
            let doc = random_value(&mut rng, 0);
            let mut pointers = Vec::new();
            pointers_into(&doc, "", &mut pointers);
            let pointers: Vec<&str> = pointers.iter().map(String::as_str).collect();
            let json = serde_json::to_string(&doc).unwrap();
            let pretty = serde_json::to_string_pretty(&doc).unwrap();
            for text in [&json, &pretty] {
                agree(text, &pointers);
                // A few at a time, as a query lists them.
                for chunk in pointers.chunks(3) {
                    agree(text, chunk);
                }
            }
            // Cut short: both must refuse it.
            if let Some(cut) = json.get(..rng.below(json.len())) {
                agree(cut, &pointers);
            }
        }
    }
}
