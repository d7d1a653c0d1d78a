//! Seed 001's image's mail variables (`MAIL_SMTP_SERVER`, `MAIL_FROM`, ... base64-encoded as
//! its users set them) as mail settings, for `hookrun notify` without `--smtp`.

use std::str::FromStr;

use base64::Engine as _;
use lettre::message::Mailbox;

use super::super::config;
use super::super::email::{Security, SmtpSettings, SMTP_TIMEOUT};

/// Seed 001's `MAIL_*` variables as mail settings and the `MAIL_TO` recipient; `None` without
/// `MAIL_SMTP_SERVER`.
pub fn seed001_settings(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(SmtpSettings, Option<String>)>, String> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let Some(server) = var("MAIL_SMTP_SERVER") else {
        return Ok(None);
    };
    let host = base64_text("MAIL_SMTP_SERVER", &server)?;
    let from_text = base64_text(
        "MAIL_FROM",
        &var("MAIL_FROM").ok_or("MAIL_SMTP_SERVER is set but MAIL_FROM is not")?,
    )?;
    let from =
        Mailbox::from_str(&from_text).map_err(|e| format!("MAIL_FROM {from_text:?}: {e}"))?;
    let password = var("MAIL_PASSWORD")
        .map(|p| base64_text("MAIL_PASSWORD", &p))
        .transpose()?
        .map(config::Secret::new);
    let ca_pem = var("MAIL_CACERT").map(|c| base64_pem(&c)).transpose()?;
    let port = match var("MAIL_SMTP_PORT") {
        Some(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("MAIL_SMTP_PORT {p:?}: not a port number"))?,
        None => 465,
    };
    let tls_check = match var("MAIL_TLS_CHECK").map(|v| v.trim().to_ascii_lowercase()) {
        None => true,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(v) => return Err(format!("MAIL_TLS_CHECK {v:?}: true or false")),
    };
    let settings = SmtpSettings {
        security: Security::Implicit,
        host,
        port,
        user: Some(from_text),
        password,
        from,
        ca_pem,
        insecure_skip_verify: !tls_check,
        timeout: SMTP_TIMEOUT,
    };
    Ok(Some((settings, env("MAIL_TO"))))
}

/// A value as that image's users encode it: `echo x | base64`. The decoded text loses its
/// trailing newlines, as the image's `$(… | base64 -d)` does. A value that is not base64 (set by
/// hand, as early versions of its guide showed) is used as written, with a warning.
fn base64_text(name: &str, value: &str) -> Result<String, String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    {
        Some(text)
            if !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r') =>
        {
            Ok(text.trim_end_matches(['\n', '\r']).to_string())
        }
        _ => {
            eprintln!(
                "hookrun notify: {name} is not base64 (echo VALUE | base64); using it as written"
            );
            Ok(value.trim().to_string())
        }
    }
}

/// `MAIL_CACERT`: `cat ca.pem | base64` (wrapped at 76 columns), or the PEM itself.
fn base64_pem(value: &str) -> Result<Vec<u8>, String> {
    if value.contains("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let pem = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("MAIL_CACERT: not base64 (cat ca.pem | base64): {e}"))?;
    if !pem.windows(10).any(|w| w == b"-----BEGIN") {
        return Err("MAIL_CACERT: decodes to something that is not a PEM certificate".into());
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn seed001_variables_as_users_write_them() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        // `base64` wraps at 76 columns.
        let wrapped: String = b64(pem)
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        let vars = [
            ("MAIL_SMTP_SERVER", b64("smtp.example.com\n")),
            ("MAIL_FROM", b64("ops@example.com\n")),
            ("MAIL_PASSWORD", b64("p@ss word\n")),
            ("MAIL_CACERT", wrapped),
            ("MAIL_SMTP_PORT", "994".to_string()),
            ("MAIL_TLS_CHECK", "false".to_string()),
            ("MAIL_TO", "dev@example.com".to_string()),
        ];
        let env = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        let (s, to) = seed001_settings(&env).unwrap().unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.security),
            ("smtp.example.com", 994, Security::Implicit)
        );
        assert_eq!(s.user.as_deref(), Some("ops@example.com"));
        assert_eq!(s.from.to_string(), "ops@example.com");
        assert_eq!(s.password.unwrap().expose(), "p@ss word");
        assert_eq!(s.ca_pem.unwrap(), pem.as_bytes());
        assert!(s.insecure_skip_verify);
        assert_eq!(to.as_deref(), Some("dev@example.com"));
    }

    #[test]
    fn seed001_defaults_and_mistakes() {
        let env = |n: &str| match n {
            "MAIL_SMTP_SERVER" => Some("smtp.qq.com".to_string()),
            "MAIL_FROM" => Some(b64("a@qq.com\n")),
            _ => None,
        };
        let (s, _) = seed001_settings(&env).unwrap().unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.insecure_skip_verify),
            ("smtp.qq.com", 465, false)
        );
        assert!(seed001_settings(&|_| None).unwrap().is_none());
        let bad = |n: &str| match n {
            "MAIL_SMTP_SERVER" => Some(b64("h")),
            "MAIL_FROM" => Some(b64("a@b.c")),
            "MAIL_TLS_CHECK" => Some("maybe".into()),
            _ => None,
        };
        assert!(seed001_settings(&bad)
            .unwrap_err()
            .contains("MAIL_TLS_CHECK"));
    }
}
