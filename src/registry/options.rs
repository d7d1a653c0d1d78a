//! Per-hook settings for reading push events: the provider (or `auto`), the Aliyun network and
//! the host overrides, with their configuration names. Reads no payload.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::draft;
use super::image_ref;
use super::EventError;

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
                value: image_ref::shown(s),
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
                value: image_ref::shown(s),
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
    /// name the pusher used, possibly an internal one).
    pub registry_host: Option<String>,
}

impl EventOptions {
    /// Checks the configured hosts against the registry grammar; `parse` calls it too, and the
    /// config loader can call it to report a bad hook at load time.
    pub fn validate(&self) -> Result<(), EventError> {
        let hosts = [
            (draft::REGISTRY_HOST_OPTION, &self.registry_host),
            (draft::INSTANCE_HOST_OPTION, &self.aliyun_instance_host),
        ];
        for (option, host) in hosts {
            if let Some(host) = host {
                image_ref::validate_registry(host)
                    .map_err(|problem| EventError::BadOption { option, problem })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn no_headers(_: &str) -> Option<String> {
        None
    }

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
    fn bad_option_hosts_fail_every_delivery() {
        for host in ["x;touch /tmp/p", "--help", "$(id)", "", "a\nb"] {
            let opts = EventOptions {
                registry_host: Some(host.into()),
                ..EventOptions::default()
            };
            let err = parse(&opts, &no_headers, br#"{"image": "nginx:1"}"#).expect_err(host);
            assert!(
                matches!(err, EventError::BadOption { .. }),
                "{host:?}: {err}"
            );
            let opts = EventOptions {
                aliyun_instance_host: Some(host.into()),
                ..EventOptions::default()
            };
            assert!(opts.validate().is_err(), "{host:?}");
        }
    }
}
