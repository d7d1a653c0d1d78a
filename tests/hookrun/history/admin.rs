//! Admin access: every admin URL refuses a request without the credential (401, saying how to
//! configure one when none is), programs use `Bearer`, the dashboard logs in and its
//! state-changing forms need the session's CSRF token and the same origin.

use reqwest::redirect::Policy;
use serde_json::json;

use super::{admin_get, bearer, TOKEN};
use crate::fixture::sh_hook;
use crate::harness::TestServer;

const JOB: &str = "0123456789abcdef0123456789abcdef";

/// Every admin URL with its method.
fn admin_urls() -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/ui".into()),
        ("GET", format!("/ui/jobs/{JOB}")),
        ("GET", "/ui/deploys/swarm:web".into()),
        ("POST", "/ui/logout".into()),
        ("GET", "/jobs".into()),
        ("GET", "/jobs?hook=h".into()),
        ("POST", format!("/jobs/{JOB}/rerun")),
        ("GET", "/deploys".into()),
        ("GET", "/deploys/swarm:web".into()),
        ("GET", "/deploys/kubernetes:ns/deployment/web/app".into()),
        ("POST", "/deploys/swarm:web/rollback".into()),
        ("GET", "/admin/hooks".into()),
        ("GET", "/admin/store".into()),
        ("POST", "/admin/hooks/h/pause".into()),
        ("POST", "/admin/hooks/h/resume".into()),
    ]
}

async fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    auth: Option<&str>,
) -> reqwest::Response {
    let url = server.url(path);
    let req = match method {
        "GET" => server.http.get(url),
        _ => server.http.post(url),
    };
    let req = match auth {
        Some(a) => req.header("authorization", a),
        None => req,
    };
    req.send().await.expect("admin request")
}

#[tokio::test]
async fn every_admin_url_is_401_without_a_configured_credential() {
    let mut server = TestServer::builder()
        .hooks([sh_hook("h", "true", &[])])
        .start()
        .await;
    for (method, path) in admin_urls() {
        for auth in [None, Some("Bearer anything-at-all-000000")] {
            let resp = send(&server, method, &path, auth).await;
            assert_eq!(resp.status(), 401, "{method} {path} {auth:?}");
            let body = resp.text().await.unwrap();
            assert!(
                body.contains("-admin-token-file") && body.contains("LoadCredential"),
                "{method} {path}: the 401 says how to configure one: {body}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn every_admin_url_is_401_without_the_credential() {
    let mut server = TestServer::builder()
        .hooks([sh_hook("h", "true", &[])])
        .admin_token(TOKEN)
        .start()
        .await;
    let wrong = format!("Bearer {TOKEN}x");
    for (method, path) in admin_urls() {
        for auth in [None, Some(wrong.as_str()), Some("Basic dXNlcjpwYXNz")] {
            let resp = send(&server, method, &path, auth).await;
            assert_eq!(resp.status(), 401, "{method} {path} {auth:?}");
            assert!(resp.headers().contains_key("www-authenticate") || path.starts_with("/ui"));
        }
        let resp = send(&server, method, &path, Some(&bearer())).await;
        assert_ne!(resp.status(), 401, "{method} {path} with the token");
        assert_ne!(resp.status(), 403, "{method} {path} with the token");
    }
    // A forged session cookie is no session.
    let resp = server
        .get("/jobs")
        .header("cookie", "hookrun_session=99999999999.00")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    server.stop().await;
}

#[tokio::test]
async fn a_browser_without_a_session_gets_the_login_form_with_401() {
    let mut server = TestServer::builder()
        .hooks([sh_hook("h", "true", &[])])
        .admin_token(TOKEN)
        .start()
        .await;
    let resp = server
        .get("/ui")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let page = resp.text().await.unwrap();
    assert!(page.contains("name=\"token\""), "{page}");
    server.stop().await;
}

/// Logs in through the form; returns the cookie header and the page's CSRF token.
async fn log_in(server: &TestServer, http: &reqwest::Client) -> (String, String) {
    let host = server.addr.to_string();
    let resp = http
        .post(server.url("/ui/login"))
        .header("origin", format!("http://{host}"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "login");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let page = http
        .get(server.url("/ui"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries a CSRF token")
        .to_string();
    (cookie, csrf)
}

#[tokio::test]
async fn dashboard_forms_need_the_csrf_token_and_the_same_origin() {
    let mut server = TestServer::builder()
        .hooks([sh_hook("h", "true", &[])])
        .admin_token(TOKEN)
        .start()
        .await;
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let host = server.addr.to_string();
    let same = format!("http://{host}");

    // A wrong token does not log in; a login from another site is refused.
    let resp = http
        .post(server.url("/ui/login"))
        .form(&[("token", "wrong-token-0123456789")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("set-cookie").is_none());
    let resp = http
        .post(server.url("/ui/login"))
        .header("origin", "https://evil.example")
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "cross-site login");

    let (cookie, csrf) = log_in(&server, &http).await;
    let pause = |origin: Option<&str>, site: Option<&str>, token: Option<&str>| {
        let mut req = http
            .post(server.url("/admin/hooks/h/pause"))
            .header("cookie", &cookie);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        let mut form = vec![("back", "/ui".to_string())];
        if let Some(t) = token {
            form.push(("csrf", t.to_string()));
        }
        req.form(&form).send()
    };
    // The cross-site form post a malicious page would make: refused, nothing paused.
    for (origin, site, token) in [
        (
            Some("https://evil.example"),
            Some("cross-site"),
            Some(csrf.as_str()),
        ),
        (Some("https://evil.example"), None, Some(csrf.as_str())),
        (None, Some("same-site"), Some(csrf.as_str())),
        (Some(same.as_str()), Some("same-origin"), None),
        (Some(same.as_str()), Some("same-origin"), Some("0000")),
    ] {
        let resp = pause(origin, site, token).await.unwrap();
        assert_eq!(resp.status(), 403, "{origin:?} {site:?} {token:?}");
        assert!(server.state.jobs.store().pause("h").is_none());
    }
    let resp = pause(Some(&same), Some("same-origin"), Some(&csrf))
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(server.state.jobs.store().pause("h").is_some());

    // Logging out clears the cookie.
    let resp = http
        .post(server.url("/ui/logout"))
        .header("cookie", &cookie)
        .header("origin", &same)
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    server.stop().await;
}

#[tokio::test]
async fn the_dashboard_pages_render_with_a_strict_policy() {
    let mut server = TestServer::builder()
        .hooks([sh_hook("h", "echo '<b>out</b>'", &[])])
        .admin_token(TOKEN)
        .start()
        .await;
    let id = crate::fixture::job_id(&server.trigger("h", json!({})).await);
    super::wait_ended(&server, &id).await;
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let (cookie, _) = log_in(&server, &http).await;
    for path in [
        "/ui".to_string(),
        format!("/ui/jobs/{id}"),
        "/ui?hook=h&state=succeeded".into(),
    ] {
        let resp = http
            .get(server.url(&path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        let html = resp.text().await.unwrap();
        assert!(html.contains(&id[..12]), "{path} lists the job");
        assert!(!html.contains("<b>out</b>"), "output is escaped");
    }
    for asset in ["/ui/assets/app.css", "/ui/assets/app.js"] {
        assert_eq!(
            server.get(asset).send().await.unwrap().status(),
            200,
            "{asset}"
        );
    }
    let listed = admin_get(&server, "/jobs?hook=h").await;
    assert_eq!(listed["jobs"][0]["id"], id.as_str());
    assert!(
        listed["jobs"][0].get("stdout").is_none(),
        "listings carry no output"
    );
    server.stop().await;
}
