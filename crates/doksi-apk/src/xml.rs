//! Escaping for the XML doksi writes (`inspect --xml`, the JUnit report). Both quote attributes
//! with `"`, so `'` stays as it is, which also keeps `inspect --xml` byte-identical to lxml's.

/// Appends `s` as XML text or attribute value: `& < > "` as entities, tab and line breaks as
/// character references (an attribute would otherwise turn them into spaces), and characters
/// XML 1.0 forbids outright (other C0 controls, U+FFFE, U+FFFF) dropped, since no escape makes
/// them legal and one would make every parser refuse the whole file.
pub fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {}
            c => out.push(c),
        }
    }
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(s, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_breaks_and_forbidden_characters() {
        assert_eq!(escape(r#"a<b>&"c"'d'"#), "a&lt;b&gt;&amp;&quot;c&quot;'d'");
        assert_eq!(escape("plain ünïcode ✓"), "plain ünïcode ✓");
        assert_eq!(escape("a\tb\nc\r"), "a&#9;b&#10;c&#13;");
        assert_eq!(escape("a\u{0}b\u{1b}[0mc\u{8}\u{fffe}\u{ffff}d"), "ab[0mcd");
        // DEL, NEL and the last code point are legal XML 1.0 characters.
        assert_eq!(escape("\u{7f}\u{85}\u{10ffff}"), "\u{7f}\u{85}\u{10ffff}");
    }
}
