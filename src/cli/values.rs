//! Typed values of the command line's flags: what clap parses a flag's text into, with the
//! reference's spellings (Go booleans, `name=value` headers, comma-separated methods, empty
//! meaning unset).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::ValueEnum;
use http::{HeaderName, HeaderValue, Method};

use crate::config;

/// `-log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `-header name=value`: a response header for every hook response.
#[derive(Debug, Clone)]
pub struct ResponseHeader(pub HeaderName, pub HeaderValue);

impl FromStr for ResponseHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, value) = s
            .split_once('=')
            .ok_or("header flag must be in name=value format")?;
        let name = HeaderName::try_from(name).map_err(|e| format!("invalid name: {e}"))?;
        let value = HeaderValue::try_from(value).map_err(|e| format!("invalid value: {e}"))?;
        Ok(ResponseHeader(name, value))
    }
}

/// `-http-methods POST,PUT`: comma-separated, spaces ignored, any case; empty means unset.
#[derive(Debug, Clone, Default)]
pub struct MethodList(pub Option<Vec<Method>>);

impl FromStr for MethodList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let methods = s.replace(' ', "").to_ascii_uppercase();
        if methods.is_empty() {
            return Ok(MethodList(None));
        }
        let list = methods
            .split(',')
            .filter(|m| !m.is_empty())
            .map(|m| Method::from_bytes(m.as_bytes()).map_err(|_| format!("invalid method {m:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MethodList(Some(list)))
    }
}

/// A path flag whose empty value (its default) means "not set", as with the reference.
#[derive(Debug, Clone, Default)]
pub struct OptionalPath(pub Option<PathBuf>);

impl FromStr for OptionalPath {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(OptionalPath((!s.is_empty()).then(|| PathBuf::from(s))))
    }
}

/// `-state`: parsed by the store, with an error that never repeats the value (a PostgreSQL
/// URL may hold a password, and clap's usual error would print it).
#[derive(Debug, Clone, Copy)]
pub struct StateLocation;

impl clap::builder::TypedValueParser for StateLocation {
    type Value = crate::store::Location;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let refuse = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for -state: {why}\n"),
            )
        };
        let text = value.to_str().ok_or_else(|| refuse("not UTF-8".into()))?;
        text.parse()
            .map_err(|e: crate::store::StoreError| refuse(e.to_string()))
    }
}

pub(super) fn duration(s: &str) -> Result<Duration, String> {
    config::parse_duration(s)
}

pub(super) fn size_usize(s: &str) -> Result<usize, String> {
    config::parse_size(s).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Go's `strconv.ParseBool`, which the reference's boolean flags use.
pub(crate) fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {s:?}")),
    }
}
