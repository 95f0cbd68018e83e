//! `rolecall audit`: the audit trail's events as JSON lines (CloudTrail records), oldest first,
//! read from the deployment's database (the data directory's, or ROLECALL_DATABASE_URL's).

use crate::datadir;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rolecall_core::Clock;
use rolecall_core::audit::{AuditTail, time_key};
use std::io::Write;
use std::path::Path;

/// Events read per query.
const PAGE: usize = 500;
/// How often `--follow` looks for new events.
const POLL: std::time::Duration = std::time::Duration::from_millis(500);
/// `--follow` prints an event only once it is this old: events are stored up to about a second
/// after their time (batched), so a newer one may be visible before an older one.
const SETTLE: chrono::Duration = chrono::Duration::seconds(3);

/// `--since`: RFC 3339, or an age such as `90s`, `15m`, `2h`, `7d`.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_utc());
    }
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .with_context(|| format!("--since {s}: not RFC 3339 or an age like 15m"))?;
    let age = match unit {
        "s" => chrono::Duration::seconds(n),
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => bail!("--since {s}: the unit must be s, m, h or d"),
    };
    Ok(now - age)
}

pub async fn print(
    dir: &Path,
    db: Option<&str>,
    since: Option<&str>,
    follow: bool,
    clock: &dyn Clock,
) -> Result<()> {
    let d = datadir::open(dir, datadir::Open::Existing, db, clock).await?;
    let since = since.map(|s| parse_since(s, clock.now())).transpose()?;
    let mut tail = AuditTail {
        after: None,
        since: since.map(|t| t - chrono::Duration::milliseconds(1)),
        limit: PAGE,
    };
    let mut out = std::io::stdout().lock();
    loop {
        let events = d
            .store
            .tail_audit_events(&tail)
            .await
            .map_err(|e| anyhow::anyhow!("reading audit events: {e}"))?;
        let settled = clock.now() - SETTLE;
        let ready: Vec<_> = events
            .iter()
            .take_while(|e| !follow || e.event_time < settled)
            .collect();
        for e in &ready {
            writeln!(out, "{}", e.record())?;
        }
        out.flush()?;
        if let Some(last) = ready.last() {
            tail.after = Some((time_key(last.event_time), last.event_id.clone()));
        }
        if ready.len() < PAGE {
            if !follow {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_rfc3339_and_ages() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T06:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_since("15m", now).unwrap(),
            now - chrono::Duration::minutes(15)
        );
        assert_eq!(
            parse_since("2026-11-30T05:00:00Z", now).unwrap(),
            now - chrono::Duration::hours(1)
        );
        assert!(parse_since("15x", now).is_err());
    }
}
