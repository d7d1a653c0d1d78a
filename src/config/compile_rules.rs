//! Compiles `trigger-rule` trees into `Rule`s: one operator per node, regexes compiled, CIDRs
//! parsed and secrets required, so evaluation (`rules::evaluate`) never meets a malformed rule.
//! With `-lenient`, a rule the reference accepts but cannot evaluate becomes what the reference
//! does with it at request time (`Rule::Unusable`, mostly: it reads its parameter, then fails
//! with 500 or simply does not hold).

use std::net::IpAddr;

use super::hook::{HmacAlgorithm, IpRange, Parameter, Rule};
use super::problem::did_you_mean;
use super::raw::{RawMatch, RawRule};
use super::validate::{At, Validator};

/// Takes the raw rule: its texts move into the rule, the raw hook is not kept.
pub(super) fn compile_rule(v: &mut Validator, raw: RawRule, at: &At) -> Option<Rule> {
    let RawRule {
        and,
        or,
        not,
        match_,
    } = raw;
    // The operators written, without a list per node: its name is needed only for an error.
    let written = [
        (and.is_some(), "and"),
        (or.is_some(), "or"),
        (not.is_some(), "not"),
        (match_.is_some(), "match"),
    ];
    let count = written.iter().filter(|(is, _)| *is).count();
    // The reference silently evaluates an empty rule to false and ignores all but the first
    // operator; both are almost always mistakes, so they are errors here.
    if count == 0 {
        if !v.tolerate(at, "a rule needs one of and, or, not, match") {
            return None;
        }
        return Some(Rule::Unusable {
            reads: None,
            error: None,
        });
    }
    if count > 1 {
        let ops: Vec<&str> = written
            .iter()
            .filter_map(|&(is, name)| is.then_some(name))
            .collect();
        let message = format!(
            "a rule has exactly one of and, or, not, match; found {}",
            ops.join(", ")
        );
        // Deliberately not the reference's way (it drops the other operators): a request that
        // reaches this rule gets 500, so the hook never runs with fewer rules than written.
        if !v.tolerate(at, message) {
            return None;
        }
        return Some(Rule::Unusable {
            reads: None,
            error: Some(format!("several operators ({})", ops.join(", "))),
        });
    }
    if let Some(children) = and {
        return compile_list(v, children, &at.field("and")).map(Rule::And);
    }
    if let Some(children) = or {
        return compile_list(v, children, &at.field("or")).map(Rule::Or);
    }
    if let Some(inner) = not {
        return compile_rule(v, *inner, &at.field("not")).map(|r| Rule::Not(Box::new(r)));
    }
    match_.and_then(|m| compile_match(v, m, &at.field("match")))
}

fn compile_list(v: &mut Validator, raw: Vec<RawRule>, at: &At) -> Option<Vec<Rule>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut ok = true;
    for (i, r) in raw.into_iter().enumerate() {
        match compile_rule(v, r, &at.index(i)) {
            Some(rule) => out.push(rule),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// The match types the reference knows (`payload-hash-*` are deprecated spellings).
const MATCH_TYPES: &[&str] = &[
    "value",
    "regex",
    "payload-hmac-sha1",
    "payload-hmac-sha256",
    "payload-hmac-sha512",
    "ip-whitelist",
    "scalr-signature",
];

fn compile_match(v: &mut Validator, m: RawMatch, at: &At) -> Option<Rule> {
    match m.kind.as_str() {
        "value" => compile_value(v, m, at),
        "regex" => compile_regex(v, m, at),
        "ip-whitelist" => compile_ranges(v, &m.ip_range, &at.field("ip-range")),
        "scalr-signature" => {
            // With -lenient an empty key is kept: like the reference, evaluation checks for
            // the headers first and then fails (500) on the empty key.
            if m.secret.is_empty()
                && !v.tolerate(&at.field("secret"), "signing key must not be empty")
            {
                return None;
            }
            Some(Rule::ScalrSignature { secret: m.secret })
        }
        kind => match hmac_algorithm(v, kind, at) {
            Some(algorithm) => {
                let parameter = v.parameter(m.parameter, &at.field("parameter"))?;
                if m.secret.is_empty() {
                    let message = "signature secret must not be empty";
                    if !v.tolerate(&at.field("secret"), message) {
                        return None;
                    }
                    return Some(unusable(parameter, "signature validation secret is empty"));
                }
                Some(Rule::Hmac {
                    algorithm,
                    parameter,
                    secret: m.secret,
                })
            }
            None => {
                let message = if kind.is_empty() {
                    "missing match type".to_string()
                } else {
                    let hint = did_you_mean(kind, MATCH_TYPES);
                    format!("unknown match type {kind:?}{hint}")
                };
                // The reference reads the parameter of a rule it does not know, then the rule
                // does not hold.
                let parameter = v.parameter(m.parameter, &at.field("parameter"));
                if !v.tolerate(&at.field("type"), message) {
                    return None;
                }
                Some(Rule::Unusable {
                    reads: Some(parameter?),
                    error: None,
                })
            }
        },
    }
}

/// `-lenient`'s form of a rule that reads `parameter` and then fails (500) because of `error`.
fn unusable(parameter: Parameter, error: &str) -> Rule {
    Rule::Unusable {
        reads: Some(parameter),
        error: Some(error.to_string()),
    }
}

/// `payload-hmac-*`, or the deprecated `payload-hash-*` (with a warning); `None` for any
/// other type.
fn hmac_algorithm(v: &mut Validator, kind: &str, at: &At) -> Option<HmacAlgorithm> {
    let (algorithm, deprecated) = match kind {
        "payload-hmac-sha1" => (HmacAlgorithm::Sha1, false),
        "payload-hmac-sha256" => (HmacAlgorithm::Sha256, false),
        "payload-hmac-sha512" => (HmacAlgorithm::Sha512, false),
        "payload-hash-sha1" => (HmacAlgorithm::Sha1, true),
        "payload-hash-sha256" => (HmacAlgorithm::Sha256, true),
        "payload-hash-sha512" => (HmacAlgorithm::Sha512, true),
        _ => return None,
    };
    if deprecated {
        let new = kind.replace("hash", "hmac");
        v.warn(
            &at.field("type"),
            format!("{kind} is deprecated; use {new}"),
        );
    }
    Some(algorithm)
}

fn compile_value(v: &mut Validator, m: RawMatch, at: &At) -> Option<Rule> {
    let parameter = v.parameter(m.parameter, &at.field("parameter"));
    if m.value.is_empty() {
        // Usually an unset template variable (`{{ getenv "TOKEN" }}`): the rule would let
        // every request with an empty parameter through (`?token=`). Deliberately not the
        // reference's way with -lenient either: such a request gets 500.
        let message = "empty value: the rule would match a missing or empty parameter";
        if !v.tolerate(&at.field("value"), message) {
            return None;
        }
        return Some(unusable(parameter?, "empty value"));
    }
    Some(Rule::Value {
        parameter: parameter?,
        value: m.value,
    })
}

/// Both the parameter and the regex are checked, so both problems are reported at once.
fn compile_regex(v: &mut Validator, m: RawMatch, at: &At) -> Option<Rule> {
    let parameter = v.parameter(m.parameter, &at.field("parameter"));
    match v.regex(&m.regex) {
        Ok(regex) => Some(Rule::Regex {
            parameter: parameter?,
            regex,
        }),
        Err(e) => {
            let message = regex_error(&e);
            if !v.tolerate(&at.field("regex"), message.clone()) {
                return None;
            }
            Some(unusable(parameter?, &message))
        }
    }
}

fn regex_error(e: &regex::Error) -> String {
    // The regex crate's message spans several lines with a caret diagram; keep the last line.
    let text = e.to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(&text);
    format!(
        "invalid regex: {}",
        last.trim().trim_start_matches("error: ")
    )
}

/// `ip-range`: whitespace-separated CIDRs or single addresses, as the reference accepts. With
/// `-lenient`, an invalid entry is served as the reference checks it: the ranges before it can
/// match, reaching it is an error (500); no range at all never matches.
fn compile_ranges(v: &mut Validator, text: &str, at: &At) -> Option<Rule> {
    let mut ranges = Vec::new();
    let mut first_invalid = None;
    let mut served = true;
    for item in text.split_whitespace() {
        match parse_range(item) {
            Some(r) if first_invalid.is_none() => ranges.push(r),
            Some(_) => {}
            None => {
                served &= v.tolerate(at, format!("not an IP address or CIDR range: {item:?}"));
                first_invalid.get_or_insert_with(|| item.to_string());
            }
        }
    }
    if ranges.is_empty() && first_invalid.is_none() {
        served &= v.tolerate(at, "no IP range given: the rule could never match");
    }
    if !served {
        return None;
    }
    let Some(invalid) = first_invalid else {
        return Some(Rule::IpWhitelist(ranges));
    };
    let reached = Rule::Unusable {
        reads: None,
        error: Some(format!("invalid ip-range entry {invalid:?}")),
    };
    Some(Rule::Or(vec![Rule::IpWhitelist(ranges), reached]))
}

pub(crate) fn parse_range(item: &str) -> Option<IpRange> {
    let (addr, prefix) = match item.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (item, None),
    };
    let network: IpAddr = addr.parse().ok()?;
    let max = if network.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        // The reference appends /32 to a bare address, which Go rejects for IPv6; a bare
        // address here is the single host in either family.
        None => max,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => p.parse().ok()?,
        Some(_) => return None,
    };
    (prefix <= max).then_some(IpRange { network, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!(parse_range("10.0.0.0/8").map(|r| r.prefix), Some(8));
        assert_eq!(parse_range("127.0.0.1").map(|r| r.prefix), Some(32));
        assert_eq!(parse_range("::1").map(|r| r.prefix), Some(128));
        assert!(parse_range("10.0.0.0/33").is_none());
        assert!(parse_range("10.0.0/8").is_none());
        assert!(parse_range("10.0.0.0/x").is_none());
    }
}
