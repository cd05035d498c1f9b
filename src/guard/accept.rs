//! The probe server's front door: it accepts connections and keeps at most [`MAX_CONNECTIONS`]
//! of them open, and it never turns a new one away. The kubelet opens a fresh connection for each
//! probe and sends its whole request at once, so the newest connection is the likeliest probe.
//! At the cap, the open connection that has waited longest on its client (for a request head,
//! between kept-alive requests, or for it to take an answer) is closed to make room.

use std::collections::HashMap;
use std::future::Future;
use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{AbortHandle, Id, JoinError, JoinSet};

use super::server::{self, Shared};

/// Bounds the memory connections can hold (docs/operations.md derives the bound). It sits well
/// under the 1,024 open files a container may get by default, so the cap, not the file limit, is
/// what a flood meets.
pub const MAX_CONNECTIONS: usize = 512;
/// How long to wait before accepting again when the process is out of files or memory and no
/// connection of ours can be closed to free one.
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);

pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    serve_capped(listener, shared, stop, MAX_CONNECTIONS).await;
}

async fn serve_capped(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    cap: usize,
) {
    let mut open = Open::new(cap);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if open.make_room(cap) {
                        shared.metrics.evicted.inc();
                        // The closed connection's task is dropped, its memory freed, before the
                        // next one is accepted.
                        tokio::task::yield_now().await;
                    }
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    open.spawn(move |progress| async move {
                        let _ = server::connection(stream, &shared, peer, || progress.mark()).await;
                    });
                }
                // The client left before we took its connection: nothing to do.
                Err(e) if matches!(
                    e.kind(),
                    ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
                ) => {}
                // Out of files (a file limit under the cap) or memory. The listener stays ready,
                // so retrying at once would spin: free a file, or give the system a moment.
                Err(_) => {
                    if open.close_longest_waiting() {
                        shared.metrics.evicted.inc();
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(ACCEPT_PAUSE).await;
                    }
                }
            },
            Some(ended) = open.tasks.join_next_with_id() => open.forget(ended),
            _ = stop.changed() => return,
        }
    }
}

/// A connection's place in the order of progress: a tick of a counter all connections share,
/// taken when it opened and again at each request. The smallest has waited longest.
struct Progress {
    clock: Arc<AtomicU64>,
    last: Arc<AtomicU64>,
}

impl Progress {
    fn mark(&self) {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        self.last.store(now, Ordering::Relaxed);
    }
}

/// The open connections: each one's task, its last progress, and the handle that closes it.
struct Open {
    tasks: JoinSet<()>,
    entries: HashMap<Id, Entry>,
    clock: Arc<AtomicU64>,
}

struct Entry {
    last: Arc<AtomicU64>,
    abort: AbortHandle,
}

impl Open {
    fn new(cap: usize) -> Open {
        Open {
            tasks: JoinSet::new(),
            entries: HashMap::with_capacity(cap),
            clock: Arc::new(AtomicU64::new(0)),
        }
    }

    fn spawn<F, Fut>(&mut self, connection: F)
    where
        F: FnOnce(Progress) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let opened = self.clock.fetch_add(1, Ordering::Relaxed);
        let last = Arc::new(AtomicU64::new(opened));
        let progress = Progress {
            clock: self.clock.clone(),
            last: last.clone(),
        };
        let abort = self.tasks.spawn(connection(progress));
        self.entries.insert(abort.id(), Entry { last, abort });
    }

    /// Room for one more below `cap`: connections that ended are forgotten first, and if that is
    /// not enough, the one that has waited longest is closed. True when one was closed.
    fn make_room(&mut self, cap: usize) -> bool {
        if self.entries.len() < cap {
            return false;
        }
        // Ended tasks keep their entries until reaped; only open connections count.
        while let Some(ended) = self.tasks.try_join_next_with_id() {
            self.forget(ended);
        }
        self.entries.len() >= cap && self.close_longest_waiting()
    }

    /// Closes the connection whose last progress is oldest; false when none is open. A scan: it
    /// runs only at the cap, over a few hundred entries.
    fn close_longest_waiting(&mut self) -> bool {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, entry)| entry.last.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        let Some(entry) = oldest.and_then(|id| self.entries.remove(&id)) else {
            return false;
        };
        entry.abort.abort();
        true
    }

    /// A connection's task ended: on its own, or closed here (then it is already gone).
    fn forget(&mut self, ended: Result<(Id, ()), JoinError>) {
        let id = match ended {
            Ok((id, ())) => id,
            Err(e) => e.id(),
        };
        self.entries.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const PROBE: &[u8] = b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    async fn server(cap: usize) -> (std::net::SocketAddr, Arc<Shared>, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve_capped(listener, shared.clone(), stopped, cap));
        (address, shared, stop)
    }

    /// Reads until the server closes the connection; what it sent.
    async fn until_closed(stream: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// Connects and waits until the server has answered a request on the connection, so it is
    /// surely accepted and stamped.
    async fn served_keep_alive(address: std::net::SocketAddr) -> TcpStream {
        let mut stream = TcpStream::connect(address).await.unwrap();
        ask_again(&mut stream).await;
        stream
    }

    /// Asks on a kept-alive connection and reads the answer: progress, and proof the connection
    /// is still open.
    async fn ask_again(stream: &mut TcpStream) {
        stream
            .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }

    async fn probe(address: std::net::SocketAddr) -> String {
        let mut probe = TcpStream::connect(address).await.unwrap();
        probe.write_all(PROBE).await.unwrap();
        until_closed(&mut probe).await
    }

    // Connections are accepted in the order they connect, and each helper below waits for an
    // answer, so every connection is accepted and stamped before the next step.

    #[tokio::test]
    async fn at_the_cap_the_connection_that_waited_longest_makes_room() {
        let (address, shared, _stop) = server(3).await;
        let mut first = served_keep_alive(address).await;
        let mut second = served_keep_alive(address).await;
        let mut third = served_keep_alive(address).await;
        // The first asks again: now the second has waited longest.
        ask_again(&mut first).await;

        assert!(probe(address).await.starts_with("HTTP/1.1 200"));
        assert_eq!(until_closed(&mut second).await, "");
        assert_eq!(shared.metrics.evicted.get(), 1);
        ask_again(&mut first).await;
        ask_again(&mut third).await;
    }

    #[tokio::test]
    async fn a_slow_head_is_no_progress() {
        let (address, _shared, _stop) = server(3).await;
        let mut kept = served_keep_alive(address).await;
        // Opened later than `kept`, but it never finishes its head.
        let mut slow = TcpStream::connect(address).await.unwrap();
        slow.write_all(b"GET /livez HTTP/1.1\r\nX-Slow: a")
            .await
            .unwrap();
        let mut later = served_keep_alive(address).await;
        ask_again(&mut kept).await;

        assert!(probe(address).await.starts_with("HTTP/1.1 200"));
        assert_eq!(until_closed(&mut slow).await, "");
        ask_again(&mut kept).await;
        ask_again(&mut later).await;
    }
}
