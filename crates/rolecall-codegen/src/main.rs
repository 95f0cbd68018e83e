//! Generates `crates/rolecall-api/src/generated/` from the pinned AWS model subsets in `models/`:
//!
//! - `mod.rs`: the `Operation` enum of every operation in `models/operations.txt` (name, service,
//!   whether it only reads state, lookup by service and name).
//! - `iam.rs`, `sts.rs`, `ec2.rs`: a typed input struct per operation (and per structure its
//!   input reaches), parsed from Query / EC2 parameters by `parse`, which enforces the model's
//!   `required`, types, and — for the Query services — string length, simple character-class
//!   patterns and numeric ranges, in AWS's wording (see `crate::input` in rolecall-api).
//!
//! - `iam_outputs.rs`, `sts_outputs.rs`, `ec2_outputs.rs`: a typed output struct per operation
//!   (and per structure its output reaches), written as the Query or EC2 protocol's XML (see
//!   `crate::output` in rolecall-api); `outputs.rs` names each by its operation.
//!
//! `rolecall-codegen` writes the files; `rolecall-codegen --check` exits 1 if they differ from
//! what it would write (CI). The output is formatted by `rustfmt`.
//!
//! The model subsets are made from botocore by `models/subset.py`.

mod families;
mod outputs;

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) type Result<T> = std::result::Result<T, String>;

/// Shapes whose model pattern rolecall does not enforce, because AWS itself accepts more than the
/// pattern says (policy documents take any Unicode) or rolecall's own values would fail it
/// (markers of tag lists are tag keys, which may be any letters).
const PATTERN_NOT_ENFORCED: &[&str] = &["policyDocumentType", "markerType"];

/// Integer shapes whose unparsable values IAM words as "Member must be a number" (and does not
/// trim), rather than the generic type error.
const NUMBER_WORDING: &[&str] = &["maxItemsType"];

struct Op {
    service: String,
    name: String,
    read_only: bool,
}

fn read_operations(models: &Path) -> Result<Vec<Op>> {
    let text = std::fs::read_to_string(models.join("operations.txt"))
        .map_err(|e| format!("models/operations.txt: {e}"))?;
    let mut ops = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            [service, name, mode @ ("read" | "write")] => ops.push(Op {
                service: service.to_string(),
                name: name.to_string(),
                read_only: *mode == "read",
            }),
            _ => {
                return Err(format!(
                    "models/operations.txt:{}: expected `service Operation read|write`",
                    n + 1
                ));
            }
        }
    }
    Ok(ops)
}

fn load_model(models: &Path, service: &str) -> Result<Value> {
    let path = models.join(format!("{service}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    match out.as_str() {
        "type" | "match" | "ref" | "self" | "in" | "fn" | "mod" | "use" | "move" | "return" => {
            format!("{out}_")
        }
        _ => out,
    }
}

pub(crate) fn camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A character class pattern (`[...]+` or `[...]*`) as a Rust predicate over `c`, if it is one
/// this generator can express without a regex engine (ASCII `\w`, `\d`, `\uXXXX`, ranges and
/// literals; no `\p{..}` or five-digit escapes).
fn class_predicate(pattern: &str) -> Option<String> {
    let inner = pattern
        .strip_prefix('[')?
        .strip_suffix("]+")
        .or_else(|| pattern.strip_prefix('[')?.strip_suffix("]*"))?;
    let chars: Vec<char> = inner.chars().collect();
    let mut items: Vec<(char, char)> = Vec::new();
    let mut named: Vec<&str> = Vec::new();
    let mut i = 0;
    // One class atom: a character (escaped or not), or a named class.
    let atom = |i: &mut usize| -> Option<Result<char>> {
        let c = *chars.get(*i)?;
        if c != '\\' {
            *i += 1;
            return Some(Ok(c));
        }
        let e = *chars.get(*i + 1)?;
        match e {
            'u' => {
                let hex: String = chars.get(*i + 2..*i + 6)?.iter().collect();
                if chars.get(*i + 6).is_some_and(|c| c.is_ascii_hexdigit()) {
                    return Some(Err("five-digit escape".into()));
                }
                *i += 6;
                Some(
                    u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| "bad escape".to_string()),
                )
            }
            'w' | 'd' | 'p' => Some(Err(e.to_string())),
            other => {
                *i += 2;
                Some(Ok(other))
            }
        }
    };
    while i < chars.len() {
        if chars[i] == '\\' && matches!(chars.get(i + 1), Some('w') | Some('d')) {
            named.push(if chars[i + 1] == 'w' { "w" } else { "d" });
            i += 2;
            continue;
        }
        let lo = match atom(&mut i)? {
            Ok(c) => c,
            Err(_) => return None,
        };
        if chars.get(i) == Some(&'-') && i + 1 < chars.len() {
            i += 1;
            let hi = match atom(&mut i)? {
                Ok(c) => c,
                Err(_) => return None,
            };
            items.push((lo, hi));
        } else {
            items.push((lo, lo));
        }
    }
    let mut tests: Vec<String> = Vec::new();
    for n in named {
        tests.push(match n {
            "w" => "c.is_ascii_alphanumeric() || c == '_'".into(),
            _ => "c.is_ascii_digit()".into(),
        });
    }
    let singles: String = items
        .iter()
        .filter(|(lo, hi)| lo == hi)
        .map(|(c, _)| *c)
        .collect();
    match singles.chars().count() {
        0 => {}
        1 => tests.push(format!("c == {:?}", singles.chars().next()?)),
        _ => tests.push(format!("{singles:?}.contains(c)")),
    }
    for (lo, hi) in items.into_iter().filter(|(lo, hi)| lo != hi) {
        tests.push(format!("({lo:?}..={hi:?}).contains(&c)"));
    }
    Some(tests.join(" || "))
}

/// One service's model and the structures generated for it.
struct Gen<'m> {
    service: &'m str,
    ec2: bool,
    shapes: &'m Map<String, Value>,
    /// Structure shapes to generate (reached from an operation input), with their Rust names.
    structs: BTreeMap<String, String>,
    /// The constraint constants of the string and integer shapes members use, by name.
    consts: BTreeMap<String, String>,
    /// The character classes of every service (`generated/patterns.rs`): pattern → const name.
    classes: &'m mut Vec<(String, String)>,
    /// The first operation input generated for each member list: an input with the same
    /// members (`GetRole`, `DeleteRole`) is an alias of that one rather than a second copy.
    inputs_by_members: BTreeMap<Vec<String>, String>,
    /// Operation inputs (name, operation, members), kept until all are known: those sharing
    /// their trailing members are one family, and each lists the inputs that alias it.
    op_rows: Vec<(String, String, Vec<String>)>,
    /// The inputs (name, operation) with the same members as an earlier one, by its name.
    aliases: BTreeMap<String, Vec<(String, String)>>,
    out: String,
}

/// Shape `name` of `service`'s model (`shapes`), and its type.
pub(crate) fn shape_in<'m>(
    shapes: &'m Map<String, Value>,
    service: &str,
    name: &str,
) -> Result<(&'m Map<String, Value>, &'m str)> {
    let shape = shapes
        .get(name)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{service}: no shape {name}"))?;
    let ty = shape.get("type").and_then(Value::as_str);
    Ok((shape, ty.ok_or_else(|| format!("{name}: no type"))?))
}

impl<'m> Gen<'m> {
    fn shape(&self, name: &str) -> Result<&'m Map<String, Value>> {
        Ok(shape_in(self.shapes, self.service, name)?.0)
    }

    fn ty(&self, name: &str) -> Result<&'m str> {
        Ok(shape_in(self.shapes, self.service, name)?.1)
    }

    /// The wire name of a member: Query uses the member name; EC2 its queryName, else its
    /// locationName capitalized, else the member name.
    fn wire(&self, member: &str, m: &Map<String, Value>) -> String {
        if !self.ec2 {
            return member.to_string();
        }
        if let Some(q) = m.get("queryName").and_then(Value::as_str) {
            return q.to_string();
        }
        if let Some(l) = m.get("locationName").and_then(Value::as_str) {
            return camel(l);
        }
        member.to_string()
    }

    /// The Rust type of a value of `shape_name` (not wrapped in Option).
    fn rust_type(&mut self, shape_name: &str) -> Result<Option<String>> {
        let ty = self.ty(shape_name)?;
        Ok(Some(match ty {
            "string" | "timestamp" | "blob" => "String".into(),
            "integer" | "long" => "i64".into(),
            "boolean" => "bool".into(),
            "list" => {
                let member = self.shape(shape_name)?["member"]["shape"]
                    .as_str()
                    .ok_or("list member")?
                    .to_string();
                match self.rust_type(&member)? {
                    Some(t) => format!("Vec<{t}>"),
                    None => return Ok(None),
                }
            }
            "structure" => {
                let rust = camel(shape_name);
                if !self.structs.contains_key(shape_name) {
                    self.structs.insert(shape_name.to_string(), rust.clone());
                    self.gen_struct(shape_name, &rust, None)?;
                }
                rust
            }
            _ => return Ok(None),
        }))
    }

    /// The constraint constant of a string or integer shape (defined once per shape in
    /// `consts`) as an argument of a `shape!` member (`, NAME`), or none if unconstrained.
    fn constraint(&mut self, shape_name: &str) -> Result<String> {
        let shape = self.shape(shape_name)?;
        let ty = self.ty(shape_name)?;
        let int = matches!(ty, "integer" | "long");
        let min = shape
            .get("min")
            .and_then(Value::as_i64)
            .filter(|_| !self.ec2);
        let max = shape
            .get("max")
            .and_then(Value::as_i64)
            .filter(|_| !self.ec2);
        let mut def = if int {
            let opt = |v: Option<i64>| v.map_or("None".to_string(), |v| format!("Some({v})"));
            let mut d = format!("Int::new({}, {})", opt(min), opt(max));
            if NUMBER_WORDING.contains(&shape_name) {
                d.push_str(".number_wording()");
            }
            d
        } else {
            format!(
                "Text::new({}, {})",
                min.unwrap_or(0),
                max.map_or("usize::MAX".to_string(), |m| m.to_string())
            )
        };
        let mut note = String::new();
        if !int
            && !self.ec2
            && let Some(p) = shape.get("pattern").and_then(Value::as_str)
            && !PATTERN_NOT_ENFORCED.contains(&shape_name)
        {
            match class_predicate(p) {
                Some(pred) => {
                    let n = match self.classes.iter().position(|(q, _)| q == p) {
                        Some(n) => n,
                        None => {
                            self.classes.push((p.to_string(), pred));
                            self.classes.len() - 1
                        }
                    };
                    let _ = write!(def, ".pattern(patterns::CLASS_{})", n + 1);
                }
                None => {
                    note =
                        format!("/// Pattern {p:?}: not a simple character class, not checked.\n");
                }
            }
        }
        let kind = if int { "Int" } else { "Text" };
        if def == format!("{kind}::new(None, None)") || def == "Text::new(0, usize::MAX)" {
            return Ok(String::new());
        }
        let name = snake(shape_name).trim_end_matches('_').to_uppercase();
        self.consts.insert(
            name.clone(),
            format!("{note}const {name}: {kind} = {def};\n"),
        );
        Ok(format!(", {name}"))
    }

    /// Member `member` (of shape `shape_name`) as a `shape!` member: the `Reader` method that
    /// reads it and its arguments (`text("RoleName", ROLE_NAME_TYPE) required`).
    fn member_spec(
        &mut self,
        member: &str,
        m: &Map<String, Value>,
        required: bool,
    ) -> Result<Option<String>> {
        let shape_name = m["shape"].as_str().ok_or("member shape")?;
        let wire = self.wire(member, m);
        let read = match self.ty(shape_name)? {
            "list" => {
                let item = self.shape(shape_name)?["member"]["shape"]
                    .as_str()
                    .ok_or("list member")?
                    .to_string();
                let max = match self.shape(shape_name)?.get("max").and_then(Value::as_i64) {
                    Some(max) if !self.ec2 => format!(", {max}"),
                    _ => String::new(),
                };
                match self.ty(&item)? {
                    "structure" => {
                        let Some(t) = self.rust_type(&item)? else {
                            return Ok(None);
                        };
                        if !max.is_empty() {
                            self.check_shown(&item, &t)?;
                        }
                        format!("structs({wire:?}{max}, {t})")
                    }
                    "string" | "timestamp" => {
                        let c = self.constraint(&item)?;
                        format!("texts({wire:?}{max}{c})")
                    }
                    "integer" | "long" => {
                        let c = self.constraint(&item)?;
                        format!("ints({wire:?}{max}{c})")
                    }
                    _ => return Ok(None),
                }
            }
            "structure" => {
                let Some(t) = self.rust_type(shape_name)? else {
                    return Ok(None);
                };
                format!("structure({wire:?}, {t})")
            }
            "string" | "timestamp" | "blob" => {
                let c = self.constraint(shape_name)?;
                format!("text({wire:?}{c})")
            }
            "integer" | "long" => {
                let c = self.constraint(shape_name)?;
                format!("int({wire:?}{c})")
            }
            "boolean" => format!("boolean({wire:?})"),
            _ => return Ok(None),
        };
        Ok(Some(if required {
            format!("{read} required")
        } else {
            read
        }))
    }

    /// A bounded list's length message shows its first items by the structure's model name
    /// and member names, which `shape!` takes from the Rust name and the wire names: they must
    /// be the same.
    fn check_shown(&self, item: &str, rust: &str) -> Result<()> {
        let shape = self.shape(item)?;
        let members = shape.get("members").and_then(Value::as_object);
        let wire_is_name = members.is_none_or(|ms| {
            ms.iter().all(|(name, m)| {
                m.as_object()
                    .is_some_and(|m| self.wire(name, m) == *name && self.ty_of(m) != Some("map"))
            })
        });
        if item != rust || !wire_is_name {
            return Err(format!(
                "{}: {item} is in a bounded list but its Rust or wire names differ from the model's",
                self.service
            ));
        }
        Ok(())
    }

    fn ty_of(&self, m: &Map<String, Value>) -> Option<&'m str> {
        m.get("shape")
            .and_then(Value::as_str)
            .and_then(|s| self.ty(s).ok())
    }

    /// A `shapes!` row for structure `shape_name` named `rust` (one member per model member,
    /// filled into lines). `op` names the operation whose input it is.
    fn gen_struct(&mut self, shape_name: &str, rust: &str, op: Option<&str>) -> Result<()> {
        let (members, required) = members(self.shape(shape_name)?);
        let mut specs = Vec::new();
        let mut unmodelled = Vec::new();
        for (member, m) in &members {
            let m = m.as_object().ok_or("member")?;
            let is_required = required.contains(member);
            match self.member_spec(member, m, is_required)? {
                Some(spec) => specs.push(format!("{}: {spec}", snake(member))),
                None => unmodelled.push(member.as_str()),
            }
        }
        let doc = match op {
            Some(op) => format!("    /// The input of `{op}` ({shape_name}).\n"),
            None => format!("    /// The `{shape_name}` structure.\n"),
        };
        if !unmodelled.is_empty() {
            let _ = writeln!(
                self.out,
                "    // Not modelled here (map/unsupported shape): {}.",
                unmodelled.join(", ")
            );
        }
        if op.is_some() {
            if let Some(same) = self.inputs_by_members.get(&specs) {
                let also = (rust.to_string(), op.unwrap_or_default().to_string());
                self.aliases.entry(same.clone()).or_default().push(also);
                return Ok(());
            }
            self.inputs_by_members
                .insert(specs.clone(), rust.to_string());
            if let Some(op) = op {
                self.op_rows.push((rust.to_string(), op.to_string(), specs));
                return Ok(());
            }
        }
        let _ = writeln!(self.out, "{doc}{}", row(rust, &specs));
        Ok(())
    }
}

/// A structure's members, in order, and the names of those it requires.
pub(crate) fn members(shape: &Map<String, Value>) -> (Map<String, Value>, BTreeSet<String>) {
    let required = shape
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let members = shape
        .get("members")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    (members, required)
}

/// A `shapes!` row: `Name { member, member }` on one line if it fits, else the members filled
/// into lines of at most 100 characters.
pub(crate) fn row(name: &str, members: &[String]) -> String {
    row_within(name, members, 100)
}

/// `row`, filled to `width` characters (outputs' rows: their members are shorter).
pub(crate) fn row_within(name: &str, members: &[String], width: usize) -> String {
    if members.is_empty() {
        return format!("    {name} {{}}");
    }
    let one_line = format!("    {name} {{ {} }}", members.join(", "));
    if one_line.len() <= width {
        return one_line;
    }
    let mut out = format!("    {name} {{\n");
    let mut line = String::new();
    for member in members {
        if !line.is_empty() && 8 + line.len() + 1 + member.len() + 1 > width {
            let _ = writeln!(out, "        {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(member);
        line.push(',');
    }
    let _ = writeln!(out, "        {line}");
    out.push_str("    }");
    out
}

pub(crate) fn rustfmt(code: &str) -> Result<String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running rustfmt: {e}"))?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().ok_or("rustfmt stdin")?;
        stdin
            .write_all(code.as_bytes())
            .map_err(|e| format!("rustfmt: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rustfmt failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("rustfmt output: {e}"))
}

const HEADER: &str = "// @generated by rolecall-codegen from models/ — do not edit; run `cargo run -p rolecall-codegen`.\n";

fn generate(root: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let models = root.join("models");
    let ops = read_operations(&models)?;
    let mut files = BTreeMap::new();
    let mut services: Vec<&str> = Vec::new();
    for op in &ops {
        if !services.contains(&op.service.as_str()) {
            services.push(&op.service);
        }
    }
    let mut modeled: Vec<String> = Vec::new();
    let mut inputs = format!(
        "{HEADER}//! Each modelled operation's typed input under the operation's name (how units name it).\n\n"
    );
    let mut outputs_by_op = format!(
        "{HEADER}//! Each Query-protocol operation's typed output under the operation's name (how units name it;\n//! `NoResult`: the model has no output; EC2's `ReturnTrue`).\n\nuse crate::output::{{NoResult, ReturnTrue}};\n"
    );
    let mut classes: Vec<(String, String)> = Vec::new();
    for service in &services {
        // No AWS model read for these: rolecall's own agent API, and CloudTrail, whose one
        // operation (LookupEvents, JSON protocol) has a hand-written typed input.
        if *service == "rolecall" || *service == "cloudtrail" {
            continue;
        }
        let model = load_model(&models, service)?;
        let shapes = model["shapes"].as_object().ok_or("shapes")?;
        let version = model["metadata"]["botocoreVersion"].as_str().unwrap_or("?");
        let mut g = Gen {
            service,
            ec2: *service == "ec2",
            shapes,
            structs: BTreeMap::new(),
            consts: BTreeMap::new(),
            classes: &mut classes,
            inputs_by_members: BTreeMap::new(),
            op_rows: Vec::new(),
            aliases: BTreeMap::new(),
            out: String::new(),
        };
        let order = if g.ec2 {
            outputs::wire_order(&models.join("ec2_wire_order.txt"))?
        } else {
            BTreeMap::new()
        };
        let mut outs = outputs::Outputs::new(service, shapes, g.ec2, order);
        let _ = writeln!(outputs_by_op, "use super::{service}_outputs::*;");
        for op in ops.iter().filter(|o| o.service == *service) {
            let spec = model["operations"].get(&op.name).ok_or_else(|| {
                format!(
                    "{service} {}: not in models/{service}.json; run `python3 models/subset.py`",
                    op.name
                )
            })?;
            // EC2 answers an operation without an output `<return>true</return>`.
            let none = if g.ec2 { "ReturnTrue" } else { "NoResult" };
            let ty = outs
                .operation(&op.name, spec)?
                .unwrap_or_else(|| none.into());
            let _ = writeln!(outputs_by_op, "pub type {} = {ty};", op.name);
            let rust = format!("{}Input", op.name);
            let _ = writeln!(inputs, "pub type {} = super::{service}::{rust};", op.name);
            match spec.get("input").and_then(|i| i["shape"].as_str()) {
                Some(input) => g.gen_struct(input, &rust, Some(&op.name))?,
                None => {
                    let _ = writeln!(
                        g.out,
                        "    /// The input of `{}` (no parameters).\n    {rust};",
                        op.name
                    );
                }
            }
        }
        let protocol = match *service {
            "iam" => "Iam",
            "sts" => "Sts",
            _ => "Ec2",
        };
        let families = g.families();
        let families = if families.is_empty() {
            String::new()
        } else {
            format!("\nfamilies! {{\n{families}}}\n")
        };
        let consts: String = g.consts.values().map(String::as_str).collect();
        let code = format!(
            "{HEADER}//! Typed inputs of the {service} operations rolecall implements (botocore {version}):\n//! a `shapes!` row per structure, a `Reader` method per member (see `crate::input`); inputs\n//! that share their trailing members (TagRole, TagUser: all but their subject) are one `families!` row.\n\n#![allow(clippy::all, dead_code, unused_imports)]\n\nuse crate::error::Protocol;\nuse super::patterns;\nuse crate::input::{{Int, Text, families, shapes}};\n\n/// The protocol these inputs are read in.\npub const PROTOCOL: Protocol = Protocol::{protocol};\n\n// The model's constraints, one per shape.\n{consts}\nshapes! {{\n{}}}\n{families}",
            g.out
        );
        files.insert(PathBuf::from(format!("{service}.rs")), rustfmt(&code)?);
        modeled.push(service.to_string());
        let xml = if g.ec2 {
            "the EC2 protocol's XML"
        } else {
            "the Query protocol's XML"
        };
        let code = format!(
            "{HEADER}//! Typed outputs of the {service} operations rolecall implements (botocore {version}):\n//! an `outputs!` row per structure, members in the model's order, written as {xml} (see `crate::output`).\n\n#![allow(clippy::all, dead_code)]\n\nuse crate::output::outputs;\n\noutputs! {{\n{}}}\n",
            outs.rows
        );
        files.insert(
            PathBuf::from(format!("{service}_outputs.rs")),
            rustfmt(&code)?,
        );
        modeled.push(format!("{service}_outputs"));
    }
    files.insert(PathBuf::from("inputs.rs"), rustfmt(&inputs)?);
    files.insert(PathBuf::from("outputs.rs"), rustfmt(&outputs_by_op)?);
    let mut p = format!(
        "{HEADER}//! The models' character-class patterns (shared by the services' constraints).\n\nuse crate::input::Class;\n\n"
    );
    for (n, (pattern, pred)) in classes.iter().enumerate() {
        let _ = writeln!(
            p,
            "pub const CLASS_{}: Class = ({pattern:?}, |c| {pred});",
            n + 1
        );
    }
    files.insert(PathBuf::from("patterns.rs"), rustfmt(&p)?);
    // mod.rs: the operation enum.
    let mut m = String::new();
    let _ = writeln!(
        m,
        "{HEADER}//! The operations rolecall implements (`models/operations.txt`) and their typed inputs and outputs.\n\n#![allow(dead_code)]\n"
    );
    for s in &modeled {
        let _ = writeln!(m, "pub mod {s};");
    }
    let _ = writeln!(m, "mod patterns;");
    let _ = writeln!(m, "pub mod inputs;");
    let _ = writeln!(m, "pub mod outputs;\n");
    // One line per operation; `crate::operations::operations!` writes the enum and its lookups.
    let _ = writeln!(m, "crate::operations::operations! {{");
    for op in &ops {
        let access = if op.read_only { "read" } else { "write" };
        let _ = writeln!(m, "    {}: {} {access},", op.name, camel(&op.service));
    }
    let _ = writeln!(m, "}}");
    files.insert(PathBuf::from("mod.rs"), rustfmt(&m)?);
    let mut out = BTreeMap::new();
    for (name, code) in files {
        out.insert(PathBuf::from("generated").join(name), code);
    }
    out.insert(
        PathBuf::from("units/dispatch.rs"),
        unit_dispatch(root, &ops)?,
    );
    Ok(out)
}

/// The operation units in `crates/rolecall-api/src/units/*.rs`: a unit is a unit struct named
/// after its operation (`pub(crate) struct AddRoleToInstanceProfile;`, or the first argument of
/// a macro that declares one, `on_entity!(GetInstanceProfile, ...)`, or an item of a macro's
/// `units [PutRolePolicy, ...]` list).
fn find_units(root: &Path, ops: &[Op]) -> Result<Vec<(String, String)>> {
    let dir = root.join("crates/rolecall-api/src/units");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    entries.sort();
    let names: BTreeSet<&str> = ops.iter().map(|o| o.name.as_str()).collect();
    let mut units = Vec::new();
    for path in entries {
        let module = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if module == "mod" || module == "dispatch" {
            continue;
        }
        let code =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // `struct Name;` or `macro!(Name,` (identifier, then `;` / `,`).
        let ident_then = |rest: &str, end: char| -> Option<String> {
            let rest = rest.trim_start();
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            rest[name.len()..]
                .trim_start()
                .starts_with(end)
                .then_some(name)
        };
        let declared = code
            .match_indices("struct ")
            .filter_map(|(i, m)| ident_then(&code[i + m.len()..], ';'))
            .chain(
                code.match_indices("!(")
                    .filter_map(|(i, m)| ident_then(&code[i + m.len()..], ',')),
            )
            .chain(listed_units(&code));
        for name in declared {
            if names.contains(name.as_str()) && !units.iter().any(|(_, n)| *n == name) {
                units.push((module.clone(), name));
            }
        }
    }
    Ok(units)
}

/// The leading identifiers of the items of every `units [A(..), B(..), ...]` list in `code`.
fn listed_units(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, m) in code.match_indices("units [") {
        let list = &code[i + m.len()..];
        let mut depth = 0;
        let mut start = true;
        for c in list.chars() {
            match c {
                ']' if depth == 0 => break,
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                ',' if depth == 0 => start = true,
                c if start && (c.is_alphanumeric() || c == '_') => {
                    names.push(String::new());
                    start = false;
                    if let Some(n) = names.last_mut() {
                        n.push(c);
                    }
                }
                c if !start && depth == 0 && (c.is_alphanumeric() || c == '_') => {
                    if let Some(n) = names.last_mut() {
                        n.push(c);
                    }
                }
                _ => {}
            }
        }
    }
    names
}

fn unit_dispatch(root: &Path, ops: &[Op]) -> Result<String> {
    let units = find_units(root, ops)?;
    let mut m = String::new();
    let _ = writeln!(
        m,
        "// @generated by rolecall-codegen from the unit structs in crates/rolecall-api/src/units — do not edit; run `cargo run -p rolecall-codegen`.\n//! The unit families (every `*.rs` next to this file) and which operations are units (see\n//! `crate::units::Unit`).\n"
    );
    let modules: BTreeSet<&str> = units.iter().map(|(m, _)| m.as_str()).collect();
    for module in &modules {
        let _ = writeln!(m, "#[path = \"{module}.rs\"]\npub(crate) mod {module};");
    }
    // One line per unit; `crate::units::unit_dispatch!` writes the `match` from these.
    let _ = writeln!(m, "\ncrate::units::unit_dispatch! {{");
    for op in ops {
        if let Some((module, name)) = units.iter().find(|(_, n)| *n == op.name) {
            let _ = writeln!(m, "    {module}::{name},");
        }
    }
    let _ = writeln!(m, "}}");
    rustfmt(&m)
}

fn main() {
    let check = std::env::args().any(|a| a == "--check");
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let root = root.canonicalize().unwrap_or(root);
    let out_dir = root.join("crates/rolecall-api/src");
    let files = match generate(&root) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rolecall-codegen: {e}");
            std::process::exit(2);
        }
    };
    let mut stale = Vec::new();
    for (name, code) in &files {
        let path = out_dir.join(name);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != *code {
            stale.push(path.clone());
            if !check
                && let Err(e) = std::fs::create_dir_all(path.parent().unwrap_or(&out_dir))
                    .and_then(|_| std::fs::write(&path, code))
            {
                eprintln!("rolecall-codegen: writing {}: {e}", path.display());
                std::process::exit(2);
            }
        }
    }
    // Files left over from services no longer listed.
    if let Ok(dir) = std::fs::read_dir(out_dir.join("generated")) {
        for entry in dir.flatten() {
            let name = PathBuf::from("generated").join(entry.file_name());
            if !files.contains_key(&name) {
                stale.push(entry.path());
                if !check {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
    if check && !stale.is_empty() {
        for p in &stale {
            eprintln!("rolecall-codegen: out of date: {}", p.display());
        }
        eprintln!("rolecall-codegen: run `cargo run -p rolecall-codegen` and commit the result");
        std::process::exit(1);
    }
    if !check {
        for p in &stale {
            println!("wrote {}", p.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CI: the committed generated files are what the generator writes from `models/`.
    #[test]
    fn committed_files_are_current() {
        let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        let out_dir = root.join("crates/rolecall-api/src");
        for (name, code) in generate(&root).expect("generate") {
            let current = std::fs::read_to_string(out_dir.join(&name)).unwrap_or_default();
            assert!(
                current == code,
                "{} is out of date: run `cargo run -p rolecall-codegen` and commit it",
                name.display()
            );
        }
    }

    #[test]
    fn character_classes() {
        assert_eq!(
            class_predicate(r"[\w+=,.@-]+").as_deref(),
            Some("c.is_ascii_alphanumeric() || c == '_' || \"+=,.@-\".contains(c)")
        );
        assert_eq!(
            class_predicate(r"[\u0009\u0020-\u00FF]*").as_deref(),
            Some("c == '\\t' || (' '..='ÿ').contains(&c)")
        );
        assert_eq!(class_predicate(r"[\p{L}\p{Z}]+"), None);
        assert_eq!(
            class_predicate(r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)"),
            None
        );
        assert_eq!(snake("PolicyARN"), "policy_arn");
        assert_eq!(snake("IamInstanceProfile"), "iam_instance_profile");
        assert_eq!(snake("Type"), "type_");
    }
}
