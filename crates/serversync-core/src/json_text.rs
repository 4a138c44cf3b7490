//! Compact JSON text written by hand for the big documents of one run: a run's remote list
//! (CONTRACT.md's `accounts`) and the analysis document's items. The output is byte for byte
//! what `serde_json::to_writer` writes for the same values through their `Serialize` impls
//! (compact form, serde_json's escaping: `\"`, `\\`, `\b \t \n \f \r`, other control
//! characters as lower-case `\u00XX`, nothing else escaped) — the tests check it against
//! serde_json on generated values. Why by hand: for 100,000 accounts, serde's generic path
//! (one `io::Write` call a piece, a `format!` for every date) took ~0.4 CPU-seconds of a
//! 1.3 s `analyse --json`; this writes the same text in a fraction of it.

use time::{Date, PrimitiveDateTime};

use crate::analysis::{billing_identifier, AnalysisInput, Item, ItemView};
use crate::module::RemoteAccount;

/// Bytes that serde_json escapes: every control character, `"` and `\`.
const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether any of the 8 bytes of `w` needs escaping (exact: the classic has-less-than and
/// has-zero-byte word tricks report no false positives for a word as a whole).
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS != 0;
    below_space || has_zero(w ^ (ONES * u64::from(b'"'))) || has_zero(w ^ (ONES * u64::from(b'\\')))
}

/// The index of the first byte of `b` at or after `from` that needs escaping, if any.
#[inline]
fn next_escape(b: &[u8], mut from: usize) -> Option<usize> {
    while from + 8 <= b.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&b[from..from + 8]);
        if word_needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        from += 8;
    }
    (from..b.len()).find(|&i| needs_escape(b[i]))
}

/// Whether any byte of `b` needs escaping, a word at a time (the last one padded with a
/// byte that needs none): most strings of a listing are short and need none.
#[inline]
fn any_escape(b: &[u8]) -> bool {
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        if word_needs_escape(u64::from_le_bytes(word)) {
            return true;
        }
    }
    let rest = words.remainder();
    let mut word = [b'a'; 8];
    word[..rest.len()].copy_from_slice(rest);
    word_needs_escape(u64::from_le_bytes(word))
}

/// `s` as a JSON string literal, quotes included.
pub fn string(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    if !any_escape(b) {
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    escaped(out, b);
    out.push(b'"');
}

/// The body of a string literal that needs escapes (without its quotes).
#[cold]
fn escaped(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    while let Some(i) = next_escape(b, start) {
        out.extend_from_slice(&b[start..i]);
        match b[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0A => out.extend_from_slice(b"\\n"),
            0x0C => out.extend_from_slice(b"\\f"),
            0x0D => out.extend_from_slice(b"\\r"),
            c => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 0xF)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
}

/// `s` as a string literal, or `null`.
pub fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// An integer (any of Rust's integer types).
pub fn int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// An integer, or `null`.
pub fn opt_int(out: &mut Vec<u8>, n: Option<impl itoa::Integer>) {
    match n {
        Some(n) => int(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

/// `"name":` (a key that needs no escaping: the documents' own field names).
#[inline]
fn key(out: &mut Vec<u8>, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `,"name":`.
#[inline]
fn next_key(out: &mut Vec<u8>, name: &str) {
    out.push(b',');
    key(out, name);
}

/// Two decimal digits of `n` (0..=99).
#[inline]
fn two(out: &mut Vec<u8>, n: u8) {
    out.extend_from_slice(&[b'0' + n / 10, b'0' + n % 10]);
}

/// The digits of a `YYYY-MM-DD` date, unquoted ([`crate::model::format_date`] is made of it).
pub(crate) fn date_digits(out: &mut Vec<u8>, d: Date) {
    let y = d.year();
    match u16::try_from(y).ok().filter(|y| *y <= 9999) {
        Some(y) => {
            two(out, (y / 100) as u8);
            two(out, (y % 100) as u8);
            out.push(b'-');
            two(out, u8::from(d.month()));
            out.push(b'-');
            two(out, d.day());
        }
        // Years past 4 digits or before year 0: `time`'s own form (`+10000-01-01`).
        None => out.extend_from_slice(
            d.format(crate::model::DATE_FORMAT)
                .unwrap_or_default()
                .as_bytes(),
        ),
    }
}

/// A date as the string `"YYYY-MM-DD"` ([`crate::model::format_date`]).
pub fn date(out: &mut Vec<u8>, d: Date) {
    out.push(b'"');
    date_digits(out, d);
    out.push(b'"');
}

/// A date as a string, or `null`.
pub fn opt_date(out: &mut Vec<u8>, d: Option<Date>) {
    match d {
        Some(d) => date(out, d),
        None => out.extend_from_slice(b"null"),
    }
}

/// The digits of a `Y-m-d H:i:s` creation time, unquoted ([`crate::module::format_created`]
/// is made of it).
pub(crate) fn created_digits(out: &mut Vec<u8>, dt: PrimitiveDateTime) {
    date_digits(out, dt.date());
    out.push(b' ');
    two(out, dt.hour());
    out.push(b':');
    two(out, dt.minute());
    out.push(b':');
    two(out, dt.second());
}

/// A creation time as the string `"Y-m-d H:i:s"`, or `null`.
fn opt_created(out: &mut Vec<u8>, dt: Option<PrimitiveDateTime>) {
    let Some(dt) = dt else {
        out.extend_from_slice(b"null");
        return;
    };
    out.push(b'"');
    created_digits(out, dt);
    out.push(b'"');
}

/// An array of strings.
fn strings(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, s);
    }
    out.push(b']');
}

impl RemoteAccount {
    /// Appends this account as compact JSON, the text `serde_json::to_writer` gives (see
    /// the type's shape).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        key_first(out, "email");
        opt_string(out, self.email.as_deref());
        next_key(out, "username");
        string(out, &self.username);
        next_key(out, "domain");
        string(out, &self.domain);
        next_key(out, "uniqueIdentifier");
        string(out, &self.unique_identifier);
        next_key(out, "product");
        string(out, &self.product);
        next_key(out, "primaryip");
        string(out, &self.primary_ip);
        next_key(out, "created");
        opt_created(out, self.created);
        next_key(out, "status");
        string(out, self.status.as_str());
        if let Some(owner) = &self.owner {
            next_key(out, "owner");
            string(out, owner);
        }
        if let Some(detail) = &self.status_detail {
            next_key(out, "status_detail");
            string(out, detail);
        }
        if !self.notes.is_empty() {
            next_key(out, "notes");
            strings(out, &self.notes);
        }
        out.push(b'}');
    }
}

/// `{"name":`.
#[inline]
fn key_first(out: &mut Vec<u8>, name: &str) {
    out.push(b'{');
    key(out, name);
}

/// `accounts` as a compact JSON array, the text `serde_json::to_string(accounts)` gives.
pub fn accounts(accounts: &[RemoteAccount]) -> String {
    // ~250 bytes an account in a cPanel listing: one allocation for most lists.
    let mut out = Vec::with_capacity(accounts.len().saturating_mul(256).saturating_add(2));
    out.push(b'[');
    for (i, a) in accounts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // The strings of an account a few ahead are loaded while this one is written.
        std::hint::black_box(
            accounts
                .get(i + TOUCH_AHEAD)
                .map_or(0, RemoteAccount::touch),
        );
        a.write_json(&mut out);
    }
    out.push(b']');
    into_text(out)
}

/// Text made only of `&str` pieces and ASCII is UTF-8: checked anyway (cheap next to the
/// writing), so that a bug here can never make an invalid `String`.
pub(crate) fn into_text(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// How many items (or accounts) ahead of the one written a writer loads the strings of
/// ([`touch_ahead`] says why).
pub const TOUCH_AHEAD: usize = 4;

/// The first byte of `s` (0 for an empty string), read so that its cache line is loaded.
#[inline]
fn first_byte(s: &str) -> u8 {
    s.as_bytes().first().copied().unwrap_or(0)
}

impl RemoteAccount {
    /// Reads one byte of each of this account's strings and returns them folded together:
    /// a writer calls it on an account a few ahead of the one it writes ([`touch_ahead`]).
    #[inline]
    pub fn touch(&self) -> u8 {
        first_byte(&self.username)
            ^ first_byte(&self.domain)
            ^ first_byte(&self.unique_identifier)
            ^ first_byte(&self.product)
            ^ first_byte(&self.primary_ip)
            ^ self.email.as_deref().map_or(0, first_byte)
    }
}

/// Loads the strings of `items[at]` (if there is one) into the caches while an earlier item
/// is written. Why: the strings of 100,000 accounts and services are small allocations
/// spread over a hundred megabytes, and writing them one after another waited on a cache
/// miss for nearly every string (most of a document's writing time); reading a byte of
/// each a few items ahead lets those misses overlap. `black_box` keeps the reads.
#[inline]
pub fn touch_ahead(items: &[ItemView<'_>], at: usize) {
    if let Some(v) = items.get(at) {
        std::hint::black_box(touch_item(v.item, v.input));
    }
}

/// Reads one byte of each string of `item`'s account and billing record and returns them
/// folded together (see [`touch_ahead`]; pass the result to `std::hint::black_box`).
#[inline]
pub fn touch_item(item: &Item, input: &AnalysisInput<'_>) -> u8 {
    let mut t = item.remote_account(input).map_or(0, RemoteAccount::touch);
    if let Some(r) = item.billing_record(input) {
        let s = &r.service;
        t ^= first_byte(&s.domain) ^ first_byte(&s.username) ^ first_byte(&s.dedicated_ip);
        t ^= r.client_email.as_deref().map_or(0, first_byte);
    }
    t
}

impl ItemView<'_> {
    /// Appends this item as compact JSON, the text `serde_json::to_writer` gives for it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let it = self.item;
        let input = self.input;
        let remote = it.remote_account(input);
        let rec = it.billing_record(input);
        let uid = match (remote, rec) {
            (Some(r), _) => Some(r.unique_identifier.as_str()),
            (None, Some(b)) => Some(billing_identifier(
                &input.meta.unique_identifier_field,
                &b.service,
            )),
            _ => None,
        };
        key_first(out, "category");
        string(out, it.category.as_str());
        next_key(out, "unique_identifier");
        opt_string(out, uid);
        next_key(out, "service_id");
        opt_int(out, rec.map(|r| r.service.id));
        next_key(out, "remote");
        match remote {
            Some(a) => a.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
        next_key(out, "billing");
        match rec {
            Some(r) => {
                let s = &r.service;
                key_first(out, "service_id");
                int(out, s.id);
                next_key(out, "client_id");
                int(out, s.client_id);
                next_key(out, "product_id");
                int(out, s.product_id);
                next_key(out, "domain");
                string(out, &s.domain);
                next_key(out, "username");
                string(out, &s.username);
                next_key(out, "dedicated_ip");
                string(out, &s.dedicated_ip);
                next_key(out, "regdate");
                opt_date(out, s.regdate);
                next_key(out, "status");
                string(out, s.status.as_str());
                next_key(out, "server_id");
                opt_int(out, s.server_id);
                next_key(out, "version");
                int(out, s.version);
                if let Some(email) = &r.client_email {
                    next_key(out, "client_email");
                    string(out, email);
                }
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        next_key(out, "diffs");
        out.push(b'[');
        for (i, d) in it.diffs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            key_first(out, "field");
            string(out, d.field.as_str());
            next_key(out, "remote");
            string(out, &d.remote);
            next_key(out, "billing");
            string(out, &d.billing);
            out.push(b'}');
        }
        out.push(b']');
        next_key(out, "actions");
        out.push(b'[');
        for (i, a) in it.actions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, a.as_str());
        }
        out.push(b']');
        next_key(out, "notes");
        strings(out, &it.notes);
        if !it.related_service_ids.is_empty() {
            next_key(out, "related_service_ids");
            out.push(b'[');
            for (i, id) in it.related_service_ids.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                int(out, *id);
            }
            out.push(b']');
        }
        if let Some(m) = self.misses {
            next_key(out, "misses");
            int(out, m.misses);
            next_key(out, "gone_after");
            int(out, m.gone_after);
            next_key(out, "gone");
            out.extend_from_slice(if m.is_gone() { b"true" } else { b"false" });
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests;
