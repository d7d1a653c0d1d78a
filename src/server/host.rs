//! The Host header check of RFC 9112 §3.2, made on every request before it is routed: an
//! HTTP/1.1 request without Host, any request with several Host lines, or one whose Host is not
//! `uri-host [ ":" port ]` (RFC 3986 §3.2.2-3) is refused with 400. Proxies route on Host, so a
//! request that names no server, or two, must not reach a hook. HTTP/1.0 requests may omit it.
//!
//! The answers are the reference's (Go's `net/http` server): the same status line, text and
//! `Connection: close`. Go checks only which bytes a Host holds; this checks its grammar, so
//! `a:b:c`, `%zz` or `[::1` are refused here and accepted there.

use http::{header, Request, Version};

/// What is wrong with a request's Host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostProblem {
    /// An HTTP/1.1 request without Host.
    Missing,
    /// More than one Host line.
    Several,
    /// A Host that is not `uri-host [ ":" port ]`.
    Malformed,
}

impl HostProblem {
    /// The status line's reason phrase, as Go's server writes it.
    pub fn reason_phrase(self) -> &'static [u8] {
        match self {
            HostProblem::Missing => b"Bad Request: missing required Host header",
            HostProblem::Several => b"Bad Request",
            HostProblem::Malformed => b"Bad Request: malformed Host header",
        }
    }

    /// The body, as Go's server writes it.
    pub fn text(self) -> &'static str {
        match self {
            HostProblem::Missing => "400 Bad Request: missing required Host header",
            HostProblem::Several => "400 Bad Request",
            HostProblem::Malformed => "400 Bad Request: malformed Host header",
        }
    }
}

/// Checks the Host header lines of `req`.
pub fn check<B>(req: &Request<B>) -> Result<(), HostProblem> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(HostProblem::Several);
    }
    match first {
        Some(host) if is_valid(host.as_bytes()) => Ok(()),
        Some(_) => Err(HostProblem::Malformed),
        None if req.version() <= Version::HTTP_10 => Ok(()),
        None => Err(HostProblem::Missing),
    }
}

/// `Host = uri-host [ ":" port ]`, `uri-host = IP-literal / IPv4address / reg-name`,
/// `port = *DIGIT`. An empty Host is valid: the target had no authority.
fn is_valid(host: &[u8]) -> bool {
    let (name, port) = match host.strip_prefix(b"[") {
        Some(rest) => {
            let Some(end) = rest.iter().position(|&b| b == b']') else {
                return false;
            };
            if !is_ip_literal(&rest[..end]) {
                return false;
            }
            (&[][..], &rest[end + 1..])
        }
        None => match host.iter().position(|&b| b == b':') {
            Some(colon) => (&host[..colon], &host[colon..]),
            None => (host, &[][..]),
        },
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    port_ok && is_reg_name(name)
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`, which IPv4 addresses satisfy too.
/// Checked on every request: a name without escapes (almost every Host) is checked with one
/// table lookup per byte.
fn is_reg_name(name: &[u8]) -> bool {
    name.iter().all(|&b| REG_NAME[usize::from(b)]) || is_pct_or(name, |b| REG_NAME[usize::from(b)])
}

/// The bytes a reg-name holds as they are (unreserved and sub-delims), by value.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_unreserved(b as u8) || is_sub_delim(b as u8);
        b += 1;
    }
    table
};

/// The inside of `[...]`: `IPv6address [ "%25" ZoneID ]` (RFC 6874; a bare `%` is taken too,
/// as clients send it) or `IPvFuture`.
fn is_ip_literal(inner: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = inner {
        let Some(dot) = rest.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (version, tail) = (&rest[..dot], &rest[dot + 1..]);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
    }
    let (address, zone) = match inner.iter().position(|&b| b == b'%') {
        Some(p) => (&inner[..p], Some(&inner[p + 1..])),
        None => (inner, None),
    };
    let zone_ok = match zone {
        None => true,
        Some(z) => {
            let z = z.strip_prefix(b"25").unwrap_or(z);
            !z.is_empty() && is_pct_or(z, is_unreserved)
        }
    };
    zone_ok && std::str::from_utf8(address).is_ok_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
}

/// Every byte passes `allowed` or starts a `%XX` escape.
fn is_pct_or(text: &[u8], allowed: impl Fn(u8) -> bool) -> bool {
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%' {
            let hex = text.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
        } else if allowed(text[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, hosts: &[&[u8]]) -> Request<()> {
        let mut req = Request::builder().version(version).uri("/hooks/x");
        for h in hosts {
            req = req.header(header::HOST, http::HeaderValue::from_bytes(h).unwrap());
        }
        req.body(()).unwrap()
    }

    type Case = (Version, &'static [&'static [u8]], Result<(), HostProblem>);

    #[test]
    fn the_reg_name_table_holds_unreserved_and_sub_delims() {
        for b in 0..=255u8 {
            let want = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b);
            assert_eq!(REG_NAME[usize::from(b)], want, "{b:#04x}");
        }
        assert!(is_reg_name(b"127.0.0.1") && is_reg_name(b"a%41b") && is_reg_name(b""));
        assert!(!is_reg_name(b"a%4") && !is_reg_name(b"a b") && !is_reg_name(b"a/b"));
    }

    #[test]
    fn missing_several_and_malformed_hosts() {
        use HostProblem::*;
        let cases: &[Case] = &[
            (Version::HTTP_11, &[b"example.com"], Ok(())),
            (Version::HTTP_11, &[], Err(Missing)),
            (Version::HTTP_10, &[], Ok(())),
            (Version::HTTP_09, &[], Ok(())),
            (Version::HTTP_11, &[b"a", b"b"], Err(Several)),
            (Version::HTTP_10, &[b"a", b"a"], Err(Several)),
            (Version::HTTP_11, &[b"a b"], Err(Malformed)),
            (Version::HTTP_10, &[b"a/b"], Err(Malformed)),
        ];
        for (version, hosts, want) in cases {
            assert_eq!(
                check(&request(*version, hosts)),
                *want,
                "{version:?} {hosts:?}"
            );
        }
    }

    #[test]
    fn host_grammar() {
        let valid: &[&str] = &[
            "",
            "example.com",
            "example.com:9000",
            "example.com:",
            "127.0.0.1",
            "127.0.0.1:80",
            "my_host.local",
            "xn--bcher-kva.example",
            "a%20b",
            "!$&'()*+,;=-._~",
            "[::1]",
            "[::1]:9000",
            "[2001:db8::7]",
            "[::ffff:192.0.2.1]",
            "[fe80::1%25eth0]",
            "[fe80::1%eth0]:80",
            "[v1.fe80::a+en1]",
        ];
        let invalid: &[&str] = &[
            "a b",
            "a/b",
            "a?b",
            "a#b",
            "a@b",
            "user@host",
            "a:b:c",
            "host:80a",
            "host:-1",
            "%zz",
            "a%2",
            "[::1",
            "::1",
            "[::1]x",
            "[::1]:8x",
            "[not-ipv6]",
            "[::g]",
            "[fe80::1%]",
            "[v1.]",
            "[vx.a]",
            "exa\u{e9}mple",
            "a\"b",
            "<a>",
        ];
        for h in valid {
            assert!(is_valid(h.as_bytes()), "{h:?} should be valid");
        }
        for h in invalid {
            assert!(!is_valid(h.as_bytes()), "{h:?} should be invalid");
        }
    }
}
