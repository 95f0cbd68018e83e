//! Typed condition values: numbers, dates, IP addresses.

use chrono::NaiveDate;
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

/// Parse 1..=max ASCII digits.
fn digits<T: std::str::FromStr>(s: &str, max: usize) -> Option<T> {
    (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// An ISO 8601 date/time (`2020`, `2020-01`, `2020-01-01`,
/// `2020-01-01T12`, `2020-01-01T12:00`, `2020-01-01T12:00:00.123Z`,
/// `...+02:00`, `...-0130`; `T`/`Z` in either case, no zone = UTC) or an
/// epoch time in seconds (digits only), as epoch milliseconds. This is the
/// syntax IAM's parser accepts for the `Date*` operators.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    // Epoch seconds: digits, optionally negative (IAM reads them as a Java long, so
    // `-292275054` is a date and `9223372036854775808` is not).
    let (sign, unsigned) = match s.strip_prefix('-') {
        Some(rest) => (-1i64, rest),
        None => (1, s),
    };
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = digits(unsigned, 19)?;
        return Some((sign * secs).saturating_mul(1000));
    }
    let (date, time) = match s.find(['t', 'T']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (negative, date) = match date.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, date),
    };
    let mut parts = date.split('-');
    let year: i32 = digits(parts.next()?, 9)?;
    let year = if negative { -year } else { year };
    let month: u32 = parts.next().map_or(Some(1), |m| digits(m, 2))?;
    let day: u32 = parts.next().map_or(Some(1), |d| digits(d, 2))?;
    if parts.next().is_some() {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let (mut h, mut m, mut sec, mut nanos, mut offset_secs) = (0u32, 0u32, 0u32, 0u32, 0i64);
    if let Some(time) = time.filter(|t| !t.is_empty()) {
        // Split off the zone: `Z`, or `+`/`-` followed by hh[:mm] / hhmm.
        let (clock, zone) = match time.find(['z', 'Z', '+', '-']) {
            Some(i) => (&time[..i], Some(&time[i..])),
            None => (time, None),
        };
        let mut c = clock.split(':');
        h = digits(c.next()?, 2)?;
        if let Some(mm) = c.next() {
            m = digits(mm, 2)?;
        }
        if let Some(ss) = c.next() {
            let (whole, frac) = match ss.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (ss, None),
            };
            sec = digits(whole, 2)?;
            if let Some(f) = frac {
                let f: &str = f;
                let v: u32 = digits(f, 9)?;
                nanos = v * 10u32.pow(9 - f.len() as u32);
            }
        }
        if c.next().is_some() || h > 23 || m > 59 || sec > 59 {
            return None;
        }
        if let Some(zone) = zone {
            match zone {
                "z" | "Z" => {}
                _ => {
                    let sign = if zone.starts_with('-') { -1 } else { 1 };
                    let body = &zone[1..];
                    let (zh, zm) = match body.split_once(':') {
                        Some((a, b)) => (a, Some(b)),
                        None if body.len() == 4 => (&body[..2], Some(&body[2..])),
                        None => (body, None),
                    };
                    if zh.len() != 2 || zm.is_some_and(|z| z.len() != 2) {
                        return None;
                    }
                    let zh: i64 = digits(zh, 2)?;
                    let zm: i64 = zm.map_or(Some(0), |z| digits(z, 2))?;
                    if zh > 23 || zm > 59 {
                        return None;
                    }
                    offset_secs = sign * (zh * 3600 + zm * 60);
                }
            }
        }
    }
    let t = date.and_hms_nano_opt(h, m, sec, nanos)?.and_utc();
    t.timestamp_millis().checked_sub(offset_secs * 1000)
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
        assert_eq!(parse_date("-292275054"), Some(-292_275_054_000));
        assert_eq!(parse_date("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_date("9223372036854775808"), None);
        assert_eq!(parse_date("-"), None);
        assert_eq!(parse_date("--1"), None);
        assert_eq!(parse_date("2020-01-01t00:00:00z"), Some(jan1));
        assert_eq!(parse_date("2020"), Some(2_020_000));
        assert_eq!(parse_date("2020-01"), Some(jan1));
        assert_eq!(parse_date("2020-01-01T00"), Some(jan1));
        assert_eq!(parse_date("2019-12-31T23:00:00-01:00"), Some(jan1));
        assert_eq!(parse_date("2020-01-01T05:30:00+0530"), Some(jan1));
        assert_eq!(parse_date("2020-01-01T00:00:00.5Z"), Some(jan1 + 500));
        for bad in [
            "",
            "2020-13-01",
            "yesterday",
            "2020-01-01T25:00:00Z",
            "1e9",
            "234-13",
            "2016-12-13t2:00:00.593194+1",
            "2016-12-13t2:00:00.1999999999+10:59",
            "9223372036854775808",
            "2020-02-30",
        ] {
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
