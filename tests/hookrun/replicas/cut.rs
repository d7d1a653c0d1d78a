//! A proxy on 127.0.0.1 between one replica and PostgreSQL (plain protocol: the replica
//! connects with `sslmode=disable`) that, once armed, breaks the connection at the `COMMIT` of
//! the next transaction that ran a given statement: after passing the `COMMIT` on (it commits,
//! the answer is lost) or before (it does not). Everything else passes through unchanged.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where the armed proxy breaks the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The server gets the `COMMIT` and commits; its answer never reaches the replica.
    AfterCommit,
    /// The `COMMIT` never reaches the server: the transaction is rolled back.
    BeforeCommit,
}

struct Shared {
    upstream: u16,
    /// A piece of the statement whose transaction's `COMMIT` is cut.
    marker: &'static str,
    armed: Mutex<Option<Cut>>,
    cuts: AtomicUsize,
}

/// The proxy. It runs on a thread of its own: the tests' runtime blocks while a replica starts.
pub struct CommitCutter {
    pub port: u16,
    shared: Arc<Shared>,
    /// Ends the proxy when dropped.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl CommitCutter {
    /// A proxy to PostgreSQL on `upstream` that cuts transactions running `marker`.
    pub async fn start(upstream: u16, marker: &'static str) -> CommitCutter {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking socket");
        let port = listener.local_addr().expect("an address").port();
        let shared = Arc::new(Shared {
            upstream,
            marker,
            armed: Mutex::new(None),
            cuts: AtomicUsize::new(0),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the proxy's runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("the proxy's listener");
                let mut connections = tokio::task::JoinSet::new();
                tokio::select! {
                    _ = stopped => {}
                    () = async {
                        while let Ok((client, _)) = listener.accept().await {
                            connections.spawn(relay(client, serving.clone()));
                        }
                    } => {}
                }
            });
        });
        CommitCutter {
            port,
            shared,
            _stop: stop,
        }
    }

    /// Cuts the next transaction that runs the marker.
    pub fn arm(&self, cut: Cut) {
        *self.shared.armed.lock().unwrap() = Some(cut);
    }

    /// Whether the armed cut has not happened yet.
    pub fn armed(&self) -> bool {
        self.shared.armed.lock().unwrap().is_some()
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
    }
}

/// One frontend message: its type byte (none for the startup message) and the rest.
async fn read_message(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    typed: bool,
) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; if typed { 5 } else { 4 }];
    from.read_exact(&mut head).await?;
    let at = head.len() - 4;
    let len = u32::from_be_bytes(head[at..].try_into().expect("four bytes")) as usize;
    let mut message = head;
    message.resize(at + len, 0);
    from.read_exact(&mut message[at + 4..]).await?;
    Ok(message)
}

async fn relay(client: TcpStream, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", shared.upstream)).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    // The server's answers, dropped once muted (the lost answer to a COMMIT).
    let muted = Arc::new(AtomicBool::new(false));
    let mute = muted.clone();
    let down = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from_server.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) if !mute.load(Ordering::SeqCst) => {
                    if to_client.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
            }
        }
    });
    let mut typed = false;
    let mut marked = false;
    while let Ok(message) = read_message(&mut from_client, typed).await {
        if typed {
            let (kind, body) = (message[0], &message[5..]);
            let text = String::from_utf8_lossy(body);
            if kind == b'Q' && (text.starts_with("BEGIN") || text.starts_with("ROLLBACK")) {
                marked = false;
            }
            if matches!(kind, b'P' | b'Q') && text.contains(shared.marker) {
                marked = true;
            }
            if kind == b'Q' && body == b"COMMIT\0" {
                let cut = if marked {
                    shared.armed.lock().unwrap().take()
                } else {
                    None
                };
                marked = false;
                if let Some(cut) = cut {
                    if cut == Cut::AfterCommit {
                        muted.store(true, Ordering::SeqCst);
                        let _ = to_server.write_all(&message).await;
                        // Time for the server to commit before the connection goes.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    shared.cuts.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            }
        }
        // The startup message comes without a type byte (with sslmode=disable no SSL
        // request comes before it); every message after it has one.
        typed = true;
        if to_server.write_all(&message).await.is_err() {
            break;
        }
    }
    down.abort();
}
