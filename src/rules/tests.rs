//! Table-driven rule tests: operators, error propagation, signatures, IP ranges.

use super::*;
use crate::config::hook::Parameter;
use crate::request::json::Decoded;
use crate::request::{Document, Fields};
use bytes::Bytes;

/// Evaluates `rule` against a request without a registry push.
fn eval(rule: &Rule, request: &HookRequest, opts: Options) -> (bool, Option<RuleError>) {
    evaluate(rule, &Input::request(request), opts)
}

fn req(body: &str, headers: &[(&str, &str)], remote: &str) -> HookRequest {
    let mut h = Fields::default();
    for (k, v) in headers {
        h.insert_first(k.to_string(), v.to_string());
    }
    let payload = match Document::decode_body(Bytes::from(body.to_string())) {
        Ok(Decoded::Payload(doc)) => Some(doc),
        _ => None,
    };
    HookRequest {
        body: Bytes::from(body.to_string()),
        payload,
        headers: h.into(),
        remote_addr: remote.into(),
        ..Default::default()
    }
}

fn value(name: &str, v: &str) -> Rule {
    Rule::Value {
        parameter: Parameter::Payload(name.into()),
        value: v.into(),
    }
}

fn hmac(alg: HmacAlgorithm, secret: &str) -> Rule {
    Rule::Hmac {
        algorithm: alg,
        parameter: Parameter::Header("X-Sig".into()),
        secret: secret.into(),
    }
}

fn sign256(secret: &str, body: &str) -> String {
    mac_hex::<Hmac<Sha256>>(secret.as_bytes(), &[body.as_bytes()])
}

#[test]
fn operators_and_error_propagation() {
    let r = req(r#"{"a":"1","n":null}"#, &[], "127.0.0.1:1");
    type Case = (&'static str, Rule, bool, Option<bool>);
    // (name, rule, matched, Some(is_not_found) when an error is expected)
    let cases: Vec<Case> = vec![
        ("value match", value("a", "1"), true, None),
        ("value mismatch", value("a", "2"), false, None),
        ("missing is not-found", value("zz", "1"), false, Some(true)),
        (
            "through null is an error",
            value("n.x", "1"),
            false,
            Some(false),
        ),
        (
            "and all",
            Rule::And(vec![value("a", "1"), value("a", "1")]),
            true,
            None,
        ),
        (
            "and short-circuits",
            Rule::And(vec![value("a", "2"), value("zz", "1")]),
            false,
            None,
        ),
        (
            "and stops on error",
            Rule::And(vec![value("zz", "1"), value("a", "1")]),
            false,
            Some(true),
        ),
        (
            "or skips not-found",
            Rule::Or(vec![value("zz", "1"), value("a", "1")]),
            true,
            None,
        ),
        (
            "or none",
            Rule::Or(vec![value("a", "2"), value("a", "3")]),
            false,
            None,
        ),
        (
            "or stops on hard error",
            Rule::Or(vec![value("n.x", "1"), value("a", "1")]),
            false,
            Some(false),
        ),
        ("not", Rule::Not(Box::new(value("a", "2"))), true, None),
        (
            "not of missing is true with error",
            Rule::Not(Box::new(value("zz", "1"))),
            true,
            Some(true),
        ),
        ("empty and", Rule::And(vec![]), true, None),
        ("empty or", Rule::Or(vec![]), false, None),
    ];
    for (name, rule, want, want_err) in cases {
        let (ok, err) = eval(&rule, &r, Options::default());
        assert_eq!(ok, want, "{name}");
        assert_eq!(err.map(|e| e.is_not_found()), want_err, "{name}");
    }
}

/// `-lenient`'s rules: read their parameter first like any rule, then fail or do not hold; an
/// unreadable parameter is an error, not a missing value.
#[test]
fn unusable_rules_fail_like_the_reference() {
    let r = req(r#"{"a":"1"}"#, &[], "127.0.0.1:1");
    let unusable = |reads: Option<Parameter>, error: Option<&str>| Rule::Unusable {
        reads,
        error: error.map(str::to_string),
    };
    let present = || Some(Parameter::Payload("a".into()));
    let missing = || Some(Parameter::Payload("zz".into()));
    let unreadable = || Some(Parameter::Unreadable("unknown source".into()));
    type Case = (&'static str, Rule, bool, Option<bool>);
    let cases: Vec<Case> = vec![
        ("empty rule", unusable(None, None), false, None),
        (
            "reached, fails",
            unusable(None, Some("bad")),
            false,
            Some(false),
        ),
        (
            "parameter present, fails",
            unusable(present(), Some("bad")),
            false,
            Some(false),
        ),
        (
            "parameter missing: not found",
            unusable(missing(), Some("bad")),
            false,
            Some(true),
        ),
        (
            "unknown type, parameter present",
            unusable(present(), None),
            false,
            None,
        ),
        (
            "unreadable parameter fails",
            unusable(unreadable(), None),
            false,
            Some(false),
        ),
        (
            "not over an empty rule holds",
            Rule::Not(Box::new(unusable(None, None))),
            true,
            None,
        ),
        (
            "a false and branch is never reached",
            Rule::And(vec![value("a", "2"), unusable(None, Some("bad"))]),
            false,
            None,
        ),
        (
            "or does not skip it",
            Rule::Or(vec![unusable(None, Some("bad")), value("a", "1")]),
            false,
            Some(false),
        ),
    ];
    for (name, rule, want, want_err) in cases {
        let soft = Options {
            soft_signature_failures: true,
        };
        let (ok, err) = eval(&rule, &r, soft);
        assert_eq!(ok, want, "{name}");
        assert_eq!(err.map(|e| e.is_not_found()), want_err, "{name}");
    }
}

#[test]
fn hmac_signatures() {
    let body = r#"{"a":"1"}"#;
    let sig = sign256("s3cret", body);
    let cases = [
        (format!("sha256={sig}"), true),
        (sig.clone(), true),
        (format!("sha1=abc,sha256={sig}"), true),
        (format!("{sig},other"), false), // with a comma every item needs the prefix
        ("sha256=00".to_string(), false),
        (sig.to_uppercase(), false),
    ];
    for (header, want) in cases {
        let r = req(body, &[("X-Sig", &header)], "127.0.0.1:1");
        let (ok, err) = eval(
            &hmac(HmacAlgorithm::Sha256, "s3cret"),
            &r,
            Options::default(),
        );
        assert_eq!(ok, want, "{header}");
        assert_eq!(err.is_some(), !want, "{header}");
        if let Some(e) = err {
            assert!(e.is_signature());
            assert!(!e.to_string().contains(&sig), "signature leaked: {e}");
        }
    }
    let sha1 = mac_hex::<Hmac<Sha1>>(b"k", &[body.as_bytes()]);
    let r = req(body, &[("X-Sig", &format!("sha1={sha1}"))], "127.0.0.1:1");
    assert!(eval(&hmac(HmacAlgorithm::Sha1, "k"), &r, Options::default()).0);
    let sha512 = mac_hex::<Hmac<Sha512>>(b"k", &[body.as_bytes()]);
    let r = req(
        body,
        &[("X-Sig", &format!("sha512={sha512}"))],
        "127.0.0.1:1",
    );
    assert!(eval(&hmac(HmacAlgorithm::Sha512, "k"), &r, Options::default()).0);
}

#[test]
fn soft_signature_failures_only_skip_inside_or() {
    let r = req("{}", &[("X-Sig", "sha256=bad")], "127.0.0.1:1");
    let rule = Rule::Or(vec![hmac(HmacAlgorithm::Sha256, "k"), value("zz", "1")]);
    let hard = eval(&rule, &r, Options::default());
    assert!(hard.1.unwrap().is_signature());
    let soft = eval(
        &rule,
        &r,
        Options {
            soft_signature_failures: true,
        },
    );
    assert_eq!(soft, (false, None));
}

#[test]
fn ip_whitelist() {
    let ranges = vec![
        crate::config::hook::IpRange {
            network: "10.0.0.0".parse().unwrap(),
            prefix: 8,
        },
        crate::config::hook::IpRange {
            network: "::1".parse().unwrap(),
            prefix: 128,
        },
    ];
    let rule = Rule::IpWhitelist(ranges);
    for (remote, want) in [
        ("10.1.2.3:555", true),
        ("11.0.0.1:555", false),
        ("[::1]:80", true),
        ("[::2]:80", false),
    ] {
        let (ok, err) = eval(&rule, &req("", &[], remote), Options::default());
        assert_eq!((ok, err.is_none()), (want, true), "{remote}");
    }
    let (_, err) = eval(&rule, &req("", &[], "garbage"), Options::default());
    assert!(matches!(err, Some(RuleError::RemoteAddr(_))));
}

#[test]
fn scalr_signature() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let date = format_scalr(now);
    assert_eq!(parse_scalr_date(&date), Some(now));
    let body = "payload";
    let sig = mac_hex::<Hmac<Sha1>>(b"key", &[body.as_bytes(), date.as_bytes()]);
    let rule = Rule::ScalrSignature {
        secret: "key".into(),
    };
    let ok = req(
        body,
        &[("X-Signature", &sig), ("Date", &date)],
        "127.0.0.1:1",
    );
    assert_eq!(eval(&rule, &ok, Options::default()), (true, None));
    let bad = req(
        body,
        &[("X-Signature", "00"), ("Date", &date)],
        "127.0.0.1:1",
    );
    assert!(eval(&rule, &bad, Options::default())
        .1
        .unwrap()
        .is_signature());
    let none = req(body, &[], "127.0.0.1:1");
    assert_eq!(eval(&rule, &none, Options::default()), (false, None));
    let old = format_scalr(now - 3600);
    let sig = mac_hex::<Hmac<Sha1>>(b"key", &[body.as_bytes(), old.as_bytes()]);
    let stale = req(
        body,
        &[("X-Signature", &sig), ("Date", &old)],
        "127.0.0.1:1",
    );
    assert!(eval(&rule, &stale, Options::default())
        .1
        .unwrap()
        .is_signature());
    // -lenient's empty key: no headers, no match; headers, an error (not a signature error).
    let empty = Rule::ScalrSignature {
        secret: String::new(),
    };
    assert_eq!(eval(&empty, &none, Options::default()), (false, None));
    let (matched, err) = eval(&empty, &ok, Options::default());
    assert!(!matched && err.is_some_and(|e| !e.is_signature() && !e.is_not_found()));
}

/// Unix seconds in the layout Scalr signs, `Mon 02 Jan 2006 15:04:05 UTC` (the weekday is not
/// checked), from humantime's RFC 3339 text.
fn format_scalr(t: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.unsigned_abs());
    let text = humantime::format_rfc3339_seconds(time).to_string();
    let (date, clock) = text.trim_end_matches('Z').split_once('T').unwrap();
    let parts: Vec<&str> = date.split('-').collect();
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[parts[1].parse::<usize>().unwrap() - 1];
    format!("Mon {} {month} {} {clock} UTC", parts[2], parts[0])
}

#[test]
fn values_are_priced_as_the_rules_reach_them() {
    use crate::request::MemoryBudget;
    // A 3 MiB budget: a 1 MiB work pool, which the 2 MiB value cannot fit in.
    let budget = MemoryBudget::new(3 * 1024 * 1024, 0);
    let big = "x".repeat(2 * 1024 * 1024);
    let request = req(&format!(r#"{{"a":"no","big":"{big}"}}"#), &[], "");
    let input = Input::request(&request);
    let opts = Options::default();
    let within = |rule: &Rule, memory: &mut Reservation| {
        let result = evaluate_within(rule, &input, opts, memory);
        if let Ok(result) = &result {
            assert_eq!(*result, evaluate(rule, &input, opts), "{rule:?}");
        }
        result
    };

    // Behind an `and`'s mismatch or an `or`'s match, a value is never read: only `a` is held.
    let mut memory = budget.empty_work();
    let mismatch = Rule::And(vec![value("a", "yes"), value("big", "x")]);
    assert_eq!(within(&mismatch, &mut memory), Ok((false, None)));
    let matched = Rule::Or(vec![value("a", "no"), value("big", "x")]);
    assert_eq!(within(&matched, &mut memory), Ok((true, None)));
    assert_eq!(memory.bytes(), 1024);
    // Reached, it is refused for its memory.
    let reached = Rule::And(vec![value("a", "no"), value("big", "x")]);
    assert!(matches!(
        within(&reached, &mut memory),
        Err(GrowError::OverBudget(_))
    ));
    // A value that is not there costs nothing.
    drop(memory);
    let mut memory = budget.empty_work();
    let missing = within(&value("missing", "x"), &mut memory).expect("nothing to hold");
    assert!(matches!(missing, (false, Some(e)) if e.is_not_found()));
    assert_eq!(memory.bytes(), 0);

    // With the work pool in use, the evaluation stops with what the value needs.
    let mut others = budget.empty_work();
    others.try_grow_to(1024 * 1024).expect("the pool is free");
    let need = Input::request(&request)
        .find(&Parameter::Payload("a".into()))
        .expect("a is there")
        .cost() as u64;
    assert_eq!(
        within(&value("a", "no"), &mut memory),
        Err(GrowError::Exhausted { need })
    );
    drop(others);
    assert_eq!(within(&value("a", "no"), &mut memory), Ok((true, None)));
}
