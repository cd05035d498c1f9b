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

/// Connects to the first resolved address that accepts; the error of the last one otherwise.
pub async fn connect(address: &str) -> Result<TcpStream, String> {
    let addrs = lookup_host(address)
        .await
        .map_err(|e| format!("cannot resolve: {}", io_phrase(&e)))?;
    let mut last = String::from("name resolved to no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Nagle would hold back the small request of an http check.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = io_phrase(&e),
        }
    }
    Err(last)
}
