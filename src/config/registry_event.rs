//! A hook's `registry-event` options: which sender's format to read (or `auto`), the Aliyun
//! network, the host overrides, and the registry-host grammar those overrides are checked
//! against. `registry` reads payloads with these options; this module reads no payload.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Longest name (`registry/repository`) distribution accepts (`NameTotalLengthMax`); a host
/// alone can be no longer.
pub const NAME_TOTAL_MAX: usize = 255;
/// Longest value echoed back in an error message, in characters.
const SHOWN_MAX: usize = 64;

const DOMAIN_COMPONENT: &str = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])";

static HOST: LazyLock<Regex> = LazyLock::new(|| {
    let host = format!(r"(?:{DOMAIN_COMPONENT}(?:\.{DOMAIN_COMPONENT})*|\[[A-Fa-f0-9:]+\])");
    Regex::new(&format!(r"^{host}(?::([0-9]{{1,5}}))?$")).expect("host grammar is a valid regex")
});

/// Who sent a delivery. `Auto` detects it from headers and payload shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    Auto,
    DockerHub,
    Aliyun,
    Harbor,
    Distribution,
    Quay,
    GitHub,
    Gitea,
    Custom,
}

impl Provider {
    pub const ALL: [Provider; 9] = [
        Provider::Auto,
        Provider::DockerHub,
        Provider::Aliyun,
        Provider::Harbor,
        Provider::Distribution,
        Provider::Quay,
        Provider::GitHub,
        Provider::Gitea,
        Provider::Custom,
    ];

    /// The configuration name: "auto", "dockerhub", ...
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Auto => "auto",
            Provider::DockerHub => "dockerhub",
            Provider::Aliyun => "aliyun",
            Provider::Harbor => "harbor",
            Provider::Distribution => "distribution",
            Provider::Quay => "quay",
            Provider::GitHub => "github",
            Provider::Gitea => "gitea",
            Provider::Custom => "custom",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider or network name that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value}, expected one of: {expected}")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl FromStr for Provider {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|provider| provider.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownName {
                what: "registry event provider",
                value: shown(s),
                expected:
                    "auto, dockerhub, aliyun, harbor, distribution, quay, github, gitea, custom",
            })
    }
}

/// Which Aliyun ACR (personal edition) address an image is pulled from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AliyunNetwork {
    /// `registry.<region>.aliyuncs.com`
    #[default]
    Public,
    /// `registry-vpc.<region>.aliyuncs.com`
    Vpc,
    /// `registry-internal.<region>.aliyuncs.com` (classic network)
    Internal,
}

impl FromStr for AliyunNetwork {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "public" => Ok(AliyunNetwork::Public),
            "vpc" => Ok(AliyunNetwork::Vpc),
            "internal" => Ok(AliyunNetwork::Internal),
            _ => Err(UnknownName {
                what: "aliyun network",
                value: shown(s),
                expected: "public, vpc, internal",
            }),
        }
    }
}

/// Per-hook settings for reading push events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct EventOptions {
    pub provider: Provider,
    pub aliyun_network: AliyunNetwork,
    /// Aliyun Enterprise Edition host (`<instance>-registry.<region>.cr.aliyuncs.com`): the
    /// payload does not name the instance, so it replaces the computed host.
    pub aliyun_instance_host: Option<String>,
    /// Replaces the host for every provider (e.g. distribution's `request.host` is whatever
    /// name the pusher used, possibly an internal one; Harbor 1.x names no host at all).
    pub registry_host: Option<String>,
}

/// A configured host override that is not a registry host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option} option: {problem}")]
pub struct BadHostOption {
    /// The option's configuration name: "registry-host" or "aliyun-instance-host".
    pub option: &'static str,
    pub problem: InvalidHost,
}

impl EventOptions {
    /// Checks the configured hosts against the registry-host grammar. Validation calls it at
    /// load time; `registry::parse` calls it again so no delivery is read with a bad host.
    pub fn validate(&self) -> Result<(), BadHostOption> {
        let hosts = [
            ("registry-host", &self.registry_host),
            ("aliyun-instance-host", &self.aliyun_instance_host),
        ];
        for (option, host) in hosts {
            if let Some(host) = host {
                validate_registry_host(host)
                    .map_err(|problem| BadHostOption { option, problem })?;
            }
        }
        Ok(())
    }
}

/// A value that is not a registry host. `value` is already escaped and length-capped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid registry {value}: {reason}")]
pub struct InvalidHost {
    pub value: String,
    pub reason: &'static str,
}

/// A registry host: domain components, IPv4 or `[IPv6]`, with an optional port (1-65535), as
/// distribution's reference grammar has it.
pub fn validate_registry_host(host: &str) -> Result<(), InvalidHost> {
    let invalid = |reason| InvalidHost {
        value: shown(host),
        reason,
    };
    if host.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if host.len() > NAME_TOTAL_MAX {
        return Err(invalid("longer than 255 characters"));
    }
    let Some(caps) = HOST.captures(host) else {
        return Err(invalid(
            "expected host[:port] with a domain name, IPv4 address or [IPv6] address",
        ));
    };
    let port_ok = caps
        .get(1)
        .is_none_or(|port| matches!(port.as_str().parse::<u32>(), Ok(1..=65535)));
    if port_ok {
        Ok(())
    } else {
        Err(invalid("port out of range 1-65535"))
    }
}

/// `raw` escaped with `{:?}` (quotes, control characters, newlines) and cut to 64 characters,
/// so a hostile value can be shown in a log or error without forging lines.
pub fn shown(raw: &str) -> String {
    let mut chars = raw.chars();
    let head: String = chars.by_ref().take(SHOWN_MAX).collect();
    if chars.next().is_some() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for provider in Provider::ALL {
            let name = provider.as_str();
            assert_eq!(name.parse::<Provider>(), Ok(provider));
            let json = serde_json::to_string(&provider).expect("serialises");
            assert_eq!(json, format!("\"{name}\""));
            let back: Provider = serde_json::from_str(&json).expect("deserialises");
            assert_eq!(back, provider);
        }
        assert_eq!("GitHub".parse::<Provider>(), Ok(Provider::GitHub));
        let err = "gitlab\n".parse::<Provider>().expect_err("unknown");
        assert!(err
            .to_string()
            .starts_with(r#"unknown registry event provider "gitlab\n""#));
    }

    #[test]
    fn aliyun_network_names() {
        let cases = [
            ("public", AliyunNetwork::Public),
            ("vpc", AliyunNetwork::Vpc),
            ("internal", AliyunNetwork::Internal),
        ];
        for (name, network) in cases {
            assert_eq!(name.parse::<AliyunNetwork>(), Ok(network));
            let back: AliyunNetwork =
                serde_json::from_str(&format!("\"{name}\"")).expect("deserialises");
            assert_eq!(back, network);
        }
        assert!("classic".parse::<AliyunNetwork>().is_err());
        assert_eq!(AliyunNetwork::default(), AliyunNetwork::Public);
    }

    #[test]
    fn options_deserialise_kebab_case() {
        let opts: EventOptions = serde_json::from_str(
            r#"{"provider": "aliyun", "aliyun-network": "vpc", "registry-host": "r.example.com"}"#,
        )
        .expect("valid options");
        assert_eq!(opts.provider, Provider::Aliyun);
        assert_eq!(opts.aliyun_network, AliyunNetwork::Vpc);
        assert_eq!(opts.registry_host.as_deref(), Some("r.example.com"));
        assert!(serde_json::from_str::<EventOptions>(r#"{"typo": 1}"#).is_err());
    }

    #[test]
    fn bad_option_hosts_are_named() {
        for host in ["x;touch /tmp/p", "--help", "$(id)", "", "a\nb", "h/p"] {
            let opts = EventOptions {
                registry_host: Some(host.into()),
                ..EventOptions::default()
            };
            let err = opts.validate().expect_err(host);
            assert_eq!(err.option, "registry-host", "{host:?}");
            let opts = EventOptions {
                aliyun_instance_host: Some(host.into()),
                ..EventOptions::default()
            };
            let err = opts.validate().expect_err(host);
            assert_eq!(err.option, "aliyun-instance-host", "{host:?}");
        }
        let err = EventOptions {
            registry_host: Some("a\nb".into()),
            ..EventOptions::default()
        }
        .validate()
        .expect_err("newline");
        assert_eq!(
            err.to_string(),
            r#"registry-host option: invalid registry "a\nb": expected host[:port] with a domain name, IPv4 address or [IPv6] address"#
        );
    }

    #[test]
    fn registry_host_grammar() {
        let long = format!("{}.example.com", "a".repeat(250));
        let cases: &[(&str, bool)] = &[
            ("docker.io", true),
            ("registry.cn-hangzhou.aliyuncs.com", true),
            ("127.0.0.1:5000", true),
            ("localhost", true),
            ("[::1]:5000", true),
            ("[fe80::1]", true),
            ("Registry.Example.com", true),
            ("host:0", false),
            ("host:65536", false),
            ("host:", false),
            ("-host", false),
            ("host-", false),
            ("a..b", false),
            ("user@host", false),
            ("host/path", false),
            ("[::1", false),
            (long.as_str(), false),
        ];
        for (value, ok) in cases {
            assert_eq!(validate_registry_host(value).is_ok(), *ok, "{value:?}");
        }
    }

    #[test]
    fn shown_escapes_and_caps() {
        assert_eq!(shown("a\nb"), r#""a\nb""#);
        let long = shown(&"x".repeat(300));
        assert!(long.ends_with('…'));
        assert_eq!(long.chars().count(), 64 + 3);
    }
}
