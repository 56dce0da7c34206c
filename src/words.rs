//! Counted nouns as a person writes them: `1 test`, `3 tests`, never `3 test(s)`.

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

#[cfg(test)]
mod tests {
    use super::{count, remain};

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
