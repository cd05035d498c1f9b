//! `tcp`: a connection to `host:port` succeeds.

use tokio::net::{TcpStream, lookup_host};

use super::{Attempt, Failure};
use crate::config::Text;
use crate::text::io_phrase;

pub struct TcpCheck {
    address: Text,
}

impl TcpCheck {
    pub fn new(address: &Text) -> Self {
        TcpCheck {
            address: address.clone(),
        }
    }

    pub async fn attempt(&mut self) -> Attempt {
        let shown = &self.address.written;
        connect(&self.address.value)
            .await
            .map(|_| "connected".to_string())
            .map_err(|e| Failure::retry(format!("connect {shown}: {e}")))
    }
}

/// Why a connection, or a request on one, got no answer. A refusal (nothing listens there) is
/// told apart: to the guard, a server that refuses after it had answered has gone away, which a
/// timeout does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoAnswer {
    pub refused: bool,
    pub reason: String,
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl From<String> for NoAnswer {
    fn from(reason: String) -> NoAnswer {
        NoAnswer {
            refused: false,
            reason,
        }
    }
}

impl From<NoAnswer> for String {
    fn from(e: NoAnswer) -> String {
        e.reason
    }
}

/// Connects to the first resolved address that accepts; the error of the last one otherwise.
pub async fn connect(address: &str) -> Result<TcpStream, NoAnswer> {
    let addrs = lookup_host(address).await.map_err(|e| NoAnswer {
        refused: false,
        reason: format!("cannot resolve: {}", io_phrase(&e)),
    })?;
    let mut last = NoAnswer {
        refused: false,
        reason: "name resolved to no address".into(),
    };
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Nagle would hold back the small request of an http check.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => {
                last = NoAnswer {
                    refused: e.kind() == std::io::ErrorKind::ConnectionRefused,
                    reason: io_phrase(&e),
                }
            }
        }
    }
    Err(last)
}
