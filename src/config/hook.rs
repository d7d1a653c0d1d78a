//! Runtime hooks: the validated, compiled form of a hooks file. Only `validate` builds these,
//! so every value here has already been checked (regexes compiled, CIDRs parsed, methods
//! upper-cased, header names legal).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use regex::Regex;

use super::registry_event::EventOptions;

/// One hook, ready to serve.
#[derive(Debug)]
pub struct Hook {
    pub id: String,
    /// Where it was defined, for log lines and `validate` output: one path shared by the hooks
    /// of a file.
    pub file: Arc<Path>,
    pub command: HookCommand,
    pub response_message: String,
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    pub capture_output: bool,
    pub capture_output_on_error: bool,
    pub env: Vec<EnvArgument>,
    pub args: Vec<Parameter>,
    pub files: Vec<FileArgument>,
    pub json_parameters: Vec<Parameter>,
    pub rule: Option<Rule>,
    /// `trigger-rule-mismatch-http-response-code`; `None` keeps the reference's 200.
    pub mismatch_status: Option<u16>,
    /// `success-http-response-code`; `None` keeps the reference's 200.
    pub success_status: Option<u16>,
    pub soft_signature_failures: bool,
    /// `incoming-payload-content-type`: overrides the request's Content-Type.
    pub content_type: Option<String>,
    /// Allowed methods (upper-case); `None` falls back to `-http-methods`, then to any.
    pub methods: Option<Vec<Method>>,
    pub execution: Execution,
    pub registry_event: Option<EventOptions>,
    /// `notify`: the targets told how each job ended (templates compiled, secrets read).
    pub notify: Vec<Arc<crate::notify::Target>>,
    /// Whether anything reads payload values: if not, the body is not parsed (a 10 MiB JSON
    /// body costs many times its size as a tree).
    pub reads_payload: bool,
}

impl Parameter {
    /// Whether this value comes from the parsed payload.
    pub fn reads_payload(&self) -> bool {
        matches!(
            self,
            Parameter::Payload(_) | Parameter::PayloadJsonPath(_) | Parameter::EntirePayload
        )
    }
}

impl Rule {
    /// Every parameter the rule tree reads.
    pub fn parameters(&self) -> Vec<&Parameter> {
        let mut all = Vec::new();
        self.each_parameter(&mut |p| all.push(p));
        all
    }

    /// Calls `f` with every parameter the rule tree reads, in order, without building a list:
    /// requests ask this of their hook's rule every time.
    pub fn each_parameter<'a>(&'a self, f: &mut impl FnMut(&'a Parameter)) {
        match self {
            Rule::And(children) | Rule::Or(children) => {
                for child in children {
                    child.each_parameter(f);
                }
            }
            Rule::Not(inner) => inner.each_parameter(f),
            Rule::Value { parameter, .. }
            | Rule::Regex { parameter, .. }
            | Rule::Hmac { parameter, .. } => f(parameter),
            Rule::Unusable { reads, .. } => reads.iter().for_each(f),
            Rule::IpWhitelist(_) | Rule::ScalrSignature { .. } => {}
        }
    }

    /// Whether the tree reads a registry-event value: then it holds or fails push by push,
    /// otherwise once for a whole delivery.
    pub fn reads_event(&self) -> bool {
        let mut reads = false;
        self.each_parameter(&mut |p| reads |= matches!(p, Parameter::Event(_)));
        reads
    }
}

/// The command a hook runs.
#[derive(Debug, Clone)]
pub struct HookCommand {
    /// `execute-command` as written; it is also argv[0], as in the reference.
    pub program: String,
    /// `command-working-directory`, empty when unset.
    pub working_dir: Option<PathBuf>,
}

/// hookrun's execution-control settings for a hook.
#[derive(Debug, Clone)]
pub struct Execution {
    /// `command-timeout`; `None` means the server's `-command-timeout` default.
    pub timeout: Option<Duration>,
    pub concurrency: Concurrency,
    /// `max-queue`; `None` means the server's default bound.
    pub max_queue: Option<usize>,
    pub stream_output: bool,
    /// `delivery-id-header`: a request header whose value identifies a delivery; a value seen
    /// within `-delivery-window` is answered with its earlier jobs and runs nothing.
    pub delivery_id_header: Option<http::HeaderName>,
}

/// How runs of one hook relate to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Concurrency {
    /// Any number at once, bounded by the server's `-max-jobs`.
    #[default]
    Parallel,
    /// One at a time, in arrival order.
    Serial,
    /// One running plus at most one pending; a newer request replaces the pending one.
    Latest,
}

impl Concurrency {
    pub fn as_str(self) -> &'static str {
        match self {
            Concurrency::Parallel => "parallel",
            Concurrency::Serial => "serial",
            Concurrency::Latest => "latest",
        }
    }
}

/// Names of the normalised registry-event values (`{"source": "event", "name": ...}`).
pub const EVENT_FIELDS: &[&str] = &[
    "registry",
    "repository",
    "tag",
    "digest",
    "image",
    "image_pinned",
    "provider",
    "delivery_id",
    "actor",
    "media_type",
    "callback_url",
];

/// Where a request value comes from (`source` + `name`).
#[derive(Debug, Clone)]
pub enum Parameter {
    /// A header, by its canonical MIME name (`X-Hub-Signature`).
    Header(String),
    /// A query-string value (`url` or `query`).
    Query(String),
    /// A payload value by dot path (`a.b.0.c`), the reference's lookup rules.
    Payload(String),
    /// A payload value by JSONPath (a name starting with `$`), a hookrun extension.
    PayloadJsonPath(Arc<JsonPathQuery>),
    Request(RequestKey),
    /// A literal.
    Literal(String),
    EntirePayload,
    EntireHeaders,
    EntireQuery,
    RawBody,
    /// A normalised registry-event value (`registry`, `tag`, `digest`, ...).
    Event(String),
    /// `-lenient` only: a value the reference can never read (an unknown source, an
    /// unsupported `request` key): reading it is an error, so an argument gets `""`, an
    /// environment variable or file is skipped and a rule fails with 500, as there.
    Unreadable(String),
}

/// A compiled JSONPath expression and its text.
pub struct JsonPathQuery {
    pub text: String,
    pub query: jsonpath_rust::parser::model::JpQuery,
}

impl std::fmt::Debug for JsonPathQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonPath({})", self.text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKey {
    Method,
    RemoteAddr,
}

/// `pass-environment-to-command` entry: the variable name is resolved at load.
#[derive(Debug, Clone)]
pub struct EnvArgument {
    pub name: String,
    pub value: Parameter,
}

/// `pass-file-to-command` entry.
#[derive(Debug, Clone)]
pub struct FileArgument {
    /// The variable that receives the temporary file's path.
    pub env_name: String,
    pub value: Parameter,
    pub base64_decode: bool,
}

/// A trigger rule, compiled.
#[derive(Debug)]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Value {
        parameter: Parameter,
        value: String,
    },
    Regex {
        parameter: Parameter,
        /// Shared by every hook of the file that uses the same pattern.
        regex: Arc<Regex>,
    },
    Hmac {
        algorithm: HmacAlgorithm,
        parameter: Parameter,
        secret: String,
    },
    IpWhitelist(Vec<IpRange>),
    /// The secret is empty only with `-lenient`: evaluation then fails (500) once the headers
    /// are there, as in the reference.
    ScalrSignature {
        secret: String,
    },
    /// `-lenient` only: a rule the reference accepts but cannot evaluate (an empty rule, an
    /// unknown match type, an invalid regex, an empty secret...), served as it serves it. Like
    /// any rule it reads `reads` first (a missing value makes it false); then it does not hold
    /// (`error: None`) or fails with `error` (500), so the command never runs through it.
    Unusable {
        reads: Option<Parameter>,
        error: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl HmacAlgorithm {
    /// The prefix GitHub-style senders put before the hex digest (`sha256=`).
    pub fn prefix(self) -> &'static str {
        match self {
            HmacAlgorithm::Sha1 => "sha1=",
            HmacAlgorithm::Sha256 => "sha256=",
            HmacAlgorithm::Sha512 => "sha512=",
        }
    }
}

/// A CIDR block (a single address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    pub network: IpAddr,
    pub prefix: u8,
}

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V4(net), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|ip| prefix_match(&net.octets(), &ip.octets(), self.prefix)),
            (IpAddr::V6(net), IpAddr::V4(ip)) => {
                prefix_match(&net.octets(), &ip.to_ipv6_mapped().octets(), self.prefix)
            }
        }
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if net[..full] != ip[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (net[full] & mask) == (ip[full] & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(net: &str, prefix: u8) -> IpRange {
        IpRange {
            network: net.parse().unwrap(),
            prefix,
        }
    }

    #[test]
    fn ip_range_contains() {
        let cases = [
            (range("10.0.0.0", 8), "10.1.2.3", true),
            (range("10.0.0.0", 8), "11.0.0.1", false),
            (range("192.168.1.0", 25), "192.168.1.127", true),
            (range("192.168.1.0", 25), "192.168.1.128", false),
            (range("127.0.0.1", 32), "127.0.0.1", true),
            (range("0.0.0.0", 0), "8.8.8.8", true),
            (range("::1", 128), "::1", true),
            (range("2001:db8::", 32), "2001:db8:1::1", true),
            (range("2001:db8::", 32), "2001:db9::1", false),
            (range("127.0.0.0", 8), "::ffff:127.0.0.1", true),
        ];
        for (r, ip, want) in cases {
            assert_eq!(r.contains(ip.parse().unwrap()), want, "{r:?} {ip}");
        }
    }
}
