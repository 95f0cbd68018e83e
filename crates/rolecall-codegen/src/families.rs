//! Families of operation inputs: inputs that share their trailing members are one `families!`
//! row of `generated/<service>.rs` (`{ shared } for TagRoleInput(own), TagUserInput(own);`),
//! and the inputs with the same members as another are listed after its row.

use crate::{Gen, row};
use std::fmt::Write as _;

impl Gen<'_> {
    /// The kept operation inputs: a row each, except those sharing their trailing members
    /// with another, which are a `families!` row: `{ shared members } for TagRoleInput(own
    /// members), TagUserInput(own members), ...;`. Inputs that differ only in their first
    /// member, the subject they act on (TagRole, TagUser, TagInstanceProfile), are grouped
    /// first; then any two left that share at least `MIN_SHARED` trailing members.
    pub(crate) fn families(&mut self) -> String {
        const MIN_SHARED: usize = 4;
        type Row = (String, String, Vec<String>);
        let rows = std::mem::take(&mut self.op_rows);
        // (own members per row, shared members): first by subject...
        let mut groups: Vec<(usize, Vec<&Row>)> = Vec::new();
        // The members after a required first one (the subject), if there are any.
        let after_subject = |specs: &[String]| -> Option<Vec<String>> {
            let (first, rest) = specs.split_first()?;
            (first.ends_with(" required") && !rest.is_empty()).then(|| rest.to_vec())
        };
        for r in &rows {
            let rest = after_subject(&r.2);
            match groups
                .iter_mut()
                .find(|(_, g)| rest.is_some() && after_subject(&g[0].2) == rest)
            {
                Some((_, g)) => g.push(r),
                None => groups.push((1, vec![r])),
            }
        }
        // ...then rows left alone, by their longest shared tail.
        let shared_tail = |a: &[String], b: &[String]| {
            a.iter()
                .rev()
                .zip(b.iter().rev())
                .take_while(|(x, y)| x == y)
                .count()
        };
        for i in 0..groups.len() {
            if groups[i].1.len() != 1 {
                continue;
            }
            for j in i + 1..groups.len() {
                if groups[j].1.len() != 1 {
                    continue;
                }
                let (a, b) = (&groups[i].1[0].2, &groups[j].1[0].2);
                let n = shared_tail(a, b);
                if n >= MIN_SHARED && n < a.len() && n < b.len() {
                    let other = groups[j].1[0];
                    groups[j].1.clear();
                    let first = groups[i].1[0];
                    groups[i] = (0, vec![first, other]);
                    groups[i].0 = n;
                    break;
                }
            }
        }
        let mut families = String::new();
        for (shared, group) in groups {
            match group.as_slice() {
                [] => {}
                [(rust, op, specs)] => {
                    let (doc, also) = self.also(&format!("`{op}`"), rust);
                    let _ = writeln!(self.out, "{doc}{}{also}", row(rust, specs));
                }
                [(_, _, first), ..] => {
                    // Subject families share all but one member; tail families `shared`.
                    let own = if shared == 1 { 1 } else { first.len() - shared };
                    let ops: Vec<String> =
                        group.iter().map(|(_, op, _)| format!("`{op}`")).collect();
                    let _ = writeln!(
                        families,
                        "    /// The input of {}: its own members, then these.\n{} for",
                        ops.join(", "),
                        row("", &first[own..]).replacen("     {", "    {", 1)
                    );
                    let variants: Vec<String> = group
                        .iter()
                        .map(|(rust, _, specs)| {
                            let own = specs.len() - (first.len() - own);
                            let (doc, also) = self.also("", rust);
                            let doc = doc.replace("    ///", "        //");
                            format!("{doc}        {rust}({}){also}", specs[..own].join(", "))
                        })
                        .collect();
                    let _ = writeln!(families, "{};", variants.join(",\n"));
                }
            }
        }
        families
    }

    /// The doc line of input `rust` (of `ops`), naming the operations whose inputs alias it, and
    /// the bracketed list of those aliases after its row (`[DeleteRoleInput]`).
    fn also(&self, ops: &str, rust: &str) -> (String, String) {
        let aliases = self
            .aliases
            .get(rust)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let of: Vec<String> = aliases.iter().map(|(_, op)| format!("`{op}`")).collect();
        let of = of.join(", ");
        let doc = match (ops.is_empty(), of.is_empty()) {
            (true, true) => String::new(),
            (true, false) => format!("    /// Also the input of {of} (bracketed).\n"),
            (false, true) => format!("    /// The input of {ops}.\n"),
            (false, false) => format!("    /// The input of {ops}; also of {of} (bracketed).\n"),
        };
        let names: Vec<&str> = aliases.iter().map(|(name, _)| name.as_str()).collect();
        let also = if names.is_empty() {
            String::new()
        } else {
            format!(" [{}]", names.join(", "))
        };
        (doc, also)
    }
}
