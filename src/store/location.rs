//! Where the store keeps its data: the `-state` flag parsed into a [`Location`] (memory, an
//! SQLite folder, or a PostgreSQL server with its TLS options). A PostgreSQL password never
//! leaves this type in text: `Display`, `Debug` and every error name the server without it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::StoreError;

/// Where the store keeps its data: the `-state` flag.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Location {
    /// No `-state`: memory only, no files.
    #[default]
    Memory,
    /// A folder holding `hookrun.db` (`-state /var/lib/hookrun` or `-state sqlite:///path`).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by every replica (`-state postgres://…`).
    Postgres(Box<PgTarget>),
}

impl std::str::FromStr for Location {
    type Err = StoreError;

    /// A folder, `sqlite:///abs/folder`, `sqlite:rel/folder`, `postgres://…` or
    /// `postgresql://…`; empty means memory.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| StoreError::Location(redact_url(s), why.to_string());
        if s.is_empty() {
            return Ok(Location::Memory);
        }
        if let Some(rest) = s.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("names no folder"));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return match scheme {
                "postgres" | "postgresql" => {
                    PgTarget::parse(s).map(|t| Location::Postgres(Box::new(t)))
                }
                _ => Err(bad(
                    "unknown scheme; use a folder, sqlite:///folder or postgres://…",
                )),
            };
        }
        Ok(Location::Sqlite(PathBuf::from(s)))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Memory => f.write_str("memory"),
            Location::Sqlite(dir) => write!(f, "sqlite://{}", dir.display()),
            Location::Postgres(target) => target.fmt(f),
        }
    }
}

/// How the connection to PostgreSQL is encrypted and checked: libpq's `sslmode` values, with
/// libpq's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, its certificate not checked (libpq's default).
    #[default]
    Prefer,
    /// TLS or nothing; the certificate is checked against `sslrootcert` when one is given.
    Require,
    /// TLS, the certificate chain checked against `sslrootcert` (or the system's roots).
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" | "allow" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// The TLS options of a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgTls {
    pub mode: SslMode,
    /// `sslrootcert`: PEM file of the certificate authorities to trust.
    pub root_cert: Option<PathBuf>,
    /// `sslcert` and `sslkey`: a client certificate and its key (PEM).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// A PostgreSQL server and database, from a `postgres://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct PgTarget {
    /// What tokio-postgres connects with (its `Debug` hides the password).
    pub config: tokio_postgres::Config,
    pub tls: PgTls,
    /// The URL without its password, for logs and errors.
    shown: String,
}

impl PgTarget {
    /// Parses `postgres://user[:password]@host[:port]/db?param=value…`. libpq's parameters are
    /// accepted (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `connect_timeout`,
    /// `application_name`, `options`, keepalives, several hosts, a socket folder as host).
    pub fn parse(url: &str) -> Result<PgTarget, StoreError> {
        let shown = redact_url(url);
        let bad = |why: String| StoreError::Location(shown.clone(), why);
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut tls = PgTls::default();
        let (mut cert, mut key) = (None, None);
        let mut rest = form_urlencoded::Serializer::new(String::new());
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "sslmode" => {
                    tls.mode = SslMode::parse(&value)
                        .ok_or_else(|| bad(format!("unknown sslmode {value:?}")))?;
                }
                "sslrootcert" => tls.root_cert = Some(PathBuf::from(&*value)),
                "sslcert" => cert = Some(PathBuf::from(&*value)),
                "sslkey" => key = Some(PathBuf::from(&*value)),
                _ => {
                    rest.append_pair(&name, &value);
                }
            }
        }
        tls.client_cert = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(bad("sslcert and sslkey go together".into())),
        };
        let rest = rest.finish();
        let text = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{rest}")
        };
        let mut config: tokio_postgres::Config = text
            .parse()
            .map_err(|e: tokio_postgres::Error| bad(e.to_string()))?;
        if config.get_dbname().is_none() {
            return Err(bad(
                "names no database (postgres://user@host/DATABASE)".into()
            ));
        }
        config.ssl_mode(match tls.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("hookrun");
        }
        // A dead server is noticed in seconds, not after the kernel's two hours.
        config.keepalives_idle(Duration::from_secs(10));
        config.keepalives_interval(Duration::from_secs(5));
        config.keepalives_retries(3);
        Ok(PgTarget { config, tls, shown })
    }

    /// Whether the URL (or a later [`PgTarget::set_password`]) gave a password.
    pub fn has_password(&self) -> bool {
        self.config.get_password().is_some()
    }

    /// Sets the password (read from a file, a credential or the environment).
    pub fn set_password(&mut self, password: &str) {
        self.config.password(password);
    }
}

impl fmt::Display for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.shown)
            .field("tls", &self.tls)
            .finish()
    }
}

/// `url` with the password of its user part and any `password` parameter replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_urls() {
        for (text, want) in [
            ("", Location::Memory),
            (
                "/var/lib/hookrun",
                Location::Sqlite("/var/lib/hookrun".into()),
            ),
            ("sqlite:///var/lib/x", Location::Sqlite("/var/lib/x".into())),
            ("sqlite:rel", Location::Sqlite("rel".into())),
        ] {
            assert_eq!(text.parse::<Location>().unwrap(), want, "{text}");
        }
        for bad in [
            "mysql://x",
            "sqlite:",
            "postgres://u@h",
            "postgres://u@h/db?sslmode=maybe",
            "postgres://u@h/db?sslcert=/c.pem",
            "postgres://u@h/db?nonsense=1",
        ] {
            assert!(bad.parse::<Location>().is_err(), "{bad}");
        }
    }

    #[test]
    fn postgres_urls_keep_libpq_meanings() {
        let Ok(Location::Postgres(t)) = "postgresql://hookrun@db.example:6432/jobs?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=3&application_name=x"
            .parse::<Location>()
        else {
            panic!("not parsed");
        };
        assert_eq!(t.config.get_user(), Some("hookrun"));
        assert_eq!(t.config.get_dbname(), Some("jobs"));
        assert_eq!(t.config.get_ports(), &[6432]);
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        assert_eq!(t.config.get_application_name(), Some("x"));
        assert_eq!(t.tls.mode, SslMode::VerifyFull);
        assert_eq!(t.tls.root_cert, Some(PathBuf::from("/ca.pem")));
        assert!(!t.has_password());
        let Ok(Location::Postgres(t)) = "postgres://u@h/db".parse::<Location>() else {
            panic!("not parsed");
        };
        assert_eq!(t.tls.mode, SslMode::Prefer, "libpq's default");
        assert_eq!(t.config.get_application_name(), Some("hookrun"));
    }

    #[test]
    fn passwords_are_never_shown() {
        let url = "postgres://hookrun:s3cret-pw@db:5432/jobs?sslmode=require";
        let loc: Location = url.parse().unwrap();
        let Location::Postgres(t) = &loc else {
            panic!("not postgres")
        };
        assert_eq!(t.config.get_password(), Some(&b"s3cret-pw"[..]));
        for shown in [
            loc.to_string(),
            format!("{loc:?}"),
            format!("{:?}", t.config),
        ] {
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        assert_eq!(
            loc.to_string(),
            "postgres://hookrun:***@db:5432/jobs?sslmode=require"
        );
        let err = "postgres://u:s3cret@h/db?sslmode=bogus"
            .parse::<Location>()
            .unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=s3cret"),
            "postgres://h/db?user=u&password=***"
        );
    }
}
