//! Personal data in free text: mainland phone numbers and resident ID-card numbers. Replies are
//! checked for them before review; everything the public board shows is masked.

use std::sync::LazyLock;

use regex::Regex;

/// Mobile (11 digits, 1[3-9]…, optionally split 3-4-4 by spaces or hyphens), landline with area
/// code (0xx(x)-xxxxxxx(x)), and ID-card numbers (17 digits and a digit or X, or the old
/// 15-digit form). Digit runs that merely contain such a number (longer numbers, amounts) do not
/// count: the match must stand on its own.
static PATTERNS: LazyLock<Vec<(PersonalDataKind, Regex)>> = LazyLock::new(|| {
    let boxed = |p: &str| Regex::new(&format!(r"(?:^|[^0-9A-Za-z])({p})(?:$|[^0-9A-Za-z])"));
    [
        (
            PersonalDataKind::IdCardNumber,
            r"[1-9][0-9]{16}[0-9Xx]|[1-9][0-9]{14}",
        ),
        (
            PersonalDataKind::PhoneNumber,
            r"1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}",
        ),
        (
            PersonalDataKind::PhoneNumber,
            r"0[1-9][0-9]{1,2}-?[1-9][0-9]{6,7}",
        ),
    ]
    .into_iter()
    .filter_map(|(k, p)| boxed(p).ok().map(|r| (k, r)))
    .collect()
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalDataKind {
    PhoneNumber,
    IdCardNumber,
}

impl PersonalDataKind {
    pub fn describe(self) -> &'static str {
        match self {
            PersonalDataKind::PhoneNumber => "a phone number",
            PersonalDataKind::IdCardNumber => "an ID-card number",
        }
    }
}

/// Byte ranges of personal data in `text`, in order, not overlapping.
pub fn find(text: &str) -> Vec<(PersonalDataKind, std::ops::Range<usize>)> {
    let mut found: Vec<(PersonalDataKind, std::ops::Range<usize>)> = Vec::new();
    for (kind, re) in PATTERNS.iter() {
        // The guard characters around a match are consumed, so scan from each match's end
        // minus one to find adjacent numbers too.
        let mut at = 0;
        while let Some(c) = re.captures_at(text, at) {
            let Some(m) = c.get(1) else { break };
            if !found
                .iter()
                .any(|(_, r)| r.start < m.end() && m.start() < r.end)
            {
                found.push((*kind, m.range()));
            }
            at = m.end();
            if at >= text.len() {
                break;
            }
        }
    }
    found.sort_by_key(|(_, r)| r.start);
    found
}

/// `text` with every personal number masked (all but the first three and last two characters
/// become `*`), and every one of `known` (the author's name, phone, e-mail…) replaced by `***`.
pub fn mask(text: &str, known: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (_, r) in find(text) {
        out.push_str(&text[last..r.start]);
        let chars: Vec<char> = text[r.clone()].chars().collect();
        for (i, c) in chars.iter().enumerate() {
            out.push(if i < 3 || i + 2 >= chars.len() {
                *c
            } else {
                '*'
            });
        }
        last = r.end;
    }
    out.push_str(&text[last..]);
    let mut masked = out;
    for k in known
        .iter()
        .map(|k| k.trim())
        .filter(|k| k.chars().count() >= 2)
    {
        if masked.contains(k) {
            masked = masked.replace(k, "***");
        }
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PersonalDataKind, &str)> {
        find(text).into_iter().map(|(k, r)| (k, &text[r])).collect()
    }

    #[test]
    fn finds_mobile_landline_and_id_numbers() {
        use PersonalDataKind::*;
        assert_eq!(
            kinds("请联系13800138000"),
            vec![(PhoneNumber, "13800138000")]
        );
        assert_eq!(
            kinds("电话138-0013-8000。"),
            vec![(PhoneNumber, "138-0013-8000")]
        );
        assert_eq!(
            kinds("电话 138 0013 8000"),
            vec![(PhoneNumber, "138 0013 8000")]
        );
        assert_eq!(
            kinds("座机0931-8888888"),
            vec![(PhoneNumber, "0931-8888888")]
        );
        assert_eq!(
            kinds("身份证号62010219900101123X，电话13912345678"),
            vec![
                (IdCardNumber, "62010219900101123X"),
                (PhoneNumber, "13912345678")
            ]
        );
        assert_eq!(
            kinds("旧证620102900101123"),
            vec![(IdCardNumber, "620102900101123")]
        );
    }

    #[test]
    fn ordinary_numbers_are_not_personal_data() {
        for text in [
            "2026年11月20日完成维修",
            "投资12000000元",
            "编号GS-2026-000123",
            "共138户",
            "订单号123456789012345678901",
            "门牌号12号",
            "12345",
        ] {
            assert_eq!(kinds(text), vec![], "{text}");
        }
    }

    #[test]
    fn masking_keeps_the_shape_and_removes_the_digits() {
        assert_eq!(mask("请联系13800138000", &[]), "请联系138******00");
        assert_eq!(
            mask("张三丰反映：电话0931-8888888", &["张三丰"]),
            "***反映：电话093*******88"
        );
        // Too short a known string would mangle ordinary text.
        assert_eq!(mask("王", &["王"]), "王");
    }
}
