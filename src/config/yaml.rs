//! YAML (and so JSON) read into a tree that remembers where every key and value came from.
//!
//! serde's derive loses positions as soon as enums or `flatten` are involved, and a config
//! error without a line number sends people hunting. So the file is read into [`Node`]s first and
//! validated by hand afterwards.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::echo;

/// A 1-based line and column in the config file.
/// Ordered by line, then column: problems are reported in the order they appear in the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl From<Span> for Pos {
    fn from(span: Span) -> Self {
        Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Clone, Debug)]
pub enum Value {
    Null,
    /// Text; a quoted `"null"` stays text, only a plain one is null.
    Scalar(String),
    /// Collections are shared: an alias is one more handle on its anchor's node, not a copy.
    Seq(Rc<Vec<Node>>),
    /// Keys keep their own position so "unknown key" points at the key, not the value.
    Map(Rc<Vec<(String, Pos, Node)>>),
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing",
            Value::Scalar(_) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

#[derive(Debug)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Parses `text`, which must hold one document; an empty file is `Null`.
///
/// Time and memory are linear in the length of `text`: aliases share their anchor's node, what
/// they add to the tree is capped ([`ALIAS_NODE_LIMIT`], [`ALIAS_TEXT_LIMIT`]), and nesting is
/// capped ([`MAX_DEPTH`]) so nothing that walks the tree, dropping it included, runs out of stack.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| SyntaxError {
            pos: Pos {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            message: e.info().to_string(),
        })?;
        builder.feed(event, span)?;
    }
    Ok(builder.root.unwrap_or(Node {
        pos: Pos { line: 1, col: 1 },
        value: Value::Null,
    }))
}

/// How many nodes aliases may add in all: plenty for sharing a check's settings, far below
/// what a "billion laughs" file needs to exhaust memory or time.
pub const ALIAS_NODE_LIMIT: usize = 10_000;
/// How many bytes of text aliases may add in all: ten thousand aliases of a 1 MiB value would
/// otherwise make 10 GB of it.
pub const ALIAS_TEXT_LIMIT: usize = 1 << 20;
/// The longest mapping key, in characters: YAML's own limit for a plain key, held for a
/// `? key` too. A problem under a key names it in its field, so a longer key, repeated by
/// thousands of problems, would take memory out of all proportion to the file.
pub const MAX_KEY_CHARS: usize = 1024;
/// How deep collections may nest. A config needs six levels; the limit keeps every walk over
/// the tree (and its drop) far from the end of the stack.
pub const MAX_DEPTH: usize = 64;

/// What a node holds, counted as it is built: what an alias of it adds, and how deep it goes.
#[derive(Clone, Copy, Default)]
struct Size {
    nodes: usize,
    text: usize,
    height: usize,
}

impl Size {
    fn add(&mut self, child: Size) {
        self.nodes += child.nodes;
        self.text += child.text;
        self.height = self.height.max(child.height);
    }

    /// This size, wrapped in one more collection.
    fn wrapped(self) -> Size {
        Size {
            nodes: self.nodes + 1,
            text: self.text,
            height: self.height + 1,
        }
    }
}

/// A collection being read.
struct Open {
    pos: Pos,
    anchor: usize,
    /// What the children hold so far.
    size: Size,
    body: Body,
}

enum Body {
    Seq(Vec<Node>),
    Map(OpenMap),
}

#[derive(Default)]
struct OpenMap {
    entries: Vec<(String, Pos, Node)>,
    key: Option<Key>,
    /// The keys written so far (a 1,000-check file must not scan every earlier key for
    /// duplicates).
    seen: HashSet<String>,
    /// The mappings a `<<` names, earliest first, and where in `entries` it stood.
    merges: Vec<Node>,
    merge_at: Option<usize>,
}

/// A key waiting for its value.
enum Key {
    Named(String, Pos),
    /// The plain key `<<`: its value's entries are merged in.
    Merge(Pos),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    /// Each anchor's node and its size.
    anchors: HashMap<usize, (Node, Size)>,
    /// What aliases have added so far.
    aliased: Size,
    root: Option<Node>,
    /// Where a document after the first starts.
    later_document: Option<Pos>,
}

impl Builder {
    fn feed(&mut self, event: Event<'_>, span: Span) -> Result<(), SyntaxError> {
        let pos = Pos::from(span);
        match event {
            Event::DocumentStart(_) => {
                if self.root.is_some() {
                    self.later_document = Some(pos);
                }
                Ok(())
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = matches!(style, ScalarStyle::Plain);
                let empty = plain && matches!(&*text, "" | "~" | "null" | "Null" | "NULL");
                // A `---` with nothing after it drops nothing; a document with content would
                // be dropped in silence.
                if !empty {
                    self.one_document()?;
                } else if self.later_document.is_some() {
                    return Ok(());
                }
                if plain && anchor == 0 && text == "<<" && self.awaits_key() {
                    if let Some(Open {
                        body: Body::Map(map),
                        ..
                    }) = self.stack.last_mut()
                    {
                        map.key = Some(Key::Merge(pos));
                    }
                    return Ok(());
                }
                let size = Size {
                    nodes: 1,
                    text: text.len(),
                    height: 0,
                };
                let value = if empty {
                    Value::Null
                } else {
                    Value::Scalar(text.into_owned())
                };
                self.finish(anchor, Node { pos, value }, size)
            }
            Event::SequenceStart(anchor, _) => {
                self.one_document()?;
                self.open(pos, anchor, Body::Seq(Vec::new()))
            }
            Event::MappingStart(anchor, _) => {
                self.one_document()?;
                self.open(pos, anchor, Body::Map(OpenMap::default()))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else {
                    return Err(unbalanced(pos));
                };
                let value = match open.body {
                    Body::Seq(items) => Value::Seq(Rc::new(items)),
                    Body::Map(map) => Value::Map(Rc::new(map.close())),
                };
                let node = Node {
                    pos: open.pos,
                    value,
                };
                self.finish(open.anchor, node, open.size.wrapped())
            }
            Event::Alias(id) => {
                self.one_document()?;
                let Some((node, size)) = self.anchors.get(&id) else {
                    return Err(SyntaxError {
                        pos,
                        message: "alias refers to an unknown anchor".into(),
                    });
                };
                let (node, size) = (node.clone(), *size);
                self.aliased.add(size);
                if self.aliased.nodes > ALIAS_NODE_LIMIT || self.aliased.text > ALIAS_TEXT_LIMIT {
                    return Err(SyntaxError {
                        pos,
                        message: format!(
                            "aliases expand to more than {ALIAS_NODE_LIMIT} nodes or {} MiB of text; write the values out",
                            ALIAS_TEXT_LIMIT >> 20
                        ),
                    });
                }
                if self.stack.len() + size.height > MAX_DEPTH {
                    return Err(too_deep(pos));
                }
                self.attach(node, size)
            }
            _ => Ok(()),
        }
    }

    /// Refuses content in a document after the first.
    fn one_document(&self) -> Result<(), SyntaxError> {
        match self.later_document {
            Some(pos) => Err(SyntaxError {
                pos,
                message: "a second YAML document starts here; bootgate reads one document per file, so remove the `---` line or give this document a file of its own".into(),
            }),
            None => Ok(()),
        }
    }

    fn awaits_key(&self) -> bool {
        matches!(self.stack.last(), Some(Open { body: Body::Map(map), .. }) if map.key.is_none())
    }

    fn open(&mut self, pos: Pos, anchor: usize, body: Body) -> Result<(), SyntaxError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(too_deep(pos));
        }
        self.stack.push(Open {
            pos,
            anchor,
            size: Size::default(),
            body,
        });
        Ok(())
    }

    fn finish(&mut self, anchor: usize, node: Node, size: Size) -> Result<(), SyntaxError> {
        if anchor != 0 {
            // Cheap: a collection is shared, not copied.
            self.anchors.insert(anchor, (node.clone(), size));
        }
        self.attach(node, size)
    }

    fn attach(&mut self, node: Node, size: Size) -> Result<(), SyntaxError> {
        let Some(open) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        open.size.add(size);
        let map = match &mut open.body {
            Body::Seq(items) => {
                items.push(node);
                return Ok(());
            }
            Body::Map(map) => map,
        };
        match map.key.take() {
            None => {
                let key = match node.value {
                    Value::Scalar(key) => key,
                    Value::Null => String::new(),
                    _ => {
                        return Err(SyntaxError {
                            pos: node.pos,
                            message: "a mapping key must be a plain name".into(),
                        });
                    }
                };
                let chars = key.chars().count();
                if chars > MAX_KEY_CHARS {
                    return Err(SyntaxError {
                        pos: node.pos,
                        message: format!(
                            "a mapping key is at most {MAX_KEY_CHARS} characters; this one has {chars}"
                        ),
                    });
                }
                if !map.seen.insert(key.clone()) {
                    return Err(SyntaxError {
                        pos: node.pos,
                        message: format!("duplicate key `{}`", echo::value(&key)),
                    });
                }
                map.key = Some(Key::Named(key, node.pos));
            }
            Some(Key::Named(key, key_pos)) => map.entries.push((key, key_pos, node)),
            Some(Key::Merge(key_pos)) => map.merge(key_pos, node)?,
        }
        Ok(())
    }
}

impl OpenMap {
    /// `<<: *base` or `<<: [*a, *b]`: YAML 1.1 merge keys.
    fn merge(&mut self, key_pos: Pos, node: Node) -> Result<(), SyntaxError> {
        if self.merge_at.is_some() {
            return Err(SyntaxError {
                pos: key_pos,
                message: "duplicate key `<<`; merge several mappings with one list: `<<: [*a, *b]`"
                    .into(),
            });
        }
        self.merge_at = Some(self.entries.len());
        let sources: Vec<Node> = match &node.value {
            Value::Map(_) => vec![node],
            Value::Seq(items) => items.to_vec(),
            _ => return Err(not_mergeable(&node)),
        };
        if let Some(bad) = sources.iter().find(|s| !matches!(s.value, Value::Map(_))) {
            return Err(not_mergeable(bad));
        }
        self.merges = sources;
        Ok(())
    }

    /// The entries in order, merged ones where the `<<` stood. A key written in the mapping wins
    /// over a merged one, and an earlier merged mapping over a later one.
    fn close(mut self) -> Vec<(String, Pos, Node)> {
        let Some(at) = self.merge_at else {
            return self.entries;
        };
        let mut merged = Vec::new();
        for source in &self.merges {
            if let Value::Map(entries) = &source.value {
                for (key, pos, value) in entries.iter() {
                    if self.seen.insert(key.clone()) {
                        merged.push((key.clone(), *pos, value.clone()));
                    }
                }
            }
        }
        self.entries.splice(at..at, merged);
        self.entries
    }
}

fn not_mergeable(node: &Node) -> SyntaxError {
    SyntaxError {
        pos: node.pos,
        message: format!(
            "`<<` merges mappings, and this is {}; write `<<: *anchor` or `<<: [*a, *b]`",
            node.type_name()
        ),
    }
}

fn too_deep(pos: Pos) -> SyntaxError {
    SyntaxError {
        pos,
        message: format!("nested deeper than {MAX_DEPTH} levels"),
    }
}

fn unbalanced(pos: Pos) -> SyntaxError {
    SyntaxError {
        pos,
        message: "unbalanced collection".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &[(String, Pos, Node)] {
        match &node.value {
            Value::Map(m) => m,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let root = parse("deadline: 10m\nchecks:\n  a: {kind: tcp, afer: [b]}\n").unwrap();
        let top = map(&root);
        assert_eq!(top[0].0, "deadline");
        assert_eq!(top[0].1, Pos { line: 1, col: 1 });
        let checks = map(&top[1].2);
        let a = map(&checks[0].2);
        assert_eq!(a[1].0, "afer");
        assert_eq!(a[1].1, Pos { line: 3, col: 18 });
    }

    #[test]
    fn reads_json() {
        let root = parse(r#"{"deadline": "5m", "checks": {"x": {"kind": "tcp"}}}"#).unwrap();
        assert_eq!(map(&root).len(), 2);
    }

    #[test]
    fn quoted_scalars_stay_strings_and_nulls_are_null() {
        let root = parse("a: \"null\"\nb: null\nc: ~\n").unwrap();
        let m = map(&root);
        assert!(matches!(m[0].2.value, Value::Scalar(ref s) if s == "null"));
        assert!(matches!(m[1].2.value, Value::Null));
        assert!(matches!(m[2].2.value, Value::Null));
    }

    #[test]
    fn rejects_duplicate_keys_and_bad_syntax_with_a_position() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
        assert!(err.message.contains("duplicate key"));
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1);
    }

    #[test]
    fn resolves_aliases() {
        let root = parse("base: &b {kind: tcp}\nother: *b\n").unwrap();
        assert!(matches!(map(&root)[1].2.value, Value::Map(_)));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("aliases expand"), "{}", err.message);
    }

    #[test]
    fn one_document_per_file() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 2, col: 1 });
        assert!(
            err.message.contains("a second YAML document"),
            "{}",
            err.message
        );
        let err = parse("---\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 2, col: 1 });
        // Markers around one document, and empty documents after it, drop nothing.
        assert_eq!(map(&parse("---\na: 1\n...\n---\n").unwrap()).len(), 1);
    }

    #[test]
    fn merge_keys_follow_yaml_1_1() {
        let root =
            parse("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  w: 0\n  <<: [*a, *b]\n  x: 3\n")
                .unwrap();
        let c: Vec<(&str, String, Pos)> = map(&map(&root)[2].2)
            .iter()
            .map(|(k, p, v)| match &v.value {
                Value::Scalar(s) => (k.as_str(), s.clone(), *p),
                other => panic!("{other:?}"),
            })
            .collect();
        // Own keys win, then earlier mappings; merged keys stand where `<<` did and keep the
        // position they were written at.
        assert_eq!(
            c,
            [
                ("w", "0".into(), Pos { line: 4, col: 3 }),
                ("y", "1".into(), Pos { line: 1, col: 14 }),
                ("z", "2".into(), Pos { line: 2, col: 14 }),
                ("x", "3".into(), Pos { line: 6, col: 3 }),
            ]
        );
        // A quoted `<<` is an ordinary key.
        assert_eq!(map(&parse("\"<<\": 1\n").unwrap())[0].0, "<<");
    }

    #[test]
    fn merge_keys_take_mappings_once() {
        let err = parse("a: &a [1]\nb: {<<: *a}\n").unwrap_err();
        assert!(err.message.contains("this is a scalar"), "{}", err.message);
        assert_eq!(err.pos, Pos { line: 1, col: 8 });
        let err = parse("b: {<<: [[x]]}\n").unwrap_err();
        assert!(err.message.contains("this is a list"), "{}", err.message);
        let err = parse("a: &a {x: 1}\nb: {<<: *a, <<: *a}\n").unwrap_err();
        assert!(
            err.message.contains("duplicate key `<<`"),
            "{}",
            err.message
        );
        let err = parse("b: {x: 1, x: 2}\n").unwrap_err();
        assert!(err.message.contains("duplicate key `x`"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_refused_before_it_can_exhaust_the_stack() {
        let err = parse(&format!("{}x\n", "- ".repeat(100_000))).unwrap_err();
        assert!(
            err.message.contains("nested deeper than 64"),
            "{}",
            err.message
        );
        assert!(parse(&format!("{}x\n", "- ".repeat(MAX_DEPTH))).is_ok());
        // An alias cannot carry a deep anchor deeper still.
        let deep = format!("{}x{}", "[".repeat(40), "]".repeat(40));
        let text = format!("a: &a {deep}\nb: {}*a{}\n", "[".repeat(40), "]".repeat(40));
        assert!(parse(&text).unwrap_err().message.contains("nested deeper"));
    }

    #[test]
    fn keys_are_held_to_yaml_s_limit_for_plain_keys() {
        let key = "k".repeat(MAX_KEY_CHARS);
        assert!(parse(&format!("? {key}\n: 1\n")).is_ok());
        let err = parse(&format!("? {key}k\n: 1\n")).unwrap_err();
        assert_eq!(err.pos, Pos { line: 1, col: 3 });
        assert!(err.message.contains("at most 1024"), "{}", err.message);
        // An alias is no way around it.
        let err = parse(&format!("a: &k \"{key}k\"\nb: {{*k : 1}}\n")).unwrap_err();
        assert!(err.message.contains("at most 1024"), "{}", err.message);
    }

    #[test]
    fn aliases_of_long_text_are_capped() {
        let text = format!(
            "a: &a \"{}\"\nb: [{}]\n",
            "x".repeat(1 << 16),
            vec!["*a"; 17].join(", ")
        );
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("MiB of text"), "{}", err.message);
    }

    #[test]
    fn empty_file_is_null() {
        assert!(matches!(parse("").unwrap().value, Value::Null));
    }
}
