//! The `http` check's part of the config, and what a sentinel query shares with it: a URL
//! checked when the config is read, its credentials hidden, and `expect.max_body`.

use super::fields::{Ctx, Expander, Fields, required, scalar, string_list};
use super::units::parse_size;
use super::yaml::{Node, Pos};
use super::{DEFAULT_MAX_BODY, HttpSpec, Kind, Text};
use crate::echo;

pub const KEYS: &[&str] = &["url", "method", "headers", "expect"];
pub(super) const EXPECT_KEYS: &[&str] = &["status", "body_contains", "max_body"];
/// An answer judged on its JSON is held whole while it is read; past this, the guard's own
/// memory limit is at stake.
const MAX_BODY_CEILING: u64 = 64 << 20;
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Checks a URL at config time, so a typo is a config error (exit 2), not a retry loop.
/// The reason never quotes the URL: it may hold a `${VAR}` value; the caller names the field
/// as written.
pub fn validate_url(url: &str) -> Result<(), String> {
    // `host:8000/health` is no URL at all to a parser; say what it lacks.
    if !url.contains("://") {
        return Err("must start with http:// or https://".into());
    }
    let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") if cfg!(feature = "tls") => {}
        Some("https") => {
            return Err(
                "https needs TLS, and this build has none: use a build with the `tls` feature, or http://"
                    .into(),
            );
        }
        _ => return Err("must start with http:// or https://".into()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(())
}

/// The credentials in a URL that must never be shown, less those too short to hide (as with
/// `${VAR}` values).
pub fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = crate::userinfo::secrets(url);
    secrets.retain(|s| s.chars().count() >= crate::redact::MIN_HIDDEN_LEN);
    secrets
}

pub(super) fn read(
    f: &mut Fields<'_>,
    pos: Pos,
    ex: &mut Expander<'_>,
    cx: &mut Ctx<'_>,
) -> Option<Kind> {
    let url_node = required(f, "url", pos, cx)?;
    let url = credentials_hidden(ex.text(url_node, "url", cx)?, cx);
    if !usable_url(&url, url_node.pos, &f.path("url"), cx) {
        return None;
    }
    let method = match f.get("method") {
        Some(node) => {
            let m = scalar(node, &f.path("method"), cx)?.to_ascii_uppercase();
            if !METHODS.contains(&m.as_str()) {
                cx.problem(
                    node.pos,
                    &f.path("method"),
                    format!(
                        "unknown method `{}`; expected one of: {}",
                        echo::value(&m),
                        METHODS.join(", ")
                    ),
                );
                return None;
            }
            m
        }
        None => "GET".to_string(),
    };
    let headers = match f.get("headers") {
        Some(node) => header_map(node, &f.path("headers"), cx, |name, value, cx| {
            ex.text(value, &format!("headers.{name}"), cx)
        }),
        None => Vec::new(),
    };
    let mut status = Vec::new();
    let mut body_contains = None;
    let mut max_body = DEFAULT_MAX_BODY;
    if let Some(node) = f.get("expect") {
        let mut ef = Fields::of(node, &f.path("expect"), cx)?;
        if let Some(s) = ef.get("status") {
            let field = ef.path("status");
            for (code, code_pos) in string_list(s, &field, cx) {
                match code.parse::<u16>() {
                    Ok(c) if (100..=599).contains(&c) => status.push(c),
                    _ => cx.problem(
                        code_pos,
                        &field,
                        format!("`{}` is not an HTTP status code", echo::value(&code)),
                    ),
                }
            }
        }
        if let Some(b) = ef.get("body_contains") {
            body_contains = ex.text(b, "expect.body_contains", cx);
        }
        max_body = body_bound(&mut ef, cx);
        ef.finish(EXPECT_KEYS, cx);
    }
    Some(Kind::Http(HttpSpec {
        url,
        method,
        headers,
        status,
        body_contains,
        max_body,
    }))
}

/// A `headers` map: each name checked as HTTP has it, each value read by `value`.
pub(super) fn header_map<T>(
    node: &Node,
    field: &str,
    cx: &mut Ctx<'_>,
    mut value: impl FnMut(&str, &Node, &mut Ctx<'_>) -> Option<T>,
) -> Vec<(String, T)> {
    let mut headers = Vec::new();
    let Some(mut hf) = Fields::of(node, field, cx) else {
        return headers;
    };
    for (name, name_pos, node) in hf.entries {
        if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            cx.problem(
                *name_pos,
                &hf.field,
                format!("`{}` is not a valid header name", echo::value(name)),
            );
            continue;
        }
        if let Some(v) = value(name, node, cx) {
            headers.push((name.clone(), v));
        }
    }
    hf.used.iter_mut().for_each(|u| *u = true);
    hf.finish(&[], cx);
    headers
}

/// Whether `url` can be asked, as far as the config can tell; if not, a problem at `pos`. An
/// empty one (an unset `${VAR}`) is a missing input, judged when the check runs.
pub(super) fn usable_url(url: &Text, pos: Pos, field: &str, cx: &mut Ctx<'_>) -> bool {
    if url.value.is_empty() {
        return true;
    }
    match validate_url(&url.value) {
        Ok(()) => true,
        Err(message) => {
            let message = format!("`{}`: {message}", echo::value(&url.written));
            cx.problem(pos, field, message);
            false
        }
    }
}

/// A URL's userinfo is a credential: shown masked, and hidden wherever a server echoes it.
pub(super) fn credentials_hidden(mut url: Text, cx: &mut Ctx<'_>) -> Text {
    url.written = crate::userinfo::masked(&url.written);
    cx.sensitive.extend(url_secrets(&url.value));
    url
}

/// `expect.max_body`: how much of an answer may be read to judge it.
pub(super) fn body_bound(expect: &mut Fields<'_>, cx: &mut Ctx<'_>) -> u64 {
    expect
        .parsed("max_body", cx, |text| match parse_size(text)? {
            bytes @ 1..=MAX_BODY_CEILING => Ok(bytes),
            _ => Err(format!(
                "`{text}` is out of range: from 1 byte to 64MiB; an answer is read up to it"
            )),
        })
        .unwrap_or(DEFAULT_MAX_BODY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_validation() {
        assert!(validate_url("http://127.0.0.1:9000/health").is_ok());
        assert!(
            validate_url("ftp://u:hunter2@x/")
                .unwrap_err()
                .contains("http://")
        );
        assert!(
            !validate_url("ftp://u:hunter2@x/")
                .unwrap_err()
                .contains("hunter2")
        );
        assert!(validate_url("127.0.0.1:9000").is_err());
        assert_eq!(
            validate_url("localhost:8000/health").unwrap_err(),
            "must start with http:// or https://"
        );
        if !cfg!(feature = "tls") {
            assert!(
                validate_url("https://x/")
                    .unwrap_err()
                    .contains("`tls` feature")
            );
        }
    }
}
