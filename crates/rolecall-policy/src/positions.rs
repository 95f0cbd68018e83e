//! Where a policy's statements are in its text, as IAM's policy simulator reports them:
//! `StartPosition` is the line and the (1-based) column just after the statement's `{`,
//! `EndPosition` just after its `}` (IAM's documented examples).

/// Line and column (1-based) just after the last character of `doc`.
pub fn end_of(doc: &str) -> (usize, usize) {
    position(doc, doc.chars().count().saturating_sub(1))
}

/// Line and 1-based column just after the character at char index `i`.
fn position(doc: &str, i: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 0;
    for c in doc.chars().take(i + 1) {
        if c == '\n' {
            line += 1;
            col = 0;
        } else {
            col += 1;
        }
    }
    (line, col + 1)
}

/// The positions of statement `n`'s `{` and `}` (see the module documentation), or None when
/// the document has no statement `n`.
pub fn statement_span(doc: &str, n: usize) -> Option<((usize, usize), (usize, usize))> {
    let chars: Vec<char> = doc.chars().collect();
    let mut s = Scan { c: &chars, i: 0 };
    s.ws();
    s.expect('{')?;
    loop {
        s.ws();
        if s.peek()? == '}' {
            return None;
        }
        let key = s.string()?;
        s.ws();
        s.expect(':')?;
        s.ws();
        if key == "Statement" {
            let (open, close) = match s.peek()? {
                '{' if n == 0 => s.value()?,
                '[' => {
                    s.i += 1;
                    let mut k = 0;
                    loop {
                        s.ws();
                        let span = s.value()?;
                        if k == n {
                            break span;
                        }
                        k += 1;
                        s.ws();
                        s.expect(',')?;
                    }
                }
                _ => return None,
            };
            return Some((position(doc, open), position(doc, close)));
        }
        s.value()?;
        s.ws();
        if s.peek()? == ',' {
            s.i += 1;
        }
    }
}

/// A minimal JSON skimmer over chars (the document was already validated by the parser).
struct Scan<'a> {
    c: &'a [char],
    i: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }
    fn expect(&mut self, c: char) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }
    /// A string, unescaped (enough to compare keys).
    fn string(&mut self) -> Option<String> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                '"' => return Some(out),
                '\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        'u' => {
                            let hex: String = self.c.get(self.i..self.i + 4)?.iter().collect();
                            self.i += 4;
                            out.push(
                                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
                                    .unwrap_or('\u{FFFD}'),
                            );
                        }
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
    }
    /// Skips one value; returns the char indexes of its first and last characters.
    fn value(&mut self) -> Option<(usize, usize)> {
        let start = self.i;
        match self.peek()? {
            '"' => {
                self.string()?;
            }
            open @ ('{' | '[') => {
                let close = if open == '{' { '}' } else { ']' };
                self.i += 1;
                loop {
                    self.ws();
                    if self.peek()? == close {
                        self.i += 1;
                        break;
                    }
                    if open == '{' {
                        self.string()?;
                        self.ws();
                        self.expect(':')?;
                        self.ws();
                    }
                    self.value()?;
                    self.ws();
                    if self.peek()? == ',' {
                        self.i += 1;
                    }
                }
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, ',' | '}' | ']') && !c.is_whitespace())
                {
                    self.i += 1;
                }
            }
        }
        (self.i > start).then(|| (start, self.i - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_match_iams_documented_example() {
        // From the SimulateCustomPolicy example in the AWS CLI documentation:
        // StartPosition {Line 1, Column 38}, EndPosition {Line 1, Column 167}.
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}"#;
        assert_eq!(statement_span(doc, 0), Some(((1, 38), (1, 167))));
        assert_eq!(statement_span(doc, 1), None);
    }

    #[test]
    fn positions_in_arrays_and_lines() {
        let doc = "{\n  \"Version\": \"2012-10-17\",\n  \"Id\": \"a\\\"}\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": [\"*\"]},\n    {\n      \"Effect\": \"Deny\",\n      \"Action\": \"s3:x\",\n      \"Resource\": \"*\"\n    }\n  ]\n}";
        assert_eq!(statement_span(doc, 0), Some(((5, 6), (5, 61))));
        assert_eq!(statement_span(doc, 1), Some(((6, 6), (10, 6))));
        assert_eq!(statement_span(doc, 2), None);
    }
}
