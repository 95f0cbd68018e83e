//! The API crate's modules form no import circle: for every top-level module (a file or a
//! directory under `src/`), the modules it names through `crate::…` are collected, and the graph
//! must be acyclic. A circle (e.g. the server dispatching to handlers that import the server's
//! types back) fails this test with the circle spelled out.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level modules named by `crate::x` / `crate::{x, y::z}` in one file's code.
fn referenced(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != "self" {
                        out.insert(name);
                    }
                }
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
            rest = after;
        }
    }
    out
}

fn collect(dir: &Path, module: Option<&str>, graph: &mut BTreeMap<String, BTreeSet<String>>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let this = match module {
            Some(m) => m.to_string(),
            None if name == "lib" => continue,
            None => name.clone(),
        };
        if path.is_dir() {
            collect(&path, Some(&this), graph);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let code = std::fs::read_to_string(&path).expect("read module");
            let refs = referenced(&code);
            graph
                .entry(this.clone())
                .or_default()
                .extend(refs.into_iter().filter(|r| *r != this));
        }
    }
}

/// A circle in the graph, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(n).copied().unwrap_or(Mark::New) {
            Mark::Done => return None,
            Mark::Open => {
                let at = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle = stack[at..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Mark::New => {}
        }
        marks.insert(n.to_string(), Mark::Open);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(n.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn api_modules_have_no_import_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    collect(&src, None, &mut graph);
    assert!(graph.len() > 10, "found the crate's modules: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle in rolecall-api: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_checker_sees_a_circle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), referenced("use crate::{b, c::X};"));
    graph.insert("b".to_string(), referenced("fn f() { crate::a::g() }"));
    graph.insert("c".to_string(), BTreeSet::new());
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".to_string(), "b".to_string(), "a".to_string()])
    );
    graph.insert("b".to_string(), BTreeSet::new());
    assert_eq!(find_cycle(&graph), None);
}
