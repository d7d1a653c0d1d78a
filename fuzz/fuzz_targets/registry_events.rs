//! Registry and CI push events: `registry::parse` with every provider (and detection), the
//! headers that steer detection, and a host override; each image push found is read back as
//! a command would read it.
//!
//! Input: byte 0 picks the provider (`Provider::ALL`, `auto` first), byte 1 the headers and
//! options ([`HEADERS`], bit 7: `registry-host`), the rest is the body.

#![no_main]

use hookrun::registry::{self, Delivery, EventOptions, Provider};
use libfuzzer_sys::fuzz_target;

/// Header sets that steer detection (name, value), lower-case names.
pub const HEADERS: [&[(&str, &str)]; 6] = [
    &[],
    &[("x-github-event", "registry_package")],
    &[("x-github-event", "package")],
    &[("x-gitea-event", "package")],
    &[
        ("x-gogs-event", "package"),
        ("x-gitea-event-type", "package"),
    ],
    &[
        ("user-agent", "Harbor-Webhook"),
        ("content-type", "application/json"),
    ],
];

fuzz_target!(|data: &[u8]| {
    let [provider, flags, body @ ..] = data else {
        return;
    };
    let opts = EventOptions {
        provider: Provider::ALL[usize::from(*provider) % Provider::ALL.len()],
        registry_host: (flags & 0x80 != 0).then(|| "registry.example.com:5000".to_string()),
        ..EventOptions::default()
    };
    let headers = HEADERS[usize::from(flags & 0x7f) % HEADERS.len()];
    let lookup = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| (*v).to_string())
    };
    if let Ok(Delivery::Pushes(pushes)) = registry::parse(&opts, &lookup, body) {
        for push in &pushes {
            let _ = push.env();
            for name in [
                "registry",
                "repository",
                "tag",
                "digest",
                "image",
                "provider",
            ] {
                let _ = push.get(name);
            }
        }
    }
});
