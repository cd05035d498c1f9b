//! The production-path query: real requests to the model server, judged on status, body,
//! JSON values and latency, run in rounds that never overlap.

mod pointers;
mod v2;

use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::model::Seen;
use crate::checks::http::{
    Answer, Outgoing, Search, fetch, lacks_within, quote_answer, status_wanted,
};
use crate::checks::tcp::NoAnswer;
use crate::config::{
    HeaderSource, JsonExpect, QuerySpec, SentinelSpec, SleepSpec, units::human_duration,
};
use crate::heartbeat::Heartbeat;
use crate::redact::Redactor;

/// How long the sleep probe may take before the server counts as awake.
const SLEEP_PROBE_MAX: Duration = Duration::from_millis(500);
/// A sleep probe's answer is a small JSON document (`/props` is a few KiB).
const SLEEP_ANSWER_MAX: u64 = 256 * 1024;
/// Of a list that lacks the model asked for, this many names are shown…
const LISTED_SHOWN: usize = 8;
/// …each cut to this many characters.
const LISTED_NAME_MAX: usize = 80;

#[derive(Debug, Clone)]
pub struct QueryResult {
    pub name: String,
    pub latency: Duration,
    /// What it saw, its reason cleaned of secrets.
    pub seen: Seen,
}

#[derive(Debug, Clone)]
pub struct Round {
    pub started: Instant,
    pub ended: Instant,
    pub passed: bool,
    pub results: Vec<QueryResult>,
    /// The server said it sleeps, and was asked nothing: why it was not.
    pub sleeping: Option<String>,
}

impl Round {
    /// What the round saw, for the model: a fatal answer anywhere says the most; a round whose
    /// every failure is of one kind (a refusal, the server's "loading", a timeout) says that.
    pub fn seen(&self) -> Seen {
        if let Some(why) = &self.sleeping {
            return Seen::Sleeping(why.clone());
        }
        if self.passed {
            return Seen::Pass;
        }
        let reason = self.reason();
        let failing = || self.results.iter().filter(|r| r.seen != Seen::Pass);
        let all =
            |kind: fn(&Seen) -> bool| failing().count() > 0 && failing().all(|r| kind(&r.seen));
        if failing().any(|r| matches!(r.seen, Seen::Fatal(_))) {
            Seen::Fatal(reason)
        } else if all(|s| matches!(s, Seen::Refused(_))) {
            Seen::Refused(reason)
        } else if all(|s| matches!(s, Seen::Loading(_))) {
            Seen::Loading(reason)
        } else if all(|s| matches!(s, Seen::Timeout(_))) {
            Seen::Timeout(reason)
        } else {
            Seen::Failed(reason)
        }
    }

    /// One line on why the round failed, naming the failing queries.
    pub fn reason(&self) -> String {
        let failures: Vec<String> = self
            .results
            .iter()
            .filter_map(|r| r.seen.failure().map(|f| format!("{}: {f}", r.name)))
            .collect();
        if failures.is_empty() {
            "all queries passed".into()
        } else {
            failures.join("; ")
        }
    }
}

/// Runs every query at once, each under `timeout` — unless the server says it sleeps and may
/// not be woken (`wake`): a request would wake it, or (vLLM's, at first) crash it.
pub async fn round(
    spec: &SentinelSpec,
    timeout: Duration,
    redactor: &Redactor,
    wake: bool,
) -> Round {
    let started = Instant::now();
    // Held short: a probe that hangs with the engine must not add a whole timeout to the
    // round. No answer in time reads as awake.
    let probe_deadline = timeout.min(SLEEP_PROBE_MAX);
    if let Some(sleep) = spec.sleep.as_ref().filter(|_| !wake)
        && let Ok(Some(why)) = tokio::time::timeout(probe_deadline, sleeping(sleep, redactor)).await
    {
        return Round {
            started,
            ended: Instant::now(),
            passed: false,
            results: Vec::new(),
            sleeping: Some(why),
        };
    }
    let mut running = JoinSet::new();
    for (i, query) in spec.queries.iter().enumerate() {
        let query = query.clone();
        let redactor = redactor.clone();
        running.spawn(async move { (i, run_query(&query, timeout, &redactor).await) });
    }
    let mut results: Vec<Option<QueryResult>> = vec![None; spec.queries.len()];
    while let Some(done) = running.join_next().await {
        if let Ok((i, result)) = done {
            results[i] = Some(result);
        }
    }
    let results: Vec<QueryResult> = results
        .into_iter()
        .zip(&spec.queries)
        .map(|(r, q)| {
            r.unwrap_or_else(|| QueryResult {
                name: q.name.clone(),
                latency: Duration::ZERO,
                seen: Seen::Failed("the query did not finish".into()),
            })
        })
        .collect();
    let passing = results.iter().filter(|r| r.seen == Seen::Pass).count();
    let passed = !results.is_empty() && passing as f64 / results.len() as f64 >= spec.min_pass;
    Round {
        started,
        ended: Instant::now(),
        passed,
        results,
        sleeping: None,
    }
}

/// Why the server counts as sleeping; `None` for any answer but a JSON `true` at the
/// pointer (a 404 is a server without sleep mode), so the probe never stands in the way.
async fn sleeping(sleep: &SleepSpec, redactor: &Redactor) -> Option<String> {
    let owned = header_values(&sleep.headers, redactor).await.ok()?;
    let headers: Vec<(&str, &str)> = owned
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let request = Outgoing {
        url: &sleep.url.value,
        method: "GET",
        headers: &headers,
        body: None,
    };
    let heartbeat = Heartbeat::default();
    let answer = fetch(&request, &heartbeat).await.ok()?;
    if !(200..300).contains(&answer.status) {
        return None;
    }
    let body = answer.whole(SLEEP_ANSWER_MAX, &heartbeat).await.ok()?;
    let text = String::from_utf8_lossy(&body);
    let found = pointers::values_at(&text, &[sleep.pointer.as_str()]).ok()?;
    (found.first()? == &Some(serde_json::Value::Bool(true))).then(|| {
        format!(
            "{} says {} is true: no query is sent while it sleeps",
            sleep.url.written, sleep.pointer
        )
    })
}

async fn run_query(query: &QuerySpec, timeout: Duration, redactor: &Redactor) -> QueryResult {
    let started = Instant::now();
    let seen = match &query.missing_input {
        Some(missing) => Seen::Failed(missing.clone()),
        None => match tokio::time::timeout(timeout, ask(query, redactor)).await {
            Ok(Ok(())) => Seen::Pass,
            Ok(Err(seen)) => seen,
            Err(_) => Seen::Timeout(format!("no answer within {}", human_duration(timeout))),
        },
    };
    let latency = started.elapsed();
    let seen = match query.max_latency {
        Some(max) if seen == Seen::Pass && latency > max => Seen::Failed(format!(
            "answered in {}, over max_latency {}",
            human_duration(latency),
            human_duration(max)
        )),
        _ => seen,
    };
    QueryResult {
        name: query.name.clone(),
        latency,
        seen: seen.map_reason(|why| redactor.clean(why)),
    }
}

/// Header values for this round; a file-backed one is read now, so a rotated token is used at
/// once, and its value is hidden from every output before it is sent anywhere.
async fn header_values(
    headers: &[(String, HeaderSource)],
    redactor: &Redactor,
) -> Result<Vec<(String, String)>, String> {
    let mut values = Vec::with_capacity(headers.len());
    for (name, source) in headers {
        let value = match source {
            HeaderSource::Text(text) => text.value.clone(),
            HeaderSource::File { path, prefix } => {
                let at = std::path::PathBuf::from(&path.value);
                // A token file, bounded and never blocking, as every secret file is read.
                let read = crate::checks::blocking(move || {
                    crate::files::read_text(&at, crate::checks::secret::MAX_SECRET_BYTES)
                })
                .await
                .map_err(|f| f.reason)?;
                let secret = read
                    .map_err(|e| {
                        format!(
                            "header {name}: cannot read {}: {}",
                            path.written,
                            crate::text::io_phrase(&e)
                        )
                    })?
                    .trim()
                    .to_string();
                if secret.is_empty() {
                    return Err(format!("header {name}: {} is empty", path.written));
                }
                redactor.add(secret.clone());
                format!("{prefix}{secret}")
            }
        };
        values.push((name.clone(), value));
    }
    Ok(values)
}

async fn ask(query: &QuerySpec, redactor: &Redactor) -> Result<(), Seen> {
    let owned = header_values(&query.headers, redactor).await?;
    let headers: Vec<(&str, &str)> = owned
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let built = match query.body_from_v2_metadata {
        true => Some(v2::inference_body(query, &headers, redactor).await?),
        false => None,
    };
    let request = Outgoing {
        url: &query.url.value,
        method: &query.method,
        headers: &headers,
        body: built
            .as_deref()
            .or(query.body.as_ref().map(|b| b.value.as_str())),
    };
    let heartbeat = Heartbeat::default();
    let answer = fetch(&request, &heartbeat).await.map_err(unanswered)?;
    let status = answer.status;
    if !status_wanted(&query.status, status) {
        let excerpt = quote_answer(answer, redactor, &heartbeat).await;
        let why = format!("status {status}: {excerpt}");
        return Err(if query.fatal_status.contains(&status) {
            Seen::Fatal(why)
        } else if query.loading_status.contains(&status) {
            Seen::Loading(why)
        } else {
            Seen::Failed(why)
        });
    }
    Ok(judge_body(answer, query, &heartbeat).await?)
}

/// A request that got no answer: refused, or anything else that kept one from coming.
fn unanswered(e: NoAnswer) -> Seen {
    if e.refused {
        Seen::Refused(e.reason)
    } else {
        Seen::Failed(e.reason)
    }
}

/// `body_contains` and `json`, reading no more of the answer than they need.
async fn judge_body(
    answer: Answer,
    query: &QuerySpec,
    heartbeat: &Heartbeat,
) -> Result<(), String> {
    let max = query.max_body;
    if query.json.is_empty() {
        // A marker alone is searched for as the answer streams in, never held whole.
        let Some(needle) = &query.body_contains else {
            return Ok(());
        };
        // The reason names the marker only: none of the answer is kept for it.
        return match answer
            .find(needle.value.as_bytes(), max, 0, heartbeat)
            .await?
        {
            Search::Found => Ok(()),
            Search::Absent { .. } => Err(format!("the body lacks `{}`", needle.written)),
            Search::NotWithin => Err(lacks_within(max, &needle.written)),
        };
    }
    let body = answer.whole(max, heartbeat).await?;
    let text = String::from_utf8_lossy(&body);
    if let Some(needle) = &query.body_contains
        && !text.contains(needle.value.as_str())
    {
        return Err(format!("the body lacks `{}`", needle.written));
    }
    // A pointer with a `*` is read up to its list, and looked through after.
    let wanted: Vec<&str> = query
        .json
        .iter()
        .map(|(p, _)| pointers::split_star(p).map_or(p.as_str(), |(list, _)| list))
        .collect();
    let found =
        pointers::values_at(&text, &wanted).map_err(|e| format!("the body is not JSON ({e})"))?;
    for ((pointer, expect), value) in query.json.iter().zip(&found) {
        match (expect, pointers::split_star(pointer)) {
            (JsonExpect::Includes(want), Some((_, rest))) => {
                includes(value.as_ref(), rest, want, pointer)?
            }
            _ => check_json(value.as_ref(), pointer, expect)?,
        }
    }
    Ok(())
}

/// The text of a JSON value as expectations compare it: a string's own text, any other value's
/// JSON form (`4` equals 4 and "4").
fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether one element of `list` has `want` at `rest`; if none does, the reason lists what
/// the elements have (a server's model names), escaped and capped.
fn includes(
    list: Option<&serde_json::Value>,
    rest: &str,
    want: &str,
    pointer: &str,
) -> Result<(), String> {
    let Some(serde_json::Value::Array(items)) = list else {
        return Err(format!("{pointer}: no list there"));
    };
    let have: Vec<String> = items
        .iter()
        .filter_map(|item| pointers::at(item, rest))
        .map(json_text)
        .collect();
    if have.iter().any(|h| h == want) {
        return Ok(());
    }
    if have.is_empty() {
        return Err(format!("`{want}` is not served: {pointer} lists none"));
    }
    let shown: Vec<String> = have
        .iter()
        .take(LISTED_SHOWN)
        .map(|h| format!("`{}`", crate::echo::capped(h, LISTED_NAME_MAX)))
        .collect();
    let more = match have.len().saturating_sub(LISTED_SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Err(format!(
        "`{want}` is not served: {pointer} lists {}{more}",
        shown.join(", ")
    ))
}

fn check_json(
    found: Option<&serde_json::Value>,
    pointer: &str,
    expect: &JsonExpect,
) -> Result<(), String> {
    let text = found.map(json_text);
    match (expect, text) {
        (JsonExpect::Exists(true), Some(_)) | (JsonExpect::Exists(false), None) => Ok(()),
        (JsonExpect::Exists(true), None) => Err(format!("{pointer} is missing")),
        (JsonExpect::Exists(false), Some(_)) => Err(format!("{pointer} is present")),
        (JsonExpect::Equals(want), Some(got)) if got == *want => Ok(()),
        (JsonExpect::Contains(want), Some(got)) if got.contains(want.as_str()) => Ok(()),
        // What it is instead says the most (the model a server serves); capped, and cleaned of
        // secrets with the rest of the reason.
        (JsonExpect::Equals(want), Some(got)) => Err(format!(
            "{pointer} is `{}`, not `{want}`",
            crate::echo::capped(&got, LISTED_NAME_MAX)
        )),
        (JsonExpect::Contains(want), Some(_)) => Err(format!("{pointer} lacks `{want}`")),
        (JsonExpect::Includes(want), Some(got)) if got == *want => Ok(()),
        (JsonExpect::Includes(want), Some(_)) => Err(format!("{pointer} is not `{want}`")),
        (_, None) => Err(format!("{pointer} is missing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_expectations() {
        let doc: serde_json::Value =
            serde_json::from_str(r#"{"choices": [{"text": " 4", "index": 0}]}"#).unwrap();
        let judge =
            |pointer: &str, expect: JsonExpect| check_json(doc.pointer(pointer), pointer, &expect);
        assert!(judge("/choices/0/text", JsonExpect::Contains("4".into())).is_ok());
        assert!(judge("/choices/0/index", JsonExpect::Equals("0".into())).is_ok());
        assert!(judge("/choices/1", JsonExpect::Exists(false)).is_ok());
        assert_eq!(
            judge("/choices/0/text", JsonExpect::Equals("4".into())),
            Err("/choices/0/text is ` 4`, not `4`".into())
        );
        assert_eq!(
            judge("/usage", JsonExpect::Exists(true)),
            Err("/usage is missing".into())
        );
    }
}
