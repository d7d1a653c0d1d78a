//! Mail over SMTP with lettre and rustls: the server settings (`-smtp URL`, `-smtp-from`,
//! `-smtp-ca`, `-smtp-insecure-skip-verify`, the password from `-smtp-password-file` or
//! `HOOKRUN_SMTP_PASSWORD`), and sending a notice as a `multipart/alternative` message
//! (plain text and HTML, UTF-8).
//!
//! URL schemes: `smtp://` (no TLS; for a relay on the same host or network), `smtp+starttls://`
//! (STARTTLS required, port 587 by default) and `smtps://` (TLS from the first byte, port 465
//! by default). The user goes in the URL (`smtps://ops%40example.com@smtp.example.com`); a
//! password in the URL is refused, since the URL is a flag value and shows in `ps`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use url::Url;

use super::compose;
use super::config::Secret;
use super::delivery::SendError;
use super::message::Notice;

/// How the connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// `smtp://`: no TLS.
    Plain,
    /// `smtp+starttls://`: STARTTLS, required.
    StartTls,
    /// `smtps://`: implicit TLS.
    Implicit,
}

/// Everything needed to reach the mail server.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub security: Security,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub from: Mailbox,
    /// Extra trusted CA certificates (PEM), added to the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any certificate (seed 001's `MAIL_TLS_CHECK=false`).
    pub insecure_skip_verify: bool,
    /// For one SMTP conversation.
    pub timeout: Duration,
}

/// Why the SMTP settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("-smtp: {0}")]
    Url(String),
    #[error("-smtp-from {from:?}: {reason}")]
    From { from: String, reason: String },
    #[error("{what} {path}: {source}")]
    File {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Tls(String),
}

/// The SMTP flags as given.
#[derive(Clone, Debug, Default)]
pub struct SmtpFlags<'a> {
    pub url: &'a str,
    pub from: Option<&'a str>,
    pub ca_file: Option<&'a Path>,
    pub insecure_skip_verify: bool,
    pub password_file: Option<&'a Path>,
    /// `HOOKRUN_SMTP_PASSWORD`, read by the caller.
    pub password_env: Option<String>,
}

/// Default time for one SMTP conversation.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

impl SmtpSettings {
    /// Settings from the `-smtp*` flags. The password file wins over the environment.
    pub fn from_flags(flags: &SmtpFlags) -> Result<SmtpSettings, SmtpConfigError> {
        let url =
            Url::parse(flags.url).map_err(|e| SmtpConfigError::Url(format!("invalid URL: {e}")))?;
        let (security, default_port) = match url.scheme() {
            "smtp" => (Security::Plain, 25),
            "smtp+starttls" => (Security::StartTls, 587),
            "smtps" => (Security::Implicit, 465),
            other => {
                return Err(SmtpConfigError::Url(format!(
                    "unknown scheme {other:?} (smtp, smtp+starttls or smtps)"
                )))
            }
        };
        if url.password().is_some() {
            return Err(SmtpConfigError::Url(
                "a password in the URL would show in the process list: use -smtp-password-file or HOOKRUN_SMTP_PASSWORD".into(),
            ));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| SmtpConfigError::Url("the URL needs a host".into()))?
            .trim_matches(['[', ']'])
            .to_string();
        let user = Some(percent_decode(url.username())).filter(|u| !u.is_empty());
        let from_text = flags
            .from
            .map(str::to_string)
            .or_else(|| user.clone().filter(|u| u.contains('@')));
        let Some(from_text) = from_text else {
            return Err(SmtpConfigError::From {
                from: String::new(),
                reason: "a sender address is needed (-smtp-from, or a user in the -smtp URL that is an address)".into(),
            });
        };
        let from = Mailbox::from_str(&from_text).map_err(|e| SmtpConfigError::From {
            from: from_text.clone(),
            reason: e.to_string(),
        })?;
        let password = match flags.password_file {
            Some(path) => Some(read_secret(path)?),
            None => flags
                .password_env
                .clone()
                .filter(|p| !p.is_empty())
                .map(Secret::new),
        };
        let ca_pem = flags
            .ca_file
            .map(|path| {
                std::fs::read(path).map_err(|source| SmtpConfigError::File {
                    what: "-smtp-ca",
                    path: path.display().to_string(),
                    source,
                })
            })
            .transpose()?;
        Ok(SmtpSettings {
            security,
            host,
            port: url.port().unwrap_or(default_port),
            user,
            password,
            from,
            ca_pem,
            insecure_skip_verify: flags.insecure_skip_verify,
            timeout: SMTP_TIMEOUT,
        })
    }

    /// `smtps://ops@example.com@smtp.example.com:465`: for logs (no password, ever).
    pub fn label(&self) -> String {
        let scheme = match self.security {
            Security::Plain => "smtp",
            Security::StartTls => "smtp+starttls",
            Security::Implicit => "smtps",
        };
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("{scheme}://{user}{}:{}", self.host, self.port)
    }
}

fn read_secret(path: &Path) -> Result<Secret, SmtpConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| SmtpConfigError::File {
        what: "-smtp-password-file",
        path: path.display().to_string(),
        source,
    })?;
    Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("u={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Sends mail through one server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    label: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.label)
            .finish()
    }
}

impl Mailer {
    /// Builds the transport (no connection is made until a message is sent).
    pub fn new(settings: &SmtpSettings, hello_name: &str) -> Result<Mailer, SmtpConfigError> {
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
                .port(settings.port)
                .timeout(Some(settings.timeout))
                .hello_name(ClientId::Domain(hello_name.to_string()));
        if settings.security != Security::Plain {
            let mut tls = TlsParameters::builder(settings.host.clone())
                .dangerous_accept_invalid_certs(settings.insecure_skip_verify);
            if let Some(pem) = &settings.ca_pem {
                let cert = Certificate::from_pem(pem).map_err(|e| {
                    SmtpConfigError::Tls(format!("-smtp-ca: not a PEM certificate: {e}"))
                })?;
                tls = tls.add_root_certificate(cert);
            }
            let params = tls
                .build_rustls()
                .map_err(|e| SmtpConfigError::Tls(format!("TLS settings: {e}")))?;
            builder = builder.tls(match settings.security {
                Security::Implicit => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if let Some(user) = &settings.user {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Mailer {
            transport: builder.build(),
            from: settings.from.clone(),
            label: settings.label(),
        })
    }

    /// The server, for logs.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Sends `notice` to `to` once.
    pub async fn send(&self, to: &[Mailbox], notice: &Notice) -> Result<(), SendError> {
        let email = self.message(to, notice)?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let text = smtp_error_text(&e);
                // 5xx replies (bad recipient, authentication refused) will not heal by
                // themselves; everything else (4xx, network, TLS) may.
                Err(if e.is_permanent() {
                    SendError::permanent(text)
                } else {
                    SendError::retry(text)
                })
            }
        }
    }

    /// The message as it goes out (RFC 5322, built by lettre).
    pub fn message(&self, to: &[Mailbox], notice: &Notice) -> Result<lettre::Message, SendError> {
        let parts = compose::parts(notice);
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(parts.subject.clone())
            .header(AutoSubmitted);
        for mailbox in to {
            builder = builder.to(mailbox.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                compose::plain(&parts),
                compose::html(&parts),
            ))
            .map_err(|e| SendError::permanent(format!("building the message: {e}")))
    }
}

fn smtp_error_text(e: &lettre::transport::smtp::Error) -> String {
    let mut text = format!("SMTP: {e}");
    let mut source = std::error::Error::source(e);
    // lettre's Display already shows the first cause; add the deeper ones (TLS details).
    if let Some(first) = source {
        source = first.source();
    }
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// `Auto-Submitted: auto-generated` (RFC 3834): vacation responders stay quiet.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(url: &str) -> SmtpFlags<'_> {
        SmtpFlags {
            url,
            ..SmtpFlags::default()
        }
    }

    #[test]
    fn urls_choose_security_and_ports() {
        let s =
            SmtpSettings::from_flags(&flags("smtps://ops%40example.com@smtp.example.com")).unwrap();
        assert_eq!((s.security, s.port), (Security::Implicit, 465));
        assert_eq!(s.user.as_deref(), Some("ops@example.com"));
        assert_eq!(s.from.to_string(), "ops@example.com");
        assert_eq!(s.label(), "smtps://ops@example.com@smtp.example.com:465");
        let s = SmtpSettings::from_flags(&SmtpFlags {
            from: Some("hookrun <hookrun@example.com>"),
            password_env: Some("pw".into()),
            ..flags("smtp+starttls://relay:2525")
        })
        .unwrap();
        assert_eq!(
            (s.security, s.port, s.user),
            (Security::StartTls, 2525, None)
        );
        assert_eq!(s.password.unwrap().expose(), "pw");
        let s = SmtpSettings::from_flags(&SmtpFlags {
            from: Some("a@b.c"),
            ..flags("smtp://[::1]")
        })
        .unwrap();
        assert_eq!(
            (s.security, s.port, s.host.as_str()),
            (Security::Plain, 25, "::1")
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        for (url, want) in [
            ("smtps://u:secret@host", "process list"),
            ("http://host", "unknown scheme"),
            ("smtps://host", "sender address"),
            ("smtps:///x", "needs a host"),
        ] {
            let e = SmtpSettings::from_flags(&flags(url))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{url}: {e}");
            assert!(!e.contains("secret"));
        }
    }

    #[test]
    fn password_file_wins_and_loses_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let s = SmtpSettings::from_flags(&SmtpFlags {
            password_file: Some(&file),
            password_env: Some("from-env".into()),
            ..flags("smtps://a%40b.c@host")
        })
        .unwrap();
        assert_eq!(s.password.as_ref().unwrap().expose(), "from-file");
        assert!(!format!("{s:?}").contains("from-file"));
    }
}
