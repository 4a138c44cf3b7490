//! Reading HestiaCP's `v-list-users json` and `v-list-web-domains USER json` answers.
//!
//! Both are written by shell templates (`bin/v-list-users`, `bin/v-list-web-domains` in
//! hestiacp/hestiacp; `/work/shared/reference/panel-apis-verified.md` "HestiaCP (B.5)"): one
//! JSON object keyed by user name (or domain) whose values are flat objects of string values,
//! one `"KEY": "VALUE"` per line, **nothing escaped**. A `"` or `\` inside a value (a `NAME`
//! from old or restored data) therefore breaks the document as a whole:
//!
//! ```text
//! {
//!     "ann": {
//!         "NAME": "Ann Example",
//!         "PACKAGE": "default",
//!         "SUSPENDED": "no",
//!         "TIME": "10:11:12",
//!         "DATE": "2023-05-01"
//!         },
//!     "bob": {
//!         "NAME": "Bob "the builder"",
//!         ...
//!         }}
//! ```
//!
//! [`parse_users`] reads the document strictly first; when that fails it recovers every user
//! object separately ([`recover_users`]), at the `"NAME": {` lines the template writes at the
//! start of each user, so that one broken user becomes one [`UserEntry::Broken`] with its
//! reason and every other user is kept. A document containing a `\` anywhere takes the
//! per-user path too: Hestia never escapes, so `\n` in a value is a backslash and an `n`,
//! and a strict reader would silently read it as a new line.
//!
//! Only the keys serversync uses are kept ([`UserFields`]); `RKEY`, `TWOFA`, `QRCODE` and
//! every other key are skipped unread, so no secret is ever held or quoted. Reasons never
//! quote a user object's content either (it may hold a secret): they name the user, the line
//! and column and what was wrong.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::lenient::Scalar;

/// Most users one `v-list-users` answer may hold.
pub(crate) const MAX_USERS: usize = 1_000_000;

/// Longest user name kept (Linux's own limit is 32).
pub(crate) const MAX_USER_NAME: usize = 64;

/// Domain names kept per user besides the first (for the account's note); the rest are
/// counted only.
pub(crate) const MAX_OTHER_DOMAINS: usize = 5;

/// The `v-list-users` keys serversync reads; every other key (secrets included) is skipped
/// unread. A key that is missing is [`Scalar::Missing`].
#[derive(Debug, Default, Deserialize, PartialEq)]
pub(crate) struct UserFields {
    #[serde(rename = "PACKAGE", default)]
    pub(crate) package: Scalar,
    #[serde(rename = "CONTACT", default)]
    pub(crate) contact: Scalar,
    #[serde(rename = "SUSPENDED", default)]
    pub(crate) suspended: Scalar,
    /// `admin` or `user` since Hestia 1.9.
    #[serde(rename = "ROLE", default)]
    pub(crate) role: Scalar,
    /// `YYYY-MM-DD`, server local time.
    #[serde(rename = "DATE", default)]
    pub(crate) date: Scalar,
    /// `HH:MM:SS`, server local time.
    #[serde(rename = "TIME", default)]
    pub(crate) time: Scalar,
}

/// One user object of the `v-list-users` document, in document order.
#[derive(Debug, PartialEq)]
pub(crate) enum UserEntry {
    /// A readable user object.
    User { name: String, fields: UserFields },
    /// A user object that could not be read: the user's name when its key line could be
    /// read, and why.
    Broken {
        name: Option<String>,
        reason: String,
    },
}

/// Why a whole answer is refused (a failed listing, never an empty one).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DocError(pub(crate) String);

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a `v-list-users json` answer: every user object in document order.
///
/// Errors (the whole answer): not a JSON object at all, cut short (no closing `}`), no user
/// boundary that the per-user recovery can find, more than [`MAX_USERS`] users.
pub(crate) fn parse_users(body: &[u8]) -> Result<Vec<UserEntry>, DocError> {
    let body = body.trim_ascii();
    if body.first() != Some(&b'{') {
        return Err(DocError(
            "v-list-users did not answer with a JSON object".into(),
        ));
    }
    if !body.contains(&b'\\') {
        let mut de = serde_json::Deserializer::from_slice(body);
        if let Ok(users) = (OrderedMap::<UserFields>::new(MAX_USERS)).deserialize(&mut de) {
            // Valid JSON can still be a broken template: a value such as
            // `x"}, "evil": {"PACKAGE": "gold` makes one user two. The users must be those
            // of the template's boundary lines (when it has any), else each is read alone.
            if de.end().is_ok() && same_users(body, &users) {
                return Ok(users
                    .into_iter()
                    .map(|(name, fields)| UserEntry::User { name, fields })
                    .collect());
            }
        }
    }
    recover_users(body)
}

/// Whether `users` are, in order, the users of the boundary lines of `body` (or `body` has
/// no boundary line at all: compact JSON, not Hestia's template).
fn same_users(body: &[u8], users: &[(String, UserFields)]) -> bool {
    let mut lines = body.split(|b| *b == b'\n').filter_map(boundary).peekable();
    if lines.peek().is_none() {
        return true;
    }
    let mut n = 0;
    for line in lines {
        match (line, users.get(n)) {
            (Some(name), Some((u, _))) if name == u.trim() => n += 1,
            _ => return false,
        }
    }
    n == users.len()
}

/// The per-user recovery of a document that is not valid JSON as a whole.
///
/// Boundaries are the lines `"NAME": {` (a quoted key, `:`, `{`, nothing else), which
/// Hestia's template writes at the start of each user object and which no value line can
/// look like (a value line ends with its closing `"`, and Hestia turns new lines in values
/// into spaces). The text from one boundary to the next, without its trailing `,` — and,
/// for the last user, without the document's closing `}` — is one user object, read on its
/// own. One that holds a `\` or does not read is a [`UserEntry::Broken`].
fn recover_users(body: &[u8]) -> Result<Vec<UserEntry>, DocError> {
    // The document's closing brace: a cut-off answer fails, it is never a shorter list.
    let Some(inner) = body
        .strip_prefix(b"{")
        .and_then(|b| b.trim_ascii_end().strip_suffix(b"}"))
    else {
        return Err(DocError(
            "v-list-users answered a JSON object that ends before its closing `}`".into(),
        ));
    };
    let mut starts: Vec<(usize, usize, Option<String>)> = Vec::new();
    let mut offset = 0;
    for line in inner.split_inclusive(|b| *b == b'\n') {
        if let Some(name) = boundary(line) {
            if starts.len() == MAX_USERS {
                return Err(DocError(format!(
                    "v-list-users lists more than {MAX_USERS} users"
                )));
            }
            // The object starts at the line's `{`.
            let brace = line.iter().rposition(|b| *b == b'{').unwrap_or(0);
            starts.push((offset, offset + brace, name));
        }
        offset += line.len();
    }
    let Some(first) = starts.first() else {
        return Err(DocError(
            "v-list-users answered JSON that cannot be read, and no user object could be \
             found in it (one `\"USER\": {` line per user is expected)"
                .into(),
        ));
    };
    if !inner[..first.0].trim_ascii().is_empty() {
        return Err(DocError(
            "v-list-users answered JSON with text before its first user object".into(),
        ));
    }
    let mut out = Vec::with_capacity(starts.len());
    for (i, (_, object_start, name)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(inner.len(), |next| next.0);
        let mut chunk = inner[*object_start..end].trim_ascii_end();
        if let Some(c) = chunk.strip_suffix(b",") {
            chunk = c.trim_ascii_end();
        }
        let Some(name) = name.clone() else {
            out.push(UserEntry::Broken {
                name: None,
                reason: "the user name of this v-list-users object cannot be read".into(),
            });
            continue;
        };
        out.push(read_user(&name, chunk));
    }
    Ok(out)
}

/// One user object on its own.
fn read_user(name: &str, chunk: &[u8]) -> UserEntry {
    let broken = |reason: String| UserEntry::Broken {
        name: Some(name.to_string()),
        reason,
    };
    if let Some(line) = line_of(chunk, b'\\') {
        return broken(format!(
            "the v-list-users object of this user holds a `\\` (line {line} of the object), \
             which Hestia does not escape: its values cannot be read reliably"
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(chunk);
    match UserFields::deserialize(&mut de).and_then(|f| de.end().map(|()| f)) {
        Ok(fields) => UserEntry::User {
            name: name.to_string(),
            fields,
        },
        Err(e) => broken(format!(
            "the v-list-users object of this user is not valid JSON (line {}, column {} of \
             the object; a `\"` inside a value, which Hestia does not escape?)",
            e.line(),
            e.column()
        )),
    }
}

/// 1-based line of the first `byte` in `chunk`.
fn line_of(chunk: &[u8], byte: u8) -> Option<usize> {
    let at = chunk.iter().position(|b| *b == byte)?;
    Some(1 + chunk[..at].iter().filter(|b| **b == b'\n').count())
}

/// Whether `line` is a user boundary `"NAME": {`: `Some(Some(name))`, or `Some(None)` when
/// the name is not usable text (not UTF-8, empty, too long).
fn boundary(line: &[u8]) -> Option<Option<String>> {
    let t = line.trim_ascii();
    let rest = t.strip_prefix(b"\"")?;
    let close = rest.iter().position(|b| *b == b'"')?;
    let (key, after) = (&rest[..close], &rest[close + 1..]);
    let after = after.trim_ascii_start().strip_prefix(b":")?;
    if after.trim_ascii() != b"{" {
        return None;
    }
    Some(
        std::str::from_utf8(key)
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= MAX_USER_NAME)
            .map(str::to_string),
    )
}

/// One web domain of `v-list-web-domains USER json`.
#[derive(Debug, Default, Deserialize, PartialEq)]
pub(crate) struct DomainFields {
    #[serde(rename = "IP", default)]
    pub(crate) ip: Scalar,
}

/// A user's web domains, in creation order (the order of `web.conf`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct WebDomains {
    /// The first web domain and its fields.
    pub(crate) first: Option<(String, DomainFields)>,
    /// The next few domain names ([`MAX_OTHER_DOMAINS`]).
    pub(crate) others: Vec<String>,
    /// How many domains there are besides the first.
    pub(crate) other_count: usize,
}

/// Reads a `v-list-web-domains USER json` answer (`{` `}` for a user without web domains).
/// Errors: the reason the answer cannot be read (the user's record is then skipped).
pub(crate) fn parse_web_domains(body: &[u8]) -> Result<WebDomains, String> {
    let body = body.trim_ascii();
    if body.first() != Some(&b'{') {
        return Err("v-list-web-domains did not answer with a JSON object".into());
    }
    if let Some(line) = line_of(body, b'\\') {
        return Err(format!(
            "v-list-web-domains answered a `\\` (line {line}), which Hestia does not escape"
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let seed = DomainsSeed;
    match seed.deserialize(&mut de).and_then(|d| de.end().map(|()| d)) {
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "v-list-web-domains answered JSON that cannot be read (line {}, column {})",
            e.line(),
            e.column()
        )),
    }
}

/// An object read as `(key, value)` pairs in document order (serde_json's own map is
/// sorted), at most `max` of them.
struct OrderedMap<T> {
    max: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T> OrderedMap<T> {
    fn new(max: usize) -> Self {
        OrderedMap {
            max,
            _t: std::marker::PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for OrderedMap<T> {
    type Value = Vec<(String, T)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedMap<T> {
    type Value = Vec<(String, T)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of user objects")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.len() == self.max {
                return Err(serde::de::Error::custom(format!(
                    "more than {} entries",
                    self.max
                )));
            }
            out.push((key, map.next_value::<T>()?));
        }
        Ok(out)
    }
}

/// Reads the web domains object keeping the first domain's fields and a few names.
struct DomainsSeed;

impl<'de> DeserializeSeed<'de> for DomainsSeed {
    type Value = WebDomains;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<WebDomains, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DomainsSeed {
    type Value = WebDomains;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of web domain objects")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WebDomains, A::Error> {
        let mut out = WebDomains::default();
        while let Some(key) = map.next_key::<String>()? {
            if out.first.is_none() {
                out.first = Some((key, map.next_value::<DomainFields>()?));
                continue;
            }
            map.next_value::<IgnoredAny>()?;
            out.other_count += 1;
            if out.others.len() < MAX_OTHER_DOMAINS {
                out.others.push(key);
            }
        }
        Ok(out)
    }
}
