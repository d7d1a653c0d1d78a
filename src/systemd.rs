//! systemd integration without systemd's library: socket activation (the listener systemd
//! opened, `LISTEN_FDS`/`LISTEN_PID`) and the notify protocol (`READY=1`, `RELOADING=1`,
//! `STOPPING=1`, `STATUS=…` as datagrams to `NOTIFY_SOCKET`). Both are read once at start and
//! removed from the environment, so hook commands neither inherit the listener's variables nor
//! can speak for hookrun to systemd.
//!
//! The notify protocol is one datagram per message on a Unix socket: a few lines over std's
//! `UnixDatagram` (abstract addresses included) rather than a crate. Taking an inherited file
//! descriptor needs `unsafe` (`FromRawFd`), which this crate forbids: `listenfd` does it after
//! checking that the descriptor is a listening stream socket of the expected family.

use std::io;
use std::os::unix::net::UnixDatagram;

/// A listener systemd handed over (`.socket` unit).
#[derive(Debug)]
pub enum Inherited {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// The first listener systemd passed, if it passed any to this process. Errors when what was
/// passed is not a stream socket hookrun can serve on.
pub fn inherited_listener() -> io::Result<Option<Inherited>> {
    let mut fds = listenfd::ListenFd::from_env();
    std::env::remove_var("LISTEN_FDNAMES");
    if fds.len() == 0 {
        return Ok(None);
    }
    if fds.len() > 1 {
        tracing::warn!(
            count = fds.len(),
            "systemd passed several sockets; serving on the first only"
        );
    }
    let listener = match fds.take_tcp_listener(0) {
        Ok(Some(tcp)) => Inherited::Tcp(tcp),
        _ => match fds.take_unix_listener(0)? {
            Some(unix) => Inherited::Unix(unix),
            None => return Ok(None),
        },
    };
    match &listener {
        Inherited::Tcp(l) => l.set_nonblocking(true)?,
        Inherited::Unix(l) => l.set_nonblocking(true)?,
    }
    Ok(Some(listener))
}

/// Tells systemd how the service is doing (`Type=notify`); does nothing when not started by
/// systemd with a notify socket.
#[derive(Debug)]
pub struct Notifier {
    target: Option<Target>,
}

#[derive(Debug)]
enum Target {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

impl Notifier {
    /// The notifier of `NOTIFY_SOCKET`, which is removed from the environment.
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|value| {
            let bytes = std::os::unix::ffi::OsStrExt::as_bytes(value.as_os_str()).to_vec();
            match bytes.first() {
                Some(b'@') => Some(Target::Abstract(bytes[1..].to_vec())),
                Some(b'/') => Some(Target::Path(value.into())),
                _ => None,
            }
        });
        std::env::remove_var("NOTIFY_SOCKET");
        Notifier { target }
    }

    /// `READY=1`: start-up (or a reload) is complete.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// `RELOADING=1`, with the monotonic time systemd 253's `Type=notify-reload` wants; a
    /// `READY=1` ends it.
    pub fn reloading(&self) {
        let usec = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000)
            .unwrap_or(0);
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading hooks"
        ));
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=finishing running jobs");
    }

    fn send(&self, message: &str) {
        let Some(target) = &self.target else {
            return;
        };
        let sent = UnixDatagram::unbound().and_then(|socket| match target {
            Target::Path(path) => socket.send_to(message.as_bytes(), path),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(message.as_bytes(), &addr)
            }
        });
        if let Err(e) = sent {
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    }
}
