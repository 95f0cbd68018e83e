//! The compact per-instance entry the directory keeps: only what IMDS answers need, with ids
//! packed into integers, addresses parsed, repeated strings (image, type, zone, user data, ...)
//! shared through an interner and the profile view shared by every instance of the profile.
//! A million idle instances then cost a few hundred bytes each, not a whole `Instance`.

use crate::directory::ProfileView;
use chrono::{DateTime, Utc};
use rolecall_core::model::Instance;
use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

/// The id prefixes packed (EC2 ids are the prefix, a dash and lowercase hex).
const PREFIXES: [&str; 3] = ["i-", "r-", "iip-assoc-"];
/// At most this many hex digits are packed (EC2 uses 17; 8 in older ids).
const MAX_DIGITS: usize = 17;

/// An EC2 id (`i-…`, `r-…`, `iip-assoc-…`) packed into integers when it has EC2's form, kept as
/// text otherwise. Each string has exactly one form, so equality and hashing are the text's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ec2Id {
    Packed {
        prefix: u8,
        digits: u8,
        high: u8,
        low: u64,
    },
    Text(Box<str>),
}

impl Ec2Id {
    pub fn new(id: &str) -> Ec2Id {
        Ec2Id::pack(id).unwrap_or_else(|| Ec2Id::Text(id.into()))
    }

    fn pack(id: &str) -> Option<Ec2Id> {
        let (prefix, hex) = PREFIXES
            .iter()
            .enumerate()
            .find_map(|(n, p)| Some((n, id.strip_prefix(p)?)))?;
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if hex.is_empty() || hex.len() > MAX_DIGITS || !hex.bytes().all(lower_hex) {
            return None;
        }
        let value = u128::from_str_radix(hex, 16).ok()?;
        Some(Ec2Id::Packed {
            prefix: u8::try_from(prefix).ok()?,
            digits: u8::try_from(hex.len()).ok()?,
            high: u8::try_from(value >> 64).ok()?,
            low: value as u64,
        })
    }

    /// The id as text, without allocating.
    pub fn text(&self) -> IdText<'_> {
        match self {
            Ec2Id::Text(s) => IdText::Borrowed(s),
            Ec2Id::Packed {
                prefix,
                digits,
                high,
                low,
            } => {
                let prefix = PREFIXES.get(usize::from(*prefix)).copied().unwrap_or("");
                let mut buf = [0u8; ID_TEXT_MAX];
                buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
                let digits = usize::from(*digits);
                let value = (u128::from(*high) << 64) | u128::from(*low);
                for d in 0..digits {
                    let nibble = (value >> (4 * (digits - 1 - d))) & 0xf;
                    buf[prefix.len() + d] = b"0123456789abcdef"[nibble as usize];
                }
                IdText::Inline(buf, prefix.len() + digits)
            }
        }
    }
}

impl fmt::Display for Ec2Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

const ID_TEXT_MAX: usize = 32;

/// An [`Ec2Id`]'s text: formatted on the stack, or borrowed.
pub enum IdText<'a> {
    Inline([u8; ID_TEXT_MAX], usize),
    Borrowed(&'a str),
}

impl Deref for IdText<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            // Only ASCII is ever written inline.
            IdText::Inline(buf, len) => std::str::from_utf8(&buf[..*len]).unwrap_or_default(),
            IdText::Borrowed(s) => s,
        }
    }
}

/// A private address: parsed when it is one (always, for addresses EC2 assigns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    Ip(IpAddr),
    Text(Box<str>),
}

impl Addr {
    fn new(s: &str) -> Addr {
        s.parse()
            .map(Addr::Ip)
            .unwrap_or_else(|_| Addr::Text(s.into()))
    }

    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Addr::Ip(ip) => Some(*ip),
            Addr::Text(_) => None,
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Ip(ip) => ip.fmt(f),
            Addr::Text(s) => f.write_str(s),
        }
    }
}

/// The metadata options IMDS acts on, as flags (EC2 accepts only "enabled"/"disabled" and
/// "optional"/"required"; anything else counts as the value that is not "enabled"/"required").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub endpoint_enabled: bool,
    pub tokens_required: bool,
    pub tags_enabled: bool,
    pub hop_limit: u32,
}

/// One copy of each distinct string many instances share (image ids, instance types, zones,
/// security group listings, user data from one launch template).
#[derive(Default)]
pub struct Interner {
    strings: HashSet<Arc<str>>,
    /// How many were held after the last pruning.
    kept: usize,
}

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(v) = self.strings.get(s) {
            return v.clone();
        }
        if self.strings.len() >= 2 * self.kept.max(1024) {
            self.prune();
        }
        let v: Arc<str> = s.into();
        self.strings.insert(v.clone());
        v
    }

    /// Forgets strings no entry holds any more (values changed since); amortized over inserts.
    fn prune(&mut self) {
        self.strings.retain(|s| Arc::strong_count(s) > 1);
        self.kept = self.strings.len();
    }
}

/// A tag's key and value.
pub type TagPair = (Box<str>, Box<str>);

/// What IMDS serves for one running instance.
#[derive(Debug, Clone)]
pub struct InstanceEntry {
    pub(crate) id: Ec2Id,
    reservation_id: Ec2Id,
    /// The active association (credentials name it); None without one.
    association_id: Option<Ec2Id>,
    private_ip: Addr,
    image_id: Arc<str>,
    instance_type: Arc<str>,
    availability_zone: Arc<str>,
    vpc_id: Option<Arc<str>>,
    /// The `security-groups` listing (names, else ids, one a line).
    security_groups: Arc<str>,
    user_data: Option<Arc<str>>,
    /// Kept only while the instance's metadata options serve tags.
    tags: Option<Box<[TagPair]>>,
    pub(crate) profile: Option<Arc<ProfileView>>,
    launch_time: DateTime<Utc>,
    /// Credentials issued before this (unix milliseconds) belong to an earlier run of the
    /// instance under the same association, and are not served (verifiers refuse them).
    credentials_since: i64,
    ami_launch_index: u32,
    options: Options,
}

impl InstanceEntry {
    pub(crate) fn new(
        i: &Instance,
        profile: Option<Arc<ProfileView>>,
        association_id: &str,
        credentials_since: i64,
        strings: &mut Interner,
    ) -> InstanceEntry {
        let m = &i.metadata_options;
        let options = Options {
            endpoint_enabled: m.http_endpoint == "enabled",
            tokens_required: m.http_tokens == "required",
            tags_enabled: m.instance_metadata_tags == "enabled",
            hop_limit: m.http_put_response_hop_limit,
        };
        let groups: Vec<&str> = i
            .security_groups
            .iter()
            .filter_map(|g| g.group_name.as_deref().or(g.group_id.as_deref()))
            .collect();
        InstanceEntry {
            id: Ec2Id::new(&i.id),
            reservation_id: Ec2Id::new(&i.reservation_id),
            association_id: (!association_id.is_empty()).then(|| Ec2Id::new(association_id)),
            private_ip: Addr::new(&i.private_ip),
            image_id: strings.get(&i.image_id),
            instance_type: strings.get(&i.instance_type),
            availability_zone: strings.get(&i.availability_zone),
            vpc_id: i.vpc_id.as_deref().map(|v| strings.get(v)),
            security_groups: strings.get(&groups.join("\n")),
            user_data: i.user_data.as_deref().map(|u| strings.get(u)),
            tags: options.tags_enabled.then(|| {
                i.tags
                    .iter()
                    .map(|t| (t.key.as_str().into(), t.value.as_str().into()))
                    .collect()
            }),
            profile,
            launch_time: i.launch_time,
            credentials_since,
            ami_launch_index: i.ami_launch_index,
            options,
        }
    }

    /// The same instance under another view of its profile.
    pub(crate) fn with_profile(&self, profile: Arc<ProfileView>) -> InstanceEntry {
        InstanceEntry {
            profile: Some(profile),
            ..self.clone()
        }
    }

    pub fn id(&self) -> IdText<'_> {
        self.id.text()
    }

    pub fn reservation_id(&self) -> IdText<'_> {
        self.reservation_id.text()
    }

    /// The active association's id; empty without one.
    pub fn association_id(&self) -> IdText<'_> {
        match &self.association_id {
            Some(a) => a.text(),
            None => IdText::Borrowed(""),
        }
    }

    pub fn arn(&self, region: &str, account_id: &str) -> String {
        format!("arn:aws:ec2:{region}:{account_id}:instance/{}", self.id)
    }

    pub fn private_ip(&self) -> &Addr {
        &self.private_ip
    }

    pub fn image_id(&self) -> &str {
        &self.image_id
    }

    pub fn instance_type(&self) -> &str {
        &self.instance_type
    }

    pub fn availability_zone(&self) -> &str {
        &self.availability_zone
    }

    pub fn vpc_id(&self) -> Option<&str> {
        self.vpc_id.as_deref()
    }

    pub fn security_groups(&self) -> &str {
        &self.security_groups
    }

    pub fn user_data(&self) -> Option<&str> {
        self.user_data.as_deref()
    }

    /// The instance's tags (key, value), when its metadata options serve them.
    pub fn tags(&self) -> Option<&[TagPair]> {
        self.tags.as_deref()
    }

    pub fn profile(&self) -> Option<&ProfileView> {
        self.profile.as_deref()
    }

    pub fn launch_time(&self) -> DateTime<Utc> {
        self.launch_time
    }

    pub fn credentials_since(&self) -> i64 {
        self.credentials_since
    }

    pub fn ami_launch_index(&self) -> u32 {
        self.ami_launch_index
    }

    pub fn options(&self) -> Options {
        self.options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_text() {
        for id in [
            "i-0123456789abcdef0",
            "i-fffffffffffffffff",
            "i-00000000000000000",
            "i-1a2b3c4d",
            "r-0a1b2c3d4e5f60718",
            "iip-assoc-0a1b2c3d4e5f60718",
            // Not EC2's form: kept as text.
            "i-0123456789ABCDEF0",
            "i-0123456789abcdef01",
            "i-",
            "x-123",
            "",
        ] {
            let packed = Ec2Id::new(id);
            assert_eq!(&*packed.text(), id);
            assert_eq!(packed.to_string(), id);
        }
        assert!(matches!(
            Ec2Id::new("i-0123456789abcdef0"),
            Ec2Id::Packed { .. }
        ));
        assert_ne!(Ec2Id::new("i-0a"), Ec2Id::new("i-00a"));
        assert_ne!(Ec2Id::new("i-0a"), Ec2Id::new("r-0a"));
    }

    #[test]
    fn the_entry_is_compact() {
        // Every field is a packed id, an address, a shared pointer or a number: no per-instance
        // string beyond tags (only when served) and non-EC2-form ids.
        assert!(std::mem::size_of::<Ec2Id>() <= 24);
        let size = std::mem::size_of::<InstanceEntry>();
        assert!(size <= 256, "{size} bytes");
    }
}
