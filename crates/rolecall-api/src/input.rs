//! What the generated inputs (`crate::generated`) check a parameter with, in AWS's wording:
//! IAM/STS "1 validation error detected: Value 'x' at 'roleName' failed to satisfy constraint:
//! ..." (`ValidationError`), EC2 `MissingParameter` / `InvalidParameterValue`.

use crate::error::{ApiError, Protocol};
use rolecall_core::validate;
use rolecall_wire::Params;

/// A Query-protocol constraint violation of `field` (the member name, first letter lower-cased).
pub fn violation(field: &str, value: &str, constraint: &str) -> ApiError {
    validate::violation(field, value, constraint).into()
}

/// Length in characters within `min..=max`.
pub fn length(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    Ok(validate::check_len(field, value, min, max)?)
}

/// Every character in the pattern's class (the generator writes the class as `allowed`).
pub fn pattern(
    field: &str,
    value: &str,
    pattern: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ApiError> {
    if value.chars().all(allowed) {
        Ok(())
    } else {
        Err(violation(
            field,
            value,
            &format!("Member must satisfy regular expression pattern: {pattern}"),
        ))
    }
}

/// A number within the model's `min` and `max` (either may be absent); `shown` is the value as
/// the message quotes it.
pub fn value_range(
    field: &str,
    shown: &str,
    n: i64,
    min: Option<i64>,
    max: Option<i64>,
) -> Result<(), ApiError> {
    let bound = match (min, max) {
        (Some(min), _) if n < min => format!("greater than or equal to {min}"),
        (_, Some(max)) if n > max => format!("less than or equal to {max}"),
        _ => return Ok(()),
    };
    Err(violation(
        field,
        shown,
        &format!("Member must have value {bound}"),
    ))
}

/// An integer parameter (surrounding whitespace allowed).
pub fn int(protocol: Protocol, wire: &str, value: &str) -> Result<i64, ApiError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| ApiError::malformed_parameter(protocol, wire, value))
}

/// A boolean parameter: `true` / `false` in any case.
pub fn boolean(protocol: Protocol, wire: &str, value: &str) -> Result<bool, ApiError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ApiError::malformed_parameter(protocol, wire, value))
    }
}

/// A list of at most `max` items; the message shows the first three (`[a, b, c, ...]`).
pub fn list_length<T>(
    field: &str,
    items: &[T],
    max: usize,
    render: impl Fn(&T) -> String,
) -> Result<(), ApiError> {
    if items.len() <= max {
        return Ok(());
    }
    let shown: Vec<String> = items.iter().take(3).map(render).collect();
    let more = if items.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    Err(violation(
        field,
        &format!("[{}{more}]", shown.join(", ")),
        &format!("Member must have length less than or equal to {max}"),
    ))
}

/// A typed input read from the request parameters (every generated `…Input` is one).
pub trait Parse: Sized {
    fn parse(p: &Params) -> Result<Self, ApiError>;
}

/// A model pattern that is a character class (`[\\w+=,.@-]+`) as AWS quotes it, and the class
/// as a predicate (the generator writes it).
pub type Class = (&'static str, fn(char) -> bool);

/// A string shape's model constraints (`min`/`max` length, a character-class `pattern`).
#[derive(Clone, Copy)]
pub struct Text {
    min: usize,
    max: usize,
    /// The model's pattern as AWS quotes it, and the class as a predicate.
    pattern: Option<Class>,
}

impl Text {
    /// Any string (EC2 members: the EC2 protocol checks no constraints here).
    pub const ANY: Text = Text::new(0, usize::MAX);

    pub const fn new(min: usize, max: usize) -> Text {
        Text {
            min,
            max,
            pattern: None,
        }
    }

    pub const fn pattern(self, class: Class) -> Text {
        Text {
            pattern: Some(class),
            ..self
        }
    }

    fn check(&self, field: &str, v: &str) -> Result<(), ApiError> {
        if self.min > 0 || self.max < usize::MAX {
            length(field, v, self.min, self.max)?;
        }
        if let Some((regex, allowed)) = self.pattern {
            pattern(field, v, regex, allowed)?;
        }
        Ok(())
    }
}

/// An integer shape's model constraints (`min`/`max` value).
#[derive(Clone, Copy)]
pub struct Int {
    min: Option<i64>,
    max: Option<i64>,
    /// IAM words unparsable values of this shape "Member must be a number" and shows them as
    /// sent (untrimmed), rather than the generic type error.
    number_wording: bool,
}

impl Int {
    pub const ANY: Int = Int::new(None, None);

    pub const fn new(min: Option<i64>, max: Option<i64>) -> Int {
        Int {
            min,
            max,
            number_wording: false,
        }
    }

    pub const fn number_wording(self) -> Int {
        Int {
            number_wording: true,
            ..self
        }
    }
}

/// Reads one structure's members from `Params` for a generated `parse_at`: `at` is the
/// structure's path in messages (`tags.1.member.`), `protocol` decides the wording and the
/// list layout (Query `Name.member.N`, EC2 `Name.N`).
pub struct Reader<'p> {
    p: &'p Params,
    at: &'p str,
    protocol: Protocol,
}

/// A value that may be absent: a required member must be present (a list, non-empty).
pub trait Present {
    type Value;
    fn present(self) -> Option<Self::Value>;
}

impl<T> Present for Option<T> {
    type Value = T;
    fn present(self) -> Option<T> {
        self
    }
}

impl<T> Present for Vec<T> {
    type Value = Vec<T>;
    fn present(self) -> Option<Vec<T>> {
        (!self.is_empty()).then_some(self)
    }
}

impl<'p> Reader<'p> {
    pub fn new(p: &'p Params, at: &'p str, protocol: Protocol) -> Self {
        Reader { p, at, protocol }
    }

    /// A member's name in messages: its path from the input (`tags.1.member.key`); Query
    /// members are named as on the wire, first letter lower-cased.
    fn field(&self, wire: &str) -> String {
        format!("{}{}", self.at, lower_first(wire))
    }

    /// A required member: `MissingParameter` (EC2) / "Member must not be null" when absent.
    pub fn required<V: Present>(&self, wire: &str, value: V) -> Result<V::Value, ApiError> {
        value
            .present()
            .ok_or_else(|| ApiError::missing_parameter(self.protocol, wire))
    }

    /// An optional member `wire`, read by `read` when present.
    fn optional<T>(
        &self,
        wire: &str,
        read: impl Fn(&str) -> Result<T, ApiError>,
    ) -> Result<Option<T>, ApiError> {
        self.p.get(wire).map(read).transpose()
    }

    /// A list member's items (at most `max`: checked before the items), each read by `read`.
    fn items<T>(
        &self,
        wire: &str,
        max: Option<usize>,
        read: impl Fn(&str) -> Result<T, ApiError>,
    ) -> Result<Vec<T>, ApiError> {
        let raw = self.p.list(&self.list_prefix(wire));
        self.bound(wire, &raw, max, |v| v.to_string())?;
        raw.into_iter().map(read).collect()
    }

    /// A string member.
    pub fn text(&self, wire: &str, c: &Text) -> Result<Option<String>, ApiError> {
        self.optional(wire, |v| self.text_value(wire, v, c))
    }

    fn text_value(&self, wire: &str, v: &str, c: &Text) -> Result<String, ApiError> {
        c.check(&self.field(wire), v)?;
        Ok(v.to_string())
    }

    pub fn int(&self, wire: &str, c: &Int) -> Result<Option<i64>, ApiError> {
        self.optional(wire, |v| self.int_value(wire, v, c))
    }

    fn int_value(&self, wire: &str, v: &str, c: &Int) -> Result<i64, ApiError> {
        let field = self.field(wire);
        let n = if c.number_wording {
            v.parse()
                .map_err(|_| violation(&field, v, "Member must be a number"))?
        } else {
            int(self.protocol, wire, v)?
        };
        // The value as the message shows it: as sent where IAM does not trim, else parsed.
        let shown = if c.number_wording {
            v.to_string()
        } else {
            n.to_string()
        };
        value_range(&field, &shown, n, c.min, c.max)?;
        Ok(n)
    }

    pub fn boolean(&self, wire: &str) -> Result<Option<bool>, ApiError> {
        self.optional(wire, |v| boolean(self.protocol, wire, v))
    }

    /// Where list `wire`'s items are: `Name.member.N` (Query), `Name.N` (EC2).
    fn list_prefix(&self, wire: &str) -> String {
        match self.protocol {
            Protocol::Ec2 => wire.to_string(),
            _ => format!("{wire}.member"),
        }
    }

    /// The list's length is checked before its items (bounded work for long lists).
    fn bound<T>(
        &self,
        wire: &str,
        items: &[T],
        max: Option<usize>,
        render: impl Fn(&T) -> String,
    ) -> Result<(), ApiError> {
        match max {
            Some(max) => list_length(&self.field(wire), items, max, render),
            None => Ok(()),
        }
    }

    /// A list of strings of at most `max` items.
    pub fn texts(&self, wire: &str, max: Option<usize>, c: &Text) -> Result<Vec<String>, ApiError> {
        self.items(wire, max, |v| self.text_value(wire, v, c))
    }

    /// A list of integers of at most `max` items.
    #[allow(
        dead_code,
        reason = "no implemented operation has one yet; the generator emits it"
    )]
    pub fn ints(&self, wire: &str, max: Option<usize>, c: &Int) -> Result<Vec<i64>, ApiError> {
        self.items(wire, max, |v| self.int_value(wire, v, c))
    }

    /// A list of structures of at most `max` items; the length message shows the first items
    /// as AWS does (`[Tag(key=a, value=b), ...]`, `shape` and its `members`), and the items are
    /// named by their 1-based position (`tags.6.member.value`).
    pub fn structs<T>(
        &self,
        wire: &str,
        max: Option<usize>,
        (shape, members): (&str, &[&str]),
        parse: fn(&Params, &str) -> Result<T, ApiError>,
    ) -> Result<Vec<T>, ApiError> {
        let raw = self.p.structs(&self.list_prefix(wire));
        self.bound(wire, &raw, max, |s| {
            let shown: Vec<String> = members
                .iter()
                .map(|m| format!("{}={}", lower_first(m), s.get(m).unwrap_or("null")))
                .collect();
            format!("{shape}({})", shown.join(", "))
        })?;
        raw.iter()
            .enumerate()
            .map(|(i, s)| parse(s, &self.nested(wire, &format!(".{}.member.", i + 1))))
            .collect()
    }

    /// A structure member (`Name.Field`).
    pub fn structure<T>(
        &self,
        wire: &str,
        parse: fn(&Params, &str) -> Result<T, ApiError>,
    ) -> Result<Option<T>, ApiError> {
        self.p
            .sub(wire)
            .map(|s| parse(&s, &self.nested(wire, ".")))
            .transpose()
    }

    /// A nested structure's path in messages (EC2 messages name no paths).
    fn nested(&self, wire: &str, then: &str) -> String {
        match self.protocol {
            Protocol::Ec2 => String::new(),
            _ => self.field(wire) + then,
        }
    }
}

fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The generated structures of one service, as a table: a row per structure, whose members are
/// `field: kind("Wire", args..)`, `required` where the model requires them (see `shape!`).
///
/// ```text
/// Tag { key: text("Key", TAG_KEY_TYPE) required, value: text("Value", TAG_VALUE_TYPE) required }
/// GetRoleInput { role_name: .. } [DeleteRoleInput]  // inputs with the same members
/// GetAccountSummaryInput;          // an operation without parameters
/// ```
macro_rules! shapes {
    ($(
        $(#[$doc:meta])* $name:ident $(= $same:ident)? $({ $($members:tt)* })?
        $([$($alias:ident),* $(,)?])? $(;)?
    )*) => {
        $(
            $crate::input::shape!($(#[$doc])* $name $(= $same)? $({ $($members)* })?);
            $($(pub type $alias = $name;)*)?
        )*
    };
}

/// Inputs that share their trailing members (TagRole, TagUser, TagInstanceProfile: all but the
/// subject they act on): `{ shared members } for TagRoleInput(own members) [aliases], ...;`,
/// each variant a `shape!` row of its own members, then the shared ones.
macro_rules! families {
    ($(
        #[doc = $doc:literal] $shared:tt for
        $($name:ident $subject:tt $([$($alias:ident),* $(,)?])?),+ ;
    )*) => {
        $($(
            $crate::input::family_row!($doc, $name $subject $shared);
            $($(pub type $alias = $name;)*)?
        )+)*
    };
}

/// One variant of a `families!` row.
macro_rules! family_row {
    ($doc:literal, $name:ident ($($subject:tt)*) { $($shared:tt)* }) => {
        $crate::input::shape!(#[doc = $doc] $name { $($subject)*, $($shared)* });
    };
}

/// One row of `shapes!`: an alias, a structure without parameters, or a structure with its
/// `parse` / `parse_at` reading every member in order (`member!` reads one).
macro_rules! shape {
    ($(#[$doc:meta])* $name:ident = $same:ident) => {
        $(#[$doc])*
        pub type $name = $same;
    };
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name;

        impl $name {
            pub fn parse(_: &rolecall_wire::Params) -> Result<Self, $crate::error::ApiError> {
                Ok($name)
            }
        }

        impl $crate::input::Parse for $name {
            fn parse(p: &rolecall_wire::Params) -> Result<Self, $crate::error::ApiError> {
                $name::parse(p)
            }
        }
    };
    ($(#[$doc:meta])* $name:ident {
        $($field:ident: $kind:ident ($wire:literal $(, $arg:tt)*) $($required:ident)?),* $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $(pub $field: $crate::input::member!(type $kind ($($arg),*) $($required)?),)*
        }

        impl $name {
            /// The model's name of the structure and of its members, as a list-length message
            /// shows an item (`Tag(key=a, value=b)`).
            pub const SHOWN: (&'static str, &'static [&'static str]) =
                (stringify!($name), &[$($wire),*]);

            /// Reads and checks the parameters (see `crate::input`).
            pub fn parse(p: &rolecall_wire::Params) -> Result<Self, $crate::error::ApiError> {
                Self::parse_at(p, "")
            }

            /// As `parse`, for a structure at path `at` (`tags.1.member.`) in messages.
            #[allow(unused_variables, reason = "a structure without members reads nothing")]
            pub fn parse_at(
                p: &rolecall_wire::Params,
                at: &str,
            ) -> Result<Self, $crate::error::ApiError> {
                let r = $crate::input::Reader::new(p, at, PROTOCOL);
                Ok($name {
                    $($field: $crate::input::member!(read r $kind ($wire $(, $arg)*) $($required)?),)*
                })
            }
        }

        impl $crate::input::Parse for $name {
            fn parse(p: &rolecall_wire::Params) -> Result<Self, $crate::error::ApiError> {
                $name::parse(p)
            }
        }
    };
}

/// One member of a `shape!`: its Rust type (`type kind (args) [required]`) and how the reader
/// reads it (`read r kind ("Wire", args) [required]`). The kinds are the `Reader`'s methods;
/// a constraint left out is `ANY`, a list bound left out is none.
macro_rules! member {
    (type text $args:tt) => { Option<String> };
    (type text $args:tt required) => { String };
    (type int $args:tt) => { Option<i64> };
    (type int $args:tt required) => { i64 };
    (type boolean $args:tt) => { Option<bool> };
    (type boolean $args:tt required) => { bool };
    (type texts $args:tt $($required:ident)?) => { Vec<String> };
    (type ints $args:tt $($required:ident)?) => { Vec<i64> };
    (type structs ($($max:literal,)? $t:ident) $($required:ident)?) => { Vec<$t> };
    (type structure ($t:ident)) => { Option<$t> };
    (type structure ($t:ident) required) => { $t };

    (read $r:ident $kind:ident ($wire:literal $(, $arg:tt)*) required) => {
        $r.required($wire, $crate::input::member!(read $r $kind ($wire $(, $arg)*)))?
    };
    (read $r:ident text ($wire:literal)) => { $r.text($wire, &$crate::input::Text::ANY)? };
    (read $r:ident text ($wire:literal, $c:ident)) => { $r.text($wire, &$c)? };
    (read $r:ident int ($wire:literal)) => { $r.int($wire, &$crate::input::Int::ANY)? };
    (read $r:ident int ($wire:literal, $c:ident)) => { $r.int($wire, &$c)? };
    (read $r:ident boolean ($wire:literal)) => { $r.boolean($wire)? };
    (read $r:ident texts ($wire:literal)) => { $r.texts($wire, None, &$crate::input::Text::ANY)? };
    (read $r:ident texts ($wire:literal, $c:ident)) => { $r.texts($wire, None, &$c)? };
    (read $r:ident texts ($wire:literal, $max:literal, $c:ident)) => {
        $r.texts($wire, Some($max), &$c)?
    };
    (read $r:ident ints ($wire:literal)) => { $r.ints($wire, None, &$crate::input::Int::ANY)? };
    (read $r:ident ints ($wire:literal, $c:ident)) => { $r.ints($wire, None, &$c)? };
    (read $r:ident ints ($wire:literal, $max:literal, $c:ident)) => {
        $r.ints($wire, Some($max), &$c)?
    };
    (read $r:ident structs ($wire:literal, $t:ident)) => {
        $r.structs($wire, None, $t::SHOWN, $t::parse_at)?
    };
    (read $r:ident structs ($wire:literal, $max:literal, $t:ident)) => {
        $r.structs($wire, Some($max), $t::SHOWN, $t::parse_at)?
    };
    (read $r:ident structure ($wire:literal, $t:ident)) => {
        $r.structure($wire, $t::parse_at)?
    };
}

pub(crate) use {families, family_row, member, shape, shapes};
