//! What the generated outputs (`crate::generated::{iam,sts,ec2}_outputs`) are written with: each
//! operation's output is a typed value (the model's output structure, its members, nested
//! structures, lists and maps), written by one writer — the Query protocol's
//! `<{Op}Response><{Op}Result>members…</{Op}Result><ResponseMetadata>…` ([`respond`]) or EC2's
//! `<{Op}Response xmlns=..><requestId>…</requestId>members…` ([`ec2_respond`]) — members in the
//! model's order (AWS's), an absent optional member not at all, Query lists as
//! `<Name><member>…</member></Name>`, EC2 lists (`items`) as `<name><item>…</item></name>`, maps
//! as `<Name><entry><key>…</key><value>…</value></entry></Name>`; EC2 timestamps (`stamp`) with
//! milliseconds.

use chrono::{DateTime, Utc};
use rolecall_wire::{Xml, ec2_response, ec2_timestamp, iso8601, query_response};

/// A value written as an element's content: escaped text for scalars, the member elements for
/// structures.
pub trait Value {
    fn write(&self, x: &mut Xml);

    /// Bytes known to be written at least (what `Rendered` items hold), so that a large answer
    /// is written into a buffer sized once.
    fn size_hint(&self) -> usize {
        0
    }
}

impl Value for String {
    fn write(&self, x: &mut Xml) {
        x.leaf_text(self);
    }
}

impl Value for i64 {
    fn write(&self, x: &mut Xml) {
        x.leaf_text(&self.to_string());
    }
}

impl Value for bool {
    fn write(&self, x: &mut Xml) {
        x.leaf_text(if *self { "true" } else { "false" });
    }
}

impl Value for f64 {
    fn write(&self, x: &mut Xml) {
        x.leaf_text(&self.to_string());
    }
}

/// IAM/STS timestamps: `2013-12-12T23:46:37Z`.
impl Value for DateTime<Utc> {
    fn write(&self, x: &mut Xml) {
        x.leaf_text(&iso8601(*self));
    }
}

/// A `T` written once and kept as its XML (the content of its element), written again as is:
/// DescribeInstances' instances, kept between requests by `instance_fragments`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered<T> {
    xml: std::sync::Arc<str>,
    of: std::marker::PhantomData<fn() -> T>,
}

impl<T: Value> Rendered<T> {
    pub fn new(value: &T) -> Self {
        let mut x = Xml::default();
        value.write(&mut x);
        Self::kept(x.finish().into())
    }
}

impl<T> Rendered<T> {
    /// XML written earlier from a `T` (escaped and balanced).
    pub(crate) fn kept(xml: std::sync::Arc<str>) -> Self {
        Rendered {
            xml,
            of: std::marker::PhantomData,
        }
    }

    pub fn xml(&self) -> &str {
        &self.xml
    }
}

impl<T> Value for Rendered<T> {
    fn write(&self, x: &mut Xml) {
        x.raw(&self.xml);
    }

    fn size_hint(&self) -> usize {
        self.xml.len()
    }
}

/// An operation's output.
pub trait Output: Value {
    /// Whether the response has a `<{Op}Result>` element: not for operations whose model has
    /// no output (`NoResult`), as AWS sends them.
    const RESULT: bool = true;
}

/// The output of an operation without one in its model (DeleteRole, TagRole, ...).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NoResult;

impl Value for NoResult {
    fn write(&self, _: &mut Xml) {}
}

impl Output for NoResult {
    const RESULT: bool = false;
}

/// EC2's answer to an operation without an output in its model (CreateTags, DeleteTags, ...):
/// `<return>true</return>`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReturnTrue;

impl Value for ReturnTrue {
    fn write(&self, x: &mut Xml) {
        x.leaf("return", "true");
    }
}

impl Output for ReturnTrue {}

/// `<name>value</name>`.
pub fn elem(x: &mut Xml, name: &str, value: &impl Value) {
    x.open(name);
    value.write(x);
    x.close(name);
}

/// `<name><member>item</member>…</name>` (an empty list is `<name></name>`).
pub fn list<T: Value>(x: &mut Xml, name: &str, items: &[T]) {
    x.list(name, "member", items, |x, item| item.write(x));
}

/// EC2's `<name><item>item</item>…</name>`.
pub fn items<T: Value>(x: &mut Xml, name: &str, items: &[T]) {
    x.list(name, "item", items, |x, item| item.write(x));
}

/// An EC2 timestamp: `<name>2013-12-12T23:46:37.000Z</name>`.
pub fn stamp(x: &mut Xml, name: &str, t: &DateTime<Utc>) {
    x.leaf(name, ec2_timestamp(*t));
}

/// `<name><entry><key>k</key><value>v</value></entry>…</name>`.
pub fn map<V: Value>(x: &mut Xml, name: &str, entries: &[(String, V)]) {
    x.list(name, "entry", entries, |x, (k, v)| {
        elem(x, "key", k);
        elem(x, "value", v);
    });
}

/// The Query-protocol response of operation `action` carrying `out`, in namespace `ns` (see
/// `units::run`, which answers a call).
pub fn respond<O: Output>(action: &str, ns: &str, request_id: &str, out: &O) -> String {
    let body = |x: &mut Xml| {
        x.reserve(out.size_hint());
        out.write(x)
    };
    let result: Option<&dyn Fn(&mut Xml)> = if O::RESULT { Some(&body) } else { None };
    query_response(action, ns, request_id, result)
}

/// The EC2 response of operation `action` carrying `out`.
pub fn ec2_respond<O: Output>(action: &str, request_id: &str, out: &O) -> String {
    ec2_response(action, request_id, |x| {
        x.reserve(out.size_hint());
        out.write(x)
    })
}

/// `Some(items)` unless there are none: an optional list AWS leaves out when empty (tags).
pub fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// The generated outputs of one service, as a table: a row per structure, whose members are
/// `field: kind("Wire"[, ItemType])`, `required` where the model requires them (see `output!`).
///
/// ```text
/// Tag { key: text("Key") required, value: text("Value") required }
/// ListRolesOutput: paged { roles: list("Roles", Role) required }  // then IsTruncated, Marker
/// GetRoleOutput = CreateRoleOutput;  // an output with the same members as another
/// ```
macro_rules! outputs {
    ($($(#[$doc:meta])* $name:ident $(: $paged:ident)? $(= $same:ident)? $({ $($members:tt)* })? $(;)?)*) => {
        $($crate::output::output!($(#[$doc])* $name $(: $paged)? $(= $same)? $({ $($members)* })?);)*
    };
}

/// One row of `outputs!`: an alias, or a structure and its `Value` (its members in order;
/// `paged`: a list's page, followed by `IsTruncated` and `Marker`).
macro_rules! output {
    ($(#[$doc:meta])* $name:ident = $same:ident) => {
        $(#[$doc])*
        pub type $name = $same;
    };
    ($(#[$doc:meta])* $name:ident: paged {
        $($field:ident: $kind:ident ($wire:literal $(, $t:ty)?) $($required:ident)?),* $(,)?
    }) => {
        $crate::output::output!($(#[$doc])* $name {
            $($field: $kind ($wire $(, $t)?) $($required)?,)*
            is_truncated: boolean("IsTruncated"), marker: text("Marker")
        });
    };
    ($(#[$doc:meta])* $name:ident {
        $($field:ident: $kind:ident ($wire:literal $(, $t:ty)?) $($required:ident)?),* $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Default)]
        pub struct $name {
            $(pub $field: $crate::output::out_member!(type $kind ($($t)?) $($required)?),)*
        }

        /// Secret members (secret keys, session tokens, passwords) are not shown.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($name));
                $(if $crate::output::is_secret_member($wire) {
                    d.field(stringify!($field), &"<hidden>");
                } else {
                    d.field(stringify!($field), &self.$field);
                })*
                d.finish()
            }
        }

        impl $crate::output::Value for $name {
            #[allow(unused_variables, reason = "a structure without members writes nothing")]
            fn write(&self, x: &mut rolecall_wire::Xml) {
                $($crate::output::out_member!(write x $kind $wire, &self.$field $(, $required)?);)*
            }

            fn size_hint(&self) -> usize {
                // Each member's element name and its brackets, then what its value knows.
                0 $(+ 2 * $wire.len() + 5
                    + $crate::output::out_member!(hint $kind, &self.$field $(, $required)?))*
            }
        }

        impl $crate::output::Output for $name {}
    };
}

/// Whether an output member (by its wire name) holds a secret, which `Debug` does not show.
pub fn is_secret_member(wire: &str) -> bool {
    let name = wire.to_ascii_lowercase();
    ["secret", "sessiontoken", "password", "privatekey"]
        .iter()
        .any(|s| name.contains(s))
}

/// One member of an `output!`: its Rust type (`type kind (ItemType) [required]`; optional
/// members are `Option`s) and how it is written (`write x kind "Wire", value [, required]`).
macro_rules! out_member {
    (type $kind:ident ($($t:ty)?) required) => { $crate::output::out_member!(one $kind ($($t)?)) };
    (type $kind:ident ($($t:ty)?)) => { Option<$crate::output::out_member!(one $kind ($($t)?))> };
    (one text ()) => { String };
    (one int ()) => { i64 };
    (one boolean ()) => { bool };
    (one date ()) => { chrono::DateTime<chrono::Utc> };
    (one stamp ()) => { chrono::DateTime<chrono::Utc> };
    (one number ()) => { f64 };
    (one items ($t:ty)) => { Vec<$t> };
    (one structure ($t:ty)) => { $t };
    (one list ($t:ty)) => { Vec<$t> };
    (one map ($t:ty)) => { Vec<(String, $t)> };

    (write $x:ident $kind:ident $wire:literal, $v:expr, required) => {
        $crate::output::out_member!(put $x $kind $wire, $v)
    };
    (write $x:ident $kind:ident $wire:literal, $v:expr) => {
        if let Some(v) = $v {
            $crate::output::out_member!(put $x $kind $wire, v)
        }
    };
    (hint $kind:ident, $v:expr, required) => { $crate::output::out_member!(hint1 $kind, $v) };
    (hint $kind:ident, $v:expr) => {
        $v.as_ref().map_or(0, |_v| $crate::output::out_member!(hint1 $kind, _v))
    };
    (hint1 list, $v:expr) => { $v.iter().map(|i| 17 + $crate::output::Value::size_hint(i)).sum::<usize>() };
    (hint1 items, $v:expr) => { $v.iter().map(|i| 13 + $crate::output::Value::size_hint(i)).sum::<usize>() };
    (hint1 map, $v:expr) => { $v.iter().map(|(_, v)| $crate::output::Value::size_hint(v)).sum::<usize>() };
    (hint1 structure, $v:expr) => { $crate::output::Value::size_hint($v) };
    (hint1 $kind:ident, $v:expr) => { 0 };

    (put $x:ident list $wire:literal, $v:expr) => { $crate::output::list($x, $wire, $v) };
    (put $x:ident map $wire:literal, $v:expr) => { $crate::output::map($x, $wire, $v) };
    (put $x:ident items $wire:literal, $v:expr) => { $crate::output::items($x, $wire, $v) };
    (put $x:ident stamp $wire:literal, $v:expr) => { $crate::output::stamp($x, $wire, $v) };
    (put $x:ident $kind:ident $wire:literal, $v:expr) => { $crate::output::elem($x, $wire, $v) };
}

pub(crate) use {out_member, output, outputs};

#[cfg(test)]
mod tests {
    use super::*;

    outputs! {
        Tag { key: text("Key") required, value: text("Value") }
        Thing: paged {
            name: text("Name") required, count: int("Count"), on: boolean("On") required,
            tags: list("Tags", Tag), names: list("Names", String) required,
            summary: map("Summary", i64), inner: structure("Inner", Tag),
        }
        Same = Thing;
    }

    fn written(v: &impl Value) -> String {
        let mut x = Xml::new();
        x.elem("R", |x| v.write(x));
        let s = x.finish();
        s.split_once('\n').map(|(_, b)| b.to_string()).unwrap_or(s)
    }

    #[test]
    fn members_in_order_absent_ones_left_out() {
        let t = Same {
            name: "a<b".into(),
            on: true,
            tags: Some(vec![Tag {
                key: "k".into(),
                value: None,
            }]),
            summary: Some(vec![("Users".into(), 3)]),
            is_truncated: Some(true),
            ..Default::default()
        };
        assert_eq!(
            written(&t),
            "<R><Name>a&lt;b</Name><On>true</On><Tags><member><Key>k</Key></member></Tags>\
             <Names></Names><Summary><entry><key>Users</key><value>3</value></entry></Summary>\
             <IsTruncated>true</IsTruncated></R>"
        );
    }

    outputs! {
        Change { id: text("instanceId"), at: stamp("timestamp"), states: items("stateSet", Tag) }
    }

    #[test]
    fn ec2_members_by_location_lists_as_items_timestamps_with_millis() {
        let at = chrono::DateTime::from_timestamp(1_386_892_000, 0).unwrap_or_default();
        let change = Change {
            id: Some("i-1".into()),
            at: Some(at),
            states: Some(vec![Tag {
                key: "k".into(),
                value: Some("v".into()),
            }]),
        };
        let body = ec2_respond("StartInstances", "r1", &change);
        assert!(
            body.contains(
                "<StartInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
                 <requestId>r1</requestId><instanceId>i-1</instanceId>\
                 <timestamp>2013-12-12T23:46:40.000Z</timestamp>\
                 <stateSet><item><Key>k</Key><Value>v</Value></item></stateSet>\
                 </StartInstancesResponse>"
            ),
            "{body}"
        );
        let tagged = ec2_respond("CreateTags", "r2", &ReturnTrue);
        assert!(
            tagged.contains("<requestId>r2</requestId><return>true</return></CreateTagsResponse>"),
            "{tagged}"
        );
    }

    #[test]
    fn no_result_element_without_an_output() {
        let none = respond("DeleteRole", "ns", "r1", &NoResult);
        assert!(
            none.contains("<DeleteRoleResponse xmlns=\"ns\"><ResponseMetadata>"),
            "{none}"
        );
        let one = respond("GetThing", "ns", "r1", &Tag::default());
        assert!(
            one.contains("<GetThingResult><Key></Key></GetThingResult><ResponseMetadata>"),
            "{one}"
        );
    }
}
