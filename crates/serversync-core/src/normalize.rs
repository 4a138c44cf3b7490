//! Identifier normalisation: the keys both sides are compared by (DESIGN.md §3).
//!
//! Domains: trimmed, lower-cased, one trailing dot removed, converted to the IDNA ASCII form
//! (UTS #46, as browsers and panels store IDN domains: `münchen.test` = `xn--mnchen-3ya.test`).
//! Usernames and custom fields: trimmed, compared case-insensitively.

/// The comparison key of a domain, or `None` when it is empty or not a valid domain name.
///
/// `"Example.ORG."` → `"example.org"`, `"münchen.test"` → `"xn--mnchen-3ya.test"`.
/// Nothing inside the name is stripped (`www.` handling is [`strip_www`]'s, and only for the
/// fallback match).
pub fn domain_key(raw: &str) -> Option<String> {
    let s = raw.trim();
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() {
        return None;
    }
    // Fast path: plain lower-case ASCII labels without punycode need no IDNA processing, and
    // are by far the most common input (1,000,000 keys per side must stay well under a second).
    if is_plain_ascii_domain(s) {
        return Some(s.to_ascii_lowercase());
    }
    match idna::domain_to_ascii(s) {
        // An empty label (`a..b`) is no domain, whatever a lenient IDNA pass accepts.
        Ok(a) if !a.is_empty() && !a.split('.').any(str::is_empty) => Some(a),
        _ => None,
    }
}

fn is_plain_ascii_domain(s: &str) -> bool {
    let b = s.as_bytes();
    if b.first() == Some(&b'.') || b.last() == Some(&b'.') || s.contains("..") {
        return false;
    }
    for label in s.split('.') {
        let lb = label.as_bytes();
        // Labels with `--` in positions 3–4 (xn--, and reserved forms) go through IDNA to be
        // validated and decoded consistently.
        if lb.len() >= 4 && lb[2] == b'-' && lb[3] == b'-' {
            return false;
        }
        if lb.first() == Some(&b'-') || lb.last() == Some(&b'-') {
            return false;
        }
    }
    b.iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.' || *c == b'_')
}

/// The comparison key of a username or custom field: trimmed and lower-cased; `None` if empty.
pub fn text_key(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.is_empty() {
        None
    } else {
        Some(s.to_lowercase())
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
