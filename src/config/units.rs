//! Durations and sizes as flags and hooks files write them (`90s`, `1h30m`, `10MiB`).

use std::time::Duration;

/// Parses durations written like `90s`, `10m`, `1h30m`, `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration {text:?}: {e} (write e.g. \"90s\", \"10m\")"))?;
    if d.is_zero() {
        return Err(format!("invalid duration {text:?}: must be more than zero"));
    }
    Ok(d)
}

/// Parses sizes written as bytes or with a unit (`10MiB`, `512KB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("invalid size {text:?}: {e} (write e.g. \"10MiB\")"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("lots").is_err());
    }
}
