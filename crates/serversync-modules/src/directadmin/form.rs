//! DirectAdmin's legacy answer format: an `application/x-www-form-urlencoded` body with
//! DirectAdmin's own numeric character references mixed in.
//!
//! Sources (`/work/shared/reference/panel-apis-verified.md`, "DirectAdmin"): DirectAdmin's API
//! page says "If return value is url encoded … Use unhtmlentities() then parse_str()", i.e.
//! entities are decoded **before** the body is split on `&`. Its entities are two-digit
//! `&#NN`, and clients treat the `;` as absent (WHMCS `~&#([0-9][0-9])~`, omines
//! `/&#([0-9]{2})/`, regru strips `&#60br&#62`), so both `ann&#64mail.test` and
//! `ann&#64;mail.test` mean `ann@mail.test`.
//!
//! Parsing never fails (like PHP's `parse_str`): what a field means is judged by its user.

use std::borrow::Cow;

/// Longest decimal reference read when a `;` closes it (`&#1114111;` is the largest code
/// point).
const MAX_DEC_DIGITS: usize = 7;
/// Longest hexadecimal reference (`&#x10FFFF;`).
const MAX_HEX_DIGITS: usize = 6;

/// Decodes numeric character references in `body`:
///
/// - `&#N…;` — decimal, one to seven digits, closed by `;` (the HTML form);
/// - `&#xH…;` — hexadecimal, one to six digits, closed by `;`;
/// - `&#NN` — DirectAdmin's bare form: exactly two decimal digits, no `;` (so
///   `a&#6412.test` is `a@12.test`, as DirectAdmin meant it).
///
/// A reference naming no character (0, a surrogate, past U+10FFFF) and any other `&` are left
/// as they are. Returns the input unchanged (borrowed) when it holds no `&#`.
pub(crate) fn decode_entities(body: &[u8]) -> Cow<'_, [u8]> {
    if !body.windows(2).any(|w| w == b"&#") {
        return Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'&' && body.get(i + 1) == Some(&b'#') {
            if let Some((c, used)) = reference_at(&body[i + 2..]) {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += 2 + used;
                continue;
            }
        }
        out.push(body[i]);
        i += 1;
    }
    Cow::Owned(out)
}

/// The character of the reference whose text (after `&#`) starts `rest`, and how many bytes
/// of `rest` it takes.
fn reference_at(rest: &[u8]) -> Option<(char, usize)> {
    if matches!(rest.first(), Some(b'x' | b'X')) {
        let digits = rest[1..]
            .iter()
            .take(MAX_HEX_DIGITS + 1)
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if digits == 0 || digits > MAX_HEX_DIGITS || rest.get(1 + digits) != Some(&b';') {
            return None;
        }
        let text = std::str::from_utf8(&rest[1..1 + digits]).ok()?;
        let code = u32::from_str_radix(text, 16).ok()?;
        return char_of(code).map(|c| (c, digits + 2));
    }
    let digits = rest
        .iter()
        .take(MAX_DEC_DIGITS + 1)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    if digits <= MAX_DEC_DIGITS && rest.get(digits) == Some(&b';') {
        return char_of(decimal(&rest[..digits])).map(|c| (c, digits + 1));
    }
    if digits >= 2 {
        return char_of(decimal(&rest[..2])).map(|c| (c, 2));
    }
    None
}

fn decimal(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
}

fn char_of(code: u32) -> Option<char> {
    if code == 0 {
        return None;
    }
    char::from_u32(code)
}

/// One value of a form: text, or bytes that are not UTF-8 once percent-decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FormValue {
    Text(String),
    NotUtf8,
}

/// What a form holds for one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'a> {
    /// The key is not there.
    Missing,
    /// The key's value (the same value each time the key occurs).
    Text(&'a str),
    /// The value is not UTF-8.
    NotUtf8,
    /// The key occurs more than once with different values.
    Conflict,
}

/// A parsed form: its `key=value` pairs in order, keys and values percent-decoded (`+` is a
/// space, as PHP's `parse_str` reads it; a `%` not followed by two hex digits stays as it is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Form {
    pairs: Vec<(String, FormValue)>,
}

impl Form {
    /// Parses `body`: entities decoded first ([`decode_entities`]), then split on `&`, each
    /// part split at its first `=` (a part without `=` is a key with an empty value), empty
    /// parts ignored.
    pub(crate) fn parse(body: &[u8]) -> Form {
        let decoded = decode_entities(body);
        let mut pairs = Vec::new();
        for part in decoded.split(|b| *b == b'&') {
            if part.is_empty() {
                continue;
            }
            let (k, v) = match part.iter().position(|b| *b == b'=') {
                Some(p) => (&part[..p], &part[p + 1..]),
                None => (part, &b""[..]),
            };
            let key = String::from_utf8_lossy(&percent_decode(k)).into_owned();
            let value = match String::from_utf8(percent_decode(v)) {
                Ok(s) => FormValue::Text(s),
                Err(_) => FormValue::NotUtf8,
            };
            pairs.push((key, value));
        }
        Form { pairs }
    }

    /// Whether the form has no pairs at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The value of `key` (see [`Lookup`]).
    pub(crate) fn get(&self, key: &str) -> Lookup<'_> {
        let mut found = Lookup::Missing;
        for (k, v) in &self.pairs {
            if k != key {
                continue;
            }
            let this = match v {
                FormValue::Text(s) => Lookup::Text(s.as_str()),
                FormValue::NotUtf8 => Lookup::NotUtf8,
            };
            found = match found {
                Lookup::Missing => this,
                same if same == this => same,
                _ => return Lookup::Conflict,
            };
        }
        found
    }

    /// The values of the list entries, in order: keys `list[]` (DirectAdmin's form) or
    /// `list[N]`.
    pub(crate) fn list(&self) -> impl Iterator<Item = &FormValue> + '_ {
        self.pairs
            .iter()
            .filter(|(k, _)| is_list_key(k))
            .map(|(_, v)| v)
    }

    /// Whether any key is a list entry.
    pub(crate) fn has_list(&self) -> bool {
        self.pairs.iter().any(|(k, _)| is_list_key(k))
    }
}

fn is_list_key(k: &str) -> bool {
    k.strip_prefix("list[")
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|inner| inner.bytes().all(|b| b.is_ascii_digit()))
}

/// `application/x-www-form-urlencoded` decoding of one key or value.
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let pair = (
                s.get(i + 1).and_then(|b| hex(*b)),
                s.get(i + 2).and_then(|b| hex(*b)),
            );
            if let (Some(h), Some(l)) = pair {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(if s[i] == b'+' { b' ' } else { s[i] });
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes `s` for a query string value (everything but RFC 3986 unreserved
/// characters).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}
