//! The layers of `docs/architecture.md`, held against the source: a module imports only from
//! its own layer and the layers below it. The table in the document is the rule; this test
//! reads it, and reads every `crate::` and `super::` path in `src/` (comments and strings
//! aside), so an import that reaches up fails here with its file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DOC: &str = include_str!("../docs/architecture.md");
const HEADING: &str = "## Layers: who may import whom";

/// Imports that still reach up, each as (file, module imported). One that is no longer found
/// fails the test too, so the list only shrinks.
const STANDING: &[(&str, &str)] = &[];

/// Module → (layer number, layer name), from the table under [`HEADING`].
fn layers() -> BTreeMap<String, (u32, String)> {
    let mut lines = DOC.lines().skip_while(|line| *line != HEADING);
    assert!(
        lines.next().is_some(),
        "docs/architecture.md has no `{HEADING}`"
    );
    let mut layers = BTreeMap::new();
    for line in lines.take_while(|line| !line.starts_with('#')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, layer, modules, ..] = cells[..] else {
            continue;
        };
        let Some((number, name)) = layer.split_once(' ') else {
            continue;
        };
        let Ok(number) = number.parse::<u32>() else {
            continue;
        };
        for module in modules.split('`').skip(1).step_by(2) {
            let earlier = layers.insert(module.to_string(), (number, name.to_string()));
            assert!(earlier.is_none(), "`{module}` is on two layers");
        }
    }
    assert!(!layers.is_empty(), "no layer rows under `{HEADING}`");
    layers
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Open,
    Close,
    Comma,
    Other,
}

/// The tokens of a Rust source that matter to paths, each with its line; comments, string and
/// character literals and numbers are dropped whole, so a path quoted in them is no import.
fn tokens(source: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                match (at(i), at(i + 1)) {
                    ('/', '*') => (depth, i) = (depth + 1, i + 2),
                    ('*', '/') => (depth, i) = (depth - 1, i + 2),
                    ('\0', _) => break,
                    ('\n', _) => (line, i) = (line + 1, i + 1),
                    _ => i += 1,
                }
                if depth == 0 {
                    break;
                }
            }
        } else if c == '"' {
            i = skip_string(&chars, i + 1, &mut line);
        } else if c == '\'' {
            // A character literal, or a lifetime or label (`'a`), which is left to the next
            // round as an identifier.
            if at(i + 1) == '\\' || at(i + 2) == '\'' {
                i = skip_char(&chars, i);
            } else {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let begin = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            let word: String = chars[begin..i].iter().collect();
            let raw = matches!(word.as_str(), "r" | "br" | "cr");
            if raw && (at(i) == '"' || (at(i) == '#' && (at(i + 1) == '"' || at(i + 1) == '#'))) {
                let mut hashes = 0;
                while at(i) == '#' {
                    hashes += 1;
                    i += 1;
                }
                i += 1;
                loop {
                    match at(i) {
                        '\0' => break,
                        '\n' => line += 1,
                        '"' if (1..=hashes).all(|k| at(i + k) == '#') => {
                            i += 1 + hashes;
                            break;
                        }
                        _ => {}
                    }
                    i += 1;
                }
            } else if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                i = skip_string(&chars, i + 1, &mut line);
            } else if word == "b" && at(i) == '\'' {
                i = skip_char(&chars, i);
            } else if word == "r" && at(i) == '#' {
                // A raw identifier, `r#type`: the next round reads the name.
                i += 1;
            } else {
                out.push((Tok::Ident(word), start_line));
            }
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            out.push((
                match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    ',' => Tok::Comma,
                    _ => Tok::Other,
                },
                line,
            ));
            i += 1;
        }
    }
    out
}

/// The index just past a character literal whose opening quote is at `i`.
fn skip_char(chars: &[char], i: usize) -> usize {
    let mut j = i + if chars.get(i + 1) == Some(&'\\') {
        3
    } else {
        2
    };
    while j < chars.len() && chars[j] != '\'' {
        j += 1;
    }
    j + 1
}

/// The index just past the closing quote of a string whose body starts at `i`.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if chars.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
                continue;
            }
            '"' => return i + 1,
            '\n' => *line += 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// The module path of a source file: `src/config/mod.rs` is `config`, `src/checks/gpu/nvml.rs`
/// is `checks::gpu::nvml`, `src/lib.rs` the crate root.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .skip(1)
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib") {
        parts.push(stem.to_string());
    }
    parts
}

/// Every top-level module the file names through a path, with the line: `crate::X`,
/// `crate::{X, Y::…}`, and a `super::` chain that climbs to the crate root.
fn imports(module: &[String], source: &str) -> Vec<(String, usize)> {
    let toks = tokens(source);
    let mut found = Vec::new();
    // Inline modules (`mod tests { … }`) open below the file's own, each with the depth of
    // braces at which it closes.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let ident = |k: usize| match toks.get(k) {
        Some((Tok::Ident(word), _)) => Some(word.as_str()),
        _ => None,
    };
    let is = |k: usize, tok: Tok| toks.get(k).is_some_and(|(t, _)| *t == tok);
    let mut k = 0;
    while k < toks.len() {
        let line = toks[k].1;
        match &toks[k].0 {
            Tok::Open => depth += 1,
            Tok::Close => {
                if inline.last().is_some_and(|(_, closes)| *closes == depth) {
                    inline.pop();
                }
                depth -= 1;
            }
            Tok::Ident(word) if word == "mod" && ident(k + 1).is_some() && is(k + 2, Tok::Open) => {
                inline.push((ident(k + 1).unwrap_or_default().to_string(), depth + 1));
            }
            Tok::Ident(word) if (word == "crate" || word == "super") && is(k + 1, Tok::Path) => {
                // Only a path's first segment: `a::super` is no climb of its own.
                if k > 0 && is(k - 1, Tok::Path) {
                    k += 1;
                    continue;
                }
                let mut here: Vec<String> = module.to_vec();
                here.extend(inline.iter().map(|(name, _)| name.clone()));
                let mut next = k;
                if word == "crate" {
                    here.clear();
                    next += 2;
                } else {
                    while ident(next) == Some("super") && is(next + 1, Tok::Path) {
                        here.pop();
                        next += 2;
                    }
                }
                if here.is_empty() {
                    if let Some(name) = ident(next) {
                        found.push((name.to_string(), line));
                    } else if is(next, Tok::Open) {
                        found.extend(group_heads(&toks, next).into_iter().map(|n| (n, line)));
                    }
                }
                k = next;
                continue;
            }
            _ => {}
        }
        k += 1;
    }
    found
}

/// The first segment of each item of the `{ … }` group opening at `open`.
fn group_heads(toks: &[(Tok, usize)], open: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let (mut depth, mut item_start) = (0, false);
    for (tok, _) in &toks[open..] {
        match tok {
            Tok::Open => depth += 1,
            Tok::Close => depth -= 1,
            Tok::Ident(word) if depth == 1 && item_start && word != "self" => {
                heads.push(word.clone());
            }
            _ => {}
        }
        if depth == 0 {
            break;
        }
        item_start = depth == 1 && matches!(tok, Tok::Open | Tok::Comma);
    }
    heads
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = layers();
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();

    let mut problems = Vec::new();
    let mut standing_seen = vec![false; STANDING.len()];
    for path in &files {
        let relative = path.strip_prefix(root).expect("under the root");
        let shown = relative.display().to_string();
        // The binary is a crate of its own: its `crate::` is not the library's.
        if shown == "src/main.rs" {
            continue;
        }
        let module = module_of(relative);
        let own = module.first().map_or("lib", String::as_str);
        let Some((own_layer, own_name)) = layers.get(own) else {
            problems.push(format!("{shown}: `{own}` is on no layer of the table"));
            continue;
        };
        let source = std::fs::read_to_string(path).expect("read source");
        for (imported, line) in imports(&module, &source) {
            if imported == own {
                continue;
            }
            let Some((layer, name)) = layers.get(&imported) else {
                problems.push(format!(
                    "{shown}:{line}: `{own}` imports `{imported}`, which is on no layer of the table"
                ));
                continue;
            };
            if layer <= own_layer {
                continue;
            }
            if let Some(i) = STANDING
                .iter()
                .position(|&(file, module)| file == shown && module == imported)
            {
                standing_seen[i] = true;
                continue;
            }
            problems.push(format!(
                "{shown}:{line}: `{own}` ({own_layer} {own_name}) imports `{imported}` ({layer} {name}), a layer above it"
            ));
        }
    }
    for (&(file, module), seen) in STANDING.iter().zip(standing_seen) {
        if !seen {
            problems.push(format!(
                "{file} no longer imports `{module}`: strike it from STANDING"
            ));
        }
    }
    for module in layers.keys() {
        let file = root.join("src").join(format!("{module}.rs"));
        if !file.exists() && !root.join("src").join(module).join("mod.rs").exists() {
            problems.push(format!("the table names `{module}`, which is no module"));
        }
    }
    assert!(
        problems.is_empty(),
        "imports against the layers of docs/architecture.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn paths_are_read_as_the_compiler_reads_them() {
    let source = r#####"
        //! [`crate::guard`] in a comment
        use crate::{echo, files::{self, read_text}, config::Pos};
        use super::parse;
        fn f<'a>(x: &'a str) -> char {
            let _ = "crate::report"; let _ = r#"crate::report "# ; let _ = b"crate::x";
            let _ = '"'; let _ = '\''; let _ = b'\'';
            /* crate::report /* nested */ crate::report */
            crate::checks::run();
            pub(super) fn g() {}
            'x'
        }
        mod tests {
            use super::super::engine;
            use super::*;
        }
    "#####;
    let found = imports(&["config".to_string()], source);
    assert_eq!(
        found,
        [
            ("echo".to_string(), 3),
            ("files".to_string(), 3),
            ("config".to_string(), 3),
            ("parse".to_string(), 4),
            ("checks".to_string(), 9),
            ("engine".to_string(), 14),
        ]
    );
    assert_eq!(
        module_of(Path::new("src/checks/gpu/mod.rs")),
        ["checks", "gpu"]
    );
    assert!(module_of(Path::new("src/lib.rs")).is_empty());
}
