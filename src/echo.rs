//! Text from a file or a peer, made safe to print back: control characters escaped (a cursor-up
//! or a colour change in a config value must not rewrite the terminal) and the length capped (a
//! 1 MiB value must not flood a log or a termination message).

use std::fmt;

/// Characters of one echoed value: enough for any URL or name worth reading.
pub const VALUE_LIMIT: usize = 200;
/// Characters of an echoed path: the longest path the kernel takes, so a real one is never cut.
pub const PATH_LIMIT: usize = 4096;

/// `text` as it may be printed: at most `VALUE_LIMIT` characters, escaped.
pub fn value(text: &str) -> Echo<'_> {
    capped(text, VALUE_LIMIT)
}

/// `text` as it may be printed: at most `limit` characters, escaped. Past the cap, the total
/// length is said, so a reader knows what was left out.
pub fn capped(text: &str, limit: usize) -> Echo<'_> {
    Echo { text, limit }
}

pub struct Echo<'a> {
    text: &'a str,
    limit: usize,
}

impl fmt::Display for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shown, c) in self.text.chars().enumerate() {
            if shown == self.limit {
                return write!(f, "… ({} bytes in all)", self.text.len());
            }
            if is_unsafe(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Whether a character can move the cursor, rewrite a line or reorder text on a terminal or in
/// a viewer: C0 and C1 controls, DEL, and the bidirectional and line-separating formats. Text
/// from outside carrying them could forge a line ("gate passed") where it is shown.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `text` with unsafe characters written out (`\u{1b}`, `\r`, `\u{202e}`), uncapped; line
/// breaks and tabs are kept when `keep_lines`.
pub fn escaped(text: &str, keep_lines: bool) -> std::borrow::Cow<'_, str> {
    let kept = |c: char| keep_lines && (c == '\n' || c == '\t');
    if !text.chars().any(|c| is_unsafe(c) && !kept(c)) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) && !kept(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_keeps_the_rest() {
        assert_eq!(value("a\u{1b}[1Ab\tc\n").to_string(), "a\\u{1b}[1Ab\\tc\\n");
        assert_eq!(value("ünïcode ✔").to_string(), "ünïcode ✔");
        assert_eq!(value("x\u{202e}y").to_string(), "x\\u{202e}y");
        assert_eq!(escaped("a\r\n\tb\u{2028}", true), "a\\r\n\tb\\u{2028}");
        assert_eq!(escaped("a\n", false), "a\\n");
    }

    #[test]
    fn caps_by_characters_and_says_how_long_the_whole_was() {
        let long = "é".repeat(1 << 20);
        let shown = value(&long).to_string();
        assert!(shown.starts_with(&"é".repeat(VALUE_LIMIT)), "{shown}");
        assert!(shown.ends_with("… (2097152 bytes in all)"), "{shown}");
        assert_eq!(capped("abc", 3).to_string(), "abc");
        assert_eq!(capped("abcd", 3).to_string(), "abc… (4 bytes in all)");
    }
}
