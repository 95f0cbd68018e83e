//! The request being authorized: who, what, on which resource, and the
//! condition keys (case-insensitive names, one or more values each).

use crate::condition::values::{parse_date, parse_number};
use crate::variables::Resolve;
use std::cmp::Ordering;
use std::net::IpAddr;

/// What kind of principal is making the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// The account root user (`arn:aws:iam::123456789012:root`). Identity
    /// policies do not limit the root user in AWS; callers decide whether to
    /// evaluate at all for root (resource policies still apply).
    Root,
    /// An IAM user.
    User,
    /// A role session (`arn:aws:sts::123456789012:assumed-role/Role/session`).
    AssumedRole,
    /// An STS federated user (`GetFederationToken`).
    FederatedUser,
    /// An AWS service principal such as `ec2.amazonaws.com`.
    Service,
    /// A web identity / SAML provider (`Principal: {"Federated": ...}`).
    WebIdentity,
    /// An unauthenticated caller.
    Anonymous,
}

/// The caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// The caller's ARN (session ARN for role sessions); the service name for
    /// [`PrincipalKind::Service`]; the provider for [`PrincipalKind::WebIdentity`].
    pub arn: String,
    /// The caller's account, if any.
    pub account: Option<String>,
    /// For role sessions: the ARN of the role (`arn:aws:iam::123456789012:role/path/Role`).
    pub role_arn: Option<String>,
}

impl Principal {
    pub fn user(arn: impl Into<String>) -> Self {
        Self::from_arn(PrincipalKind::User, arn.into())
    }
    pub fn root(account: impl Into<String>) -> Self {
        let account = account.into();
        Principal {
            kind: PrincipalKind::Root,
            arn: format!("arn:aws:iam::{account}:root"),
            account: Some(account),
            role_arn: None,
        }
    }
    /// A role session: its `assumed-role` ARN and the role's IAM ARN.
    pub fn assumed_role(session_arn: impl Into<String>, role_arn: impl Into<String>) -> Self {
        let mut p = Self::from_arn(PrincipalKind::AssumedRole, session_arn.into());
        p.role_arn = Some(role_arn.into());
        p
    }
    pub fn federated_user(arn: impl Into<String>) -> Self {
        Self::from_arn(PrincipalKind::FederatedUser, arn.into())
    }
    pub fn service(name: impl Into<String>) -> Self {
        Principal {
            kind: PrincipalKind::Service,
            arn: name.into(),
            account: None,
            role_arn: None,
        }
    }
    pub fn web_identity(provider: impl Into<String>) -> Self {
        Principal {
            kind: PrincipalKind::WebIdentity,
            arn: provider.into(),
            account: None,
            role_arn: None,
        }
    }
    pub fn anonymous() -> Self {
        Principal {
            kind: PrincipalKind::Anonymous,
            arn: "*".into(),
            account: None,
            role_arn: None,
        }
    }
    fn from_arn(kind: PrincipalKind, arn: String) -> Self {
        let account = crate::arn::arn_account(&arn).map(str::to_owned);
        Principal {
            kind,
            arn,
            account,
            role_arn: None,
        }
    }
}

/// One value of a context key, pre-parsed for the typed operators.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextValue {
    text: Box<str>,
    pub(crate) num: Option<f64>,
    pub(crate) date: Option<i64>,
    pub(crate) ip: Option<IpAddr>,
}

impl ContextValue {
    pub fn new(text: impl Into<String>) -> Self {
        let text: Box<str> = text.into().into();
        ContextValue {
            num: parse_number(&text),
            date: parse_date(&text),
            ip: text.parse().ok(),
            text,
        }
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    /// Lowercased key name.
    key: Box<str>,
    values: Vec<ContextValue>,
    /// Set with [`ContextKeys::insert_values`]: a multi-valued key.
    multi: bool,
}

/// Condition keys of a request: case-insensitive names, one or more values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextKeys {
    entries: Vec<Entry>,
}

/// Keys are kept sorted by (length, lowercase bytes): most comparisons in a
/// lookup are then decided by the length alone.
/// Compare an already-lowercased key with an arbitrary-case one.
fn cmp_ci(lower: &str, other: &str) -> Ordering {
    lower.len().cmp(&other.len()).then_with(|| {
        lower
            .bytes()
            .cmp(other.bytes().map(|b| b.to_ascii_lowercase()))
    })
}

/// Compare two lowercase keys in the same order as [`cmp_ci`].
#[inline]
fn cmp_lower(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        for (x, y) in a.bytes().zip(b.bytes()) {
            if x != y {
                return x.cmp(&y);
            }
        }
        Ordering::Equal
    })
}

impl ContextKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set a single-valued key (replacing any previous values).
    pub fn insert(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.set(key, vec![ContextValue::new(value)], false)
    }

    /// Set a multi-valued key such as `aws:TagKeys` (replacing any previous
    /// values), even with one value: only the set operators `ForAllValues:`/
    /// `ForAnyValue:` match multi-valued keys, and they cannot be used as
    /// policy variables. An empty list is an empty set, not an absent key.
    pub fn insert_values<I, S>(&mut self, key: &str, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<ContextValue> = values.into_iter().map(ContextValue::new).collect();
        self.set(key, values, true)
    }

    fn set(&mut self, key: &str, values: Vec<ContextValue>, multi: bool) -> &mut Self {
        match self.find(key) {
            Ok(i) => {
                self.entries[i].values = values;
                self.entries[i].multi = multi;
            }
            Err(i) => self.entries.insert(
                i,
                Entry {
                    key: key.to_ascii_lowercase().into(),
                    values,
                    multi,
                },
            ),
        }
        self
    }

    /// Is the key multi-valued?
    pub fn is_multi_valued(&self, key: &str) -> bool {
        self.find(key).is_ok_and(|i| self.entries[i].multi)
    }

    /// Values and multi-valuedness of a key given in lowercase (policy keys
    /// are lowercased when compiled).
    #[inline]
    pub(crate) fn entry(&self, key_lower: &str) -> Option<(&[ContextValue], bool)> {
        self.entries
            .binary_search_by(|e| cmp_lower(&e.key, key_lower))
            .ok()
            .map(|i| (&*self.entries[i].values, self.entries[i].multi))
    }

    /// Builder form of [`ContextKeys::insert`].
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Remove a key.
    pub fn remove(&mut self, key: &str) {
        if let Ok(i) = self.find(key) {
            self.entries.remove(i);
        }
    }

    /// The values of a key (name case-insensitive).
    pub fn get(&self, key: &str) -> Option<&[ContextValue]> {
        self.find(key).ok().map(|i| &*self.entries[i].values)
    }

    /// Does the key exist?
    pub fn contains(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// The keys (lowercased) and their values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[ContextValue])> {
        self.entries.iter().map(|e| (&*e.key, &*e.values))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| cmp_ci(&e.key, key))
    }
}

impl Resolve for ContextKeys {
    fn resolve_key(&self, key_lower: &str) -> Option<&str> {
        match self.entry(key_lower) {
            Some(([v], false)) => Some(v.as_str()),
            _ => None,
        }
    }
}

/// A request to authorize.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestContext {
    pub principal: Principal,
    /// `service:Action`, any case.
    pub action: String,
    /// The resource ARN, or `*`.
    pub resource: String,
    /// The account owning the resource; `None` means the principal's account.
    pub resource_account: Option<String>,
    pub keys: ContextKeys,
}

impl RequestContext {
    /// A request with no condition keys; the resource account is taken from
    /// the resource ARN if it has one.
    pub fn new(
        principal: Principal,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        let resource = resource.into();
        let resource_account = crate::arn::arn_account(&resource).map(str::to_owned);
        RequestContext {
            principal,
            action: action.into(),
            resource,
            resource_account,
            keys: ContextKeys::new(),
        }
    }

    /// Builder: add a single-valued condition key.
    pub fn with_key(mut self, key: &str, value: impl Into<String>) -> Self {
        self.keys.insert(key, value);
        self
    }

    /// Builder: add a multi-valued condition key.
    pub fn with_values<I, S>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keys.insert_values(key, values);
        self
    }

    /// Is the resource in another account than the principal?
    pub fn is_cross_account(&self) -> bool {
        match (&self.resource_account, &self.principal.account) {
            (Some(r), Some(p)) => r != p,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive() {
        let mut k = ContextKeys::new();
        k.insert("aws:SourceIp", "10.0.0.1");
        k.insert_values("aws:TagKeys", ["a", "b"]);
        assert_eq!(k.get("AWS:SOURCEIP").unwrap()[0].as_str(), "10.0.0.1");
        assert!(k.get("aws:sourceip").unwrap()[0].ip.is_some());
        assert_eq!(k.get("aws:tagkeys").unwrap().len(), 2);
        k.insert("AWS:SourceIP", "10.0.0.2");
        assert_eq!(k.len(), 2);
        assert_eq!(k.resolve_key("aws:sourceip"), Some("10.0.0.2"));
        assert_eq!(k.resolve_key("aws:tagkeys"), None);
        k.insert_values("k:one", ["x"]);
        assert!(k.is_multi_valued("K:ONE"));
        assert_eq!(k.resolve_key("k:one"), None);
        k.remove("aws:sourceip");
        assert!(!k.contains("aws:SourceIp"));
    }

    #[test]
    fn principals() {
        let p = Principal::assumed_role(
            "arn:aws:sts::123456789012:assumed-role/R/s",
            "arn:aws:iam::123456789012:role/R",
        );
        assert_eq!(p.account.as_deref(), Some("123456789012"));
        let r = RequestContext::new(p, "s3:GetObject", "arn:aws:s3:::b/k");
        assert!(!r.is_cross_account());
        let r = RequestContext::new(
            Principal::user("arn:aws:iam::111111111111:user/u"),
            "iam:GetRole",
            "arn:aws:iam::222222222222:role/x",
        );
        assert!(r.is_cross_account());
    }
}
