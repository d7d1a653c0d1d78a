//! Evaluates trigger rules against a request (and the image push it is read for) with the
//! reference's exact semantics, including how errors travel: a missing value only fails its
//! branch, a bad signature is an error (500) unless `trigger-signature-soft-failures` lets an
//! `or` skip it. Rules are compiled at load (`config::compile_rules`); nothing here can meet a
//! malformed rule, only (with `-lenient`) the forms the reference gives rules it cannot
//! evaluate (`Rule::Unusable`, an empty Scalr key), which fail here as they fail there.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::config::hook::{HmacAlgorithm, IpRange, Parameter, Rule};
use crate::request::budget::GrowError;
use crate::request::params::Found;
use crate::request::{HookRequest, ParamError, ParamErrorKind, Reservation};

mod input;

pub use input::Input;

/// Why a rule could not be evaluated cleanly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Parameter(#[from] ParamError),
    /// A signature did not match: no signature value is kept, only what kind of check failed.
    #[error("invalid payload signature ({check}){}", if *.empty_body { " on empty payload" } else { "" })]
    Signature {
        check: &'static str,
        empty_body: bool,
    },
    #[error("invalid remote address {0:?}")]
    RemoteAddr(String),
    #[error("invalid Date header for scalr-signature: {0:?}")]
    ScalrDate(String),
    /// A rule `-lenient` kept although it cannot be evaluated (the problem was logged at load).
    #[error("the rule cannot be evaluated: {0}")]
    Unusable(String),
}

impl RuleError {
    /// A missing value: the reference treats it as "rules not satisfied", not as an error.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RuleError::Parameter(e) if e.kind == ParamErrorKind::NotFound)
    }

    pub fn is_signature(&self) -> bool {
        matches!(self, RuleError::Signature { .. })
    }
}

/// Options that change evaluation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub soft_signature_failures: bool,
}

/// `(matched, error)` exactly as the reference's `Evaluate` returns them: both can be set
/// (e.g. `not` over a missing value is `true` with a not-found error). Values are rendered
/// without a reservation: the caller has reserved the memory of all of them.
pub fn evaluate(rule: &Rule, input: &Input, opts: Options) -> (bool, Option<RuleError>) {
    match eval(rule, input, opts, &mut Unpriced) {
        Ok(result) => result,
        Err(never) => match never {},
    }
}

/// [`evaluate`], holding in `memory` what each value costs before it is rendered: a value is
/// looked up, priced, then rendered and compared, and a value the evaluation never reaches
/// (behind an `and`'s mismatch or an `or`'s match) costs nothing. One value is rendered at a
/// time, so `memory` grows to the dearest value read, taking only memory that is free at once
/// (`Reservation::try_grow_to`). When it is not free, the evaluation stops with the need: the
/// caller gives `memory` back, waits for that much and evaluates again (values cost the same
/// every time, so each wait ends holding more).
pub fn evaluate_within(
    rule: &Rule,
    input: &Input,
    opts: Options,
    memory: &mut Reservation,
) -> Result<(bool, Option<RuleError>), GrowError> {
    eval(rule, input, opts, memory)
}

/// How the values rules read are paid for.
trait Pricing {
    type Refused;
    /// Holds the memory `value` takes rendered.
    fn hold(&mut self, value: &Found) -> Result<(), Self::Refused>;
}

/// Paid for by the caller beforehand.
struct Unpriced;

impl Pricing for Unpriced {
    type Refused = Infallible;
    fn hold(&mut self, _: &Found) -> Result<(), Infallible> {
        Ok(())
    }
}

impl Pricing for Reservation {
    type Refused = GrowError;
    fn hold(&mut self, value: &Found) -> Result<(), GrowError> {
        self.try_grow_to(value.cost() as u64)
    }
}

/// The value of `param`, paid for before it is rendered.
fn value<'p, P: Pricing>(
    input: &Input<'p>,
    param: &'p Parameter,
    pricing: &mut P,
) -> Result<Result<Cow<'p, str>, ParamError>, P::Refused> {
    let found = match input.find(param) {
        Ok(found) => found,
        Err(e) => return Ok(Err(e)),
    };
    pricing.hold(&found)?;
    Ok(found.render())
}

type Evaluated<P> = Result<(bool, Option<RuleError>), <P as Pricing>::Refused>;

fn eval<P: Pricing>(rule: &Rule, input: &Input, opts: Options, pricing: &mut P) -> Evaluated<P> {
    let req = input.request;
    Ok(match rule {
        Rule::And(children) => return all(children, input, opts, pricing),
        Rule::Or(children) => return any(children, input, opts, pricing),
        Rule::Not(inner) => {
            let (ok, err) = eval(inner, input, opts, pricing)?;
            (!ok, err)
        }
        Rule::Value {
            parameter,
            value: want,
        } => match value(input, parameter, pricing)? {
            Ok(v) => (bool::from(v.as_bytes().ct_eq(want.as_bytes())), None),
            Err(e) => (false, Some(e.into())),
        },
        Rule::Regex { parameter, regex } => match value(input, parameter, pricing)? {
            Ok(v) => (regex.is_match(&v), None),
            Err(e) => (false, Some(e.into())),
        },
        Rule::Hmac {
            algorithm,
            parameter,
            secret,
        } => match value(input, parameter, pricing)? {
            Ok(sig) => match check_hmac(*algorithm, secret.as_bytes(), &req.body, &sig) {
                Ok(()) => (true, None),
                Err(e) => (false, Some(e)),
            },
            Err(e) => (false, Some(e.into())),
        },
        Rule::IpWhitelist(ranges) => match ip_allowed(req.remote_addr.as_str(), ranges) {
            Ok(ok) => (ok, None),
            Err(e) => (false, Some(e)),
        },
        Rule::ScalrSignature { secret } => match check_scalr(req, secret) {
            Ok(ok) => (ok, None),
            Err(e) => (false, Some(e)),
        },
        Rule::Unusable { reads, error } => {
            if let Some(param) = reads {
                if let Err(e) = value(input, param, pricing)? {
                    return Ok((false, Some(e.into())));
                }
            }
            (false, error.clone().map(RuleError::Unusable))
        }
    })
}

/// `and`: the first error or mismatch decides.
fn all<P: Pricing>(
    children: &[Rule],
    input: &Input,
    opts: Options,
    pricing: &mut P,
) -> Evaluated<P> {
    for child in children {
        let (ok, err) = eval(child, input, opts, pricing)?;
        if err.is_some() {
            return Ok((false, err));
        }
        if !ok {
            return Ok((false, None));
        }
    }
    Ok((true, None))
}

/// `or`: a missing value (and, with soft failures, a bad signature) only skips its branch.
fn any<P: Pricing>(
    children: &[Rule],
    input: &Input,
    opts: Options,
    pricing: &mut P,
) -> Evaluated<P> {
    for child in children {
        let (ok, err) = eval(child, input, opts, pricing)?;
        if let Some(e) = err {
            let skippable = e.is_not_found() || (opts.soft_signature_failures && e.is_signature());
            if !skippable {
                return Ok((false, Some(e)));
            }
        }
        if ok {
            return Ok((true, None));
        }
    }
    Ok((false, None))
}

/// The signatures a header value offers: with a comma, every `prefix`ed item; otherwise the
/// whole value minus an optional prefix (the reference's `ExtractSignatures`).
fn signatures<'a>(value: &'a str, prefix: &str) -> Vec<&'a str> {
    if value.contains(',') {
        value
            .split(',')
            .filter_map(|part| part.strip_prefix(prefix))
            .collect()
    } else {
        vec![value.strip_prefix(prefix).unwrap_or(value)]
    }
}

fn check_hmac(
    alg: HmacAlgorithm,
    secret: &[u8],
    body: &[u8],
    header: &str,
) -> Result<(), RuleError> {
    let expected = match alg {
        HmacAlgorithm::Sha1 => mac_hex::<Hmac<Sha1>>(secret, &[body]),
        HmacAlgorithm::Sha256 => mac_hex::<Hmac<Sha256>>(secret, &[body]),
        HmacAlgorithm::Sha512 => mac_hex::<Hmac<Sha512>>(secret, &[body]),
    };
    let matched = signatures(header, alg.prefix())
        .iter()
        .any(|s| bool::from(s.as_bytes().ct_eq(expected.as_bytes())));
    if matched {
        Ok(())
    } else {
        Err(RuleError::Signature {
            check: match alg {
                HmacAlgorithm::Sha1 => "hmac-sha1",
                HmacAlgorithm::Sha256 => "hmac-sha256",
                HmacAlgorithm::Sha512 => "hmac-sha512",
            },
            empty_body: body.is_empty(),
        })
    }
}

fn mac_hex<M: Mac + hmac::digest::KeyInit>(secret: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret)
        .expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The reference's `CheckIPWhitelist` on Go's `RemoteAddr` (`ip:port`, `[v6]:port`).
fn ip_allowed(remote: &str, ranges: &[IpRange]) -> Result<bool, RuleError> {
    let mut ip = remote.trim_matches(|c| c == ' ' || c == '[' || c == ']');
    if let Some(i) = ip.rfind(':') {
        ip = ip[..i].trim_matches(|c| c == ' ' || c == '[' || c == ']');
    }
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| RuleError::RemoteAddr(remote.to_string()))?;
    Ok(ranges.iter().any(|r| r.contains(ip)))
}

/// Scalr: HMAC-SHA1 over body + Date header, and the date within 5 minutes of now.
fn check_scalr(req: &HookRequest, secret: &str) -> Result<bool, RuleError> {
    let header = |name: &str| req.headers.text(name);
    let (Some(signature), Some(date)) = (header("X-Signature"), header("Date")) else {
        return Ok(false);
    };
    if secret.is_empty() {
        return Err(RuleError::Unusable(
            "the scalr-signature key is empty".into(),
        ));
    }
    let expected = mac_hex::<Hmac<Sha1>>(secret.as_bytes(), &[&req.body, date.as_bytes()]);
    if !bool::from(signature.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(RuleError::Signature {
            check: "scalr-signature",
            empty_body: false,
        });
    }
    let sent = parse_scalr_date(date).ok_or_else(|| RuleError::ScalrDate(date.to_string()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if (now - sent).abs() > 300 {
        return Err(RuleError::Signature {
            check: "scalr-signature outdated",
            empty_body: false,
        });
    }
    Ok(true)
}

/// Parses Go's layout `Mon 02 Jan 2006 15:04:05 MST` (UTC only) into Unix seconds.
fn parse_scalr_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split(' ').collect();
    let [_weekday, day, month, year, time, zone] = parts.as_slice() else {
        return None;
    };
    if !matches!(*zone, "UTC" | "GMT") {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    Some(days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests;
