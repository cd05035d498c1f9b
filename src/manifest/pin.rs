//! A pin and the runtime's value: exact, a constraint (`>=12.4`, `<5`, `~4.44`, several joined
//! by commas), and the drift an exact pin tolerates (`ignore_versions: [patch]`).
//!
//! Values compare as versions when both sides are dotted numbers; a suffix (`.post1`, `+cu121`)
//! must then match exactly. Anything else compares as an exact string.

use std::cmp::Ordering;

use crate::config::Drift;

/// `4.44.2.post1` → numbers `[4, 44, 2]`, suffix `.post1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    numbers: Vec<u64>,
    suffix: String,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim().strip_prefix('v').unwrap_or(text.trim());
        let mut numbers = Vec::new();
        let mut rest = text;
        loop {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 18 {
                return None;
            }
            numbers.push(rest[..digits].parse().ok()?);
            rest = &rest[digits..];
            match rest.strip_prefix('.') {
                Some(after) if after.starts_with(|c: char| c.is_ascii_digit()) => rest = after,
                _ => break,
            }
        }
        Some(Version {
            numbers,
            suffix: rest.to_string(),
        })
    }

    fn part(&self, i: usize) -> u64 {
        self.numbers.get(i).copied().unwrap_or(0)
    }

    /// Numbers only, missing parts as 0: `12.4` equals `12.4.0`.
    fn cmp_numbers(&self, other: &Version) -> Ordering {
        let len = self.numbers.len().max(other.numbers.len());
        (0..len)
            .map(|i| self.part(i).cmp(&other.part(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
    /// `~4.44` and `~4.44.2`: at least that, below 4.45 (as npm reads it: major and minor
    /// fixed; `~4` fixes the major only).
    Tilde,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    op: Op,
    version: Version,
    text: String,
}

/// What a manifest pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    Exact(String),
    Constraint(Vec<Bound>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// Passes within the tolerated drift, of this size.
    Drifted(Drift),
    /// Fails; with why, when the two values alone do not say it (`a downgrade, never
    /// tolerated`). The caller shows both values its own way.
    Mismatch(Option<String>),
}

impl Pin {
    /// `>=12.4,<13`, `~4.44`, or an exact value. A constraint whose versions do not parse is
    /// an error: it could never be met.
    pub fn parse(text: &str) -> Result<Pin, String> {
        let text = text.trim();
        if !text.starts_with(['>', '<', '=', '~']) {
            return Ok(Pin::Exact(text.to_string()));
        }
        let mut bounds = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (op, rest) = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("==", Op::Eq),
                (">", Op::Gt),
                ("<", Op::Lt),
                ("~", Op::Tilde),
                ("=", Op::Eq),
            ]
            .iter()
            .find_map(|(sym, op)| part.strip_prefix(sym).map(|rest| (*op, rest.trim())))
            .ok_or_else(|| {
                format!("`{part}` is not a constraint; write e.g. >=12.4, <5 or ~4.44")
            })?;
            let version = Version::parse(rest)
                .filter(|v| v.suffix.is_empty() || op == Op::Eq)
                .ok_or_else(|| format!("`{part}`: `{rest}` is not a version of dotted numbers"))?;
            bounds.push(Bound {
                op,
                version,
                text: part.to_string(),
            });
        }
        Ok(Pin::Constraint(bounds))
    }

    pub fn judge(&self, runtime: &str, drift: Drift) -> Verdict {
        match self {
            Pin::Exact(declared) => judge_exact(declared, runtime.trim(), drift),
            Pin::Constraint(bounds) => {
                let Some(have) = Version::parse(runtime) else {
                    return Verdict::Mismatch(Some(format!("`{runtime}` is not a version")));
                };
                match bounds.iter().find(|b| !b.admits(&have)) {
                    Some(bound) => {
                        Verdict::Mismatch(Some(format!("{runtime} is not {}", bound.text)))
                    }
                    None => Verdict::Match,
                }
            }
        }
    }
}

impl Bound {
    fn admits(&self, have: &Version) -> bool {
        let order = have.cmp_numbers(&self.version);
        match self.op {
            Op::Eq => order.is_eq() && have.suffix == self.version.suffix,
            Op::Ge => order.is_ge(),
            Op::Gt => order.is_gt(),
            Op::Le => order.is_le(),
            Op::Lt => order.is_lt(),
            Op::Tilde => {
                let fixed = self.version.numbers.len().clamp(1, 2);
                order.is_ge() && (0..fixed).all(|i| have.part(i) == self.version.part(i))
            }
        }
    }
}

fn judge_exact(declared: &str, runtime: &str, drift: Drift) -> Verdict {
    if declared == runtime {
        return Verdict::Match;
    }
    let (Some(want), Some(have)) = (Version::parse(declared), Version::parse(runtime)) else {
        return Verdict::Mismatch(None);
    };
    if want.suffix != have.suffix {
        return Verdict::Mismatch(Some("the suffixes differ".into()));
    }
    match have.cmp_numbers(&want) {
        Ordering::Equal => Verdict::Match,
        Ordering::Less => Verdict::Mismatch(Some("a downgrade, never tolerated".into())),
        Ordering::Greater => {
            // The first part that differs says how big the drift is: 0 major, 1 minor, 2+ patch.
            let first = (0..).find(|&i| have.part(i) != want.part(i)).unwrap_or(0);
            let size = match first {
                0 => Drift::None,
                1 => Drift::Minor,
                _ => Drift::Patch,
            };
            if size != Drift::None && size <= drift {
                Verdict::Drifted(size)
            } else {
                Verdict::Mismatch(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(pin: &str, runtime: &str, drift: Drift) -> Verdict {
        Pin::parse(pin).unwrap().judge(runtime, drift)
    }

    #[test]
    fn exact_pins_tolerate_only_upward_drift_within_the_allowance() {
        assert_eq!(judge("4.44.2", "4.44.2", Drift::None), Verdict::Match);
        assert!(matches!(
            judge("4.44.2", "4.44.3", Drift::None),
            Verdict::Mismatch(_)
        ));
        assert_eq!(
            judge("4.44.2", "4.44.3", Drift::Patch),
            Verdict::Drifted(Drift::Patch)
        );
        assert!(matches!(
            judge("4.44.2", "4.45.0", Drift::Patch),
            Verdict::Mismatch(_)
        ));
        assert_eq!(
            judge("4.44.2", "4.45.0", Drift::Minor),
            Verdict::Drifted(Drift::Minor)
        );
        assert!(matches!(
            judge("4.44.2", "5.0.0", Drift::Minor),
            Verdict::Mismatch(_)
        ));
        assert_eq!(
            judge("4.44.2", "4.44.1", Drift::Minor),
            Verdict::Mismatch(Some("a downgrade, never tolerated".into()))
        );
    }

    #[test]
    fn suffixes_must_match_and_strings_compare_exactly() {
        assert_eq!(
            judge("2.4.0.post1", "2.4.0", Drift::Patch),
            Verdict::Mismatch(Some("the suffixes differ".into()))
        );
        assert_eq!(
            judge("2.4.0.post1", "2.4.0.post1", Drift::None),
            Verdict::Match
        );
        assert_eq!(judge("12.4", "12.4.0", Drift::None), Verdict::Match);
        assert!(matches!(
            judge("ad4c1b9", "9e7f02d", Drift::Minor),
            Verdict::Mismatch(_)
        ));
    }

    #[test]
    fn constraints() {
        assert_eq!(judge(">=12.4", "12.6", Drift::None), Verdict::Match);
        assert_eq!(
            judge(">=12.4", "12.2", Drift::None),
            Verdict::Mismatch(Some("12.2 is not >=12.4".into()))
        );
        assert_eq!(judge("<5", "4.9.9", Drift::None), Verdict::Match);
        assert_eq!(
            judge(">=12.4, <13", "13.0", Drift::None),
            Verdict::Mismatch(Some("13.0 is not <13".into()))
        );
        assert_eq!(judge("~4.44", "4.44.7", Drift::None), Verdict::Match);
        assert!(matches!(
            judge("~4.44", "4.45.0", Drift::None),
            Verdict::Mismatch(_)
        ));
        assert!(matches!(
            judge("~4.44", "4.43.9", Drift::None),
            Verdict::Mismatch(_)
        ));
        assert_eq!(judge("~4.44.2", "4.44.9", Drift::None), Verdict::Match);
        assert!(matches!(
            judge("~4.44.2", "4.44.1", Drift::None),
            Verdict::Mismatch(_)
        ));
        assert_eq!(judge("~4", "4.99", Drift::None), Verdict::Match);
        assert!(Pin::parse(">=twelve").is_err());
        assert!(Pin::parse("=>12").is_err());
    }
}
