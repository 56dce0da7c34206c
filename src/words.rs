//! Words as a person reads them, and the small things done to them everywhere: counted nouns
//! (`1 test`, `3 tests`, never `3 test(s)`), text from elsewhere kept to one line
//! ([`one_line`]), ids without repeats ([`unique`]). A leaf: it imports nothing of doksi, so
//! every module may use it.

use std::collections::HashSet;

/// `n` and the noun, plural when `n` is not 1. Every noun doksi counts takes a plain `s`.
pub fn count(n: impl std::fmt::Display, noun: &str) -> String {
    let n = n.to_string();
    match n.as_str() {
        "1" => format!("1 {noun}"),
        _ => format!("{n} {noun}s"),
    }
}

/// `n` and the noun with "remain" agreeing: `1 credit remains`, `0 credits remain`.
pub fn remain(n: impl std::fmt::Display, noun: &str) -> String {
    let counted = count(n, noun);
    match counted.starts_with("1 ") {
        true => format!("{counted} remains"),
        false => format!("{counted} remain"),
    }
}

/// `ids` without repeats, in their first order: a target with several entries in the matrix
/// (one per auth strategy, say) is still one target.
pub fn unique(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// Text from the API made safe for one log line: a line break in an id, a name or a status would
/// start a line of its own, which GitHub's runner could read as a workflow command.
pub fn one_line(s: &str) -> String {
    s.replace(char::is_control, " ")
}

/// A size as people read it: `3.2 MiB`, `812.0 KiB`, `17 B`.
pub fn size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::{count, one_line, remain, unique};

    #[test]
    fn a_line_break_or_other_control_in_outside_text_becomes_a_space() {
        assert_eq!(one_line("run_1\n::error::x\r\tz"), "run_1 ::error::x  z");
        assert_eq!(one_line("Pay <b> é"), "Pay <b> é");
    }

    #[test]
    fn repeats_are_dropped_and_the_first_order_kept() {
        let ids = ["bin_2", "bin_1", "bin_2", "bin_12", "bin_1"].map(String::from);
        assert_eq!(unique(ids), ["bin_2", "bin_1", "bin_12"]);
    }

    #[test]
    fn remain_agrees_with_its_count() {
        assert_eq!(remain(1, "credit"), "1 credit remains");
        assert_eq!(remain(0, "credit"), "0 credits remain");
    }

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1, "test"), "1 test");
        assert_eq!(count(0usize, "test"), "0 tests");
        assert_eq!(count(12u64, "re-run"), "12 re-runs");
    }
}
