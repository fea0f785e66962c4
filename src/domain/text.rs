//! Text normalisation shared by validators.

/// Trim and collapse internal runs of whitespace; reject control characters.
pub fn clean_line(s: &str) -> Result<String, &'static str> {
    if s.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters");
    }
    Ok(s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Check a cleaned line's length in characters (not bytes: Chinese text is 3 bytes a char).
pub fn check_len(s: &str, min: usize, max: usize) -> Result<(), String> {
    let n = s.chars().count();
    if n < min || n > max {
        Err(format!("must be {min} to {max} characters (got {n})"))
    } else {
        Ok(())
    }
}

/// A light e-mail syntax check (local@domain.tld), lower-cased. Deliverability is not our
/// business; typos that make an address unusable are.
pub fn normalize_email(s: &str) -> Result<String, &'static str> {
    let e = s.trim().to_lowercase();
    let (local, domain) = e.split_once('@').ok_or("must be an e-mail address")?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@');
    if ok {
        Ok(e)
    } else {
        Err("must be an e-mail address")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_and_collapsed() {
        assert_eq!(clean_line("  兰州  交通局 ").unwrap(), "兰州 交通局");
        assert!(clean_line("a\u{0}b").is_err());
    }

    #[test]
    fn lengths_count_characters() {
        assert!(check_len("兰州市", 1, 3).is_ok());
        assert!(check_len("兰州市", 1, 2).is_err());
        assert!(check_len("", 1, 2).is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email(" Admin@Example.ORG ").unwrap(),
            "admin@example.org"
        );
        for bad in ["", "a", "a@b", "@b.c", "a@.c", "a b@c.d", "a@b@c.d"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
