//! Typed condition values: numbers, dates, IP addresses.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use ipnet::IpNet;
use std::net::IpAddr;

/// A strict decimal number: `-?digits(.digits)?` (AWS rejects `12abc`, `1e3`, ...).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return None;
    }
    s.parse::<f64>().ok()
}

/// An ISO 8601 date/time or an epoch time in seconds, as epoch milliseconds.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let body = s.strip_prefix('-').unwrap_or(s);
    if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        // Epoch seconds.
        return s.parse::<i64>().ok().and_then(|x| x.checked_mul(1000));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    // Offset without seconds, basic formats, etc.
    for fmt in [
        "%Y-%m-%dT%H:%M%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y%m%dT%H%M%S%#z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(s, fmt) {
            return Some(d.timestamp_millis());
        }
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y%m%dT%H%M%S",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(d.and_utc().timestamp_millis());
        }
    }
    for fmt in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(naive, fmt) {
            return d
                .and_hms_opt(0, 0, 0)
                .map(|d| d.and_utc().timestamp_millis());
        }
    }
    None
}

/// An IP address or CIDR block (`10.0.0.0/8`, `203.0.113.5`, `2001:db8::/32`).
pub(crate) fn parse_ip(s: &str) -> Option<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n);
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("-1.5"), Some(-1.5));
        assert_eq!(parse_number("007"), Some(7.0));
        for bad in [
            "", "12abc", "1e3", "1.", ".5", "+1", " 1", "-", "NaN", "inf",
        ] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates() {
        let jan1 = 1_577_836_800_000;
        assert_eq!(parse_date("2020-01-01"), Some(jan1));
        assert_eq!(parse_date("2020-01-01T00:00:00Z"), Some(jan1));
        assert_eq!(parse_date("2020-01-01T00:00:00.000Z"), Some(jan1));
        assert_eq!(parse_date("2020-01-01T01:00:00+01:00"), Some(jan1));
        assert_eq!(parse_date("2020-01-01T00:00Z"), Some(jan1));
        assert_eq!(parse_date("2020-01-01T00:00:00"), Some(jan1));
        assert_eq!(parse_date("1577836800"), Some(jan1));
        for bad in ["", "2020-13-01", "yesterday", "2020-01-01T25:00:00Z", "1e9"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn ips() {
        let n = parse_ip("10.0.0.0/8").unwrap();
        assert!(n.contains(&"10.1.2.3".parse::<IpAddr>().unwrap()));
        assert!(
            parse_ip("203.0.113.5")
                .unwrap()
                .contains(&"203.0.113.5".parse::<IpAddr>().unwrap())
        );
        assert!(parse_ip("2001:db8::/32").is_some());
        assert!(parse_ip("10.0.0.0/33").is_none());
        assert!(parse_ip("10.0.0").is_none());
        assert!(parse_ip("::ffff:zz").is_none());
    }
}
