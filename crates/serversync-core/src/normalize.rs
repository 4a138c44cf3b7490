//! Identifier normalisation: the keys both sides are compared by (DESIGN.md §3).
//!
//! Domains: trimmed, lower-cased, one trailing dot removed, converted to the IDNA ASCII form
//! (UTS #46, as browsers and panels store IDN domains: `münchen.test` = `xn--mnchen-3ya.test`).
//! Usernames and custom fields: trimmed, compared case-insensitively.

use std::borrow::Cow;

/// The comparison key of a domain, or `None` when it is empty or not a valid domain name.
///
/// `"Example.ORG."` → `"example.org"`, `"münchen.test"` → `"xn--mnchen-3ya.test"`.
/// Nothing inside the name is stripped (`www.` handling is [`strip_www`]'s, and only for the
/// fallback match).
pub fn domain_key(raw: &str) -> Option<String> {
    domain_key_cow(raw).map(Cow::into_owned)
}

/// [`domain_key`], borrowing the input when it already is a key (the common case: panels send
/// lower-case ASCII domains), so that keying a million accounts allocates nothing for them.
pub fn domain_key_cow(raw: &str) -> Option<Cow<'_, str>> {
    let s = fast_trim(raw);
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() {
        return None;
    }
    // Fast path: plain ASCII labels without punycode need no IDNA processing.
    match plain_ascii_domain(s.as_bytes()) {
        Some(false) => return Some(Cow::Borrowed(s)),
        Some(true) => return Some(Cow::Owned(s.to_ascii_lowercase())),
        None => {}
    }
    match idna::domain_to_ascii(s) {
        // An empty label (`a..b`) or a space (which lenient IDNA lets through) is no domain.
        Ok(a)
            if !a.is_empty()
                && !a.split('.').any(str::is_empty)
                && !a.contains(|c: char| c.is_whitespace()) =>
        {
            Some(Cow::Owned(a))
        }
        _ => None,
    }
}

/// Whether one label of a plain ASCII domain is valid: not empty, no `-` at either end, not
/// a `??--` label such as punycode `xn--`.
#[inline]
fn plain_label_ok(label: &[u8]) -> bool {
    match (label.first(), label.last()) {
        (Some(&f), Some(&l)) => {
            f != b'-' && l != b'-' && !(label.len() >= 4 && label[2] == b'-' && label[3] == b'-')
        }
        _ => false,
    }
}

/// One pass over a domain: `Some(has_upper_case)` when it is plain ASCII labels
/// (letters, digits, `-`, `_`; no empty label; no label starting or ending with `-`; no
/// `??--` label such as punycode `xn--`), else `None` (IDNA decides).
///
/// The bytes are classified eight at a time in a `u64` (SWAR: a few integer operations per
/// word instead of a table lookup and a branch per byte); only the labels' ends, found from
/// the dots' bit mask, are looked at one by one.
fn plain_ascii_domain(b: &[u8]) -> Option<bool> {
    let len = b.len();
    // The little-endian word of the 8 bytes from `i` (a fixed-size copy: one load).
    let word_at = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let mut upper = 0u64;
    let mut start = 0usize;
    let mut base = 0usize;
    while base < len {
        let n = (len - base).min(8);
        let w = if n == 8 {
            word_at(base)
        } else {
            // The last `n` bytes: from the word ending at the end when there is one, else
            // byte by byte; padded with a letter (valid, not upper case, not a dot).
            let tail = if len >= 8 {
                word_at(len - 8) >> (8 * (8 - n))
            } else {
                b.iter()
                    .enumerate()
                    .fold(0u64, |w, (k, &c)| w | (u64::from(c) << (8 * k)))
            };
            tail | (u64::from_le_bytes([b'a'; 8]) & (u64::MAX << (8 * n)))
        };
        let (ok, up, mut dots) = classify(w);
        if !ok {
            return None;
        }
        upper |= up;
        while dots != 0 {
            let i = base + (dots.trailing_zeros() / 8) as usize;
            if !plain_label_ok(&b[start..i]) {
                return None;
            }
            start = i + 1;
            dots &= dots - 1;
        }
        base += 8;
    }
    if !plain_label_ok(&b[start..]) {
        return None;
    }
    Some(upper != 0)
}

/// The high bit of every byte.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that is ≥ `c` (every byte of `w` below 0x80, `c` in
/// 1..=0x80): adding `0x80 - c` to a byte carries into its high bit exactly when the byte is
/// ≥ `c`, and never into the next byte.
#[inline]
fn ge(w: u64, c: u8) -> u64 {
    w.wrapping_add(u64::from(0x80 - c) * 0x0101_0101_0101_0101) & HIGH
}

/// One word of [`plain_ascii_domain`]: whether every byte is of a domain class (`a-z`,
/// `A-Z`, `0-9`, `_`, `-`, `.`), and (as high bits per byte) its upper-case letters and
/// its dots.
#[inline]
fn classify(w: u64) -> (bool, u64, u64) {
    if w & HIGH != 0 {
        return (false, 0, 0);
    }
    let range = |lo: u8, past: u8| ge(w, lo) & !ge(w, past);
    let upper = range(b'A', b'Z' + 1);
    let dots = range(b'.', b'.' + 1);
    let ok = range(b'-', b'.' + 1)
        | range(b'0', b'9' + 1)
        | upper
        | range(b'_', b'_' + 1)
        | range(b'a', b'z' + 1);
    (ok == HIGH, upper, dots)
}

/// `str::trim` for the common case: strips ASCII whitespace bytes, and defers to `trim` only
/// when a non-ASCII byte sits at either end (the generic `trim` cost a seventh of the
/// analysis' time).
#[inline]
pub fn fast_trim(s: &str) -> &str {
    // Printable ASCII at both ends (the common case: nothing to trim) needs no scan.
    let printable = |b: Option<&u8>| b.is_some_and(|&c| c > b' ' && c.is_ascii());
    if printable(s.as_bytes().first()) && printable(s.as_bytes().last()) {
        return s;
    }
    let t = s.trim_ascii();
    let b = t.as_bytes();
    match (b.first(), b.last()) {
        // Non-ASCII at an end may be Unicode whitespace (e.g. U+00A0): trim it properly.
        (Some(f), Some(l)) if !f.is_ascii() || !l.is_ascii() => t.trim(),
        _ => t,
    }
}

/// The comparison key of a username or custom field: trimmed and lower-cased; `None` if empty.
pub fn text_key(raw: &str) -> Option<String> {
    text_key_cow(raw).map(Cow::into_owned)
}

/// [`text_key`], borrowing the input when it is already lower-case ASCII.
pub fn text_key_cow(raw: &str) -> Option<Cow<'_, str>> {
    let s = fast_trim(raw);
    if s.is_empty() {
        None
    } else if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Some(Cow::Borrowed(s))
    } else {
        Some(Cow::Owned(s.to_lowercase()))
    }
}

/// A domain key with one leading `www.` label removed, if it has one and something remains.
///
/// `www.shop.test` → `shop.test`; `awww.test`, `mywww.test` and `www.test`-like single
/// remaining labels (`www.test` → `test`) are only stripped when a dot remains after it,
/// so `www.test` → `None`.
pub fn strip_www(key: &str) -> Option<&str> {
    key.strip_prefix("www.").filter(|rest| rest.contains('.'))
}

/// Case-insensitive equality of two e-mail addresses after trimming.
pub fn email_eq(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The previous byte-by-byte range tests of [`plain_ascii_domain`], as its test oracle.
    fn plain_ascii_domain_reference(b: &[u8]) -> Option<bool> {
        let mut upper = false;
        let mut start = 0usize;
        for i in 0..=b.len() {
            let c = if i == b.len() { b'.' } else { b[i] };
            match c {
                b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => {}
                b'A'..=b'Z' => upper = true,
                b'.' => {
                    let label = &b[start..i];
                    if label.is_empty() || label[0] == b'-' || label[label.len() - 1] == b'-' {
                        return None;
                    }
                    if label.len() >= 4 && label[2] == b'-' && label[3] == b'-' {
                        return None;
                    }
                    start = i + 1;
                }
                _ => return None,
            }
        }
        Some(upper)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// The table-driven check equals the range tests on strings of every byte class
        /// (dots, hyphens at label ends and in `??--` position, upper case, non-ASCII),
        /// over several words.
        #[test]
        fn plain_ascii_domain_equals_the_range_tests(
            s in "[a-cxnA-C0-9_. ü-]{0,40}"
        ) {
            prop_assert_eq!(
                plain_ascii_domain(s.as_bytes()),
                plain_ascii_domain_reference(s.as_bytes())
            );
        }
    }

    proptest! {
        /// The fast path of [`fast_trim`] changes nothing: it equals the ASCII trim with
        /// the Unicode trim for non-ASCII ends.
        #[test]
        fn fast_trim_equals_the_plain_trims(s in "[ a\\t\\n\\x0b\\x0c\\r\\x7f\u{a0}\u{2003}ü.-]{0,6}") {
            let t = s.trim_ascii();
            let want = match (t.as_bytes().first(), t.as_bytes().last()) {
                (Some(f), Some(l)) if !f.is_ascii() || !l.is_ascii() => t.trim(),
                _ => t,
            };
            prop_assert_eq!(fast_trim(&s), want);
        }
    }

    #[test]
    fn domain_keys() {
        assert_eq!(domain_key("Example.ORG.").as_deref(), Some("example.org"));
        assert_eq!(domain_key(" example.org ").as_deref(), Some("example.org"));
        assert_eq!(
            domain_key("münchen.test").as_deref(),
            Some("xn--mnchen-3ya.test")
        );
        assert_eq!(
            domain_key("XN--MNCHEN-3YA.test").as_deref(),
            Some("xn--mnchen-3ya.test")
        );
        assert_eq!(
            domain_key("Bücher.TEST").as_deref(),
            Some("xn--bcher-kva.test")
        );
        assert_eq!(domain_key("awww.test").as_deref(), Some("awww.test"));
        assert_eq!(domain_key(""), None);
        assert_eq!(domain_key("."), None);
        assert_eq!(domain_key("a..b"), None);
    }

    #[test]
    fn unicode_whitespace_is_trimmed_and_spaces_are_no_domain() {
        assert_eq!(domain_key("shop.test\u{a0} ").as_deref(), Some("shop.test"));
        assert_eq!(domain_key(" \u{a0}shop.test").as_deref(), Some("shop.test"));
        assert_eq!(text_key("bob\u{a0} ").as_deref(), Some("bob"));
        assert_eq!(domain_key("shop test"), None);
        assert_eq!(domain_key("shöp test"), None);
    }

    #[test]
    fn www_stripping_is_one_leading_label_only() {
        assert_eq!(strip_www("www.shop.test"), Some("shop.test"));
        assert_eq!(strip_www("www.www.shop.test"), Some("www.shop.test"));
        assert_eq!(strip_www("awww.test"), None);
        assert_eq!(strip_www("mywww.test"), None);
        assert_eq!(strip_www("www.test"), None);
    }

    #[test]
    fn text_keys_and_emails() {
        assert_eq!(text_key(" Bob7 "), text_key("bob7"));
        assert_eq!(text_key("  "), None);
        assert!(email_eq("Zed@Mail.test", "zed@mail.test"));
        assert!(!email_eq("ed@mail.test", "zed@mail.test"));
    }
}
