//! YAML (and so JSON) read into a tree that remembers where every key and value came from.
//!
//! serde's derive loses positions as soon as enums or `flatten` are involved, and a config
//! error without a line number sends people hunting. So the file is read into [`Node`]s first and
//! validated by hand afterwards.

use std::collections::{HashMap, HashSet};
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A 1-based line and column in the config file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    Seq(Vec<Node>),
    /// Keys keep their own position so "unknown key" points at the key, not the value.
    Map(Vec<(String, Pos, Node)>),
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

/// Parses the first document of `text`. An empty file is `Null`.
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
        if builder.feed(event, span)? {
            break;
        }
    }
    Ok(builder.root.unwrap_or(Node {
        pos: Pos { line: 1, col: 1 },
        value: Value::Null,
    }))
}

enum Open {
    Seq(Pos, usize, Vec<Node>),
    /// Entries so far, the key waiting for its value, and the keys seen (a 1,000-check file
    /// must not scan every earlier key for duplicates).
    Map(
        Pos,
        usize,
        Vec<(String, Pos, Node)>,
        Option<(String, Pos)>,
        HashSet<String>,
    ),
}

/// How many nodes aliases may copy in all: plenty for sharing a check's settings, far below
/// what a "billion laughs" file needs to exhaust memory.
const ALIAS_NODE_LIMIT: usize = 10_000;

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    /// Each anchor's node and its size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    alias_nodes: usize,
    root: Option<Node>,
}

fn node_count(node: &Node) -> usize {
    let mut count = 0;
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        count += 1;
        match &n.value {
            Value::Seq(items) => stack.extend(items),
            Value::Map(entries) => stack.extend(entries.iter().map(|(_, _, v)| v)),
            _ => {}
        }
    }
    count
}

impl Builder {
    /// Returns true once the first document is complete.
    fn feed(&mut self, event: Event<'_>, span: Span) -> Result<bool, SyntaxError> {
        let pos = Pos::from(span);
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                let value = if !quoted && matches!(&*text, "" | "~" | "null" | "Null" | "NULL") {
                    Value::Null
                } else {
                    Value::Scalar(text.into_owned())
                };
                self.finish(anchor, Node { pos, value })
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Open::Seq(pos, anchor, Vec::new()));
                Ok(false)
            }
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(Open::Map(pos, anchor, Vec::new(), None, HashSet::new()));
                Ok(false)
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Open::Seq(pos, anchor, items)) => self.finish(
                    anchor,
                    Node {
                        pos,
                        value: Value::Seq(items),
                    },
                ),
                _ => Err(unbalanced(pos)),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Open::Map(pos, anchor, entries, _, _)) => self.finish(
                    anchor,
                    Node {
                        pos,
                        value: Value::Map(entries),
                    },
                ),
                _ => Err(unbalanced(pos)),
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((node, size)) => {
                    self.alias_nodes += size;
                    if self.alias_nodes > ALIAS_NODE_LIMIT {
                        return Err(SyntaxError {
                            pos,
                            message: format!(
                                "aliases expand to more than {ALIAS_NODE_LIMIT} nodes; write the values out"
                            ),
                        });
                    }
                    let node = node.clone();
                    self.attach(node)
                }
                None => Err(SyntaxError {
                    pos,
                    message: "alias refers to an unknown anchor".into(),
                }),
            },
            Event::DocumentEnd => Ok(self.root.is_some()),
            _ => Ok(false),
        }
    }

    fn finish(&mut self, anchor: usize, node: Node) -> Result<bool, SyntaxError> {
        if anchor != 0 {
            let size = node_count(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        self.attach(node)
    }

    fn attach(&mut self, node: Node) -> Result<bool, SyntaxError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(false)
            }
            Some(Open::Seq(_, _, items)) => {
                items.push(node);
                Ok(false)
            }
            Some(Open::Map(_, _, entries, pending, seen)) => {
                match pending.take() {
                    None => match node.value {
                        Value::Scalar(key) => {
                            if !seen.insert(key.clone()) {
                                return Err(SyntaxError {
                                    pos: node.pos,
                                    message: format!("duplicate key `{key}`"),
                                });
                            }
                            *pending = Some((key, node.pos));
                        }
                        Value::Null => *pending = Some((String::new(), node.pos)),
                        _ => {
                            return Err(SyntaxError {
                                pos: node.pos,
                                message: "a mapping key must be a plain name".into(),
                            });
                        }
                    },
                    Some((key, key_pos)) => entries.push((key, key_pos, node)),
                }
                Ok(false)
            }
        }
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

    fn map(node: &Node) -> &Vec<(String, Pos, Node)> {
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
    fn empty_file_is_null() {
        assert!(matches!(parse("").unwrap().value, Value::Null));
    }
}
