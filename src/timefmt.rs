//! How times and durations are shown: RFC 3339 UTC with milliseconds for machines, `3m12s`
//! for people, seconds as numbers in JSON.

use std::time::{Duration, SystemTime};

/// `2026-11-25T12:34:56.789Z`. Formatted by hand for 1970–9999 (the status document has
/// two of these per worker: through humantime's `Display` they were a fifth of building it
/// at 10,000 workers); other instants go through humantime.
pub fn rfc3339(t: SystemTime) -> String {
    let Ok(d) = t.duration_since(SystemTime::UNIX_EPOCH) else {
        return humantime::format_rfc3339_millis(t).to_string();
    };
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days(secs / 86_400);
    if y > 9999 {
        return humantime::format_rfc3339_millis(t).to_string();
    }
    let rem = secs % 86_400;
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, day);
    put(11, 2, rem / 3600);
    put(14, 2, rem / 60 % 60);
    put(17, 2, rem % 60);
    put(20, 3, u64::from(d.subsec_millis()));
    String::from_utf8(b.to_vec()).expect("ASCII")
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

/// Seconds with millisecond precision, for JSON.
pub fn secs(d: Duration) -> f64 {
    (d.as_millis() as f64) / 1000.0
}

pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `3m12s`, `2h5m`, `4d1h`: two units at most, whole seconds.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut out = String::new();
    let mut rest = s;
    let mut shown = 0;
    for (size, name) in units {
        if rest >= size || (shown == 0 && size == 1) {
            out.push_str(&format!("{}{name}", rest / size));
            rest %= size;
            shown += 1;
            if shown == 2 || rest == 0 {
                break;
            }
        } else if shown > 0 {
            break;
        }
    }
    out
}

/// serde for one `SystemTime` as an RFC 3339 string.
pub mod serde_time {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_rfc3339(&s).ok_or_else(|| D::Error::custom(format!("bad time {s:?}")))
    }
}

/// serde for a sequence of `SystemTime`s as RFC 3339 strings.
pub mod serde_times {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::collections::VecDeque;
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(ts: &VecDeque<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ts.iter().map(|t| super::rfc3339(*t)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VecDeque<SystemTime>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| super::parse_rfc3339(s).ok_or_else(|| D::Error::custom(format!("bad time {s:?}"))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        for (s, want) in
            [(0, "0s"), (5, "5s"), (60, "1m"), (192, "3m12s"), (3600, "1h"), (3725, "1h2m"), (90061, "1d1h")]
        {
            assert_eq!(human(Duration::from_secs(s)), want, "{s}");
        }
    }

    #[test]
    fn rfc3339_round_trip() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let s = rfc3339(t);
        assert_eq!(s, "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_rfc3339(&s), Some(t));
    }

    #[test]
    fn rfc3339_agrees_with_humantime() {
        let ms = |v: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(v);
        let edges = [0, 999, 86_399_999, 951_782_400_000, 951_868_799_999, 4_107_542_400_000, 253_402_300_799_999];
        let sweep = (0..200_000u64).map(|i| i * 1_266_000_007 % 4_200_000_000_000);
        for t in edges.into_iter().chain(sweep).map(ms) {
            assert_eq!(rfc3339(t), humantime::format_rfc3339_millis(t).to_string(), "{t:?}");
        }
    }
}
