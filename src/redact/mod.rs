//! Keeps secret values out of everything bootgate shows or stores.
//!
//! Text from outside (an exec's stderr, an HTTP body) can echo a token back — a 401 page often
//! does, and not always as it was sent: URL-decoded, percent-encoded, JSON-escaped, inside
//! base64. So it is decoded before matching, a secret found in any layer hides the span of the
//! original that wrote it, and the cleaned text has its control characters written out. Every
//! sink (log, status.json, termination message, report, `/readyz`) cleans again as it writes,
//! with every secret known by then.

mod base64;
mod decode;
mod follow;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, RwLock};

pub use follow::Source;
use follow::{ASK_LIMIT, Follow};

pub const REDACTED: &str = "[redacted]";
/// Longest excerpt of outside text kept for a reason.
pub const EXCERPT_LIMIT: usize = 200;
/// How much of outside text a reason draws on: this many bytes at the end it quotes, plus
/// room for a secret cut at the edge.
pub const WINDOW: usize = 4096;
/// Shorter `${VAR}` values, and shorter forms derived from a value (trimmed, decoded), are not
/// hidden: hiding a port like `1` would garble every message that has a 1 in it, and protects
/// nothing.
pub const MIN_HIDDEN_LEN: usize = 4;
/// Lines of a multi-line secret shorter than this are not hidden on their own (a PEM key's
/// `-----` framing is no secret).
const MIN_LINE_LEN: usize = 8;
/// The most bytes one byte of a secret takes once encoded (`\u0041`): how far past a cut an
/// encoded secret can reach.
const GROWTH: usize = 6;
/// Values longer than this are matched as written and as decoded, but not looked for inside
/// base64, nor assumed to be cut inside an encoded form: tokens and passwords are far shorter,
/// and a longer secret is a file whose lines are hidden one by one.
const ENCODED_MAX: usize = 4096;

/// Which end of outside text a reason quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The start of an answer's body.
    Head,
    /// The last lines a command printed.
    Tail,
}

#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    known: RwLock<Known>,
    follow: Arc<Follow>,
}

/// Every form of every secret known so far, indexed so that one pass over a text finds them
/// all, however many there are: a PEM key alone is thirty forms.
#[derive(Default)]
struct Known {
    values: HashSet<String>,
    forms: Vec<Form>,
    /// Forms by their first [`PREFIX`] bytes, read as a little-endian number.
    by_prefix: HashMap<u32, Vec<usize>>,
    /// One bit per hashed prefix: most positions of a text are ruled out by one bit test.
    filter: Option<Box<[u64; FILTER_WORDS]>>,
    /// Forms too short to have a prefix, searched for one by one.
    short: Vec<usize>,
    shortest: usize,
    /// How far from a cut a partial secret can reach.
    reach: usize,
}

struct Form {
    bytes: Vec<u8>,
    /// A run inside base64: the match is widened to the whole run.
    base64: bool,
}

const PREFIX: usize = 4;
const FILTER_WORDS: usize = 1 << 10;

/// The word and the bit of `prefix` in the filter.
fn filter_bit(prefix: u32) -> (usize, u64) {
    let hash = prefix.wrapping_mul(0x9e37_79b1) >> 16;
    ((hash >> 6) as usize % FILTER_WORDS, 1 << (hash & 63))
}

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let r = Redactor::default();
        for v in values {
            r.add(v);
        }
        r
    }

    /// Remembers a value to hide from now on (a secret file read at run time).
    pub fn add(&self, value: String) {
        if value.is_empty() {
            return;
        }
        let mut known = self.inner.known.write().unwrap_or_else(|e| e.into_inner());
        if known.values.insert(value.clone()) {
            known.learn(&value);
        }
    }

    /// Starts following `source`: every [`Redactor::outside`] asks it first for values that
    /// appeared since. A redactor follows one source, the first it is given.
    pub fn follow(&self, source: impl Source) {
        self.inner.follow.start(Box::new(source));
    }

    /// Asks the source followed (if any) for new values, on a blocking thread. False when the
    /// answer did not come in time: a secret may be unknown, and outside text must not be shown.
    pub async fn refresh(&self) -> bool {
        let redactor = self.clone();
        self.inner
            .follow
            .ask(move |values| values.into_iter().for_each(|v| redactor.add(v)))
            .await
    }

    /// How much of outside text a quote is drawn from, at the end it shows: the window and a
    /// secret's reach past it. A reader need keep no more.
    pub fn quoted_bytes(&self) -> usize {
        WINDOW + self.reach()
    }

    /// How far into outside text, from where it was cut, a secret cut in half can reach.
    pub fn reach(&self) -> usize {
        self.known().reach
    }

    fn known(&self) -> std::sync::RwLockReadGuard<'_, Known> {
        self.inner.known.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Outside text as far as it may be shown: the source followed asked first, then the `end`
    /// quoted (at most [`WINDOW`] bytes and a secret's reach), secrets hidden in any form, and
    /// where the text is cut out of something longer (`cut`: more came before a tail or after
    /// a head), as much dropped at the cut as a secret could reach: what is left of one cut
    /// in half no longer matches. Control characters stay as they are: make an excerpt of it.
    pub async fn outside(&self, text: &[u8], end: End, cut: bool) -> String {
        if !self.refresh().await {
            return format!(
                "[withheld: the secret files could not be re-read within {}s]",
                ASK_LIMIT.as_secs()
            );
        }
        let reach = self.reach();
        let room = self.quoted_bytes();
        let (window, cut) = if text.len() > room {
            let window = match end {
                End::Head => &text[..room],
                End::Tail => &text[text.len() - room..],
            };
            (window, true)
        } else {
            (text, cut)
        };
        let mut shown = self.hide(&String::from_utf8_lossy(window));
        if cut {
            match end {
                End::Head => {
                    let mut from = shown.len().saturating_sub(reach);
                    while !shown.is_char_boundary(from) {
                        from -= 1;
                    }
                    shown.truncate(from);
                }
                End::Tail => {
                    let mut to = reach.min(shown.len());
                    while !shown.is_char_boundary(to) {
                        to += 1;
                    }
                    shown.drain(..to);
                }
            }
        }
        shown
    }

    /// Hides every known value in `text`, and writes out control characters but for line
    /// breaks and tabs.
    pub fn clean(&self, text: &str) -> String {
        crate::echo::escaped(&self.hide(text), true).into_owned()
    }

    /// A one-line excerpt: secrets hidden first, then flattened, control characters written
    /// out, and shortened. Flattening or shortening first could leave a secret that spans
    /// lines, or half of one, behind.
    pub fn excerpt(&self, text: &str) -> String {
        let hidden = self.hide(text);
        let flat: String = hidden.split_whitespace().collect::<Vec<_>>().join(" ");
        truncate(&crate::echo::escaped(&flat, false), EXCERPT_LIMIT)
    }

    /// Hides secrets in every string of a JSON document. Cleaning the serialised text instead
    /// would also rewrite numbers and keys.
    pub fn clean_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                let cleaned = self.clean(s);
                if cleaned != *s {
                    *s = cleaned;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.clean_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.clean_json(v)),
            _ => {}
        }
    }

    /// `text` with every span that writes a known secret, in any form, replaced.
    fn hide(&self, text: &str) -> String {
        let known = self.known();
        if known.forms.is_empty() || text.len() < known.shortest {
            return text.to_string();
        }
        let original = text.as_bytes();
        let mut spans = Vec::new();
        known.find(original, original, |r| r, &mut spans);
        for layer in decode::layers(original) {
            known.find(&layer.bytes, original, |r| layer.source(r), &mut spans);
        }
        replace(text, spans)
    }
}

impl Known {
    /// Adds the forms `value` may take in outside text.
    fn learn(&mut self, value: &str) {
        let mut whole = vec![value.to_string()];
        // A server echoes a value trimmed; `${VAR}` may have kept a trailing newline.
        let trimmed = value.trim();
        if trimmed != value && trimmed.chars().count() >= MIN_HIDDEN_LEN {
            whole.push(trimmed.to_string());
        }
        // As a server reads what it was sent: `a+b` in a query arrives as `a b`, `%41` as `A`.
        for text in whole.clone() {
            if let Some(decoded) = decode::decode(text.as_bytes())
                && let Ok(decoded) = String::from_utf8(decoded.bytes)
                && decoded.chars().count() >= MIN_HIDDEN_LEN
            {
                whole.push(decoded);
            }
        }
        for text in &whole {
            self.insert(text.as_bytes().to_vec(), false);
            if text.len() <= ENCODED_MAX {
                for core in base64::cores(text.as_bytes()) {
                    self.insert(core, true);
                }
            }
        }
        // Outside text may quote a multi-line secret (a PEM key) one line at a time.
        if value.contains('\n') {
            for line in value.lines().map(str::trim) {
                if line.len() >= MIN_LINE_LEN {
                    self.insert(line.as_bytes().to_vec(), false);
                }
            }
        }
    }

    fn insert(&mut self, form: Vec<u8>, base64: bool) {
        // Only forms that share a prefix can be equal: a secret file of thousands of lines is
        // learnt in linear time.
        let same_start = match form.first_chunk::<PREFIX>() {
            Some(&prefix) => self.by_prefix.get(&u32::from_le_bytes(prefix)),
            None => Some(&self.short),
        };
        if form.is_empty()
            || same_start.is_some_and(|i| i.iter().any(|&i| self.forms[i].bytes == form))
        {
            return;
        }
        if !base64 {
            // A multi-line form's lines are forms of their own: a cut goes through one line.
            let line = form
                .split(|&b| b == b'\n')
                .map(<[u8]>::len)
                .max()
                .unwrap_or(0);
            let reach = if line <= ENCODED_MAX {
                line * GROWTH
            } else {
                line
            };
            self.reach = self.reach.max(reach);
        }
        self.shortest = match self.forms.len() {
            0 => form.len(),
            _ => self.shortest.min(form.len()),
        };
        let index = self.forms.len();
        match form.first_chunk::<PREFIX>() {
            Some(&prefix) => {
                let prefix = u32::from_le_bytes(prefix);
                let (word, bit) = filter_bit(prefix);
                self.filter
                    .get_or_insert_with(|| Box::new([0; FILTER_WORDS]))[word] |= bit;
                self.by_prefix.entry(prefix).or_default().push(index);
            }
            None => self.short.push(index),
        }
        self.forms.push(Form {
            bytes: form,
            base64,
        });
    }

    /// Every match in `haystack` (the original or a decoded layer of it), as a span of the
    /// original: `source` maps one to the other.
    fn find(
        &self,
        haystack: &[u8],
        original: &[u8],
        source: impl Fn(Range<usize>) -> Range<usize>,
        spans: &mut Vec<Range<usize>>,
    ) {
        // A base64 run widens to the same span for every match inside it: widen it once.
        let mut widened: Range<usize> = 0..0;
        let mut found = |form: &Form, at: usize| {
            let span = source(at..at + form.bytes.len());
            if !form.base64 {
                spans.push(span);
            } else if !(widened.start <= span.start && span.end <= widened.end) {
                widened = widen(original, span);
                spans.push(widened.clone());
            }
        };
        if let Some(filter) = &self.filter {
            // The last PREFIX bytes read, the newest in the top byte.
            let mut prefix = 0u32;
            for (end, &byte) in haystack.iter().enumerate() {
                prefix = prefix >> 8 | u32::from(byte) << 24;
                let (word, bit) = filter_bit(prefix);
                if filter[word] & bit == 0 || end + 1 < PREFIX {
                    continue;
                }
                let at = end + 1 - PREFIX;
                for &i in self.by_prefix.get(&prefix).into_iter().flatten() {
                    if haystack[at..].starts_with(&self.forms[i].bytes) {
                        found(&self.forms[i], at);
                    }
                }
            }
        }
        for &i in &self.short {
            let form = &self.forms[i];
            for at in 0..=haystack.len().saturating_sub(form.bytes.len()) {
                if haystack[at..].starts_with(&form.bytes) {
                    found(form, at);
                }
            }
        }
    }
}

/// `span` grown to the whole base64 run around it, trailing padding included.
fn widen(text: &[u8], span: Range<usize>) -> Range<usize> {
    let mut start = span.start;
    while start > 0 && base64::in_run(text[start - 1]) {
        start -= 1;
    }
    let mut end = span.end;
    while end < text.len() && (base64::in_run(text[end]) || text[end] == b'=') {
        end += 1;
    }
    start..end
}

/// `text` with `spans` (in any order, overlapping or not) replaced by [`REDACTED`].
fn replace(text: &str, mut spans: Vec<Range<usize>>) -> String {
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_unstable_by_key(|s| s.start);
    let mut out = String::with_capacity(text.len());
    let mut written = 0;
    let mut spans = spans.into_iter().peekable();
    while let Some(span) = spans.next() {
        let mut end = span.end;
        while let Some(next) = spans.next_if(|next| next.start <= end) {
            end = end.max(next.end);
        }
        // A decoded match can end inside a character written raw; hide all of it.
        let mut start = span.start.max(written);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = end.min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push_str(&text[written..start.max(written)]);
        out.push_str(REDACTED);
        written = end;
    }
    out.push_str(&text[written..]);
    out
}

pub fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests;
