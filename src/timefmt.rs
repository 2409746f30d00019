//! How times and durations are shown: RFC 3339 UTC with milliseconds for machines, `3m12s`
//! for people, seconds as numbers in JSON.

use std::time::{Duration, SystemTime};

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
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
}
