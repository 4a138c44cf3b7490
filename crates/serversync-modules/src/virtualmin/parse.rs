//! Parsing of remote.cgi's `list-domains` answer (see the [`super`] module docs for the
//! shapes). Pure: bytes in, a [`Listing`] or a [`ModuleError`] out.
//!
//! Records are converted while the JSON is read (no intermediate `serde_json::Value`), and
//! only the keys the listing uses are ever read: every other key — `password`,
//! `hashed_password`, `password_for_mysql`, a failure's `full_error`, … — is skipped by the
//! parser, so secrets never reach memory we keep, a record, a reason or an error.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serversync_core::module::{
    check_field_len, normalize_email, Listing, RemoteAccount, RemoteStatus, SkippedRecord,
};
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::http;
use crate::lenient::Scalar;
use crate::ModuleError;

/// How much of a panel message is shown.
pub(crate) const SNIPPET_CHARS: usize = 200;

/// What a parsed answer gave: the listing, and how many sub-servers and aliases were left out.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) listing: Listing,
    pub(crate) not_top_level: usize,
}

/// Parses one remote.cgi answer body (HTTP status already checked). `secret` (the server's
/// password) is redacted from any panel text that ends up in an error.
///
/// Errors: [`ModuleError::Remote`] for the three failure shapes (plain `ERROR: …`,
/// `{"status": "error", …}`, `{"status": "failure", …}`); [`ModuleError::Malformed`] for an
/// empty, HTML, non-JSON, truncated or wrongly shaped body.
pub(crate) fn parse_listing(body: &[u8], secret: &str) -> Result<Parsed, ModuleError> {
    // JSON::PP passes the bytes of list-domains' output through: a description in Latin-1
    // must not fail the whole listing. A record whose *used* fields hold an invalid sequence
    // is skipped instead (see `convert`).
    let (text, lossy): (Cow<'_, str>, bool) = match std::str::from_utf8(body) {
        Ok(s) => (Cow::Borrowed(s), false),
        Err(_) => (String::from_utf8_lossy(body), true),
    };
    let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if trimmed.is_empty() {
        return Err(ModuleError::Malformed("the response is empty".into()));
    }
    if let Some(rest) = trimmed.strip_prefix("ERROR:") {
        // remote.cgi's refusal before the output format is known (e.g. "You are not allowed
        // to run remote commands": the login is not the master admin).
        let msg = panel_text(first_line(rest), secret);
        return Err(ModuleError::Remote(if msg.is_empty() {
            "remote.cgi refused the request without a reason".into()
        } else {
            msg
        }));
    }
    if !trimmed.starts_with('{') {
        let what = if trimmed.starts_with('<') {
            "an HTML page (a login or error page? check the port, HTTPS and that the user may \
             log in with HTTP Basic authentication)"
        } else {
            "text"
        };
        return Err(ModuleError::Malformed(format!(
            "remote.cgi answered {what}, not JSON: {}",
            panel_text(first_line(trimmed), secret)
        )));
    }
    let mut de = serde_json::Deserializer::from_str(trimmed);
    let env = EnvelopeSeed { lossy }
        .deserialize(&mut de)
        .and_then(|env| de.end().map(|()| env))
        .map_err(json_error)?;

    let status = match env.status.clone().into_text() {
        Ok(Some(s)) => s.trim().to_ascii_lowercase(),
        _ => String::new(),
    };
    let error = || match env.error.clone().into_text() {
        Ok(Some(e)) if !e.trim().is_empty() => panel_text(&e, secret),
        _ => "no error message given".to_string(),
    };
    match status.as_str() {
        "success" => match env.data {
            Some(DataOutcome::Entries(parsed)) => Ok(parsed),
            Some(DataOutcome::Other(kind)) => Err(ModuleError::Malformed(format!(
                "data is {kind}, expected the list of virtual servers"
            ))),
            None => Err(ModuleError::Malformed(
                "data is missing: remote.cgi did not parse the output (was --multiline \
                 given?)"
                    .into(),
            )),
        },
        // The command ran and failed: `error` is its first non-blank line (`full_error`,
        // the whole output, is never read: it can hold list-domains output with secrets).
        "failure" => Err(ModuleError::Remote(format!(
            "list-domains failed: {}",
            error()
        ))),
        // remote.cgi refused the request once the format was known.
        "error" => Err(ModuleError::Remote(error())),
        _ => Err(ModuleError::Malformed(format!(
            "status is {}, expected \"success\", \"failure\" or \"error\"",
            env.status.describe()
        ))),
    }
}

/// Panel-supplied text made safe to show: one line of at most [`SNIPPET_CHARS`] characters,
/// the server's password redacted, and anything after a `pass…:`/`pass…=` label withheld
/// (Virtualmin output can carry `Password:` and `Password for mysql:` lines).
pub(crate) fn panel_text(s: &str, secret: &str) -> String {
    let line = http::one_line(s, SNIPPET_CHARS, secret);
    let lower = line.to_ascii_lowercase();
    let Some(at) = lower.find("pass") else {
        return line;
    };
    match lower[at..].find([':', '=']) {
        Some(sep) => format!("{} [withheld]", &line[..at + sep + 1]),
        None => line,
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn json_error(e: serde_json::Error) -> ModuleError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => ModuleError::Malformed(format!(
            "the response body is truncated (JSON ends early at line {} column {})",
            e.line(),
            e.column()
        )),
        // serde_json's syntax messages name the position and the expected token, never
        // content.
        Category::Syntax | Category::Io => {
            ModuleError::Malformed(format!("the response is not valid JSON ({e})"))
        }
        Category::Data => ModuleError::Malformed(format!(
            "the response does not have remote.cgi's JSON shape ({})",
            without_quoted(&e.to_string())
        )),
    }
}

/// A serde message with quoted values elided (they could be anything the panel sent).
fn without_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(300));
    let mut inside = false;
    for c in s.chars().take(300) {
        if c == '"' {
            if !inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Records

/// One top-level server → a remote account; `Ok(None)` for a sub-server or alias (part of
/// its top-level server's account, not an account of its own); `Err` with the reason for a
/// record that breaks the documented shape.
fn convert(name: Scalar, raw: RawDomain, lossy: bool) -> Result<Option<RemoteAccount>, String> {
    let mut notes = Vec::new();
    let n = &mut notes;
    // The type first: a sub-server or alias is left out whatever else it holds.
    match raw.kind.text("type", n)?.as_deref().map(str::trim) {
        Some("Top-level server") => {
            // Aliases have real_domain and no parent_domain: check both, so an entry that
            // contradicts its type is reported rather than listed as an account.
            for (field, v) in [
                ("parent_domain", &raw.parent_domain),
                ("real_domain", &raw.real_domain),
            ] {
                if v.has_text() {
                    return Err(format!("type is \"Top-level server\" but it has a {field}"));
                }
            }
        }
        Some("Sub-server" | "Alias" | "Alias with own email") => return Ok(None),
        Some(other) => {
            return Err(format!(
                "type {:?} is not a Virtualmin server type (Top-level server, Sub-server, \
                 Alias, Alias with own email)",
                http::one_line(other, 60, "")
            ))
        }
        None => {
            if raw.parent_domain.has_text() || raw.real_domain.has_text() {
                return Ok(None);
            }
            return Err("type is missing: it cannot be told from a sub-server or an alias".into());
        }
    }

    let domain = match name.into_text_named("name")? {
        Some(d) if !d.trim().is_empty() => d.trim().to_string(),
        Some(_) => return Err("name (the domain) is empty".into()),
        None => return Err("name (the domain) is missing".into()),
    };
    let username = match raw.username.text("username", n)? {
        Some(u) if !u.trim().is_empty() => u.trim().to_string(),
        Some(_) => return Err("username is empty".into()),
        None => return Err("username is missing".into()),
    };
    let email = raw
        .contact_email
        .text("contact_email", n)?
        .map(|e| {
            // Checked before normalising, so an over-long address skips the record.
            check_field_len("email", e.trim()).map(|()| normalize_email(&e))
        })
        .transpose()?
        .flatten();
    let product = raw
        .plan
        .text("plan", n)?
        .map(|p| p.trim().to_string())
        .unwrap_or_default();
    // `disabled` exists only for a disabled server; its value is the reason.
    let (status, status_detail) = match raw.disabled {
        Multi::Missing => (RemoteStatus::Active, None),
        Multi::Null => {
            return Err("disabled is null (Virtualmin sends it only with a reason)".into())
        }
        other => {
            let why = other
                .text("disabled", n)?
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty());
            (RemoteStatus::Suspended, why)
        }
    };
    let created = created(raw.created_unix_time, n)?;
    let primary_ip = match ip(raw.ip_address.text("ip_address", n)?, "ip_address")? {
        Some(v4) => v4,
        None => ip(raw.ipv6_address.text("ipv6_address", n)?, "ipv6_address")?.unwrap_or_default(),
    };
    let owner = raw
        .reseller
        .text("reseller", n)?
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|r| !r.is_empty());
    if lossy {
        let fields = [
            ("name", Some(domain.as_str())),
            ("username", Some(username.as_str())),
            ("contact_email", email.as_deref()),
            ("plan", Some(product.as_str())),
            ("reseller", owner.as_deref()),
        ];
        if let Some((field, _)) = fields
            .iter()
            .find(|(_, v)| v.is_some_and(|v| v.contains('\u{FFFD}')))
        {
            return Err(format!("{field} is not valid UTF-8"));
        }
    }
    Ok(Some(RemoteAccount {
        email,
        unique_identifier: domain.clone(),
        username,
        domain,
        product,
        primary_ip,
        created,
        status,
        owner,
        status_detail,
        notes,
    }))
}

/// `created_unix_time` (epoch seconds as a string, UTC). Missing (Virtualmin before 2016),
/// empty or `0` → `None`: `created_on` is never read, as its form follows the panel's locale
/// settings.
fn created(v: Multi, notes: &mut Vec<String>) -> Result<Option<PrimitiveDateTime>, String> {
    let Some(text) = v.text("created_unix_time", notes)? else {
        return Ok(None);
    };
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let secs: i64 = t.parse().map_err(|_| {
        format!(
            "created_unix_time {:?} is not a time in epoch seconds",
            http::one_line(t, 40, "")
        )
    })?;
    if secs == 0 {
        return Ok(None);
    }
    if secs < 0 {
        return Err(format!("created_unix_time {secs} is before 1970"));
    }
    let at = OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| format!("created_unix_time {secs} is out of range"))?;
    Ok(Some(PrimitiveDateTime::new(at.date(), at.time())))
}

/// An address with list-domains' annotation removed: `198.51.100.7 (Shared)`, `… (On
/// eth0)`, `… (Private)` → `198.51.100.7`. Empty → `None`; anything that is not an address
/// with an optional `(note)` is reported.
fn ip(v: Option<String>, field: &str) -> Result<Option<String>, String> {
    let Some(raw) = v else { return Ok(None) };
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let (addr, note) = match t.find(|c: char| c.is_whitespace() || c == '(') {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, ""),
    };
    let bad = || {
        format!(
            "{field} {:?} is not an IP address with an optional (note)",
            http::one_line(t, 60, "")
        )
    };
    let annotated = note.starts_with('(') && note.ends_with(')');
    if !(note.is_empty() || annotated) {
        return Err(bad());
    }
    addr.parse::<std::net::IpAddr>().map_err(|_| bad())?;
    Ok(Some(addr.to_string()))
}

// ---------------------------------------------------------------------------------------
// Tolerant wire types. The envelope decides success or failure; an entry that is not a
// server object, or a field of an unexpected type, becomes a skipped record instead.

struct Envelope {
    status: Scalar,
    error: Scalar,
    data: Option<DataOutcome>,
}

enum DataOutcome {
    Entries(Parsed),
    Other(&'static str),
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum EnvField {
    Status,
    Error,
    Data,
    #[serde(other)]
    Other,
}

struct EnvelopeSeed {
    lossy: bool,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed {
    type Value = Envelope;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Envelope, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed {
    type Value = Envelope;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("remote.cgi's JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let mut env = Envelope {
            status: Scalar::Missing,
            error: Scalar::Missing,
            data: None,
        };
        // Perl hash order: the keys may come in any order.
        while let Some(k) = map.next_key::<EnvField>()? {
            match k {
                EnvField::Status => env.status = map.next_value()?,
                EnvField::Error => env.error = map.next_value()?,
                EnvField::Data => {
                    if env.data.is_some() {
                        return Err(serde::de::Error::duplicate_field("data"));
                    }
                    env.data = Some(map.next_value_seed(DataSeed { lossy: self.lossy })?);
                }
                EnvField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(env)
    }
}

/// `data`: each entry converted as it is read.
struct DataSeed {
    lossy: bool,
}

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = DataOutcome;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<DataOutcome, D::Error> {
        d.deserialize_any(self)
    }
}

/// Implements the visitor methods for every JSON kind except the wanted one(s), answering
/// `$other(kind)` and consuming the value.
macro_rules! other_kinds {
    ($other:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other("a boolean"))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other("a number"))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other("a number"))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other("a number"))
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other("a string"))
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($other("null"))
        }
    };
}

impl<'de> Visitor<'de> for DataSeed {
    type Value = DataOutcome;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the list of virtual servers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DataOutcome, A::Error> {
        let mut listing = Listing {
            accounts: Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16)),
            skipped: Vec::new(),
        };
        let mut not_top_level = 0;
        let mut index = 0;
        while let Some(entry) = seq.next_element::<Entry>()? {
            let skip = |listing: &mut Listing, identifier: Option<String>, reason: String| {
                listing.skipped.push(SkippedRecord {
                    index,
                    identifier,
                    reason,
                })
            };
            match entry {
                Entry::Other(kind) => skip(
                    &mut listing,
                    None,
                    format!("entry is {kind}, not a virtual server object"),
                ),
                Entry::Object {
                    name,
                    values,
                    has_value,
                } => {
                    let identifier = identifier(&name, &values);
                    match values {
                        ValuesSlot::Object(raw) => match convert(name, *raw, self.lossy) {
                            Ok(Some(acc)) => listing.accounts.push(acc),
                            Ok(None) => not_top_level += 1,
                            Err(reason) => skip(&mut listing, identifier, reason),
                        },
                        // json-lib.pl turns a `Key: value` line before the first server into
                        // {"name", "value"}: stray output (a warning?), not a server — but it
                        // could hide one, so it is reported.
                        ValuesSlot::Missing if has_value => skip(
                            &mut listing,
                            identifier,
                            "a `Key: value` line of list-domains' output, not a virtual \
                             server"
                                .into(),
                        ),
                        ValuesSlot::Missing => {
                            skip(&mut listing, identifier, "values is missing".into())
                        }
                        ValuesSlot::Other(kind) => skip(
                            &mut listing,
                            identifier,
                            format!("values is {kind}, not an object"),
                        ),
                    }
                }
            }
            index += 1;
        }
        Ok(DataOutcome::Entries(Parsed {
            listing,
            not_top_level,
        }))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DataOutcome, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(DataOutcome::Other("an object"))
    }
    other_kinds!(DataOutcome::Other);
}

/// The entry's domain, else its username, for a skipped record (never another value).
fn identifier(name: &Scalar, values: &ValuesSlot) -> Option<String> {
    let from = |s: &Scalar| match s {
        Scalar::Str(t) if !t.trim().is_empty() => Some(http::one_line(t, 60, "")),
        _ => None,
    };
    from(name).or_else(|| match values {
        ValuesSlot::Object(raw) => match &raw.username {
            Multi::One(s) => from(s),
            Multi::List { first, .. } => first.first().and_then(from),
            _ => None,
        },
        _ => None,
    })
}

/// One element of `data`.
enum Entry {
    Object {
        name: Scalar,
        values: ValuesSlot,
        /// The entry has a `value` key (a top-level `Key: value` line).
        has_value: bool,
    },
    Other(&'static str),
}

enum ValuesSlot {
    Missing,
    Object(Box<RawDomain>),
    Other(&'static str),
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum EntryField {
    Name,
    Values,
    Value,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a virtual server object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let (mut name, mut values, mut has_value) =
                    (Scalar::Missing, ValuesSlot::Missing, false);
                while let Some(k) = map.next_key::<EntryField>()? {
                    match k {
                        EntryField::Name => name = map.next_value()?,
                        EntryField::Values => values = map.next_value()?,
                        EntryField::Value => {
                            has_value = true;
                            map.next_value::<IgnoredAny>()?;
                        }
                        EntryField::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Entry::Object {
                    name,
                    values,
                    has_value,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Entry::Other("a list"))
            }
            other_kinds!(Entry::Other);
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for ValuesSlot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValuesSlot;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the values object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValuesSlot, A::Error> {
                let mut r = RawDomain::default();
                while let Some(k) = map.next_key::<DomainField>()? {
                    let field = match k {
                        DomainField::Type => &mut r.kind,
                        DomainField::ParentDomain => &mut r.parent_domain,
                        DomainField::RealDomain => &mut r.real_domain,
                        DomainField::Username => &mut r.username,
                        DomainField::ContactEmail => &mut r.contact_email,
                        DomainField::Plan => &mut r.plan,
                        DomainField::CreatedUnixTime => &mut r.created_unix_time,
                        DomainField::Disabled => &mut r.disabled,
                        DomainField::IpAddress => &mut r.ip_address,
                        DomainField::Ipv6Address => &mut r.ipv6_address,
                        DomainField::Reseller => &mut r.reseller,
                        // Secrets and everything else: skipped unread.
                        DomainField::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *field = map.next_value::<Multi>()?;
                }
                Ok(ValuesSlot::Object(Box::new(r)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValuesSlot, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ValuesSlot::Other("a list"))
            }
            other_kinds!(ValuesSlot::Other);
        }
        d.deserialize_any(V)
    }
}

/// The list-domains keys the listing uses, each kept as it came.
#[derive(Default)]
struct RawDomain {
    kind: Multi,
    parent_domain: Multi,
    real_domain: Multi,
    username: Multi,
    contact_email: Multi,
    plan: Multi,
    created_unix_time: Multi,
    disabled: Multi,
    ip_address: Multi,
    ipv6_address: Multi,
    reseller: Multi,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum DomainField {
    Type,
    ParentDomain,
    RealDomain,
    Username,
    ContactEmail,
    Plan,
    CreatedUnixTime,
    Disabled,
    IpAddress,
    Ipv6Address,
    Reseller,
    #[serde(other)]
    Other,
}

/// Most elements of one value kept (json-lib.pl appends a repeated label to the array; the
/// keys used here are printed once, so more than one distinct element is reported).
const KEPT_ELEMENTS: usize = 4;

/// A `values` entry: documented as an array of strings; a bare scalar is tolerated.
#[derive(Debug, Default)]
enum Multi {
    #[default]
    Missing,
    Null,
    One(Scalar),
    List {
        first: Vec<Scalar>,
        len: usize,
    },
    Object,
}

impl Multi {
    /// The value as text: one element (or several equal ones); an empty array or null is
    /// none; several different elements, an object, a nested list or a boolean are reported.
    /// What is accepted leniently (a bare value instead of a list, a repeated value, a number
    /// read as text) is added to `notes`.
    fn text(self, name: &str, notes: &mut Vec<String>) -> Result<Option<String>, String> {
        let number = |s: &Scalar| matches!(s, Scalar::Int(_) | Scalar::UInt(_));
        match self {
            Multi::Missing | Multi::Null => Ok(None),
            Multi::One(s) => {
                let note = if number(&s) {
                    format!("{name} was a bare number, not a list of strings")
                } else {
                    format!("{name} was a bare value, not a list of strings")
                };
                let t = s.into_text_named(name)?;
                notes.push(note);
                Ok(t)
            }
            Multi::List { first, len } => {
                let numbers = first.iter().any(number);
                let mut texts = first
                    .into_iter()
                    .map(|s| s.into_text_named(name))
                    .collect::<Result<Vec<_>, _>>()?;
                let t = match len {
                    0 => return Ok(None),
                    1 => texts.pop().flatten(),
                    _ if len <= KEPT_ELEMENTS && texts.windows(2).all(|w| w[0] == w[1]) => {
                        notes.push(format!("{name} was listed {len} times"));
                        texts.pop().flatten()
                    }
                    _ => return Err(format!("{name} has {len} different values, expected one")),
                };
                if numbers {
                    notes.push(format!("{name} was a number, read as text"));
                }
                Ok(t)
            }
            Multi::Object => Err(format!("{name} is an object, not a list of strings")),
        }
    }

    /// Whether the value holds any non-blank text (or something that is not text at all).
    fn has_text(&self) -> bool {
        let blank = |s: &Scalar| match s {
            Scalar::Missing | Scalar::Null => true,
            Scalar::Str(t) => t.trim().is_empty(),
            _ => false,
        };
        match self {
            Multi::Missing | Multi::Null => false,
            Multi::One(s) => !blank(s),
            Multi::List { first, len } => *len > first.len() || !first.iter().all(blank),
            Multi::Object => true,
        }
    }
}

impl<'de> Deserialize<'de> for Multi {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Multi;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Multi, A::Error> {
                let mut first = Vec::new();
                let mut len = 0usize;
                while let Some(s) = seq.next_element::<Scalar>()? {
                    if first.len() < KEPT_ELEMENTS {
                        first.push(s);
                    }
                    len += 1;
                }
                Ok(Multi::List { first, len })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Multi, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Multi::Object)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Multi, E> {
                Ok(Multi::One(Scalar::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Multi, E> {
                Ok(Multi::One(Scalar::Int(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Multi, E> {
                Ok(Multi::One(Scalar::UInt(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Multi, E> {
                Ok(Multi::One(Scalar::Float(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Multi, E> {
                Ok(Multi::One(Scalar::Str(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Multi, E> {
                Ok(Multi::One(Scalar::Str(v)))
            }
            fn visit_unit<E>(self) -> Result<Multi, E> {
                Ok(Multi::Null)
            }
        }
        d.deserialize_any(V)
    }
}
