//! A block of a document that the code generates (the access table in the README, the status
//! diagram in docs/ARCHITECTURE.md), found between its marks so a test can compare it.

/// `doc` with the block from `begin` to `end` (and the line break after it) replaced by
/// `block`; `None` when the marks are missing.
pub fn replace_block(doc: &str, begin: &str, end: &str, block: &str) -> Option<String> {
    let start = doc.find(begin)?;
    let stop = doc[start..].find(end)? + start + end.len();
    let stop = if doc[stop..].starts_with('\n') {
        stop + 1
    } else {
        stop
    };
    Some(format!("{}{}{}", &doc[..start], block, &doc[stop..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_between_the_marks_is_replaced() {
        assert_eq!(
            replace_block("a\n<b>\nold\n</b>\nc\n", "<b>", "</b>", "<b>\nnew\n</b>\n").as_deref(),
            Some("a\n<b>\nnew\n</b>\nc\n")
        );
        assert_eq!(replace_block("no marks", "<b>", "</b>", "x"), None);
        assert_eq!(replace_block("<b> open", "<b>", "</b>", "x"), None);
    }
}
