//! The typed outputs (IAM, STS, EC2): `{service}_outputs.rs`, one `outputs!` table with a row per
//! structure an operation's output reaches (`crate::output` in rolecall-api writes them as XML),
//! and `outputs.rs`, each operation's output under the operation's name. EC2's members are named
//! by their `locationName`, its lists are `items` (`<item>`) and its timestamps `stamp`s.

use crate::{Result, camel, members, row_within, shape_in, snake};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Members the model marks required that AWS leaves out of some answers, generated as optional:
/// the root's `User` (GetUser without a name) has no path and no name, the root's own access
/// keys no user name.
const SOMETIMES_ABSENT: &[(&str, &str)] = &[
    ("User", "Path"),
    ("User", "UserName"),
    ("AccessKey", "UserName"),
];

/// Members whose items are kept as their XML, written once and reused (`Rendered<Item>`):
/// DescribeInstances' instances (`api::instance_fragments`).
const RENDERED: &[(&str, &str)] = &[("Reservation", "Instances")];

/// One service's output structures.
/// `models/ec2_wire_order.txt`: AWS's member order of the shapes whose model order is not it.
pub(crate) fn wire_order(path: &std::path::Path) -> Result<BTreeMap<String, Vec<String>>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut order = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (shape, wires) = line
            .split_once(':')
            .ok_or_else(|| format!("{}: `Shape: names` expected: {line}", path.display()))?;
        let wires = wires.split_whitespace().map(String::from).collect();
        order.insert(shape.trim().to_string(), wires);
    }
    Ok(order)
}

pub(crate) struct Outputs<'m> {
    service: &'m str,
    shapes: &'m Map<String, Value>,
    /// The EC2 protocol (wire names, lists, timestamps).
    ec2: bool,
    /// AWS's member order (wire names) where the model's differs (`models/ec2_wire_order.txt`).
    order: BTreeMap<String, Vec<String>>,
    /// Structures already written (by model name).
    done: BTreeSet<String>,
    /// The first structure written for each member list: one with the same members is an
    /// alias of it.
    by_members: BTreeMap<Vec<String>, String>,
    /// Each alias's structure (so that rows naming either are the same).
    aliases: BTreeMap<String, String>,
    pub rows: String,
}

impl<'m> Outputs<'m> {
    pub fn new(
        service: &'m str,
        shapes: &'m Map<String, Value>,
        ec2: bool,
        order: BTreeMap<String, Vec<String>>,
    ) -> Self {
        Outputs {
            service,
            shapes,
            ec2,
            order,
            done: BTreeSet::new(),
            by_members: BTreeMap::new(),
            aliases: BTreeMap::new(),
            rows: String::new(),
        }
    }

    fn shape(&self, name: &str) -> Result<&'m Map<String, Value>> {
        Ok(shape_in(self.shapes, self.service, name)?.0)
    }

    fn ty(&self, name: &str) -> Result<&'m str> {
        Ok(shape_in(self.shapes, self.service, name)?.1)
    }

    /// The Rust type of `op`'s output, its row written (`None`: the model has no output).
    pub fn operation(&mut self, op: &str, spec: &Value) -> Result<Option<String>> {
        let Some(shape) = spec.get("output").and_then(|o| o["shape"].as_str()) else {
            return Ok(None);
        };
        let rust = format!("{op}Output");
        if !shape.ends_with("Result") && !shape.ends_with("Response") {
            // A structure of its own (EC2's `Reservation`, also DescribeInstances' items).
            let item = self.item(shape)?;
            let _ = writeln!(
                self.rows,
                "    /// The output of `{op}` ({shape}).\n    {rust} = {item};"
            );
            return Ok(Some(rust));
        }
        self.structure(shape, &rust, Some(op))?;
        Ok(Some(rust))
    }

    /// A row for structure `shape_name` named `rust`: one member per model member, in order.
    fn structure(&mut self, shape_name: &str, rust: &str, op: Option<&str>) -> Result<()> {
        let (members, required) = members(self.shape(shape_name)?);
        let mut specs = Vec::new();
        // A list's page (`IsTruncated`, `Marker` last) is a `paged` row.
        let names: Vec<&str> = members.keys().map(String::as_str).collect();
        let paged = names.ends_with(&["IsTruncated", "Marker"]);
        let ec2 = self.ec2;
        fn wire_of<'a>(ec2: bool, member: &'a str, m: &'a Value) -> &'a str {
            match m["locationName"].as_str() {
                Some(location) if ec2 => location,
                _ => member,
            }
        }
        let mut ordered: Vec<(&String, &Value)> = members.iter().collect();
        let order = self.order.get(shape_name);
        // Named members first, in AWS's order; then the rest in the model's; `nextToken` last.
        ordered.sort_by_key(|(member, m)| {
            let wire = wire_of(ec2, member, m);
            let named = order.and_then(|o| o.iter().position(|w| w == wire));
            (wire == "nextToken", named.unwrap_or(usize::MAX))
        });
        for (member, m) in ordered {
            if paged && names[names.len() - 2..].contains(&member.as_str()) {
                continue;
            }
            let member_shape = m["shape"].as_str().ok_or("member shape")?;
            let wire = wire_of(ec2, member, m);
            let mut kind = self.member(wire, member_shape)?;
            if RENDERED.contains(&(shape_name, member.as_str())) {
                kind = kind.replacen(", ", ", crate::output::Rendered<", 1);
                kind.insert(kind.len() - 1, '>');
            }
            let mut spec = format!("{}: {kind}", snake(member));
            if required.contains(member)
                && !SOMETIMES_ABSENT.contains(&(shape_name, member.as_str()))
            {
                spec.push_str(" required");
            }
            specs.push(spec);
        }
        let doc = match op {
            Some(op) => format!("    /// The output of `{op}` ({shape_name}).\n"),
            None => format!("    /// The `{shape_name}` structure.\n"),
        };
        // A structure with the same members as one written before is an alias of it (rows
        // that differ in `paged` only are not the same).
        let key: Vec<String> = specs
            .iter()
            .cloned()
            .chain(paged.then(String::new))
            .collect();
        if let Some(same) = self.by_members.get(&key) {
            let _ = writeln!(self.rows, "{doc}    {rust} = {same};");
            self.aliases.insert(rust.to_string(), same.clone());
            return Ok(());
        }
        self.by_members.insert(key, rust.to_string());
        let name = if paged {
            format!("{rust}: paged")
        } else {
            rust.to_string()
        };
        let _ = writeln!(self.rows, "{doc}{}", row_within(&name, &specs, 110));
        Ok(())
    }

    /// A member as `kind("Wire"[, ItemType])`.
    fn member(&mut self, wire: &str, shape_name: &str) -> Result<String> {
        Ok(match self.ty(shape_name)? {
            "string" | "blob" => format!("text({wire:?})"),
            "integer" | "long" => format!("int({wire:?})"),
            "boolean" => format!("boolean({wire:?})"),
            "double" | "float" => format!("number({wire:?})"),
            "timestamp" if self.ec2 => format!("stamp({wire:?})"),
            "timestamp" => format!("date({wire:?})"),
            "structure" => format!("structure({wire:?}, {})", self.item(shape_name)?),
            "list" => {
                let item = self.shape(shape_name)?["member"]["shape"]
                    .as_str()
                    .ok_or("list member")?;
                let kind = if self.ec2 { "items" } else { "list" };
                format!("{kind}({wire:?}, {})", self.item(item)?)
            }
            "map" => {
                let map = self.shape(shape_name)?;
                let key = map["key"]["shape"].as_str().ok_or("map key")?;
                if self.ty(key)? != "string" {
                    return Err(format!("{shape_name}: a map whose keys are not strings"));
                }
                let value = map["value"]["shape"].as_str().ok_or("map value")?;
                format!("map({wire:?}, {})", self.item(value)?)
            }
            other => return Err(format!("{shape_name}: output type {other} not supported")),
        })
    }

    /// The Rust type of a list item, map value or structure member (structures written once).
    fn item(&mut self, shape_name: &str) -> Result<String> {
        Ok(match self.ty(shape_name)? {
            "string" | "blob" => "String".into(),
            "integer" | "long" => "i64".into(),
            "boolean" => "bool".into(),
            "double" | "float" => "f64".into(),
            "timestamp" => "chrono::DateTime<chrono::Utc>".into(),
            "structure" => {
                let rust = camel(shape_name);
                if self.done.insert(shape_name.to_string()) {
                    self.structure(shape_name, &rust, None)?;
                }
                self.aliases.get(&rust).cloned().unwrap_or(rust)
            }
            other => return Err(format!("{shape_name}: item type {other} not supported")),
        })
    }
}
