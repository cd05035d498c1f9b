//! Byte offsets into a template turned into the line and column an editor shows.
//!
//! Columns count characters, not bytes, so `grüße` moves the next column by five. A line ends
//! at `\n`, at `\r\n`, or at a lone `\r`, as editors treat files from other systems.

use crate::config::Pos;

pub(super) struct Lines<'a> {
    text: &'a str,
    /// The byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            let ends_line = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
            if ends_line {
                starts.push(i + 1);
            }
        }
        Lines { text, starts }
    }

    /// The 1-based line and column of the character at `offset`.
    pub(super) fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |before| before.chars().count());
        Pos { line, col: col + 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> Pos {
        Lines::new(text).pos(text.find(needle).expect("needle"))
    }

    #[test]
    fn lines_and_columns_are_one_based() {
        assert_eq!(at("abc", "a"), Pos { line: 1, col: 1 });
        assert_eq!(at("ab\ncd", "d"), Pos { line: 2, col: 2 });
    }

    #[test]
    fn crlf_and_lone_cr_end_lines_and_take_no_column() {
        assert_eq!(at("a\r\nbx", "x"), Pos { line: 2, col: 2 });
        assert_eq!(at("a\rbx", "x"), Pos { line: 2, col: 2 });
        assert_eq!(at("a\r\n\r\nx", "x"), Pos { line: 3, col: 1 });
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(at("grüße x", "x"), Pos { line: 1, col: 7 });
        assert_eq!(at("日本 x", "x"), Pos { line: 1, col: 4 });
        assert_eq!(at("\tx", "x"), Pos { line: 1, col: 2 });
    }
}
