//! A small XML writer for AWS responses: elements and escaped text, nothing else.

use quick_xml::escape::escape;
use std::fmt::Write;

#[derive(Debug, Default)]
pub struct Xml {
    buf: String,
}

impl Xml {
    pub fn new() -> Self {
        Xml {
            buf: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    pub fn open_ns(&mut self, name: &str, ns: &str) -> &mut Self {
        let _ = write!(self.buf, "<{name} xmlns=\"{}\">", escape(ns));
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    /// `<name>` ... `</name>` around what `body` writes.
    pub fn elem(&mut self, name: &str, body: impl FnOnce(&mut Xml)) -> &mut Self {
        self.open(name);
        body(self);
        self.close(name)
    }

    /// `<name>text</name>`, the text escaped.
    pub fn leaf(&mut self, name: &str, text: impl AsRef<str>) -> &mut Self {
        self.open(name);
        push_escaped(&mut self.buf, text.as_ref());
        self.close(name)
    }

    /// Escaped text inside the current element.
    pub fn leaf_text(&mut self, text: &str) -> &mut Self {
        push_escaped(&mut self.buf, text);
        self
    }

    pub fn leaf_opt<T: AsRef<str>>(&mut self, name: &str, text: Option<T>) -> &mut Self {
        if let Some(t) = text {
            self.leaf(name, t);
        }
        self
    }

    /// A list as `<name><item_name>...</item_name>...</name>`.
    pub fn list<T>(
        &mut self,
        name: &str,
        item_name: &str,
        items: impl IntoIterator<Item = T>,
        mut each: impl FnMut(&mut Xml, T),
    ) -> &mut Self {
        self.open(name);
        for item in items {
            self.open(item_name);
            each(self, item);
            self.close(item_name);
        }
        self.close(name)
    }

    /// Ends a chain of builder calls in a closure that must return `()`.
    pub fn finish_unit(&mut self) {}

    /// Appends XML written earlier by an `Xml` (already escaped and balanced), e.g. a fragment
    /// kept between requests.
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.buf.push_str(xml);
        self
    }

    /// Makes room for `additional` more bytes at once (a large answer then grows in one step).
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    pub fn finish(self) -> String {
        self.buf
    }
}

/// Characters XML 1.0 can carry at all (not even as character references can others appear).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Appends text escaped for element content, so that any string (client input echoed in a
/// message, an EC2 tag value) yields well-formed XML: the five markup characters become entity
/// references, characters XML cannot carry become U+FFFD, and CR is a character reference so
/// parsers do not normalize it away. Written straight into the response (no allocation per leaf).
fn push_escaped(out: &mut String, text: &str) {
    // Most text (ids, names, timestamps) needs nothing: copy it whole.
    let plain = |b: &u8| matches!(b, b'\t' | b'\n' | 0x20..=0x7e) && !b"<>&\"'".contains(b);
    if text.as_bytes().iter().all(plain) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text() {
        let mut x = Xml::new();
        x.elem("A", |x| {
            x.leaf("B", "<&\"'>");
            x.leaf_opt::<&str>("C", None);
            x.list("L", "member", ["1", "2"], |x, v| {
                x.leaf("V", v);
            });
        });
        let s = x.finish();
        assert!(s.ends_with("<A><B>&lt;&amp;&quot;&apos;&gt;</B><L><member><V>1</V></member><member><V>2</V></member></L></A>"), "{s}");
    }

    #[test]
    fn text_xml_cannot_carry_is_replaced() {
        let mut x = Xml::new();
        x.leaf("A", "a\u{0}b\u{1}\u{b}c\td\r\ne\u{FFFF}é");
        assert!(
            x.finish()
                .ends_with("<A>a\u{FFFD}b\u{FFFD}\u{FFFD}c\td&#13;\ne\u{FFFD}é</A>")
        );
    }
}
