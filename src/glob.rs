//! Globs for paths: `*` and `?` within a name, `[a-z]` and `[!a-z]` classes, and `**`
//! for any number of directories.
//!
//! Written here rather than taken from a crate: this is all a path list needs, it adds no
//! dependency to audit, and it lets the kubelet's volume layout be handled on purpose. A
//! wildcard never matches a name starting with `.` unless the pattern spells the dot, as in a
//! shell: a ConfigMap volume holds each file three times (`key`, `..data/key` and
//! `..2024_…/key`), and `prompts/**/*.j2` must find it once.

use std::path::{Path, PathBuf};

/// How many directory entries one pattern may look at: a pattern such as `/**/*.j2` must not
/// walk a whole filesystem on every attempt.
const MAX_ENTRIES: usize = 100_000;

/// Why a pattern names no files.
#[derive(Debug, PartialEq, Eq)]
pub enum GlobError {
    /// The pattern itself is wrong; the message says where.
    Syntax(String),
    /// It reaches more directory entries than one pattern may look at.
    TooBroad,
    /// Nothing matches. `hint` is empty, or ` (did you mean …?)`.
    NoMatch { hint: String },
}

#[derive(Debug, Clone, PartialEq)]
enum Atom {
    Char(char),
    /// `?`
    Any,
    /// `*`
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Atom {
    fn accepts(&self, c: char) -> bool {
        match self {
            Atom::Char(want) => *want == c,
            Atom::Any | Atom::Star => true,
            Atom::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum Part {
    Literal(String),
    /// `**`: zero or more directories.
    Deep,
    Pattern(Vec<Atom>),
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Checks a pattern's syntax, so the config can refuse a bad one before anything runs.
pub fn check(pattern: &str) -> Result<(), String> {
    parse(pattern).map(|_| ())
}

/// The directory a pattern starts from: the part before its first wildcard, or a plain path's
/// parent.
pub fn base(pattern: &str) -> PathBuf {
    if is_glob(pattern) {
        parse(pattern).map(|(base, _)| base).unwrap_or_default()
    } else {
        Path::new(pattern)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

fn parse(pattern: &str) -> Result<(PathBuf, Vec<Part>), String> {
    let mut base = PathBuf::new();
    if pattern.starts_with('/') {
        base.push("/");
    }
    let mut parts = Vec::new();
    for component in pattern.split('/').filter(|c| !c.is_empty()) {
        if component == "**" {
            if parts.last() != Some(&Part::Deep) {
                parts.push(Part::Deep);
            }
        } else if is_glob(component) {
            parts.push(Part::Pattern(atoms(component)?));
        } else if parts.is_empty() {
            base.push(component);
        } else {
            parts.push(Part::Literal(component.to_string()));
        }
    }
    // `prompts/**` means every file below, as `prompts/**/*`.
    if parts.last() == Some(&Part::Deep) {
        parts.push(Part::Pattern(vec![Atom::Star]));
    }
    Ok((base, parts))
}

fn atoms(component: &str) -> Result<Vec<Atom>, String> {
    let chars: Vec<char> = component.chars().collect();
    let mut atoms = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if atoms.last() != Some(&Atom::Star) {
                    atoms.push(Atom::Star);
                }
                i += 1;
            }
            '?' => {
                atoms.push(Atom::Any);
                i += 1;
            }
            '[' => {
                let mut j = i + 1;
                let negated = matches!(chars.get(j), Some('!' | '^'));
                j += usize::from(negated);
                let first = j;
                let mut ranges = Vec::new();
                loop {
                    let Some(&c) = chars.get(j) else {
                        return Err(format!("`[` in `{component}` has no closing `]`"));
                    };
                    // A `]` first in the class is a character, as in a shell: `[]a]`.
                    if c == ']' && j > first {
                        break;
                    }
                    match (chars.get(j + 1), chars.get(j + 2)) {
                        (Some('-'), Some(&hi)) if hi != ']' => {
                            ranges.push((c, hi));
                            j += 3;
                        }
                        _ => {
                            ranges.push((c, c));
                            j += 1;
                        }
                    }
                }
                atoms.push(Atom::Class { negated, ranges });
                i = j + 1;
            }
            c => {
                atoms.push(Atom::Char(c));
                i += 1;
            }
        }
    }
    Ok(atoms)
}

fn matches(atoms: &[Atom], name: &str) -> bool {
    if name.starts_with('.') && atoms.first() != Some(&Atom::Char('.')) {
        return false;
    }
    let name: Vec<char> = name.chars().collect();
    let (mut a, mut n) = (0, 0);
    // The last `*` seen, and where in the name it has matched up to: backtracking to it is
    // enough, since an earlier star can never need to take more.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match atoms.get(a) {
            Some(Atom::Star) => {
                star = Some((a, n));
                a += 1;
                continue;
            }
            Some(atom) if atom.accepts(name[n]) => {
                a += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sa, sn)) => {
                star = Some((sa, sn + 1));
                a = sa + 1;
                n = sn + 1;
            }
            None => return false,
        }
    }
    atoms[a..].iter().all(|atom| *atom == Atom::Star)
}

/// The files `pattern` names: the path itself when it has no wildcard (reading it says what
/// is wrong with it), else every regular file that matches, sorted.
pub fn files(pattern: &str) -> Result<Vec<PathBuf>, GlobError> {
    if !is_glob(pattern) {
        return Ok(vec![PathBuf::from(pattern)]);
    }
    let (base, parts) = parse(pattern).map_err(GlobError::Syntax)?;
    let mut walk = Walk {
        found: Vec::new(),
        entries: 0,
    };
    walk.walk(&base, &parts);
    if walk.entries > MAX_ENTRIES {
        return Err(GlobError::TooBroad);
    }
    if walk.found.is_empty() {
        return Err(GlobError::NoMatch {
            hint: near_miss(&base),
        });
    }
    walk.found.sort();
    walk.found.dedup();
    Ok(walk.found)
}

/// ` (did you mean prompts/chat.j2?)` when the first part of `path` that does not exist is a
/// typo of a name beside it.
pub fn near_miss(path: &Path) -> String {
    let mut parent = PathBuf::new();
    for component in path.components() {
        let next = parent.join(component);
        if std::fs::symlink_metadata(&next).is_ok() {
            parent = next;
            continue;
        }
        let listed = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &parent
        };
        let Ok(entries) = std::fs::read_dir(listed) else {
            return String::new();
        };
        let names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let typed = component.as_os_str().to_string_lossy();
        return match crate::suggest::closest(&typed, names.iter().map(String::as_str)) {
            Some(name) => format!(" (did you mean {}?)", parent.join(name).display()),
            None => String::new(),
        };
    }
    String::new()
}

struct Walk {
    found: Vec<PathBuf>,
    entries: usize,
}

impl Walk {
    /// The entries of `dir`, sorted by name; none when it cannot be read.
    fn list(&mut self, dir: &Path) -> Vec<(String, PathBuf, bool)> {
        let at = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let Ok(read) = std::fs::read_dir(at) else {
            return Vec::new();
        };
        let mut entries: Vec<_> = read
            .flatten()
            .map(|entry| {
                // A symlinked directory is not descended by `**`, so a link loop cannot trap it.
                let real_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = dir.join(&name);
                (name, path, real_dir)
            })
            .collect();
        self.entries += entries.len();
        entries.sort();
        entries
    }

    fn walk(&mut self, dir: &Path, parts: &[Part]) {
        if self.entries > MAX_ENTRIES {
            return;
        }
        let Some((part, rest)) = parts.split_first() else {
            if std::fs::metadata(dir).is_ok_and(|m| m.is_file()) {
                self.found.push(dir.to_path_buf());
            }
            return;
        };
        match part {
            Part::Literal(name) => self.walk(&dir.join(name), rest),
            Part::Deep => {
                self.walk(dir, rest);
                for (name, path, real_dir) in self.list(dir) {
                    if real_dir && !name.starts_with('.') {
                        self.walk(&path, parts);
                    }
                }
            }
            Part::Pattern(atoms) => {
                for (name, path, _) in self.list(dir) {
                    if matches(atoms, &name) {
                        self.walk(&path, rest);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        matches(&atoms(pattern).unwrap(), name)
    }

    #[test]
    fn stars_questions_and_classes() {
        assert!(m("*.j2", "chat.j2"));
        assert!(!m("*.j2", "chat.j2.bak"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abbbc"));
        assert!(!m("a*b*c", "abX"));
        assert!(m("v?.txt", "v1.txt"));
        assert!(!m("v?.txt", "v10.txt"));
        assert!(m("v[0-9].txt", "v7.txt"));
        assert!(!m("v[!0-9].txt", "v7.txt"));
        assert!(m("[]x]", "]"));
        assert!(m("*", "ünïcode"));
    }

    #[test]
    fn hidden_names_need_a_spelled_dot() {
        assert!(!m("*", "..data"));
        assert!(!m("*.j2", ".draft.j2"));
        assert!(m(".*.j2", ".draft.j2"));
    }

    #[test]
    fn bad_classes_are_refused() {
        assert_eq!(
            check("prompts/[a-z.j2"),
            Err("`[` in `[a-z.j2` has no closing `]`".into())
        );
    }

    #[test]
    fn the_base_is_the_part_before_the_first_wildcard() {
        assert_eq!(base("/etc/prompts/**/*.j2"), Path::new("/etc/prompts"));
        assert_eq!(base("*.j2"), Path::new(""));
        assert_eq!(base("/etc/prompts/chat.j2"), Path::new("/etc/prompts"));
    }

    #[test]
    fn walks_a_tree_as_the_kubelet_lays_out_a_configmap() {
        use std::os::unix::fs::symlink;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        std::fs::create_dir_all(dir.join("..2026_01_01/sub")).unwrap();
        std::fs::write(dir.join("..2026_01_01/chat.j2"), "").unwrap();
        std::fs::write(dir.join("..2026_01_01/sub/deep.j2"), "").unwrap();
        symlink("..2026_01_01", dir.join("..data")).unwrap();
        symlink("..data/chat.j2", dir.join("chat.j2")).unwrap();
        std::fs::create_dir(dir.join("real")).unwrap();
        std::fs::write(dir.join("real/a.j2"), "").unwrap();
        std::fs::write(dir.join("real/b.txt"), "").unwrap();
        std::fs::create_dir_all(dir.join("real/x/y")).unwrap();
        std::fs::write(dir.join("real/x/y/c.j2"), "").unwrap();
        let shown = |pattern: &str| -> Vec<String> {
            let found = files(&format!("{}/{pattern}", dir.display())).unwrap();
            found
                .iter()
                .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(shown("**/*.j2"), ["chat.j2", "real/a.j2", "real/x/y/c.j2"]);
        assert_eq!(shown("*"), ["chat.j2"]);
        assert_eq!(
            shown("real/**"),
            ["real/a.j2", "real/b.txt", "real/x/y/c.j2"]
        );
        assert_eq!(shown("real/*/*/*.j2"), ["real/x/y/c.j2"]);
        assert_eq!(
            shown("..data/**/*.j2"),
            ["..data/chat.j2", "..data/sub/deep.j2"]
        );
        let none = files(&format!("{}/*.yaml", dir.display())).unwrap_err();
        assert_eq!(
            none,
            GlobError::NoMatch {
                hint: String::new()
            }
        );
        let typo = files(&format!("{}/rael/*.j2", dir.display())).unwrap_err();
        let hint = format!(" (did you mean {}/real?)", dir.display());
        assert_eq!(typo, GlobError::NoMatch { hint });
        // A plain path is named as it is: reading it says what is wrong.
        let literal = format!("{}/real/b.text", dir.display());
        assert_eq!(files(&literal).unwrap(), [PathBuf::from(&literal)]);
        assert_eq!(
            near_miss(Path::new(&literal)),
            format!(" (did you mean {}/real/b.txt?)", dir.display())
        );
    }
}
