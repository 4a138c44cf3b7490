//! The WHMCS wire form of `ListAccounts`, read leniently but losslessly (issue 7 §4).
//!
//! Shape (WHMCS Server Sync module documentation, WHMCS 7.8+, and CONTRACT.md "Modules"):
//!
//! ```json
//! {"success": true, "accounts": [{"email": "ann@mail.test", "username": "ann",
//!   "domain": "ann.test", "uniqueIdentifier": "ann.test", "product": "Basic",
//!   "primaryip": "192.0.2.10", "created": "2024-01-31 13:15:00", "status": "Active"}]}
//! {"success": false, "error": "Authentication failed"}
//! ```
//!
//! Real modules rarely return it clean, so a record needs only a usable `uniqueIdentifier`
//! and a `status`; what is unambiguous is taken as it is meant and noted on the record
//! ([`RemoteAccount::notes`]); what would need a guess skips the record with its reason
//! (which makes the listing incomplete). The document is read in one streaming pass: records
//! go straight into small typed slots (no `serde_json::Value` tree of the whole answer), and
//! nothing is sized by a count the module claims.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use time::{PrimitiveDateTime, Time};

use super::scalar::{quote, Scalar};
use super::{normalize_email, Listing, RemoteAccount, RemoteStatus, SkippedRecord};
use crate::model::parse_date;

/// Most characters of a module's own error message that are kept
/// ([`WireError::Failure`]); the rest is cut with `…`.
pub const MAX_ERROR_CHARS: usize = 1000;

/// Most characters of a value quoted in a reason or note.
const QUOTE_CHARS: usize = 60;
/// Most secret-carrying key names noted per record (the values are never kept).
const MAX_SECRET_NAMES: usize = 4;

/// Why a wire-form answer was refused as a whole: a failed listing, never an empty one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// `{"success": false, "error": "..."}`: the module's own message (at most
    /// [`MAX_ERROR_CHARS`] characters; `no error message given` when it gave none).
    #[error("module reported failure: {0}")]
    Failure(String),
    /// Nothing at all (empty or only white space).
    #[error("the answer is empty")]
    Empty,
    /// Not JSON: serde_json's message, with line and column.
    #[error("the answer is not JSON ({0})")]
    NotJson(String),
    /// JSON, but not the `{"success": …, "accounts": […]}` shape (a bare list, `success`
    /// missing or not a boolean, `success: true` without `accounts`, …).
    #[error("{0}")]
    Malformed(String),
}

/// Whether a record key carries a secret, whose value is dropped unread: `pass`, or any key
/// containing `password`, `passwd`, `secret`, `token`, `apikey` or `api_key` (any case).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "pass"
        || ["password", "passwd", "secret", "token", "apikey", "api_key"]
            .iter()
            .any(|s| k.contains(s))
}

/// Parses a module's `ListAccounts` answer (the wire form above).
///
/// The document: a leading UTF-8 byte order mark and surrounding white space are ignored;
/// `success` must be `true` or `false`; `success: true` needs `accounts`, a list of records
/// (an object of records, which is how PHP encodes an array with keys, is read as the list
/// of its values in document order); `success: false` is [`WireError::Failure`] with the
/// `error` text. A bare list (`[]`), `{"success": true}`, empty output and non-JSON are
/// errors, never an empty listing. Other top-level keys are ignored.
///
/// Each record: `uniqueIdentifier` must be a non-empty string (or an integer, taken as its
/// decimal text); `status` must be `Active` or `Suspended` in any case. `username`, `domain`,
/// `product`, `primaryip`, `owner` and `email` are strings; an integer is taken as its
/// decimal text; missing or `null` is none (empty: never compared). `email` placeholders
/// (`*unknown*`, implausible addresses) are none. `created` is `Y-m-d H:i:s`, or `Y-m-d`
/// (midnight); `""`, `null`, missing and the zero date `0000-00-00[ 00:00:00]` are none.
/// Everything taken leniently is noted in [`RemoteAccount::notes`]. A record that is not an
/// object, lacks a usable `uniqueIdentifier` or `status`, has another status
/// (`Terminated`), another `created` form (`31/01/2024`), a boolean, fractional number,
/// list or object where text is expected, or a key twice, is in [`Listing::skipped`] with
/// its reason. Keys carrying a secret ([`is_secret_key`]) are dropped unread; other keys are
/// ignored.
pub fn parse_wire(body: &[u8]) -> Result<Listing, WireError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WireError::Empty);
    }
    let doc: Document = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            WireError::Malformed(e.to_string())
        } else {
            WireError::NotJson(e.to_string())
        }
    })?;
    let env = match doc {
        Document::Object(env) => env,
        Document::Other(kind) => {
            return Err(WireError::Malformed(format!(
                "the answer is {kind}, not an object {{\"success\": …, \"accounts\": […]}}{}",
                if kind == "a list" {
                    " (a bare list is never taken as the account list)"
                } else {
                    ""
                }
            )))
        }
    };
    if let Some(key) = env.repeated {
        return Err(WireError::Malformed(format!("\"{key}\" appears twice")));
    }
    match env.success {
        Some(Scalar::Bool(true)) => {}
        Some(Scalar::Bool(false)) => {
            let msg = match env.error {
                Some(Scalar::Str(s)) if !s.trim().is_empty() => cut(s.trim(), MAX_ERROR_CHARS),
                Some(v @ (Scalar::Int(_) | Scalar::UInt(_))) => v.text().unwrap_or_default(),
                _ => "no error message given".into(),
            };
            return Err(WireError::Failure(msg));
        }
        Some(other) => {
            return Err(WireError::Malformed(format!(
                "\"success\" is {}, expected true or false",
                describe(&other)
            )))
        }
        None => {
            return Err(WireError::Malformed(
                "\"success\" is missing (expected {\"success\": true, \"accounts\": […]})".into(),
            ))
        }
    }
    let records = match env.accounts {
        Some(Accounts::Records(r)) => r,
        Some(Accounts::Other(kind)) => {
            return Err(WireError::Malformed(format!(
                "\"accounts\" is {kind}, expected a list of accounts"
            )))
        }
        None => {
            return Err(WireError::Malformed(
                "\"success\" is true but \"accounts\" is missing (a server without accounts \
                 answers \"accounts\": [])"
                    .into(),
            ))
        }
    };
    let mut listing = Listing::default();
    for (index, slot) in records.into_iter().enumerate() {
        match slot {
            Record::Other(kind) => listing.skipped.push(SkippedRecord {
                index,
                identifier: None,
                reason: format!("record is {kind}, not an account object"),
            }),
            Record::Fields(raw) => {
                let identifier = raw.identifier();
                match raw.into_account() {
                    Ok(acc) => listing.accounts.push(acc),
                    Err(reason) => listing.skipped.push(SkippedRecord {
                        index,
                        identifier,
                        reason,
                    }),
                }
            }
        }
    }
    Ok(listing)
}

/// Serialises a listing result in the wire form (`{"success": true, "accounts": [...]}`).
pub fn to_wire(accounts: &[RemoteAccount]) -> serde_json::Value {
    serde_json::json!({"success": true, "accounts": accounts})
}

/// At most `max` characters of `s`, `…` appended when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A value for a wire-form message: strings quoted (bounded), other values by kind or as
/// JSON shows them (`the boolean true`, `the number 3`).
fn describe(v: &Scalar) -> String {
    match v {
        Scalar::Missing => "missing".into(),
        Scalar::Null => "null".into(),
        Scalar::Bool(b) => format!("the boolean {b}"),
        Scalar::Int(n) => format!("the number {n}"),
        Scalar::UInt(n) => format!("the number {n}"),
        Scalar::Float(f) => format!("the fractional number {f}"),
        Scalar::Str(s) => quote(s),
        Scalar::Array => "a list".into(),
        Scalar::Object => "an object".into(),
    }
}

// ---------------------------------------------------------------------------------------
// One record → a remote account.

/// The fields of one record as they came; `None` when the key was absent.
#[derive(Default)]
struct RawRecord {
    email: Option<Scalar>,
    username: Option<Scalar>,
    domain: Option<Scalar>,
    unique_identifier: Option<Scalar>,
    product: Option<Scalar>,
    primary_ip: Option<Scalar>,
    created: Option<Scalar>,
    status: Option<Scalar>,
    owner: Option<Scalar>,
    /// A known key given twice (ambiguous: the record is skipped).
    repeated: Option<&'static str>,
    /// Secret-carrying keys whose values were dropped (names only, bounded).
    secrets: Vec<String>,
    /// Known keys given in another case (`uniqueidentifier`), for the reason when missing.
    miscased: Vec<(&'static str, String)>,
}

/// The wire form's keys, in the order notes list them.
const KEYS: [&str; 9] = [
    "uniqueIdentifier",
    "username",
    "domain",
    "email",
    "product",
    "primaryip",
    "created",
    "status",
    "owner",
];

impl RawRecord {
    fn slot(&mut self, key: &str) -> Option<&mut Option<Scalar>> {
        Some(match key {
            "uniqueIdentifier" => &mut self.unique_identifier,
            "username" => &mut self.username,
            "domain" => &mut self.domain,
            "email" => &mut self.email,
            "product" => &mut self.product,
            "primaryip" => &mut self.primary_ip,
            "created" => &mut self.created,
            "status" => &mut self.status,
            "owner" => &mut self.owner,
            _ => return None,
        })
    }

    /// Whatever names the record in a skipped entry: username, domain or identifier text.
    fn identifier(&self) -> Option<String> {
        [&self.username, &self.domain, &self.unique_identifier]
            .into_iter()
            .filter_map(|v| v.as_ref()?.text())
            .map(|s| s.trim().to_string())
            .find(|s| !s.is_empty())
            .map(|s| s.chars().take(QUOTE_CHARS).collect())
    }

    fn into_account(self) -> Result<RemoteAccount, String> {
        if let Some(key) = self.repeated {
            return Err(format!("\"{key}\" appears twice"));
        }
        let mut notes = Vec::new();
        let mut not_given: Vec<&str> = Vec::new();
        let miscased = |name: &str| {
            self.miscased
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, given)| {
                    format!(
                        " (the record has {}; keys are case-sensitive)",
                        quote(given)
                    )
                })
                .unwrap_or_default()
        };

        let unique_identifier =
            match text_field(self.unique_identifier, "uniqueIdentifier", &mut notes)? {
                Some(s) if !s.trim().is_empty() => s,
                Some(_) => return Err("uniqueIdentifier is empty".into()),
                None => {
                    return Err(format!(
                        "uniqueIdentifier is missing{}",
                        miscased("uniqueIdentifier")
                    ))
                }
            };
        let status = match self.status {
            Some(Scalar::Str(s)) => {
                let t = s.trim();
                let status = if t.eq_ignore_ascii_case("active") {
                    RemoteStatus::Active
                } else if t.eq_ignore_ascii_case("suspended") {
                    RemoteStatus::Suspended
                } else {
                    return Err(format!("status {} is not Active or Suspended", quote(&s)));
                };
                if s != status.as_str() {
                    notes.push(format!("status {} read as {status}", quote(&s)));
                }
                status
            }
            None | Some(Scalar::Null) => {
                return Err(format!("status is missing{}", miscased("status")))
            }
            Some(other) => {
                return Err(format!(
                    "status is {}, not Active or Suspended",
                    describe(&other)
                ))
            }
        };
        let created = created(self.created, &mut notes)?;
        let mut opt = |v: Option<Scalar>, name: &'static str, notes: &mut Vec<String>| {
            let t = text_field(v, name, notes)?;
            if t.is_none() {
                not_given.push(name);
            }
            Ok::<_, String>(t.unwrap_or_default())
        };
        let username = opt(self.username, "username", &mut notes)?;
        let domain = opt(self.domain, "domain", &mut notes)?;
        let email_text = opt(self.email, "email", &mut notes)?;
        let product = opt(self.product, "product", &mut notes)?;
        let primary_ip = opt(self.primary_ip, "primaryip", &mut notes)?;
        let owner = text_field(self.owner, "owner", &mut notes)?.filter(|o| !o.trim().is_empty());
        if !not_given.is_empty() {
            notes.push(format!(
                "not given by the module (shown empty, not compared): {}",
                not_given.join(", ")
            ));
        }
        if !self.secrets.is_empty() {
            let names: Vec<String> = self.secrets.iter().map(|k| quote(k)).collect();
            notes.push(format!(
                "secret-carrying field dropped: {}",
                names.join(", ")
            ));
        }
        Ok(RemoteAccount {
            email: normalize_email(&email_text),
            username,
            domain,
            unique_identifier,
            product,
            primary_ip,
            created,
            status,
            owner,
            status_detail: None,
            notes,
        })
    }
}

/// A text field: a string as it is; an integer as its decimal text (noted); missing or
/// `null` as `None`; anything else is the record's skip reason.
fn text_field(
    v: Option<Scalar>,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<Option<String>, String> {
    match v {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Str(s)) => Ok(Some(s)),
        Some(v @ (Scalar::Int(_) | Scalar::UInt(_))) => {
            let t = v.text().unwrap_or_default();
            notes.push(format!(
                "{name} was the number {t}, taken as the text \"{t}\""
            ));
            Ok(Some(t))
        }
        Some(other) => Err(format!("{name} is {}, not a string", describe(&other))),
    }
}

/// `created`: `Y-m-d H:i:s`, `Y-m-d` (midnight, noted), or none (`""`, `null`, missing, the
/// zero date); anything else is the record's skip reason.
fn created(
    v: Option<Scalar>,
    notes: &mut Vec<String>,
) -> Result<Option<PrimitiveDateTime>, String> {
    let s = match v {
        None | Some(Scalar::Null) => return Ok(None),
        Some(Scalar::Str(s)) => s,
        Some(other) => {
            return Err(format!(
                "created is {}, not a \"Y-m-d H:i:s\" date",
                describe(&other)
            ))
        }
    };
    let t = s.trim();
    if t.is_empty() || t == "0000-00-00" || t == "0000-00-00 00:00:00" {
        return Ok(None);
    }
    let bad = || format!("created {} is not \"Y-m-d H:i:s\" or \"Y-m-d\"", quote(&s));
    if t.len() == 10 {
        let date = parse_date(t).map_err(|_| bad())?;
        notes.push(format!(
            "created {} has no time: taken as 00:00:00",
            quote(t)
        ));
        return Ok(Some(PrimitiveDateTime::new(date, Time::MIDNIGHT)));
    }
    let b = t.as_bytes();
    if b.len() != 19 || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let date = parse_date(&t[..10]).map_err(|_| bad())?;
    let two = |i: usize| -> Option<u8> {
        let (x, y) = (b[i], b[i + 1]);
        (x.is_ascii_digit() && y.is_ascii_digit()).then(|| (x - b'0') * 10 + (y - b'0'))
    };
    let (Some(h), Some(m), Some(sec)) = (two(11), two(14), two(17)) else {
        return Err(bad());
    };
    let time = Time::from_hms(h, m, sec).map_err(|_| bad())?;
    Ok(Some(PrimitiveDateTime::new(date, time)))
}

// ---------------------------------------------------------------------------------------
// Streaming shapes: the document is read straight into these (no Value tree).

/// A visitor for "anything but the expected map": consumes the value, keeps its kind.
macro_rules! other_kinds {
    ($ty:ty, $other:path) => {
        fn visit_bool<E>(self, _: bool) -> Result<$ty, E> {
            Ok($other("a boolean"))
        }
        fn visit_i64<E>(self, _: i64) -> Result<$ty, E> {
            Ok($other("a number"))
        }
        fn visit_u64<E>(self, _: u64) -> Result<$ty, E> {
            Ok($other("a number"))
        }
        fn visit_f64<E>(self, _: f64) -> Result<$ty, E> {
            Ok($other("a number"))
        }
        fn visit_str<E>(self, _: &str) -> Result<$ty, E> {
            Ok($other("a string"))
        }
        fn visit_unit<E>(self) -> Result<$ty, E> {
            Ok($other("null"))
        }
        fn visit_none<E>(self) -> Result<$ty, E> {
            Ok($other("null"))
        }
    };
}

/// The top level of an answer.
enum Document {
    Object(Envelope),
    Other(&'static str),
}

#[derive(Default)]
struct Envelope {
    success: Option<Scalar>,
    error: Option<Scalar>,
    accounts: Option<Accounts>,
    repeated: Option<&'static str>,
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Document;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a ListAccounts answer")
            }
            other_kinds!(Document, Document::Other);
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Document, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Document::Other("a list"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
                let mut env = Envelope::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "success" if env.success.is_none() => env.success = Some(map.next_value()?),
                        "error" if env.error.is_none() => env.error = Some(map.next_value()?),
                        "accounts" if env.accounts.is_none() => {
                            env.accounts = Some(map.next_value()?)
                        }
                        "success" | "error" | "accounts" => {
                            map.next_value::<IgnoredAny>()?;
                            env.repeated.get_or_insert(match key.as_str() {
                                "success" => "success",
                                "error" => "error",
                                _ => "accounts",
                            });
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Document::Object(env))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `accounts` value: its records, or the kind of what it was instead.
enum Accounts {
    Records(Vec<Record>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Accounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Accounts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of accounts")
            }
            other_kinds!(Accounts, Accounts::Other);
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Accounts, A::Error> {
                // Grows as records arrive: a claimed size hint never sizes the buffer.
                let mut v = Vec::new();
                while let Some(r) = seq.next_element::<Record>()? {
                    v.push(r);
                }
                Ok(Accounts::Records(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Accounts, A::Error> {
                // PHP encodes an array with keys (`$accounts[$user] = …`, or a list with gaps
                // after `unset`) as an object: its values are the records, in order.
                let mut v = Vec::new();
                while let Some((_, r)) = map.next_entry::<IgnoredAny, Record>()? {
                    v.push(r);
                }
                Ok(Accounts::Records(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// One element of `accounts`.
enum Record {
    Fields(Box<RawRecord>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an account object")
            }
            other_kinds!(Record, Record::Other);
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Record, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Record::Other("a list"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
                let mut raw = RawRecord::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Known(name) => {
                            let v: Scalar = map.next_value()?;
                            match raw.slot(name) {
                                Some(slot) if slot.is_none() => *slot = Some(v),
                                _ => {
                                    raw.repeated.get_or_insert(name);
                                }
                            }
                        }
                        Key::Secret(name) => {
                            // Dropped unread: the value is never held, stored or shown.
                            map.next_value::<IgnoredAny>()?;
                            if raw.secrets.len() < MAX_SECRET_NAMES && !raw.secrets.contains(&name)
                            {
                                raw.secrets.push(name);
                            }
                        }
                        Key::Miscased(known, given) => {
                            map.next_value::<IgnoredAny>()?;
                            if raw.miscased.len() < KEYS.len() {
                                raw.miscased.push((known, given));
                            }
                        }
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Record::Fields(Box::new(raw)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A record key, classified as it is read (no allocation for the usual keys).
enum Key {
    /// One of [`KEYS`].
    Known(&'static str),
    /// A secret-carrying key (its name, cut).
    Secret(String),
    /// A known key in another case: the known name and the key given (cut).
    Miscased(&'static str, String),
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, key: &str) -> Result<Key, E> {
                if let Some(known) = KEYS.iter().find(|k| **k == key) {
                    return Ok(Key::Known(known));
                }
                if is_secret_key(key) {
                    return Ok(Key::Secret(cut(key, QUOTE_CHARS)));
                }
                Ok(match KEYS.iter().find(|k| k.eq_ignore_ascii_case(key)) {
                    Some(known) => Key::Miscased(known, cut(key, QUOTE_CHARS)),
                    None => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests;
