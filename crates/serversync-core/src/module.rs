//! The module contract: meta data, server parameters, remote accounts, listings, and the
//! WHMCS wire form of `ListAccounts`.
//!
//! The wire form follows WHMCS' Server Sync module documentation (WHMCS 7.8+): a module's
//! `ListAccounts` returns `{"success": true, "accounts": [...]}` or
//! `{"success": false, "error": "..."}`; each account has `email`, `username`, `domain`,
//! `uniqueIdentifier`, `product`, `primaryip`, `created` (`Y-m-d H:i:s`) and `status`
//! (`Active` | `Suspended`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;

use crate::model::{Secret, Server, ServerId};
use crate::CoreError;

mod scalar;
mod wire;
pub use scalar::Scalar;
pub use wire::{is_secret_key, parse_wire, to_wire, WireError, MAX_ERROR_CHARS};

/// `Y-m-d H:i:s`, the wire form's `created` format.
pub const CREATED_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// Which service field a remote account's unique identifier is compared with
/// (`ListAccountsUniqueIdentifierField`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UniqueIdField {
    /// `domain` (the default).
    Domain,
    /// `username`.
    Username,
    /// `customfield.<Name>`: the service's custom field `<Name>`.
    CustomField(String),
}

impl UniqueIdField {
    /// The meta data spelling: `domain`, `username` or `customfield.<Name>`.
    pub fn as_meta(&self) -> String {
        match self {
            UniqueIdField::Domain => "domain".into(),
            UniqueIdField::Username => "username".into(),
            UniqueIdField::CustomField(n) => format!("customfield.{n}"),
        }
    }
}

impl FromStr for UniqueIdField {
    type Err = CoreError;
    /// Errors on anything but `domain`, `username` or `customfield.<non-empty name>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "domain" => Ok(UniqueIdField::Domain),
            "username" => Ok(UniqueIdField::Username),
            _ => match s.strip_prefix("customfield.") {
                Some(name) if !name.trim().is_empty() => {
                    Ok(UniqueIdField::CustomField(name.to_string()))
                }
                _ => Err(CoreError::Invalid(format!(
                    "ListAccountsUniqueIdentifierField {s:?} is not domain, username or customfield.<Name>"
                ))),
            },
        }
    }
}

/// A module's meta data (WHMCS `<module>_MetaData()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaData {
    /// `DisplayName`, e.g. `cPanel`.
    pub display_name: String,
    /// `ListAccountsUniqueIdentifierDisplayName`, column heading (default `Domain`).
    pub unique_identifier_display_name: String,
    /// `ListAccountsUniqueIdentifierField` (default `domain`).
    pub unique_identifier_field: UniqueIdField,
    /// `ListAccountsProductField`: `configoption1`..`configoption24`.
    pub product_field: String,
    /// `DefaultSSLPort`.
    pub default_secure_port: u16,
    /// `DefaultNonSSLPort`.
    pub default_plain_port: u16,
}

impl MetaData {
    /// Checks the product field is `configoption1`..`configoption24`.
    pub fn validate(&self) -> Result<(), CoreError> {
        let ok = self
            .product_field
            .strip_prefix("configoption")
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|n| (1..=24).contains(&n));
        if ok {
            Ok(())
        } else {
            Err(CoreError::Invalid(format!(
                "ListAccountsProductField {:?} is not configoption1..configoption24",
                self.product_field
            )))
        }
    }
}

/// What a module gets to list a server: the server's fields only, never service or product
/// fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerParams {
    pub server_id: ServerId,
    pub ip: String,
    pub hostname: String,
    pub username: String,
    pub password: Secret,
    pub access_hash: Secret,
    /// HTTPS when true.
    pub secure: bool,
    /// Verify TLS certificates (default on).
    pub tls_verify: bool,
    /// Explicit port, else the module default for `secure`.
    pub port: Option<u16>,
}

impl ServerParams {
    /// The parameters a module gets for `server`.
    pub fn from_server(server: &Server) -> Self {
        ServerParams {
            server_id: server.id,
            ip: server.ip_address.clone(),
            hostname: server.hostname.clone(),
            username: server.username.clone(),
            password: server.password.clone(),
            access_hash: server.access_hash.clone(),
            secure: server.secure,
            tls_verify: server.tls_verify,
            port: server.port,
        }
    }

    /// `http` or `https`.
    pub fn http_prefix(&self) -> &'static str {
        if self.secure {
            "https"
        } else {
            "http"
        }
    }

    /// Host to connect to: the hostname, else the IP.
    pub fn host(&self) -> &str {
        if self.hostname.trim().is_empty() {
            self.ip.trim()
        } else {
            self.hostname.trim()
        }
    }

    /// `scheme://host:port` using `meta`'s default ports when no port is set.
    pub fn base_url(&self, meta: &MetaData) -> String {
        let port = self.port.unwrap_or(if self.secure {
            meta.default_secure_port
        } else {
            meta.default_plain_port
        });
        let host = self.host();
        // A bare IPv6 address needs brackets in a URL.
        if host.contains(':') && !host.starts_with('[') {
            format!("{}://[{}]:{}", self.http_prefix(), host, port)
        } else {
            format!("{}://{}:{}", self.http_prefix(), host, port)
        }
    }
}

/// Status of a remote account: the wire form knows only these two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RemoteStatus {
    Active,
    Suspended,
}

impl RemoteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RemoteStatus::Active => "Active",
            RemoteStatus::Suspended => "Suspended",
        }
    }
}

impl fmt::Display for RemoteStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One account as a module lists it.
///
/// Serialises to the wire form object plus `owner` (and `status_detail`, `notes` when set):
/// `{"email", "username", "domain", "uniqueIdentifier", "product", "primaryip",
/// "created": "Y-m-d H:i:s" | null, "status": "Active"|"Suspended", "owner"}`. An empty
/// `username`, `domain`, `product` or `primaryip` means the module gave none: it is shown
/// empty and never compared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteAccount {
    /// Contact e-mail; `None` for placeholders (`*unknown*`) and empty values.
    pub email: Option<String>,
    pub username: String,
    pub domain: String,
    #[serde(rename = "uniqueIdentifier")]
    pub unique_identifier: String,
    /// Remote package / plan name, raw (reseller prefix kept).
    pub product: String,
    #[serde(rename = "primaryip")]
    pub primary_ip: String,
    /// Creation time; `None` when the panel gives none or zero (never invented).
    #[serde(with = "created_serde")]
    pub created: Option<PrimitiveDateTime>,
    pub status: RemoteStatus,
    /// Owner: `root`, a reseller's username, or the account itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The panel's own status detail, e.g. a suspension reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_detail: Option<String>,
    /// What was accepted leniently when this record was read (a number taken as text, a
    /// date without a time, a status in another case, fields the module did not give); shown
    /// in the analysis item's notes. Empty for records read as they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Formats a creation time as `Y-m-d H:i:s`.
pub fn format_created(dt: PrimitiveDateTime) -> String {
    let mut out = Vec::with_capacity(19);
    crate::json_text::created_digits(&mut out, dt);
    crate::json_text::into_text(out)
}

mod created_serde {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        v: &Option<PrimitiveDateTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(dt) => s.serialize_str(&format_created(*dt)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<PrimitiveDateTime>, D::Error> {
        let v: Option<String> = Option::deserialize(d)?;
        match v {
            None => Ok(None),
            Some(s) => parse_created(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses a wire-form `created` value: `Y-m-d H:i:s`; empty, `0000-00-00 00:00:00` → `None`.
pub fn parse_created(s: &str) -> Result<Option<PrimitiveDateTime>, String> {
    let s = s.trim();
    if s.is_empty() || s.starts_with("0000-00-00") {
        return Ok(None);
    }
    PrimitiveDateTime::parse(s, CREATED_FORMAT)
        .map(Some)
        .map_err(|_| format!("created {s:?} is not \"Y-m-d H:i:s\""))
}

/// A remote record that broke the contract, with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRecord {
    /// Position in the panel's list (0-based).
    pub index: usize,
    /// Whatever identifies the record (username or domain), if anything does.
    pub identifier: Option<String>,
    pub reason: String,
}

/// The result of listing a server that answered: its accounts and the records that broke the
/// contract. A listing with skipped records is incomplete: it can never suggest a termination.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub accounts: Vec<RemoteAccount>,
    pub skipped: Vec<SkippedRecord>,
}

impl Listing {
    /// Complete when no record was skipped.
    pub fn is_complete(&self) -> bool {
        self.skipped.is_empty()
    }
}

/// Longest value a remote account field may hold, in bytes; a record with a longer value is
/// skipped with its reason (never imported, never echoed whole in an error line). Domains and
/// e-mail addresses follow RFC 1035 (253) and RFC 5321 (254); the others are far above what
/// any panel uses.
pub const FIELD_LIMITS: [(&str, usize); 7] = [
    ("domain", 253),
    ("email", 254),
    ("uniqueIdentifier", 255),
    ("username", 128),
    ("product", 255),
    ("primaryip", 45),
    ("owner", 128),
];

/// The [`FIELD_LIMITS`] entry of wire-form field `name` (`domain`, `email`, …), if any.
pub fn field_limit(name: &str) -> Option<usize> {
    FIELD_LIMITS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, max)| *max)
}

/// Checks a raw panel value against the [`FIELD_LIMITS`] entry of `name` before a module
/// normalises it (e.g. an over-long e-mail would otherwise be dropped as implausible and the
/// account imported without it). Errors with the reason a [`SkippedRecord`] carries, which
/// names the field and the length, never the value.
pub fn check_field_len(name: &str, value: &str) -> Result<(), String> {
    match field_limit(name) {
        Some(max) if value.len() > max => Err(too_long(name, value.len(), max)),
        _ => Ok(()),
    }
}

fn too_long(name: &str, len: usize, max: usize) -> String {
    format!("{name} is {len} bytes long, more than the {max} allowed")
}

/// Longest skipped-record identifier kept, in characters.
pub const MAX_SKIPPED_IDENTIFIER: usize = 60;
/// Longest skipped-record reason kept, in characters.
pub const MAX_SKIPPED_REASON: usize = 300;

/// `s` cut to `max` characters (with `…` when cut), control characters made spaces: a
/// module's skipped-record text is shown on terminals and pages.
fn bounded(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// Longest status detail kept (bytes); longer details are cut at a character boundary.
pub const MAX_STATUS_DETAIL: usize = 500;

impl Listing {
    /// Moves every account with a field longer than its [`FIELD_LIMITS`] entry to
    /// [`Listing::skipped`] (which makes the listing incomplete) and cuts long status details.
    /// The skipped record's `index` is the account's position in `accounts`; its identifier
    /// is cut to 60 characters. Every skipped record's identifier and reason (a module's
    /// included) are cut to [`MAX_SKIPPED_IDENTIFIER`] / [`MAX_SKIPPED_REASON`] characters
    /// with control characters replaced, so no panel value reaches an error line whole.
    pub fn enforce_field_limits(&mut self) {
        for s in &mut self.skipped {
            if let Some(id) = s.identifier.as_mut() {
                if id.len() > MAX_SKIPPED_IDENTIFIER || id.chars().any(char::is_control) {
                    *id = bounded(id, MAX_SKIPPED_IDENTIFIER);
                }
            }
            if s.reason.len() > MAX_SKIPPED_REASON || s.reason.chars().any(char::is_control) {
                s.reason = bounded(&s.reason, MAX_SKIPPED_REASON);
            }
        }
        // In place: the accounts that keep to the limits (nearly all) are not moved.
        let mut next = 0;
        let skipped = &mut self.skipped;
        self.accounts.retain_mut(|acc| {
            let index = next;
            next += 1;
            let values: [(&str, usize); 7] = [
                ("domain", acc.domain.len()),
                ("email", acc.email.as_deref().map_or(0, str::len)),
                ("uniqueIdentifier", acc.unique_identifier.len()),
                ("username", acc.username.len()),
                ("product", acc.product.len()),
                ("primaryip", acc.primary_ip.len()),
                ("owner", acc.owner.as_deref().map_or(0, str::len)),
            ];
            let over = values
                .iter()
                .zip(FIELD_LIMITS.iter())
                .find(|((_, len), (_, max))| len > max)
                .map(|((name, len), (_, max))| too_long(name, *len, *max));
            // A NUL character is no text any database column or PostgreSQL's jsonb can hold
            // (and no panel means one): the record breaks the contract like an over-long one.
            let nul = || {
                [
                    ("domain", Some(acc.domain.as_str())),
                    ("email", acc.email.as_deref()),
                    ("uniqueIdentifier", Some(acc.unique_identifier.as_str())),
                    ("username", Some(acc.username.as_str())),
                    ("product", Some(acc.product.as_str())),
                    ("primaryip", Some(acc.primary_ip.as_str())),
                    ("owner", acc.owner.as_deref()),
                ]
                .into_iter()
                .find(|(_, v)| v.is_some_and(|v| v.contains('\0')))
                .map(|(name, _)| format!("{name} holds a NUL character"))
            };
            if let Some(reason) = over.or_else(nul) {
                let ident = [&acc.username, &acc.domain, &acc.unique_identifier]
                    .into_iter()
                    .find(|s| !s.is_empty() && s.len() <= 255)
                    .map(|s| bounded(s, MAX_SKIPPED_IDENTIFIER));
                skipped.push(SkippedRecord {
                    index,
                    identifier: ident,
                    reason,
                });
                return false;
            }
            if let Some(d) = acc.status_detail.as_mut() {
                if d.contains('\0') {
                    *d = d.replace('\0', "\u{FFFD}");
                }
                if d.len() > MAX_STATUS_DETAIL {
                    let mut cut = MAX_STATUS_DETAIL;
                    while !d.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    d.truncate(cut);
                    d.push('…');
                }
            }
            true
        });
    }
}

/// Whether `e` holds whitespace, a control character or one of `<>"'(),;:[]\\`.
fn has_unwanted_char(e: &str) -> bool {
    const fn unwanted(c: char) -> bool {
        matches!(
            c,
            '<' | '>' | '"' | '\'' | '(' | ')' | ',' | ';' | ':' | '[' | ']' | '\\'
        )
    }
    if e.is_ascii() {
        // ASCII whitespace and control characters are all at or below a space, or DEL.
        e.bytes()
            .any(|b| b <= b' ' || b == 0x7f || unwanted(char::from(b)))
    } else {
        e.chars()
            .any(|c| c.is_whitespace() || c.is_control() || unwanted(c))
    }
}

/// Normalises a contact e-mail: placeholders and blanks become `None`.
pub fn normalize_email(raw: &str) -> Option<String> {
    let e = raw.trim();
    if is_plausible_email(e) {
        Some(e.to_string())
    } else {
        None
    }
}

/// A plausible address: one `@` with a non-empty local part, a domain with a dot and no empty
/// label, no whitespace, quotes, angle brackets or control characters. Not RFC 5322 in full:
/// enough that a placeholder or markup never becomes a client's e-mail.
pub fn is_plausible_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.split('.').any(str::is_empty)
        && !has_unwanted_char(e)
        && !domain.contains('@')
        && !e.eq_ignore_ascii_case("*unknown*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_as_documented() {
        use time::macros::datetime;
        assert_eq!(
            format_created(datetime!(2024-01-31 03:05:09)),
            "2024-01-31 03:05:09"
        );
        assert_eq!(
            crate::model::format_date(time::macros::date!(0999 - 12 - 01)),
            "0999-12-01"
        );
        assert_eq!(
            parse_created("2018-06-26 07:11:00")
                .unwrap()
                .map(format_created)
                .as_deref(),
            Some("2018-06-26 07:11:00")
        );
    }

    proptest::proptest! {
        /// The ASCII path of the e-mail check finds what the character path finds.
        #[test]
        fn unwanted_characters_are_found_on_both_paths(e in "(\\PC|[\\x00-\\x7f]){0,12}") {
            let by_chars = e.chars().any(|c| {
                c.is_whitespace()
                    || c.is_control()
                    || matches!(c, '<' | '>' | '"' | '\'' | '(' | ')' | ',' | ';' | ':' | '[' | ']' | '\\')
            });
            proptest::prop_assert_eq!(has_unwanted_char(&e), by_chars, "{:?}", e);
        }
    }

    #[test]
    fn implausible_emails_are_none() {
        assert_eq!(
            normalize_email(" Ann@Mail.test ").as_deref(),
            Some("Ann@Mail.test")
        );
        for bad in [
            "*unknown*",
            "",
            "ann",
            "ann@",
            "@mail.test",
            "ann@localhost",
            "a b@mail.test",
            "\"><script>alert(2)</script>@mail.test",
            "a@b@mail.test",
            "ann@mail..test",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unique_id_field_parses() {
        assert_eq!(
            "domain".parse::<UniqueIdField>().unwrap(),
            UniqueIdField::Domain
        );
        assert_eq!(
            "customfield.Instance ID".parse::<UniqueIdField>().unwrap(),
            UniqueIdField::CustomField("Instance ID".into())
        );
        assert!("customfield.".parse::<UniqueIdField>().is_err());
        assert!("email".parse::<UniqueIdField>().is_err());
    }

    #[test]
    fn overlong_fields_skip_the_record() {
        let ok = RemoteAccount {
            email: Some("ann@mail.test".into()),
            username: "ann".into(),
            domain: "ann.test".into(),
            unique_identifier: "ann.test".into(),
            product: "basic".into(),
            primary_ip: "192.0.2.1".into(),
            created: None,
            status: RemoteStatus::Active,
            owner: None,
            status_detail: Some("x".repeat(2000)),
            notes: Vec::new(),
        };
        let mut long_email = ok.clone();
        long_email.email = Some(format!("{}@mail.test", "a".repeat(10_000_000)));
        let mut long_domain = ok.clone();
        long_domain.domain = "d".repeat(254);
        let mut l = Listing {
            accounts: vec![ok.clone(), long_email, long_domain],
            skipped: vec![],
        };
        l.enforce_field_limits();
        assert_eq!(l.accounts.len(), 1);
        assert_eq!(l.accounts[0].status_detail.as_ref().unwrap().len(), 503);
        let reasons: Vec<_> = l
            .skipped
            .iter()
            .map(|s| (s.index, s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (1, "email is 10000010 bytes long, more than the 254 allowed"),
                (2, "domain is 254 bytes long, more than the 253 allowed")
            ]
        );
        assert!(!l.is_complete());
    }

    #[test]
    fn a_nul_character_skips_the_record() {
        let acct = |user: &str, domain: &str, detail: Option<&str>| RemoteAccount {
            email: None,
            username: user.into(),
            domain: domain.into(),
            unique_identifier: domain.into(),
            product: "basic".into(),
            primary_ip: "192.0.2.1".into(),
            created: None,
            status: RemoteStatus::Active,
            owner: None,
            status_detail: detail.map(String::from),
            notes: Vec::new(),
        };
        let mut l = Listing {
            accounts: vec![
                acct("ann", "ann.test", None),
                acct("bob", "bob\0.test", Some("x")),
                acct("cy", "cy.test", Some("held\0here")),
            ],
            skipped: vec![],
        };
        l.enforce_field_limits();
        let kept: Vec<&str> = l.accounts.iter().map(|a| a.username.as_str()).collect();
        assert_eq!(kept, ["ann", "cy"]);
        assert_eq!(
            l.accounts[1].status_detail.as_deref(),
            Some("held\u{FFFD}here")
        );
        assert!(!l.is_complete());
        assert_eq!(l.skipped.len(), 1);
        assert_eq!(l.skipped[0].index, 1);
        assert_eq!(l.skipped[0].identifier.as_deref(), Some("bob"));
        assert_eq!(l.skipped[0].reason, "domain holds a NUL character");
    }

    #[test]
    fn raw_values_are_checked_against_their_limit() {
        assert_eq!(field_limit("email"), Some(254));
        assert_eq!(field_limit("status"), None);
        assert_eq!(check_field_len("email", &"a".repeat(254)), Ok(()));
        assert_eq!(
            check_field_len("email", &"a".repeat(255)),
            Err("email is 255 bytes long, more than the 254 allowed".into())
        );
        assert_eq!(check_field_len("notes", &"a".repeat(10_000)), Ok(()));
    }

    #[test]
    fn skipped_records_of_modules_are_bounded_and_printable() {
        let mut l = Listing {
            accounts: vec![],
            skipped: vec![
                SkippedRecord {
                    index: 0,
                    identifier: Some("u".repeat(10_000)),
                    reason: format!("the answer is for user {:?}", "x".repeat(1_000_000)),
                },
                SkippedRecord {
                    index: 1,
                    identifier: Some("ann\u{1b}[31m".into()),
                    reason: "bad\nline".into(),
                },
            ],
        };
        l.enforce_field_limits();
        assert_eq!(
            l.skipped[0].identifier.as_deref(),
            Some(format!("{}…", "u".repeat(60)).as_str())
        );
        assert_eq!(l.skipped[0].reason.chars().count(), MAX_SKIPPED_REASON + 1);
        assert!(l.skipped[0]
            .reason
            .starts_with("the answer is for user \"xxx"));
        assert_eq!(l.skipped[1].identifier.as_deref(), Some("ann [31m"));
        assert_eq!(l.skipped[1].reason, "bad line");
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
    }
}
