//! The instance page's IMDS credential: when the credential IMDS serves the instance now was
//! minted, when it expires, and a bar of its remaining lifetime. Read from this process's IMDS
//! directory (its credential cache: two map lookups, no database read, no secret); shown only
//! after the page's DescribeInstances for the instance succeeded as the signed-in principal.

use crate::ctx::Ctx;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use rolecall_imds::{CredentialTimes, Directory};

/// What the page can say about the instance's credential.
pub enum State {
    /// This process serves no IMDS (no `--imds-listen`).
    NoImds,
    /// The instance has no instance profile: IMDS serves it no credential.
    NoRole,
    /// None minted yet (minted on the instance's first request), or forgotten after it stopped
    /// asking for a credential lifetime.
    NotYet,
    Current(CredentialTimes),
}

impl State {
    pub fn of(imds: Option<&Directory>, instance_id: &str, has_profile: bool) -> State {
        match imds {
            None => State::NoImds,
            Some(_) if !has_profile => State::NoRole,
            Some(d) => d
                .credential_times(instance_id)
                .map_or(State::NotYet, State::Current),
        }
    }
}

/// Width of the lifetime bar, in SVG user units.
const BAR: i64 = 300;

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whole minutes in a duration, never negative: rounded down for what is left, to the nearest
/// for the lifetime (expiry times are whole seconds, minting times are not).
fn minutes(d: chrono::Duration) -> i64 {
    d.num_minutes().max(0)
}

fn nearest_minutes(d: chrono::Duration) -> i64 {
    ((d.num_seconds() + 30) / 60).max(0)
}

pub fn section(ctx: &Ctx, state: &State, now: DateTime<Utc>) -> Markup {
    html! {
        section aria-labelledby="imds-credential-h" {
            h2 #imds-credential-h { (ctx.t("Instance metadata credential")) }
            div #imds-credential {
                @match state {
                    State::NoImds => p.hint { (ctx.t("This server does not serve instance metadata (IMDS).")) },
                    State::NoRole => p { (ctx.t("No IAM role: IMDS serves this instance no credentials.")) },
                    State::NotYet => p.not-yet { (ctx.t("Not yet minted: the instance has not asked IMDS for credentials. They are minted at its first request.")) },
                    State::Current(t) => (current(ctx, t, now)),
                }
            }
        }
    }
}

fn current(ctx: &Ctx, t: &CredentialTimes, now: DateTime<Utc>) -> Markup {
    let total = (t.expires - t.minted).num_seconds().max(1);
    let left = (t.expires - now).num_seconds().clamp(0, total);
    let percent = left * 100 / total;
    let width = left * BAR / total;
    let summary = format!(
        "{} {} / {} {} ({percent}%)",
        minutes(t.expires - now),
        ctx.t("min left"),
        nearest_minutes(t.expires - t.minted),
        ctx.t("min"),
    );
    html! {
        dl.summary {
            dt { (ctx.t("Minted")) } dd #credential-minted { time datetime=(stamp(t.minted)) { (stamp(t.minted)) } }
            dt { (ctx.t("Expires")) } dd #credential-expires { time datetime=(stamp(t.expires)) { (stamp(t.expires)) } }
            dt { (ctx.t("Remaining lifetime")) } dd #credential-left { (summary) }
        }
        svg.lifetime role="img" aria-labelledby="lifetime-title" viewBox=(format!("0 0 {BAR} 16")) width=(BAR) height="16" {
            title #lifetime-title { (ctx.t("Remaining lifetime")) ": " (summary) }
            rect.track x="0" y="0" width=(BAR) height="16" rx="4" {}
            rect.left x="0" y="0" width=(width) height="16" rx="4" {}
        }
    }
}
