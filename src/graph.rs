//! The dependency graph declared by `after:`: validated once, before anything runs.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::config::units::human_duration;
use crate::config::{self, CheckSpec, Diagnostic, EffectiveSource, Kind, OnFail};
use crate::{echo, suggest};

/// Checks by index (in file order), with edges both ways.
#[derive(Debug)]
pub struct Graph {
    pub names: Vec<String>,
    /// `deps[i]`: the checks `i` runs after.
    pub deps: Vec<Vec<usize>>,
    /// `dependents[i]`: the checks that run after `i`.
    pub dependents: Vec<Vec<usize>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum GraphError {
    /// Problems with a position: unknown names, values read from checks that do not run first.
    Invalid(Vec<Diagnostic>),
    /// The names along the cycle, first name repeated at the end.
    Cycle(Vec<String>),
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Invalid(problems) => {
                let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
            // A cycle through thousands of checks is named by its ends.
            GraphError::Cycle(path) if path.len() > SHOWN_CYCLE => {
                let (head, tail) = (&path[..SHOWN_CYCLE - 2], &path[path.len() - 2..]);
                write!(
                    f,
                    "dependency cycle: {} -> … {} more … -> {}",
                    head.join(" -> "),
                    path.len() - SHOWN_CYCLE,
                    tail.join(" -> ")
                )
            }
            GraphError::Cycle(path) => {
                write!(f, "dependency cycle: {}", path.join(" -> "))
            }
        }
    }
}

/// `config` with its graph; or every problem, one a line, as loading a config says them.
pub fn checked(config: config::Config, path: &Path) -> Result<(config::Config, Graph), String> {
    match Graph::build(&config.checks) {
        Ok(graph) => Ok((config, graph)),
        Err(GraphError::Invalid(problems)) => Err(config::LoadError::Invalid {
            path: path.to_path_buf(),
            problems,
        }
        .to_string()),
        Err(cycle @ GraphError::Cycle(_)) => Err(format!("{}: {cycle}", config::shown(path))),
    }
}

/// Names of a cycle shown before the rest is counted instead.
const SHOWN_CYCLE: usize = 12;

/// Unknown names that get a "did you mean": each costs a look at every check name, so a file
/// with thousands of them gets hints for the first few, in file order.
const HINTED_NAMES: usize = 10;

/// "Did you mean" over the check names, for the first [`HINTED_NAMES`] names asked about.
struct Hints<'a> {
    names: &'a [String],
    left: usize,
}

impl Hints<'_> {
    fn hint(&mut self, typed: &str) -> String {
        if self.left == 0 {
            return String::new();
        }
        self.left -= 1;
        suggest::hint(typed, self.names.iter().map(String::as_str))
    }
}

impl Graph {
    /// Linear in checks and `after:` entries, as are [`Graph::levels`] and the cycle search; a
    /// pin read from another check adds one pass over the graph per 64 distinct checks read.
    pub fn build(checks: &[CheckSpec]) -> Result<Graph, GraphError> {
        let names: Vec<String> = checks.iter().map(|c| c.name.clone()).collect();
        let index: HashMap<&str, usize> = checks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        let mut hints = Hints {
            names: &names,
            left: HINTED_NAMES,
        };
        let mut deps = vec![Vec::new(); checks.len()];
        // `listed[j] == i + 1`: check i already runs after j (a repeated name is one edge).
        let mut listed = vec![0usize; checks.len()];
        let mut unknown = Vec::new();
        for (i, check) in checks.iter().enumerate() {
            for (dep, pos) in &check.after {
                match index.get(dep.as_str()) {
                    Some(&j) if listed[j] != i + 1 => {
                        listed[j] = i + 1;
                        deps[i].push(j);
                    }
                    Some(_) => {}
                    None => unknown.push(Diagnostic {
                        pos: Some(*pos),
                        field: format!("checks.{}.after", check.name),
                        message: format!(
                            "no check named `{}`{}",
                            echo::value(dep),
                            hints.hint(dep)
                        ),
                    }),
                }
            }
        }
        if !unknown.is_empty() {
            return Err(GraphError::Invalid(in_file_order(unknown)));
        }
        let mut dependents = vec![Vec::new(); checks.len()];
        for (i, ds) in deps.iter().enumerate() {
            for &d in ds {
                dependents[d].push(i);
            }
        }
        let graph = Graph {
            names,
            deps,
            dependents,
        };
        if let Some(cycle) = graph.find_cycle() {
            return Err(GraphError::Cycle(cycle));
        }
        let problems = graph.discovery_sources(checks, &index);
        if !problems.is_empty() {
            return Err(GraphError::Invalid(in_file_order(problems)));
        }
        Ok(graph)
    }

    /// A pin read from another check (`effective: {check: gpu}`) needs that check to be a gpu
    /// check, and to have run first: somewhere up the `after:` chain.
    fn discovery_sources(
        &self,
        checks: &[CheckSpec],
        index: &HashMap<&str, usize>,
    ) -> Vec<Diagnostic> {
        let mut hints = Hints {
            names: &self.names,
            left: HINTED_NAMES,
        };
        let mut problems = Vec::new();
        // (reader, source, field, position) for each pin whose source must be up its chain.
        let mut readers = Vec::new();
        for (i, check) in checks.iter().enumerate() {
            let Kind::Manifest(m) = &check.kind else {
                continue;
            };
            for (pin, source) in &m.effective {
                let EffectiveSource::Check {
                    check: named, pos, ..
                } = source
                else {
                    continue;
                };
                let field = format!("checks.{}.effective.{pin}.check", check.name);
                let problem = match index.get(named.as_str()) {
                    None => format!(
                        "no check named `{}`{}",
                        echo::value(named),
                        hints.hint(named)
                    ),
                    Some(&j) if !matches!(checks[j].kind, Kind::Gpu(_)) => format!(
                        "{named} is a {} check; only a gpu check discovers values to pin",
                        checks[j].kind.name()
                    ),
                    Some(&j) => {
                        readers.push((i, j, field, *pos));
                        continue;
                    }
                };
                problems.push(Diagnostic {
                    pos: Some(*pos),
                    field,
                    message: problem,
                });
            }
        }
        let pairs: Vec<(usize, usize)> = readers.iter().map(|&(i, j, _, _)| (i, j)).collect();
        for ((i, j, field, pos), after) in readers.into_iter().zip(self.runs_after(&pairs)) {
            if !after {
                let (reader, named) = (&self.names[i], &self.names[j]);
                problems.push(Diagnostic {
                    pos: Some(pos),
                    field,
                    message: format!(
                        "{reader} must run after {named} to read what it discovered: add `after: [{named}]` to checks.{reader}"
                    ),
                });
            }
        }
        problems
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Depth-first search without recursion (a 1,000-check chain must not blow the stack).
    fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut mark = vec![Mark::New; self.len()];
        for start in 0..self.len() {
            if mark[start] != Mark::New {
                continue;
            }
            let mut path: Vec<(usize, usize)> = vec![(start, 0)];
            mark[start] = Mark::OnPath;
            while let Some(&mut (node, ref mut next)) = path.last_mut() {
                if let Some(&dep) = self.deps[node].get(*next) {
                    *next += 1;
                    match mark[dep] {
                        Mark::New => {
                            mark[dep] = Mark::OnPath;
                            path.push((dep, 0));
                        }
                        Mark::OnPath => {
                            // `path` runs from dependents to dependencies; the cycle reads best
                            // in the direction people write `after:`.
                            let from = path.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                            let mut cycle: Vec<String> = path[from..]
                                .iter()
                                .map(|(n, _)| self.names[*n].clone())
                                .collect();
                            cycle.push(self.names[dep].clone());
                            return Some(cycle);
                        }
                        Mark::Done => {}
                    }
                } else {
                    mark[node] = Mark::Done;
                    path.pop();
                }
            }
        }
        None
    }

    /// Every check once, each after the checks it runs after (the graph has no cycle).
    fn order(&self) -> Vec<usize> {
        let mut remaining: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..self.len()).filter(|&i| remaining[i] == 0).collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(i) = ready.pop() {
            order.push(i);
            for &d in &self.dependents[i] {
                remaining[d] -= 1;
                if remaining[d] == 0 {
                    ready.push(d);
                }
            }
        }
        order
    }

    /// Levels that may run at once: level 0 has no dependencies, level n depends only on
    /// earlier levels.
    pub fn levels(&self) -> Vec<Vec<usize>> {
        let mut level = vec![0usize; self.len()];
        for i in self.order() {
            for &d in &self.dependents[i] {
                level[d] = level[d].max(level[i] + 1);
            }
        }
        let depth = level.iter().copied().max().map_or(0, |m| m + 1);
        let mut levels = vec![Vec::new(); depth];
        for (i, l) in level.into_iter().enumerate() {
            levels[l].push(i);
        }
        levels
    }

    /// For each `(reader, source)`: does `reader` run after `source`, directly or not?
    ///
    /// One pass in dependency order carries a 64-bit mask of the sources that run before each
    /// check, for 64 sources at a time: a pass per 64 distinct sources, not one per pair.
    fn runs_after(&self, pairs: &[(usize, usize)]) -> Vec<bool> {
        // Each distinct source gets a slot, in the order first asked about; a batch is 64 slots.
        let mut slot = vec![usize::MAX; self.len()];
        let mut sources = Vec::new();
        let mut asked: Vec<Vec<usize>> = Vec::new();
        for (k, &(_, source)) in pairs.iter().enumerate() {
            if slot[source] == usize::MAX {
                slot[source] = sources.len();
                sources.push(source);
            }
            let batch = slot[source] / 64;
            if asked.len() <= batch {
                asked.resize_with(batch + 1, Vec::new);
            }
            asked[batch].push(k);
        }
        let order = self.order();
        let mut before = vec![0u64; self.len()];
        let mut answers = vec![false; pairs.len()];
        for (chunk, questions) in sources.chunks(64).zip(&asked) {
            before.fill(0);
            for (bit, &source) in chunk.iter().enumerate() {
                before[source] |= 1 << bit;
            }
            for &i in &order {
                let mask = before[i];
                if mask != 0 {
                    for &d in &self.dependents[i] {
                        before[d] |= mask;
                    }
                }
            }
            for &k in questions {
                let (reader, source) = pairs[k];
                let bit = 1 << (slot[source] % 64);
                answers[k] = reader != source && before[reader] & bit != 0;
            }
        }
        answers
    }
}

/// What an `after:` on a `warn` check means: it orders, and never holds anything back.
impl Graph {
    /// One note per warn check that something runs after: when that starts, and that it runs
    /// whatever the warn check's result.
    pub fn warn_orderings(&self, checks: &[CheckSpec]) -> Vec<String> {
        self.warn_checks_with_dependents(checks)
            .map(|(i, after)| {
                let name = &self.names[i];
                let (starts, runs) = if after.len() == 1 {
                    ("starts", "runs")
                } else {
                    ("start", "run")
                };
                let failed = match checks[i].timeout {
                    Some(t) => format!("its timeout {} has passed", human_duration(t)),
                    None => "failed an attempt (it has no timeout)".to_string(),
                };
                format!(
                    "checks.{name} is on_fail: warn, so an `after` on it only orders: {} {starts} once {name} has passed or {failed}, and {runs} either way",
                    self.listed(&after)
                )
            })
            .collect()
    }

    /// Warn checks whose own timeout outlasts the gate: while one keeps failing, what runs
    /// after it waits, and the deadline fails the gate.
    pub fn warn_waits_past(&self, checks: &[CheckSpec], deadline: Duration) -> Vec<String> {
        self.warn_checks_with_dependents(checks)
            .filter_map(|(i, after)| {
                let timeout = checks[i].timeout.filter(|t| *t >= deadline)?;
                let name = &self.names[i];
                let (waits, whom) = if after.len() == 1 {
                    ("waits", self.names[after[0]].as_str())
                } else {
                    ("wait", "them")
                };
                Some(format!(
                    "checks.{name}.timeout {} is not shorter than the deadline {}: while {name} keeps failing, {} {waits} for it and the gate fails at the deadline; shorten the timeout, or drop it to start {whom} after {name}'s first failed attempt",
                    human_duration(timeout),
                    human_duration(deadline),
                    self.listed(&after),
                ))
            })
            .collect()
    }

    fn warn_checks_with_dependents<'s>(
        &'s self,
        checks: &'s [CheckSpec],
    ) -> impl Iterator<Item = (usize, Vec<usize>)> + 's {
        checks
            .iter()
            .enumerate()
            .filter(|(i, c)| c.on_fail == OnFail::Warn && !self.dependents[*i].is_empty())
            .map(|(i, _)| (i, self.dependents[i].clone()))
    }

    /// `a`, `a, b, c`, or `a, b, c and 7 more`: a note stays one readable line.
    fn listed(&self, checks: &[usize]) -> String {
        const SHOWN: usize = 3;
        let names: Vec<&str> = checks
            .iter()
            .take(SHOWN)
            .map(|&i| self.names[i].as_str())
            .collect();
        match checks.len().checked_sub(SHOWN) {
            Some(more) if more > 0 => format!("{} and {more} more", names.join(", ")),
            _ => names.join(", "),
        }
    }
}

/// Problems sorted by where they are: merged settings (`<<`) put keys out of file order.
fn in_file_order(mut problems: Vec<Diagnostic>) -> Vec<Diagnostic> {
    config::in_file_order(&mut problems);
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckSpec, Kind, Pos, SecretSource};

    fn spec(name: &str, after: &[&str]) -> CheckSpec {
        CheckSpec {
            name: name.into(),
            pos: Pos::default(),
            kind: Kind::Secret(SecretSource::Env("X".into())),
            after: after
                .iter()
                .map(|a| (a.to_string(), Pos::default()))
                .collect(),
            on_fail: OnFail::Require,
            timeout: None,
            attempt_timeout: Duration::from_secs(1),
            max_interval: Duration::from_millis(100),
            stall_after: Duration::from_secs(30),
            missing_input: None,
            watch: false,
        }
    }

    #[test]
    fn levels_follow_dependencies() {
        let g = Graph::build(&[
            spec("a", &[]),
            spec("b", &["a"]),
            spec("c", &[]),
            spec("d", &["b", "c"]),
        ])
        .unwrap();
        assert_eq!(g.levels(), vec![vec![0, 2], vec![1], vec![3]]);
    }

    #[test]
    fn cycle_is_named_member_by_member() {
        let err = Graph::build(&[
            spec("a", &["c"]),
            spec("b", &["a"]),
            spec("c", &["b"]),
            spec("x", &[]),
        ])
        .unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: a -> c -> b -> a");
        let err = Graph::build(&[spec("a", &["a"])]).unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: a -> a");
        let names: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
        let specs: Vec<CheckSpec> = (0..100)
            .map(|i| spec(&names[i], &[&names[(i + 1) % 100]]))
            .collect();
        assert_eq!(
            Graph::build(&specs).unwrap_err().to_string(),
            "dependency cycle: c0 -> c1 -> c2 -> c3 -> c4 -> c5 -> c6 -> c7 -> c8 -> c9 -> … 89 more … -> c99 -> c0"
        );
    }

    #[test]
    fn unknown_dependency_gets_a_suggestion() {
        let err = Graph::build(&[spec("hf-token", &[]), spec("w", &["hf-tokn"])]).unwrap_err();
        assert!(err.to_string().contains("did you mean hf-token?"), "{err}");
    }

    #[test]
    fn long_chain_does_not_overflow() {
        let names: Vec<String> = (0..5000).map(|i| format!("c{i}")).collect();
        let specs: Vec<CheckSpec> = (0..5000)
            .map(|i| {
                if i == 0 {
                    spec(&names[0], &[])
                } else {
                    spec(&names[i], &[&names[i - 1]])
                }
            })
            .collect();
        let g = Graph::build(&specs).unwrap();
        assert_eq!(g.levels().len(), 5000);
    }

    #[test]
    fn runs_after_follows_chains_and_batches_past_64_sources() {
        let g = Graph::build(&[
            spec("a", &[]),
            spec("b", &["a"]),
            spec("c", &["b"]),
            spec("d", &[]),
        ])
        .unwrap();
        assert_eq!(
            g.runs_after(&[(2, 0), (0, 2), (3, 0), (1, 1), (2, 1)]),
            [true, false, false, false, true]
        );
        // 100 roots and one check after the odd ones: two batches of sources.
        let roots: Vec<String> = (0..100).map(|i| format!("r{i}")).collect();
        let odd: Vec<&str> = roots
            .iter()
            .skip(1)
            .step_by(2)
            .map(String::as_str)
            .collect();
        let mut specs: Vec<CheckSpec> = roots.iter().map(|r| spec(r, &[])).collect();
        specs.push(spec("sink", &odd));
        let g = Graph::build(&specs).unwrap();
        let pairs: Vec<(usize, usize)> = (0..100).map(|i| (100, i)).collect();
        let expected: Vec<bool> = (0..100).map(|i| i % 2 == 1).collect();
        assert_eq!(g.runs_after(&pairs), expected);
    }

    #[test]
    fn a_pin_read_from_another_check_needs_a_gpu_check_that_runs_first() {
        let config = crate::config::load_with(
            "checks:\n  gpu: {kind: gpu}\n  token: {kind: secret, env: T}\n  m:\n    kind: manifest\n    manifest: m.yaml\n    after: [token]\n    effective:\n      cuda: {check: gpu}\n      driver: {check: gpuu}\n      build: {check: token, fact: driver}\n",
            &[],
        )
        .unwrap();
        let Err(GraphError::Invalid(problems)) = Graph::build(&config.checks) else {
            panic!("accepted");
        };
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {p}", p.pos.unwrap_or_default()))
            .collect();
        assert_eq!(
            text,
            [
                "9:21: checks.m.effective.cuda.check: m must run after gpu to read what it discovered: add `after: [gpu]` to checks.m",
                "10:23: checks.m.effective.driver.check: no check named `gpuu` (did you mean gpu?)",
                "11:22: checks.m.effective.build.check: token is a secret check; only a gpu check discovers values to pin",
            ]
        );
        let fixed = crate::config::load_with(
            "checks:\n  gpu: {kind: gpu}\n  token: {kind: secret, env: T, after: [gpu]}\n  m:\n    kind: manifest\n    manifest: m.yaml\n    after: [token]\n    effective:\n      cuda: {check: gpu}\n",
            &[],
        )
        .unwrap();
        assert!(Graph::build(&fixed.checks).is_ok());
    }
}
