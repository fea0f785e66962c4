//! Search keys for Chinese text. PostgreSQL's full-text search has no Chinese parser and pg_trgm
//! depends on the database locale, so messages carry the set of their character bigrams
//! (overlapping pairs of letters/digits, lower-cased): "路口红绿灯坏了" → 路口, 口红, 红绿, 绿灯,
//! 灯坏, 坏了. A query matches when the message has all of the query's bigrams (a GIN index
//! answers that), and the exact substring is then checked on the few candidates.

use std::collections::BTreeSet;

/// Characters that count: letters and digits of any script; everything else separates runs.
fn runs(text: &str) -> Vec<Vec<char>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The distinct bigrams of `text` (a single-character run contributes itself).
pub fn bigrams(text: &str) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for run in runs(text) {
        if run.len() == 1 {
            set.insert(run[0].to_string());
        }
        for pair in run.windows(2) {
            set.insert(pair.iter().collect());
        }
    }
    set
}

/// The bigrams a query needs; `None` when the query has fewer than two searchable characters.
pub fn query_bigrams(query: &str) -> Option<Vec<String>> {
    let total: usize = runs(query).iter().map(Vec::len).sum();
    if total < 2 {
        return None;
    }
    let set = bigrams(query);
    Some(set.into_iter().filter(|b| b.chars().count() == 2).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_text_becomes_overlapping_pairs() {
        let b = bigrams("路口红绿灯坏了");
        assert_eq!(b.len(), 6);
        assert!(b.contains("红绿") && b.contains("绿灯"));
    }

    #[test]
    fn a_query_is_found_in_a_longer_text() {
        let text = bigrams("城关区庆阳路路口红绿灯坏了，请尽快修理");
        let q = query_bigrams("红绿灯").unwrap();
        assert!(q.iter().all(|b| text.contains(b)));
        let miss = query_bigrams("路灯").unwrap();
        assert!(!miss.iter().all(|b| text.contains(b)));
    }

    #[test]
    fn punctuation_splits_and_case_folds() {
        let b = bigrams("Bus 站，K9路");
        assert!(b.contains("bu") && b.contains("us") && b.contains("k9") && b.contains("9路"));
        assert!(!b.contains("s站"));
        assert!(b.contains("站"));
    }

    #[test]
    fn too_short_queries_are_refused() {
        assert_eq!(query_bigrams("灯"), None);
        assert_eq!(query_bigrams(" ，"), None);
        assert_eq!(query_bigrams("灯坏").unwrap(), vec!["灯坏".to_owned()]);
    }
}
