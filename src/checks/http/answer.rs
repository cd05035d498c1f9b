//! An answer's body, read only as far as the expectations on it need: its start for an
//! excerpt, a streamed search for a marker, or the whole of it, within `max_body`, for JSON.

use http_body_util::BodyExt;
use hyper::Response;
use hyper::body::{Body, Bytes, Incoming};
use tokio::task::AbortHandle;

use crate::heartbeat::Heartbeat;
use crate::text::human_bytes;

/// The reason for an answer past the bound, naming the key that sets it.
fn too_large(max: u64) -> String {
    format!("the answer is larger than {} (max_body)", human_bytes(max))
}

/// The reason for [`Search::NotWithin`].
pub fn lacks_within(max: u64, needle: &str) -> String {
    format!(
        "{} and its first {} lack `{needle}`",
        too_large(max),
        human_bytes(max)
    )
}

/// A response whose status is known and whose body is still on the wire.
pub struct Answer {
    pub status: u16,
    body: Incoming,
    /// The task driving the connection: the connection goes with the answer.
    driver: AbortHandle,
}

/// What a search for a marker found.
pub enum Search {
    Found,
    /// The whole body was read without it; its first `keep` bytes, for an excerpt.
    Absent {
        head: Vec<u8>,
    },
    /// The first `max_body` bytes lack it, and the answer goes on.
    NotWithin,
}

impl Answer {
    pub(super) fn new(response: Response<Incoming>, driver: AbortHandle) -> Answer {
        Answer {
            status: response.status().as_u16(),
            body: response.into_body(),
            driver,
        }
    }

    /// The next piece of the body; `None` at its end.
    async fn next(&mut self, heartbeat: &Heartbeat) -> Result<Option<Bytes>, String> {
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(format!("the answer broke off: {e}")),
                Some(Ok(frame)) => {
                    heartbeat.beat();
                    // Trailers carry no body.
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// Up to `limit` bytes of the body's start: as much as arrived when it broke off.
    pub async fn head(mut self, limit: usize, heartbeat: &Heartbeat) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < limit {
            match self.next(heartbeat).await {
                Ok(Some(data)) => {
                    let room = limit - out.len();
                    out.extend_from_slice(&data[..data.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        out
    }

    /// Reads until `needle` is seen, the body ends, or `max` bytes have gone by, holding only
    /// the first `keep` bytes (for an excerpt) and the few a match across two pieces needs.
    pub async fn find(
        mut self,
        needle: &[u8],
        max: u64,
        keep: usize,
        heartbeat: &Heartbeat,
    ) -> Result<Search, String> {
        if needle.is_empty() {
            return Ok(Search::Found);
        }
        let mut head = Vec::new();
        let mut carry: Vec<u8> = Vec::with_capacity(2 * needle.len());
        let mut left = max;
        while let Some(data) = self.next(heartbeat).await? {
            let over = data.len() as u64 > left;
            let data = &data[..data.len().min(usize::try_from(left).unwrap_or(usize::MAX))];
            left -= data.len() as u64;
            let room = keep - head.len();
            head.extend_from_slice(&data[..data.len().min(room)]);
            // A match may straddle the previous piece and this one.
            let overlap = needle.len() - 1;
            carry.extend_from_slice(&data[..data.len().min(overlap)]);
            if contains(&carry, needle) || contains(data, needle) {
                return Ok(Search::Found);
            }
            if over {
                return Ok(Search::NotWithin);
            }
            if data.len() >= overlap {
                carry.clear();
                carry.extend_from_slice(&data[data.len() - overlap..]);
            } else {
                carry.drain(..carry.len().saturating_sub(overlap));
            }
        }
        Ok(Search::Absent { head })
    }

    /// The whole body, if it is no larger than `max`; an answer that says it is larger is
    /// refused unread.
    pub async fn whole(mut self, max: u64, heartbeat: &Heartbeat) -> Result<Vec<u8>, String> {
        let declared = self.body.size_hint().exact();
        if declared.is_some_and(|length| length > max) {
            return Err(too_large(max));
        }
        let limit = usize::try_from(max).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(declared.map_or(0, |length| length as usize));
        while let Some(data) = self.next(heartbeat).await? {
            if data.len() > limit - out.len() {
                return Err(too_large(max));
            }
            // Doubling as usual, but never past the bound: a body just under it must not
            // cost twice its size.
            let need = out.len() + data.len();
            if need > out.capacity() {
                let grown = out.capacity().saturating_mul(2).clamp(need, limit);
                out.reserve_exact(grown - out.len());
            }
            out.extend_from_slice(&data);
        }
        Ok(out)
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// A plain scan from one occurrence of the needle's first byte to the next: needles are short
/// config strings, and the body is bounded by `max_body`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut from = 0;
    while let Some(found) = haystack[from..].iter().position(|&b| b == first) {
        let at = from + found;
        if haystack[at + 1..].starts_with(rest) {
            return true;
        }
        from = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_finds_needles_anywhere_and_only_whole() {
        assert!(contains(b"model serving", b"serving"));
        assert!(contains(b"serving", b"serving"));
        assert!(!contains(b"servin", b"serving"));
        assert!(!contains(b"", b"x"));
        assert!(contains(b"sserving", b"serving"));
        assert!(contains(b"x", b""));
        assert!(!contains(b"s", b"serving"));
    }
}
