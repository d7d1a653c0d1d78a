//! The client's address as hooks see it: Go's `RemoteAddr` text, written the first time a rule
//! or command reads it (most hooks never do: writing it for every request cost an allocation
//! and a few hundred instructions).

use std::net::SocketAddr;
use std::sync::OnceLock;

/// A request's remote address: a socket address (`None` on a Unix socket), and its text once
/// read.
#[derive(Debug, Clone)]
pub struct RemoteAddr {
    addr: Option<SocketAddr>,
    text: OnceLock<String>,
}

impl RemoteAddr {
    /// The address a connection was accepted from.
    pub fn new(addr: Option<SocketAddr>) -> Self {
        RemoteAddr {
            addr,
            text: OnceLock::new(),
        }
    }

    /// `ip:port` (`[ip]:port` for IPv6, `@` on a Unix socket), as Go's `RemoteAddr`.
    pub fn as_str(&self) -> &str {
        self.text.get_or_init(|| remote_text(self.addr))
    }
}

/// An address given as text (tests, and requests built without a connection).
impl From<&str> for RemoteAddr {
    fn from(text: &str) -> Self {
        RemoteAddr {
            addr: None,
            text: OnceLock::from(text.to_string()),
        }
    }
}

/// An empty address, as an empty `RemoteAddr` string is.
impl Default for RemoteAddr {
    fn default() -> Self {
        RemoteAddr::from("")
    }
}

/// The client's address as Go's `RemoteAddr` writes it (`ip:port`, `[ip]:port` for IPv6), `@`
/// on a Unix socket. IPv4 is written by hand, as bytes: the formatting machinery took as long
/// as the rest of a rejected request's bookkeeping, and pushing chars one at a time half that.
pub fn remote_text(remote: Option<SocketAddr>) -> String {
    /// Writes `n` in decimal at `out[len..]`; returns the new length.
    fn put_decimal(out: &mut [u8; 21], len: usize, n: u16) -> usize {
        let digits = match n {
            0..=9 => 1,
            10..=99 => 2,
            100..=999 => 3,
            1_000..=9_999 => 4,
            _ => 5,
        };
        let mut n = n;
        for slot in out[len..len + digits].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        len + digits
    }
    match remote {
        None => "@".to_string(),
        Some(SocketAddr::V4(addr)) => {
            // At most "255.255.255.255:65535": 21 bytes.
            let mut out = [0u8; 21];
            let mut len = 0;
            for (i, octet) in addr.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out[len] = b'.';
                    len += 1;
                }
                len = put_decimal(&mut out, len, u16::from(octet));
            }
            out[len] = b':';
            len = put_decimal(&mut out, len + 1, addr.port());
            String::from_utf8(out[..len].to_vec()).expect("digits, dots and a colon are ASCII")
        }
        Some(addr) => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_addresses_are_written_as_go_writes_them() {
        for addr in [
            "0.0.0.0:0",
            "127.0.0.1:8080",
            "10.20.30.40:65535",
            "255.255.255.255:1",
            "9.99.199.1:10",
            "100.10.1.0:100",
            "1.2.3.4:1000",
            "1.2.3.4:9999",
            "1.2.3.4:10000",
            "[::1]:9000",
            "[2001:db8::1%3]:443",
        ] {
            let parsed: SocketAddr = addr.parse().expect("an address");
            assert_eq!(remote_text(Some(parsed)), parsed.to_string(), "{addr}");
            assert_eq!(RemoteAddr::new(Some(parsed)).as_str(), addr, "{addr}");
        }
        assert_eq!(remote_text(None), "@");
        assert_eq!(RemoteAddr::new(None).as_str(), "@");
        assert_eq!(RemoteAddr::from("10.0.0.1:5").as_str(), "10.0.0.1:5");
        assert_eq!(RemoteAddr::default().as_str(), "");
    }
}
