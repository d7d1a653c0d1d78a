//! Secrets never reach the log, even at `-debug`: an HMAC secret and the signature header, the
//! `value` of a value rule, a token in the query string, values passed to commands as env.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::fixture::{job_id, sh_hook, with, Fixture};

const HMAC_SECRET: &str = "Hm4cS3cretXYZ";
const RULE_VALUE: &str = "V4lueS3cretXYZ";
const QUERY_TOKEN: &str = "T0kenQu3ryXYZ";
const ENV_VALUE: &str = "EnvS3cretValXYZ";

fn guarded_hook() -> serde_json::Value {
    let rule = json!({"and": [
        {"match": {"type": "value", "value": RULE_VALUE,
            "parameter": {"source": "header", "name": "X-Token"}}},
        {"match": {"type": "value", "value": QUERY_TOKEN,
            "parameter": {"source": "url", "name": "token"}}},
        {"match": {"type": "payload-hmac-sha256", "secret": HMAC_SECRET,
            "parameter": {"source": "header", "name": "X-Signature"}}},
    ]});
    with(
        sh_hook("guarded", "test -n \"$DEPLOY_KEY\"", &[]),
        json!({
            "trigger-rule": rule,
            "pass-environment-to-command": [
                {"source": "payload", "name": "key", "envname": "DEPLOY_KEY"}
            ],
            "include-command-output-in-response": true,
        }),
    )
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(HMAC_SECRET.as_bytes()).expect("HMAC key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn secrets_never_appear_in_the_debug_log() {
    let f = Fixture::start(&[guarded_hook()], &["-debug"]);
    let body = serde_json::to_vec(&json!({"key": ENV_VALUE})).expect("JSON");
    let signature = sign(&body);
    let send = |token: &'static str, value: &'static str, signature: String| {
        f.http
            .post(f.url(&format!("/hooks/guarded?token={token}")))
            .header("content-type", "application/json")
            .header("x-token", value)
            .header("x-signature", signature)
            .body(body.clone())
            .send()
    };
    // Matching: the command runs and sees the env value.
    let resp = send(QUERY_TOKEN, RULE_VALUE, signature.clone())
        .await
        .expect("POST");
    assert_eq!(resp.status(), 200, "{}", f.log());
    job_id(&resp);
    // Each rule failing in turn, including a bad signature (whose expected value is secret; the
    // reference answers it with 500, as an error evaluating the rules).
    let wrong = "sha256=".to_string() + &"0".repeat(64);
    for (token, value, sig) in [
        ("nope", RULE_VALUE, signature.clone()),
        (QUERY_TOKEN, "nope", signature.clone()),
        (QUERY_TOKEN, RULE_VALUE, wrong),
    ] {
        let resp = send(token, value, sig).await.expect("POST");
        assert!(resp.headers().get("hookrun-job-id").is_none());
    }
    let log = f.log();
    assert!(log.contains("DEBUG"), "not a debug log: {log}");
    let hex_signature = signature.trim_start_matches("sha256=");
    for secret in [
        HMAC_SECRET,
        RULE_VALUE,
        QUERY_TOKEN,
        ENV_VALUE,
        hex_signature,
    ] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
}
