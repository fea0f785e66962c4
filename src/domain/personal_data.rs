//! Personal data in free text: mainland phone numbers (mobile and landline), resident ID-card
//! numbers and e-mail addresses. Replies are checked for them before review; everything the
//! public board shows is masked.
//!
//! The search runs on a normalised view of the text, so writing a number differently does not
//! hide it: every character is NFKC-normalised on its own (full-width `１３９` and `＋` become
//! ASCII, circled and mathematical digits become digits), digit groups joined by separators
//! (spaces of every width, `.`, `-` and other dashes, `_`, `·`, parentheses, zero-width and
//! other format characters, at most three in a row) are read as one number, and prefixes glued
//! to a number (`Tel`, `ID`, `+86`, `0086`, `86`) do not shield it. Each normalised character
//! remembers the bytes of the original character it came from, so findings are byte ranges of
//! the original text and masking leaves everything else as it was.
//!
//! Ordinary numbers stay readable: a number is only ever a whole digit group or several whole
//! groups (digits glued to digits are never split), and the digits must form a complete number
//! of one of the kinds — amounts, dates (`2026年11月3日`), counts and tracking numbers
//! (`GS-2026-000123`) do not. An ID-card number must also carry a possible birth date.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalDataKind {
    PhoneNumber,
    IdCardNumber,
    EmailAddress,
}

impl PersonalDataKind {
    pub fn describe(self) -> &'static str {
        match self {
            PersonalDataKind::PhoneNumber => "a phone number",
            PersonalDataKind::IdCardNumber => "an ID-card number",
            PersonalDataKind::EmailAddress => "an e-mail address",
        }
    }
}

/// Separators between the digit groups of one number, at most this many in a row.
const MAX_SEPARATORS: usize = 3;
/// The most digits a number with its prefix can have (`0086` + a 12-digit landline; 18 for ID
/// cards).
const MAX_DIGITS: usize = 20;

/// One character of the normalised view and the original bytes it came from.
#[derive(Debug, Clone)]
struct NormChar {
    c: char,
    /// Byte offset in the normalised string.
    at: usize,
    orig: Range<usize>,
}

/// The text, every character NFKC-normalised on its own (so positions map back one to one).
struct Normalised {
    text: String,
    chars: Vec<NormChar>,
}

fn normalise(text: &str) -> Normalised {
    let mut out = Normalised {
        text: String::with_capacity(text.len()),
        chars: Vec::with_capacity(text.len()),
    };
    for (i, c) in text.char_indices() {
        let orig = i..i + c.len_utf8();
        let mut push = |n: char| {
            out.chars.push(NormChar {
                c: n,
                at: out.text.len(),
                orig: orig.clone(),
            });
            out.text.push(n);
        };
        if c.is_ascii() {
            push(c);
        } else {
            for n in std::iter::once(c).nfkc() {
                push(n);
            }
        }
    }
    out
}

/// Characters that may stand between the digit groups of one number.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '\u{a0}'
            | '.'
            | '-'
            | '_'
            | '(' | ')'
            | '·' | '•' | '・'
            | '\u{2010}'..='\u{2015}' // hyphens and dashes
            | '\u{2212}' // minus sign
            | '\u{ad}' // soft hyphen
            | '\u{200b}'..='\u{200f}' // zero-width characters, direction marks
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{feff}'
    ) || (c.is_whitespace() && c != '\n' && c != '\r')
}

/// A maximal run of ASCII digits (an ID card's final `X` included) in the normalised view.
#[derive(Debug)]
struct Group {
    digits: String,
    /// Ends in `X`/`x`: only the last group of an 18-digit ID-card number may.
    x: bool,
    /// Index of its first and one past its last character in `Normalised::chars`.
    start: usize,
    end: usize,
    /// Joined to the previous group by separators only (same run).
    joined: bool,
    /// A `+` right before it.
    plus: bool,
}

fn groups(chars: &[NormChar]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].c.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].c.is_ascii_digit() {
            i += 1;
        }
        let mut digits: String = chars[start..i].iter().map(|n| n.c).collect();
        let mut x = false;
        // An ID card's check character `X`, unless it starts a word (`123xyz`).
        if i < chars.len()
            && matches!(chars[i].c, 'X' | 'x')
            && chars
                .get(i + 1)
                .is_none_or(|n| !n.c.is_ascii_alphanumeric())
        {
            digits.push('X');
            x = true;
            i += 1;
        }
        let joined = out.last().is_some_and(|prev| {
            let gap = &chars[prev.end..start];
            !gap.is_empty() && gap.len() <= MAX_SEPARATORS && gap.iter().all(|n| is_separator(n.c))
        });
        let plus = start > 0 && chars[start - 1].c == '+';
        out.push(Group {
            digits,
            x,
            start,
            end: i,
            joined,
            plus,
        });
    }
    out
}

fn is_mobile(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
}

/// A landline with its area code: `0` + 2 or 3 digits, then a 7- or 8-digit local number not
/// starting with 0. `trunk`: with the leading `0` (national form) or without (after +86).
fn is_landline(d: &str, trunk: bool) -> bool {
    let Some(rest) = (if trunk { d.strip_prefix('0') } else { Some(d) }) else {
        return false;
    };
    let b = rest.as_bytes();
    b.first().is_some_and(|c| *c != b'0')
        && [2usize, 3]
            .into_iter()
            .any(|area| b.len() > area && (7..=8).contains(&(b.len() - area)) && b[area] != b'0')
}

fn is_date(y: u32, m: u32, d: u32, years: Range<u32>) -> bool {
    years.contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)
}

/// An 18-character (17 digits and a digit or `X`) or old 15-digit ID-card number: area code,
/// birth date, sequence (GB 11643); also the 17 digits without the check character.
fn is_id_card(d: &str) -> bool {
    let b = d.as_bytes();
    let num = |r: Range<usize>| d[r].parse::<u32>().unwrap_or(0);
    if b.first().is_none_or(|c| !(b'1'..=b'9').contains(c)) {
        return false;
    }
    match b.len() {
        18 => {
            b[..17].iter().all(u8::is_ascii_digit)
                && (b[17].is_ascii_digit() || b[17] == b'X')
                && is_date(num(6..10), num(10..12), num(12..14), 1850..2100)
        }
        // Without its check character (written apart or left off): still someone's number.
        17 => {
            b.iter().all(u8::is_ascii_digit)
                && is_date(num(6..10), num(10..12), num(12..14), 1850..2100)
        }
        15 => {
            b.iter().all(u8::is_ascii_digit) && is_date(num(6..8), num(8..10), num(10..12), 0..100)
        }
        _ => false,
    }
}

/// What the digits `d` are, and whether the `+` before them belongs to the number.
fn classify(d: &str, plus: bool) -> Option<(PersonalDataKind, bool)> {
    use PersonalDataKind::*;
    if d.ends_with('X') {
        return is_id_card(d).then_some((IdCardNumber, false));
    }
    // International form: +86 or 0086, then the national number with or without its trunk 0.
    let national = match (plus, d.strip_prefix("86"), d.strip_prefix("0086")) {
        (true, Some(n), _) => Some((n, true)),
        (_, _, Some(n)) => Some((n, false)),
        _ => None,
    };
    if let Some((n, with_plus)) = national
        && (is_mobile(n) || is_landline(n, true) || is_landline(n, false))
    {
        return Some((PhoneNumber, with_plus));
    }
    if d.strip_prefix("86").is_some_and(is_mobile) || is_mobile(d) || is_landline(d, true) {
        return Some((PhoneNumber, false));
    }
    is_id_card(d).then_some((IdCardNumber, false))
}

/// Numbers in the normalised view: (kind, first and one past the last character).
fn numbers(chars: &[NormChar]) -> Vec<(PersonalDataKind, Range<usize>)> {
    let gs = groups(chars);
    let mut found = Vec::new();
    for i in 0..gs.len() {
        let mut digits = String::new();
        for j in i..gs.len() {
            if j > i && (!gs[j].joined || gs[j - 1].x) {
                break;
            }
            digits.push_str(&gs[j].digits);
            if digits.len() > MAX_DIGITS {
                break;
            }
            if let Some((kind, with_plus)) = classify(&digits, gs[i].plus) {
                let start = if with_plus {
                    gs[i].start - 1
                } else {
                    gs[i].start
                };
                found.push((kind, start..gs[j].end));
            }
        }
    }
    found
}

/// An e-mail address: a local part of letters, digits and `._%+-`, and a dotted domain.
static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"[A-Za-z0-9_%+-](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}",
    )
    .ok()
});

fn emails(n: &Normalised) -> Vec<(PersonalDataKind, Range<usize>)> {
    let Some(re) = EMAIL.as_ref() else {
        return Vec::new();
    };
    re.find_iter(&n.text)
        .filter_map(|m| {
            let first = n.chars.partition_point(|c| c.at < m.start());
            let end = n.chars.partition_point(|c| c.at < m.end());
            (first < end).then_some((PersonalDataKind::EmailAddress, first..end))
        })
        .collect()
}

/// Byte ranges of personal data in `text`, in order, not overlapping.
pub fn find(text: &str) -> Vec<(PersonalDataKind, Range<usize>)> {
    let n = normalise(text);
    let mut candidates = emails(&n);
    candidates.extend(numbers(&n.chars));
    // The longest finding wins where findings overlap (a phone number inside an e-mail
    // address, a mobile number inside a longer concatenation).
    candidates.sort_by_key(|(_, r)| (std::cmp::Reverse(r.len()), r.start));
    let mut chosen: Vec<(PersonalDataKind, Range<usize>)> = Vec::new();
    for (kind, r) in candidates {
        if !chosen
            .iter()
            .any(|(_, c)| c.start < r.end && r.start < c.end)
        {
            chosen.push((kind, r));
        }
    }
    chosen.sort_by_key(|(_, r)| r.start);
    chosen
        .into_iter()
        .map(|(kind, r)| {
            (
                kind,
                n.chars[r.start].orig.start..n.chars[r.end - 1].orig.end,
            )
        })
        // Several normalised characters of one original character: merged into it.
        .fold(
            Vec::new(),
            |mut out: Vec<(PersonalDataKind, Range<usize>)>, (k, r)| {
                match out.last_mut() {
                    Some((_, last)) if r.start < last.end => last.end = last.end.max(r.end),
                    _ => out.push((k, r)),
                }
                out
            },
        )
}

/// `text` with every personal number masked (all but the first three and last two characters
/// become `*`), the local part of every e-mail address masked, and every one of `known` (the
/// author's name, phone, e-mail…) replaced by `***`.
pub fn mask(text: &str, known: &[&str]) -> String {
    let known: Vec<&str> = known
        .iter()
        .map(|k| k.trim())
        .filter(|k| k.chars().count() >= 2)
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (kind, r) in find(text) {
        out.push_str(&text[last..r.start]);
        let found = &text[r.clone()];
        if kind == PersonalDataKind::EmailAddress {
            if known.contains(&found) {
                out.push_str("***");
            } else {
                // The local part, up to the `@` (of any width).
                let mut local = true;
                for c in found.chars() {
                    if local && matches!(c, '@' | '＠' | '﹫') {
                        local = false;
                    }
                    out.push(if local { '*' } else { c });
                }
            }
        } else {
            let chars: Vec<char> = found.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                out.push(if i < 3 || i + 2 >= chars.len() {
                    *c
                } else {
                    '*'
                });
            }
        }
        last = r.end;
    }
    out.push_str(&text[last..]);
    let mut masked = out;
    for k in known {
        if masked.contains(k) {
            masked = masked.replace(k, "***");
        }
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn written_differently_they_are_still_found() {
        use PersonalDataKind::*;
        for (text, want) in [
            ("电话+8613700001111。", (PhoneNumber, "+8613700001111")),
            (
                "电话＋８６１３７００００１１１１",
                (PhoneNumber, "＋８６１３７００００１１１１"),
            ),
            ("电话8613700001111", (PhoneNumber, "8613700001111")),
            (
                "电话0086 137 0000 1111",
                (PhoneNumber, "0086 137 0000 1111"),
            ),
            ("Tel13700001111", (PhoneNumber, "13700001111")),
            ("TEL:137-0000-1111", (PhoneNumber, "137-0000-1111")),
            (
                "电话１３７００００１１１１，",
                (PhoneNumber, "１３７００００１１１１"),
            ),
            ("电话13７00001111", (PhoneNumber, "13７00001111")),
            ("电话139.1234.5678", (PhoneNumber, "139.1234.5678")),
            ("电话1391 234 5678", (PhoneNumber, "1391 234 5678")),
            (
                "电话139\u{200b}1234\u{200b}5678",
                (PhoneNumber, "139\u{200b}1234\u{200b}5678"),
            ),
            ("电话139　1234　5678", (PhoneNumber, "139　1234　5678")),
            ("座机(0931)8888888", (PhoneNumber, "0931)8888888")),
            (
                "座机（０９３１）８８８８８８８",
                (PhoneNumber, "０９３１）８８８８８８８"),
            ),
            ("座机0931 8888888", (PhoneNumber, "0931 8888888")),
            ("座机+86 931 8888888", (PhoneNumber, "+86 931 8888888")),
            ("ID62010219900101123X", (IdCardNumber, "62010219900101123X")),
            (
                "身份证620102 19900101 123X",
                (IdCardNumber, "620102 19900101 123X"),
            ),
            (
                "身份证６２０１０２１９９００１０１１２３Ｘ",
                (IdCardNumber, "６２０１０２１９９００１０１１２３Ｘ"),
            ),
            (
                "身份证62010219900101123 X",
                (IdCardNumber, "62010219900101123"),
            ),
            (
                "邮件 zhang.san@example.cn 联系",
                (EmailAddress, "zhang.san@example.cn"),
            ),
            (
                "邮件ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｎ",
                (EmailAddress, "ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｎ"),
            ),
            // A QQ mailbox is one finding, not a phone number inside an address.
            ("13912345678@qq.com", (EmailAddress, "13912345678@qq.com")),
        ] {
            assert_eq!(kinds(text), vec![want], "{text}");
        }
        // A number next to another one.
        assert_eq!(
            kinds("共 2 13912345678"),
            vec![(PhoneNumber, "13912345678")]
        );
    }

    #[test]
    fn ordinary_numbers_are_not_personal_data() {
        for text in [
            "2026年11月20日完成维修",
            "2026年11月3日",
            "2026-11-03 12:30 完成",
            "2026.11.03",
            "投资12000000元",
            "投资13,800,138,000元",
            "投资 1 380 013 800 元",
            "编号GS-2026-000123",
            "编号 GS-2026-000123、GS-2026-000124",
            "共138户",
            "共 3 人，2 辆车",
            "订单号123456789012345678901",
            "订单号123456789012345678",
            "门牌号12号",
            "12345",
            "地址 192.168.1.100",
            "版本 1.2.3",
            "价格 12.50 元",
            "@SUM(1+1)",
            "第一、二、三条",
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
        // Only the number's own characters change.
        assert_eq!(
            mask("电话（１３７）００００－１１１１。谢谢", &[]),
            "电话（１３７********１１。谢谢"
        );
        assert_eq!(mask("Tel+86 137 0000 1111!", &[]), "Tel+86************11!");
        // E-mail: the local part; a known address entirely.
        assert_eq!(
            mask("写信到 zhang.san@example.cn。", &[]),
            "写信到 *********@example.cn。"
        );
        assert_eq!(
            mask("写信到 zhang.san@example.cn。", &["zhang.san@example.cn"]),
            "写信到 ***。"
        );
    }

    // -----------------------------------------------------------------------------------------
    // Property: variants of real numbers are found and masked.

    fn mobile() -> impl Strategy<Value = String> {
        ("[3-9]", "[0-9]{9}").prop_map(|(b, rest)| format!("1{b}{rest}"))
    }

    fn landline() -> impl Strategy<Value = String> {
        ("[1-9][0-9]{1,2}", "[2-9][0-9]{6,7}").prop_map(|(a, l)| format!("0{a}{l}"))
    }

    fn id_card() -> impl Strategy<Value = String> {
        (
            "[1-8][0-9]{5}",
            1930u32..2020,
            1u32..=12,
            1u32..=28,
            "[0-9]{3}",
            "[0-9X]",
            any::<bool>(),
        )
            .prop_map(|(area, y, m, d, seq, check, old)| {
                if old {
                    format!("{area}{:02}{m:02}{d:02}{seq}", y % 100)
                } else {
                    format!("{area}{y}{m:02}{d:02}{seq}{check}")
                }
            })
    }

    /// A number, its kind, and a prefix written before it.
    fn number() -> impl Strategy<Value = (String, PersonalDataKind, &'static str)> {
        use PersonalDataKind::*;
        prop_oneof![
            (
                mobile(),
                prop::sample::select(vec![
                    "",
                    "Tel",
                    "tel:",
                    "电话",
                    "手机：",
                    "+86",
                    "+86 ",
                    "＋８６",
                    "86",
                    "0086",
                    "0086-",
                    "(+86)",
                ])
            )
                .prop_map(|(n, p)| (n, PhoneNumber, p)),
            (
                landline(),
                prop::sample::select(vec!["", "Tel", "座机", "+86 ", "0086 ", "电话："])
            )
                .prop_map(|(n, p)| (n, PhoneNumber, p)),
            (
                id_card(),
                prop::sample::select(vec!["", "ID", "ID:", "身份证号", "身份证 "])
            )
                .prop_map(|(n, p)| (n, IdCardNumber, p)),
        ]
    }

    const SEPARATORS: &[&str] = &[
        " ", "-", ".", "  ", " - ", "　", "\u{200b}", "－", "．", "·", "_", ")", "(", ") ", "—",
    ];

    /// `number` written with full-width digits here and there and separators between some of
    /// its digits.
    fn variant(
        number: &str,
        fullwidth: &[bool],
        cuts: &[Option<usize>],
    ) -> (String, std::ops::Range<usize>) {
        let mut out = String::new();
        let chars: Vec<char> = number.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if i > 0
                && c.is_ascii_digit()
                && let Some(Some(s)) = cuts.get(i)
            {
                out.push_str(SEPARATORS[*s % SEPARATORS.len()]);
            }
            let wide = fullwidth.get(i).copied().unwrap_or(false);
            out.push(match (*c, wide) {
                (d @ '0'..='9', true) => {
                    char::from_u32(d as u32 - '0' as u32 + 0xFF10).unwrap_or(d)
                }
                ('X', true) => 'Ｘ',
                (c, _) => c,
            });
        }
        (out.clone(), 0..out.len())
    }

    /// ASCII digits of the NFKC form of `text`.
    fn digits_of(text: &str) -> String {
        text.nfkc().filter(char::is_ascii_digit).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn variants_are_found_and_masked(
            (number, kind, prefix) in number(),
            fullwidth in prop::collection::vec(any::<bool>(), 18),
            cuts in prop::collection::vec(
                prop::option::weighted(0.25, 0usize..SEPARATORS.len()), 18),
            before in prop::sample::select(vec!["", "请联系", "住在三号楼，", "我叫王五，", "Hello "]),
            after in prop::sample::select(vec!["", "。", "，谢谢！", "联系我", " thanks"]),
        ) {
            let (written, span) = variant(&number, &fullwidth, &cuts);
            let text = format!("{before}{prefix}{written}{after}");
            let at = before.len() + prefix.len();
            let span = at + span.start..at + span.end;
            let found = find(&text);
            // The digits of the number lie inside one finding of its kind (an ID's check
            // character written apart may be left out).
            let first_digit = span.start;
            let last_digit = text[..span.end]
                .char_indices()
                .rev()
                .find(|(_, c)| digits_of(&c.to_string()).len() == 1)
                .map(|(i, c)| i + c.len_utf8())
                .unwrap_or(span.end);
            prop_assert!(
                found.iter().any(|(k, r)| *k == kind && r.start <= first_digit && last_digit <= r.end),
                "{text:?}: {found:?}"
            );
            let masked = mask(&text, &[]);
            let shown = digits_of(&masked);
            let real = digits_of(&number);
            for w in real.as_bytes().windows(7) {
                let w = std::str::from_utf8(w).unwrap_or_default();
                prop_assert!(!shown.contains(w), "{text:?} masked as {masked:?} shows {w}");
            }
            // Everything around the number is as it was.
            prop_assert!(masked.starts_with(before), "{masked:?}");
            prop_assert!(masked.ends_with(after), "{masked:?}");
        }
    }
}
