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

/// One pass over a domain: `Some(has_upper_case)` when it is plain ASCII labels
/// (letters, digits, `-`, `_`; no empty label; no label starting or ending with `-`; no
/// `??--` label such as punycode `xn--`), else `None` (IDNA decides).
fn plain_ascii_domain(b: &[u8]) -> Option<bool> {
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

/// `str::trim` for the common case: strips ASCII whitespace bytes, and defers to `trim` only
/// when a non-ASCII byte sits at either end (the generic `trim` cost a seventh of the
/// analysis' time).
#[inline]
pub fn fast_trim(s: &str) -> &str {
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
    use super::*;

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
