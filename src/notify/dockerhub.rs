//! Docker Hub's `callback_url`: after a job for a Docker Hub delivery, hookrun POSTs the
//! documented callback body (`state` `success`/`failure`/`error`, `description`, `context`,
//! `target_url`; <https://docs.docker.com/docker-hub/webhooks/#validate-a-webhook-callback>).
//!
//! The URL comes from the request payload, so anybody who can trigger the hook chooses it: a
//! server-side request forgery vector (a POST to `http://169.254.169.254/…` or an internal
//! admin API). By default only URLs of Docker Hub's own shape,
//! `https://registry.hub.docker.com/u/<namespace>/<repository>/hook/<id>/`, are ever called;
//! an allow-list of URL prefixes widens that; anything else is refused and logged, and a
//! redirect is followed only to a URL that passes the same check.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use regex::Regex;
use serde_json::{json, Value};
use url::Url;

use super::compose;
use super::delivery::SendError;
use super::message::{Message, Status};
use super::redact;

static DOCKER_HUB_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^/u/[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*/hook/[A-Za-z0-9]+/?$")
        .expect("static callback path pattern is valid")
});

/// The callback's `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackState {
    Success,
    Failure,
    Error,
}

impl CallbackState {
    /// A job's state: its command failed (`failure`) or it could not run to an end — could not
    /// start, killed, timed out (`error`).
    pub fn of(message: &Message) -> CallbackState {
        match (message.status, message.exit_code) {
            (Status::Success, _) => CallbackState::Success,
            (Status::Failure, Some(_)) => CallbackState::Failure,
            _ => CallbackState::Error,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CallbackState::Success => "success",
            CallbackState::Failure => "failure",
            CallbackState::Error => "error",
        }
    }
}

/// One callback to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callback {
    pub url: Url,
    pub state: CallbackState,
    pub description: String,
    pub context: String,
    pub target_url: Option<String>,
}

impl Callback {
    /// The callback for a finished job; `target_url` is where its result can be seen.
    pub fn for_job(url: Url, message: &Message, target_url: Option<String>) -> Callback {
        let headline = compose::parts(&super::Notice::job(message.clone())).headline;
        Callback {
            url,
            state: CallbackState::of(message),
            description: compose::truncate_chars(&headline, 255),
            context: format!("hookrun on {}", message.host),
            target_url,
        }
    }

    /// Docker Hub's documented body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "state": self.state.as_str(),
            "description": self.description,
            "context": self.context,
        });
        if let Some(t) = &self.target_url {
            body["target_url"] = json!(t);
        }
        body
    }
}

/// Which callback URLs may be called.
#[derive(Clone, Debug, Default)]
pub struct CallbackGuard {
    extra: Vec<Url>,
}

impl CallbackGuard {
    /// Docker Hub's own URLs, plus every URL under one of `allow` (URL prefixes such as
    /// `https://hub.internal.example.com/callbacks/`).
    pub fn new(allow: &[String]) -> Result<CallbackGuard, String> {
        let extra = allow
            .iter()
            .map(|a| match Url::parse(a) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.username().is_empty() && u.password().is_none() => Ok(u),
                Ok(_) => Err(format!("callback allow-list entry {a:?}: an http(s) URL prefix without user or password is needed")),
                Err(e) => Err(format!("callback allow-list entry {a:?}: {e}")),
            })
            .collect::<Result<_, _>>()?;
        Ok(CallbackGuard { extra })
    }

    /// The URL if it may be called; the reason otherwise (secrets masked).
    pub fn check(&self, raw: &str) -> Result<Url, String> {
        let url = Url::parse(raw.trim()).map_err(|e| format!("invalid callback URL: {e}"))?;
        if self.allows(&url) {
            Ok(url)
        } else {
            Err(format!(
                "callback URL {} is not Docker Hub's (https://registry.hub.docker.com/u/…/hook/…/) nor in the callback allow-list",
                redact::url(&url)
            ))
        }
    }

    pub fn allows(&self, url: &Url) -> bool {
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return false;
        }
        is_docker_hub(url) || self.extra.iter().any(|prefix| under(url, prefix))
    }
}

fn is_docker_hub(url: &Url) -> bool {
    url.scheme() == "https"
        && url.host_str() == Some("registry.hub.docker.com")
        && url.port().is_none()
        && url.query().is_none()
        && DOCKER_HUB_PATH.is_match(url.path())
}

/// Same scheme, host and port, and the path under the prefix's (at a segment boundary).
fn under(url: &Url, prefix: &Url) -> bool {
    if url.scheme() != prefix.scheme()
        || url.host_str() != prefix.host_str()
        || url.port_or_known_default() != prefix.port_or_known_default()
    {
        return false;
    }
    let (path, base) = (url.path(), prefix.path());
    path == base
        || (path.starts_with(base) && (base.ends_with('/') || path[base.len()..].starts_with('/')))
}

/// The HTTP client for callbacks: redirects only to allowed URLs, at most 3.
pub fn client(guard: Arc<CallbackGuard>, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 3 {
            attempt.error("too many redirects")
        } else if guard.allows(attempt.url()) {
            attempt.follow()
        } else {
            let shown = redact::url(attempt.url());
            attempt.error(format!(
                "redirect to {shown} refused: not an allowed callback URL"
            ))
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .timeout(timeout)
        .user_agent(concat!("hookrun/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Makes the callback once.
pub async fn send(client: &reqwest::Client, callback: &Callback) -> Result<(), SendError> {
    let response = client
        .post(callback.url.clone())
        .json(&callback.body())
        .send()
        .await
        .map_err(|e| {
            let e = e.without_url();
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            if text.contains("not an allowed callback URL") {
                SendError::permanent(text)
            } else {
                SendError::retry(text)
            }
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status.as_u16() == 429 {
        Err(SendError::retry(format!("HTTP {status}")))
    } else {
        Err(SendError::permanent(format!("HTTP {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_docker_hub_urls_by_default() {
        let guard = CallbackGuard::default();
        let ok = "https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/";
        assert!(guard.check(ok).is_ok());
        for bad in [
            "http://registry.hub.docker.com/u/a/b/hook/c/",
            "https://registry.hub.docker.com:8443/u/a/b/hook/c/",
            "https://registry.hub.docker.com.evil.com/u/a/b/hook/c/",
            "https://evil.com/u/a/b/hook/c/",
            "https://registry.hub.docker.com@evil.com/u/a/b/hook/c/",
            "https://x@registry.hub.docker.com/u/a/b/hook/c/",
            "https://registry.hub.docker.com/u/a/b/hook/c/../../../../admin",
            "https://registry.hub.docker.com/u/a/b/hook/c/?x=1",
            "https://registry.hub.docker.com/v2/users/login",
            "http://127.0.0.1:8080/u/a/b/hook/c/",
            "http://169.254.169.254/latest/meta-data/",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(guard.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allow_list_widens_by_prefix() {
        let guard = CallbackGuard::new(&[
            "http://127.0.0.1:8080/callbacks".into(),
            "https://hub.example.com/".into(),
        ])
        .unwrap();
        assert!(guard.check("http://127.0.0.1:8080/callbacks").is_ok());
        assert!(guard.check("http://127.0.0.1:8080/callbacks/1?x=y").is_ok());
        assert!(guard.check("http://127.0.0.1:8080/callbacksevil").is_err());
        assert!(guard.check("http://127.0.0.1:8081/callbacks/1").is_err());
        assert!(guard.check("https://127.0.0.1:8080/callbacks/1").is_err());
        assert!(guard.check("https://hub.example.com/anything").is_ok());
        assert!(guard
            .check("https://registry.hub.docker.com/u/a/b/hook/c/")
            .is_ok());
        assert!(CallbackGuard::new(&["ftp://x/".into()]).is_err());
        assert!(CallbackGuard::new(&["https://u:p@x/".into()]).is_err());
    }

    #[test]
    fn refusals_do_not_show_the_hook_id() {
        let e = CallbackGuard::default()
            .check("https://evil.example.com/u/a/b/hook/0123456789abcdef0123/")
            .unwrap_err();
        assert!(!e.contains("0123456789abcdef0123"), "{e}");
    }
}
