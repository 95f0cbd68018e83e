//! Just enough XML reading for the API's responses (the agent's client, the console): a tree of
//! elements and their text.

use quick_xml::Reader;
use quick_xml::events::Event;

#[derive(Debug, Default, Clone)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the child element `name`, if there is one.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The `<member>` children of the child element `name` (empty when there is none).
    pub fn members(&self, name: &str) -> impl Iterator<Item = &Node> {
        self.child(name)
            .into_iter()
            .flat_map(|c| c.children.iter().filter(|m| m.name == "member"))
    }

    /// The first descendant named `name`, depth first.
    pub fn find(&self, name: &str) -> Option<&Node> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

/// Parses a document into its root element (namespaces ignored: local names only).
pub fn parse(doc: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(doc);
    // The stack of open elements; the bottom is a synthetic document node. Raw (still escaped)
    // text accumulates per element and is unescaped when the element closes.
    let mut stack: Vec<(Node, String)> = vec![(Node::default(), String::new())];
    loop {
        let event = reader.read_event().map_err(|e| format!("bad XML: {e}"))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push((
                    Node {
                        name,
                        ..Node::default()
                    },
                    String::new(),
                ));
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some((top, _)) = stack.last_mut() {
                    top.children.push(Node {
                        name,
                        ..Node::default()
                    });
                }
            }
            Event::Text(t) => {
                let raw = t.decode().map_err(|e| format!("bad XML text: {e}"))?;
                if let Some((_, text)) = stack.last_mut() {
                    text.push_str(&raw);
                }
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| format!("bad XML text: {e}"))?;
                if let Some((_, text)) = stack.last_mut() {
                    text.push('&');
                    text.push_str(&name);
                    text.push(';');
                }
            }
            Event::CData(c) => {
                let raw = c.decode().map_err(|e| format!("bad XML text: {e}"))?;
                if let Some((_, text)) = stack.last_mut() {
                    // Escaped so that unescaping below gives it back as is.
                    text.push_str(&quick_xml::escape::escape(raw.as_ref()));
                }
            }
            Event::End(_) => {
                let (mut node, raw) = stack.pop().ok_or("unbalanced XML")?;
                node.text = quick_xml::escape::unescape(&raw)
                    .map_err(|e| format!("bad XML text: {e}"))?
                    .into_owned();
                let depth = stack.len();
                match stack.last_mut() {
                    Some((parent, _)) if depth > 1 || parent.children.is_empty() => {
                        parent.children.push(node)
                    }
                    _ => return Err("more than one root element".into()),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let (mut doc, _) = stack.pop().ok_or("unbalanced XML")?;
    if !stack.is_empty() {
        return Err("unclosed XML element".into());
    }
    doc.children
        .pop()
        .ok_or_else(|| "no XML root element".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_elements_text_and_entities() {
        let doc = r#"<?xml version="1.0"?><R xmlns="x"><A>1 &amp; 2 &lt;3&#33;</A><L><member><K>k</K></member><member/></L><E/></R>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "R");
        assert_eq!(root.text_of("A"), Some("1 & 2 <3!"));
        assert_eq!(root.members("L").count(), 2);
        assert_eq!(root.members("L").next().unwrap().text_of("K"), Some("k"));
        assert_eq!(root.text_of("E"), Some(""));
        assert!(root.find("K").is_some());
        assert!(parse("<a><b></a>").is_err());
    }
}
