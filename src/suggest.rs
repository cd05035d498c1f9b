//! "Did you mean" for names a user typed: config keys, kinds, check names, env vars.

/// Table cells one search may fill: a name among 50,000 others, or a 1 MiB key against the
/// keys of a check, costs a bounded moment and then settles for the best found so far.
const SEARCH_CELLS: usize = 1 << 22;

/// The closest candidate to `typed`, if it is close enough to be a plausible typo.
///
/// Distance is optimal string alignment (a swap of two neighbours counts once, so `secert` is one
/// edit from `secret`), compared case-insensitively; a candidate that differs only in case always
/// qualifies.
pub fn closest<'a, I>(typed: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let typed_lower: Vec<char> = typed.to_ascii_lowercase().chars().collect();
    // One edit turns any one- or two-letter name into dozens of others: for short names only
    // a difference in case is a plausible typo.
    let len = typed_lower.len();
    let budget = if len < 3 { 0 } else { (len / 3).max(1) };
    let mut cells_left = SEARCH_CELLS;
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate == typed {
            continue;
        }
        // The distance is at least the difference in length: no table needed to rule it out.
        let candidate_len = candidate.chars().count();
        if candidate_len.abs_diff(len) > budget {
            continue;
        }
        let cells = (len + 1) * (candidate_len + 1);
        if cells > cells_left {
            break;
        }
        cells_left -= cells;
        let lower: Vec<char> = candidate.to_ascii_lowercase().chars().collect();
        let distance = osa_distance(&typed_lower, &lower);
        let better = best.is_none_or(|(d, c)| (distance, candidate.len()) < (d, c.len()));
        if distance <= budget && better {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Appends ` (did you mean "x"?)` when a close candidate exists.
pub fn hint<'a, I>(typed: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match closest(typed, candidates) {
        Some(c) => format!(" (did you mean {c}?)"),
        None => String::new(),
    }
}

fn osa_distance(a: &[char], b: &[char]) -> usize {
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_the_issue_names() {
        assert_eq!(closest("afer", ["after", "kind", "timeout"]), Some("after"));
        assert_eq!(closest("secert", ["secret", "file", "tcp"]), Some("secret"));
        assert_eq!(
            closest("OPENAI_API_KEY", ["PATH", "OPEN_API_KEY", "HOME"]),
            Some("OPEN_API_KEY")
        );
        assert_eq!(closest("path", ["PATH"]), Some("PATH"));
    }

    #[test]
    fn refuses_distant_names() {
        assert_eq!(closest("vector-db", ["openai-key", "weights"]), None);
        assert_eq!(closest("x", ["after"]), None);
        assert_eq!(closest("X", ["_", "Y"]), None);
        assert_eq!(closest("", ["e"]), None);
        assert_eq!(hint("zzz", ["after"]), "");
    }

    #[test]
    fn never_suggests_the_name_itself() {
        assert_eq!(closest("after", ["after"]), None);
    }
}
