//! Signatures the cases compute: HMAC-SHA1/256/512 in hex, and Scalr's signature with a `Date`
//! header in Go's `Mon 02 Jan 2006 15:04:05 MST` layout for the current time.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

fn mac<M: Mac + hmac::digest::KeyInit>(secret: &str, parts: &[&[u8]]) -> String {
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    hex::encode(m.finalize().into_bytes())
}

pub fn sha1(secret: &str, body: &[u8]) -> String {
    mac::<Hmac<Sha1>>(secret, &[body])
}

pub fn sha256(secret: &str, body: &[u8]) -> String {
    mac::<Hmac<Sha256>>(secret, &[body])
}

pub fn sha512(secret: &str, body: &[u8]) -> String {
    mac::<Hmac<Sha512>>(secret, &[body])
}

/// `(Date header, X-Signature header)` for a Scalr request `offset_secs` from now.
pub fn scalr(secret: &str, body: &[u8], offset_secs: i64) -> (String, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
        + offset_secs;
    let date = go_date(now);
    let sig = mac::<Hmac<Sha1>>(secret, &[body, date.as_bytes()]);
    (date, sig)
}

/// Unix seconds as `Mon 02 Jan 2006 15:04:05 UTC`.
fn go_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{} {:02} {} {} {:02}:{:02}:{:02} UTC",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn go_date_layout() {
    assert_eq!(go_date(0), "Thu 01 Jan 1970 00:00:00 UTC");
    assert_eq!(go_date(1_700_000_000), "Tue 14 Nov 2023 22:13:20 UTC");
}
