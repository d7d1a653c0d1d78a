//! Who may read the history and act on it. One admin credential: a token read from a file
//! (`-admin-token-file`, or systemd's `LoadCredential=hookrun-admin-token:…`), given either as
//! the token itself or as `sha256:<hex>` of it, so the file on the server need not hold the
//! token. Programs send `Authorization: Bearer <token>`; the dashboard logs in with the token
//! once and gets a session cookie (HttpOnly, SameSite=Strict, signed with a key derived from
//! the credential, 12 hours). State-changing requests on a session also need the session's
//! CSRF token and must not come from another site (`Origin`, `Sec-Fetch-Site`). Tokens are
//! compared in constant time and never logged.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{header, HeaderMap, Method};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The name of the systemd credential (`LoadCredential=hookrun-admin-token:/path`).
pub const CREDENTIAL_NAME: &str = "hookrun-admin-token";

/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "hookrun_session";

/// How long a dashboard session lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Shortest token accepted: a guessable admin token would open every deploy.
const MIN_TOKEN_LEN: usize = 16;

/// Why a credential file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("admin token file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("admin token file {path}: {why}")]
    Invalid { path: String, why: String },
}

/// The configured admin credential, if any.
#[derive(Clone, Default)]
pub struct AdminAuth {
    /// SHA-256 of the token.
    digest: Option<[u8; 32]>,
    /// Sessions get the `Secure` attribute (the server speaks HTTPS).
    pub secure_cookies: bool,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("configured", &self.digest.is_some())
            .finish()
    }
}

/// How a request proved it is the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `Authorization: Bearer`: a program; browsers never add it on their own, so no CSRF
    /// token is needed.
    Bearer,
    /// The dashboard's cookie; `csrf` is the token its forms must carry.
    Session { csrf: String },
}

/// Why a request is not the admin's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credential is configured at all.
    NotConfigured,
    /// None or a wrong one was presented.
    Unauthenticated,
    /// A state-changing request from another site or without the CSRF token.
    CrossSite,
}

impl AdminAuth {
    /// No credential: every admin request is refused.
    pub fn none() -> AdminAuth {
        AdminAuth::default()
    }

    /// A credential from the token itself (tests, tools).
    pub fn from_token(token: &str) -> AdminAuth {
        AdminAuth {
            digest: Some(Sha256::digest(token.as_bytes()).into()),
            secure_cookies: false,
        }
    }

    /// Reads the credential file: the token (at least 16 characters) or `sha256:<64 hex>`.
    /// Surrounding white space (a trailing newline) is ignored.
    pub fn from_file(path: &std::path::Path) -> Result<AdminAuth, CredentialError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CredentialError::Read {
            path: shown.clone(),
            source,
        })?;
        let invalid = |why: &str| CredentialError::Invalid {
            path: shown.clone(),
            why: why.to_string(),
        };
        let text = text.trim();
        if let Some(hex_digest) = text.strip_prefix("sha256:") {
            let bytes = hex::decode(hex_digest.trim())
                .map_err(|_| invalid("sha256: must be followed by 64 hex digits"))?;
            let digest: [u8; 32] = bytes
                .try_into()
                .map_err(|_| invalid("sha256: must be followed by 64 hex digits"))?;
            return Ok(AdminAuth {
                digest: Some(digest),
                secure_cookies: false,
            });
        }
        if text.chars().count() < MIN_TOKEN_LEN {
            return Err(invalid(
                "the token is shorter than 16 characters (make one with: openssl rand -hex 32)",
            ));
        }
        if text.contains(char::is_whitespace) {
            return Err(invalid("the token contains white space"));
        }
        Ok(AdminAuth::from_token(text))
    }

    pub fn is_configured(&self) -> bool {
        self.digest.is_some()
    }

    /// Whether `token` is the admin token (constant time).
    pub fn token_matches(&self, token: &str) -> bool {
        let Some(digest) = &self.digest else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        bool::from(presented.ct_eq(digest))
    }

    /// Who the request is, from its `Authorization` header or session cookie.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Refusal> {
        if self.digest.is_none() {
            return Err(Refusal::NotConfigured);
        }
        if let Some(token) = bearer(headers) {
            return if self.token_matches(token) {
                Ok(Principal::Bearer)
            } else {
                Err(Refusal::Unauthenticated)
            };
        }
        let cookie = cookie(headers, SESSION_COOKIE).ok_or(Refusal::Unauthenticated)?;
        if self.session_valid(cookie, now_secs()) {
            Ok(Principal::Session {
                csrf: self.mac(&format!("csrf|{cookie}")),
            })
        } else {
            Err(Refusal::Unauthenticated)
        }
    }

    /// For a state-changing request on a session: it must come from this site and carry the
    /// session's CSRF token (`X-CSRF-Token` header or `csrf` form field).
    pub fn check_csrf(
        principal: &Principal,
        method: &Method,
        headers: &HeaderMap,
        form_token: Option<&str>,
    ) -> Result<(), Refusal> {
        let Principal::Session { csrf } = principal else {
            return Ok(());
        };
        if matches!(*method, Method::GET | Method::HEAD) {
            return Ok(());
        }
        if !same_site(headers) {
            return Err(Refusal::CrossSite);
        }
        let presented = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .or(form_token)
            .ok_or(Refusal::CrossSite)?;
        if bool::from(presented.as_bytes().ct_eq(csrf.as_bytes())) {
            Ok(())
        } else {
            Err(Refusal::CrossSite)
        }
    }

    /// A new session cookie's value.
    pub fn new_session(&self) -> String {
        let expires = now_secs() + SESSION_LIFETIME.as_secs();
        format!("{expires}.{}", self.mac(&format!("session|{expires}")))
    }

    /// The `Set-Cookie` value for a session (or, `None`, one that ends it).
    pub fn session_cookie(&self, value: Option<&str>) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        match value {
            Some(v) => format!(
                "{SESSION_COOKIE}={v}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                SESSION_LIFETIME.as_secs()
            ),
            None => {
                format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
            }
        }
    }

    fn session_valid(&self, value: &str, now: u64) -> bool {
        let Some((expires, mac)) = value.split_once('.') else {
            return false;
        };
        let Ok(expires_at) = expires.parse::<u64>() else {
            return false;
        };
        let want = self.mac(&format!("session|{expires}"));
        bool::from(want.as_bytes().ct_eq(mac.as_bytes())) && expires_at > now
    }

    /// Hex HMAC-SHA256 of `message` under a key derived from the credential: sessions and
    /// CSRF tokens end when the token changes.
    fn mac(&self, message: &str) -> String {
        let key = self.digest.unwrap_or_default();
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes a key of any length");
        mac.update(b"hookrun admin session\0");
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Whether a browser request comes from this site: `Sec-Fetch-Site` (when sent) says
/// `same-origin` or `none`, and `Origin` (when sent) names the host the request was sent to.
pub fn same_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let authority = origin
        .split_once("://")
        .map_or("", |(_, rest)| rest)
        .trim_end_matches('/');
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    !authority.is_empty() && authority.eq_ignore_ascii_case(host)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_and_sessions() {
        let auth = AdminAuth::from_token("0123456789abcdef0123");
        assert_eq!(
            auth.authenticate(&headers(&[(
                "authorization",
                "Bearer 0123456789abcdef0123"
            )])),
            Ok(Principal::Bearer)
        );
        assert_eq!(
            auth.authenticate(&headers(&[("authorization", "Bearer wrong")])),
            Err(Refusal::Unauthenticated)
        );
        assert_eq!(
            auth.authenticate(&HeaderMap::new()),
            Err(Refusal::Unauthenticated)
        );
        let session = auth.new_session();
        let cookie = format!("a=b; {SESSION_COOKIE}={session}");
        let principal = auth.authenticate(&headers(&[("cookie", &cookie)])).unwrap();
        assert!(matches!(principal, Principal::Session { .. }));
        let other = AdminAuth::from_token("another-token-0123456");
        assert_eq!(
            other.authenticate(&headers(&[("cookie", &cookie)])),
            Err(Refusal::Unauthenticated),
            "a session of another token"
        );
        let expired = format!("1.{}", auth.mac("session|1"));
        assert!(!auth.session_valid(&expired, now_secs()));
        let forged = format!("{}.{}", now_secs() + 100, "00".repeat(32));
        assert!(!auth.session_valid(&forged, now_secs()));
        assert_eq!(
            AdminAuth::none().authenticate(&HeaderMap::new()),
            Err(Refusal::NotConfigured)
        );
    }

    #[test]
    fn csrf_needs_token_and_same_site() {
        let auth = AdminAuth::from_token("0123456789abcdef0123");
        let cookie = format!("{SESSION_COOKIE}={}", auth.new_session());
        let p = auth.authenticate(&headers(&[("cookie", &cookie)])).unwrap();
        let Principal::Session { csrf } = &p else {
            panic!()
        };
        let post = Method::POST;
        let same = headers(&[("host", "h:9000"), ("origin", "http://h:9000")]);
        assert_eq!(AdminAuth::check_csrf(&p, &post, &same, Some(csrf)), Ok(()));
        assert_eq!(
            AdminAuth::check_csrf(&p, &post, &same, Some("nope")),
            Err(Refusal::CrossSite)
        );
        assert_eq!(
            AdminAuth::check_csrf(&p, &post, &same, None),
            Err(Refusal::CrossSite)
        );
        let cross = headers(&[("host", "h:9000"), ("origin", "https://evil.example")]);
        assert_eq!(
            AdminAuth::check_csrf(&p, &post, &cross, Some(csrf)),
            Err(Refusal::CrossSite)
        );
        let fetch = headers(&[("host", "h:9000"), ("sec-fetch-site", "cross-site")]);
        assert_eq!(
            AdminAuth::check_csrf(&p, &post, &fetch, Some(csrf)),
            Err(Refusal::CrossSite)
        );
        assert_eq!(
            AdminAuth::check_csrf(&Principal::Bearer, &post, &cross, None),
            Ok(())
        );
    }

    #[test]
    fn credential_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        assert!(AdminAuth::from_file(&path)
            .unwrap()
            .token_matches("0123456789abcdef0123"));
        let digest = hex::encode(Sha256::digest(b"0123456789abcdef0123"));
        std::fs::write(&path, format!("sha256:{digest}\n")).unwrap();
        let hashed = AdminAuth::from_file(&path).unwrap();
        assert!(hashed.token_matches("0123456789abcdef0123"));
        assert!(!hashed.token_matches(&format!("sha256:{digest}")));
        for bad in ["short", "sha256:abcd", "has white space in it 0123"] {
            std::fs::write(&path, bad).unwrap();
            assert!(AdminAuth::from_file(&path).is_err(), "{bad}");
        }
    }
}
