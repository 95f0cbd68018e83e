//! Timestamp formats as AWS writes them.

use chrono::{DateTime, SecondsFormat, Utc};

/// IAM/STS: `2013-12-12T23:46:37Z`.
pub fn iso8601(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// EC2: `2013-12-12T23:46:37.000Z`.
pub fn ec2_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
