//! `http`: a request answers with an expected status (and optionally a body substring).
//!
//! Plain HTTP in the default build; `https://` through rustls with the `tls` feature.

mod answer;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::rt::{Read, Write};
use hyper_util::rt::TokioIo;

pub use answer::{Answer, Search, lacks_within};

use super::tcp::NoAnswer;
use super::{Attempt, Failure, Shared};
use crate::config::HttpSpec;
use crate::heartbeat::Heartbeat;
use crate::redact::{End, Redactor};

pub struct HttpCheck {
    spec: HttpSpec,
    redactor: Redactor,
}

/// One HTTP request, as the http check and the sentinel make it.
pub struct Outgoing<'a> {
    pub url: &'a str,
    pub method: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a str>,
}

/// Where a URL sends a request.
pub struct Target {
    pub https: bool,
    pub host: String,
    /// `host:port`, to connect to.
    pub address: String,
    /// The Host header: the URL's authority without credentials.
    pub authority: String,
    pub path: String,
}

impl HttpCheck {
    pub fn new(spec: &HttpSpec, shared: &Shared) -> Self {
        HttpCheck {
            spec: spec.clone(),
            redactor: shared.redactor.clone(),
        }
    }

    pub async fn attempt(&mut self, heartbeat: &Heartbeat) -> Attempt {
        let shown = format!("{} {}", self.spec.method, self.spec.url.written);
        self.exchange(heartbeat)
            .await
            .map_err(|reason| Failure::retry(format!("{shown}: {reason}")))
    }

    async fn exchange(&self, heartbeat: &Heartbeat) -> Result<String, String> {
        let headers: Vec<(&str, &str)> = self
            .spec
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.value.as_str()))
            .collect();
        let request = Outgoing {
            url: &self.spec.url.value,
            method: &self.spec.method,
            headers: &headers,
            body: None,
        };
        let answer = fetch(&request, heartbeat).await?;
        let status = answer.status;
        if !status_wanted(&self.spec.status, status) {
            let want = describe_statuses(&self.spec.status);
            let excerpt = quote_answer(answer, &self.redactor, heartbeat).await;
            // Quoted: a body of `ok` must not read as the verdict.
            return Err(if excerpt.is_empty() {
                format!("status {status}, want {want}")
            } else {
                format!("status {status}, want {want}, body {excerpt:?}")
            });
        }
        let Some(needle) = &self.spec.body_contains else {
            return Ok(format!("status {status}"));
        };
        let max = self.spec.max_body;
        let keep = self.redactor.quoted_bytes();
        match answer
            .find(needle.value.as_bytes(), max, keep, heartbeat)
            .await?
        {
            Search::Found => Ok(format!("status {status}")),
            Search::Absent { head } => Err(format!(
                "status {status} but the body lacks `{}`: {:?}",
                needle.written,
                quote(&self.redactor, &head, keep).await
            )),
            Search::NotWithin => Err(format!(
                "status {status} but {}",
                lacks_within(max, &needle.written)
            )),
        }
    }
}

/// Whether `status` is one the expectations list; none listed means any 2xx.
pub fn status_wanted(wanted: &[u16], status: u16) -> bool {
    if wanted.is_empty() {
        (200..300).contains(&status)
    } else {
        wanted.contains(&status)
    }
}

/// The start of an answer's body, read now, as a reason may show it.
pub async fn quote_answer(answer: Answer, redactor: &Redactor, heartbeat: &Heartbeat) -> String {
    let limit = redactor.quoted_bytes();
    quote(redactor, &answer.head(limit, heartbeat).await, limit).await
}

/// The start of an answer's body as a reason may show it. A body read only up to `limit` may
/// end inside a secret; that end is dropped.
async fn quote(redactor: &Redactor, head: &[u8], limit: usize) -> String {
    let cut = head.len() >= limit;
    redactor.excerpt(&redactor.outside(head, End::Head, cut).await)
}

/// `2xx` for the default, `200–399` for a run, `200 or 204` otherwise.
fn describe_statuses(status: &[u16]) -> String {
    match status {
        [] => "2xx".to_string(),
        [first, .., last] if status.windows(2).all(|w| w[1] == w[0] + 1) => {
            format!("{first}–{last}")
        }
        _ => status
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

pub fn target(url: &str) -> Result<Target, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().unwrap_or_default().to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    // The Host header names the server as the URL does, less the credentials.
    let authority = uri
        .authority()
        .map(|a| a.as_str().rsplit_once('@').map_or(a.as_str(), |(_, at)| at))
        .map_or_else(|| host.clone(), str::to_string);
    let bare_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok(Target {
        https,
        address: format!("{host}:{port}"),
        host: bare_host,
        authority,
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into()),
    })
}

/// Sends one request on a fresh connection; the answer's body is left to be read as the
/// caller's expectations need it.
pub async fn fetch(out: &Outgoing<'_>, heartbeat: &Heartbeat) -> Result<Answer, NoAnswer> {
    let target = target(out.url)?;
    let stream = super::tcp::connect(&target.address).await?;
    heartbeat.beat();
    let mut request = Request::builder()
        .method(out.method)
        .uri(&target.path)
        .header(hyper::header::HOST, &target.authority)
        .header(
            hyper::header::USER_AGENT,
            concat!("bootgate/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in out.headers {
        request = request.header(*name, *value);
    }
    // Credentials in the URL go as curl sends them, unless an Authorization header is set.
    if !out
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        && let Some(basic) = crate::userinfo::basic_authorization(out.url)
    {
        request = request.header(hyper::header::AUTHORIZATION, basic);
    }
    if out.body.is_some()
        && !out
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        request = request.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let body = Full::new(Bytes::from(out.body.unwrap_or_default().to_string()));
    let request = request
        .body(body)
        .map_err(|e| format!("cannot build request: {e}"))?;
    let answer = if target.https {
        tls_exchange(stream, &target.host, request).await
    } else {
        send(TokioIo::new(stream), request).await
    };
    Ok(answer?)
}

async fn send<I>(io: I, request: Request<Full<Bytes>>) -> Result<Answer, String>
where
    I: Read + Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    // The connection is driven beside the request, until the answer is dropped.
    let driver = tokio::spawn(connection).abort_handle();
    match sender.send_request(request).await {
        Ok(response) => Ok(Answer::new(response, driver)),
        Err(e) => {
            driver.abort();
            Err(format!("request failed: {e}"))
        }
    }
}

#[cfg(feature = "tls")]
async fn tls_exchange(
    stream: tokio::net::TcpStream,
    host: &str,
    request: Request<Full<Bytes>>,
) -> Result<Answer, String> {
    use std::sync::{Arc, OnceLock};
    use tokio_rustls::rustls;

    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let config = CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| format!("TLS setup: {e}"))
        })
        .clone()?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("`{host}` is not a TLS server name: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    send(TokioIo::new(tls), request).await
}

#[cfg(not(feature = "tls"))]
async fn tls_exchange(
    _stream: tokio::net::TcpStream,
    _host: &str,
    _request: Request<Full<Bytes>>,
) -> Result<Answer, String> {
    Err("this build has no TLS support".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_expectations_read_naturally() {
        assert_eq!(describe_statuses(&[]), "2xx");
        assert_eq!(describe_statuses(&[200]), "200");
        assert_eq!(describe_statuses(&[200, 204]), "200 or 204");
        assert_eq!(
            describe_statuses(&(200..400).collect::<Vec<_>>()),
            "200–399"
        );
    }
}
