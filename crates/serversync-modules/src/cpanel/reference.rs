//! The cPanel parse as it was before records were converted while they are read (test
//! only): the equivalence tests (`equivalence.rs`) compare the fast path with it on
//! generated pages. Records are read into owned [`Scalar`]s, collected, then converted; the
//! envelope around them (metadata, `data.acct`, their errors) is the parse's own.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::raw::{other_kinds, Records};
use super::IDENTIFIER_CHARS;
use crate::lenient::required;
use crate::lenient::Scalar;
use crate::ModuleError;
use serversync_core::module::{
    check_field_len, normalize_email, Listing, RemoteAccount, RemoteStatus, SkippedRecord,
};
use time::PrimitiveDateTime;

/// The earlier parse read `data.acct` into its raw records, converted after
/// ([`convert_page`]); the envelope around them is read as the parse does now
/// ([`super::parse_envelope`]).
impl<'de> Records<'de> for Vec<Slot> {
    type Element = Slot;

    fn with_room(_max: usize) -> Self {
        Vec::new()
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn add(&mut self, slot: Slot) {
        self.push(slot);
    }
}

/// One element of `data.acct`.
// Nearly every element is a record: boxing it would only add an allocation per account.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Slot {
    Record(RawAccount),
    Other(&'static str),
}

/// The `listaccts` fields we use, each kept as it came.
#[derive(Default)]
pub(crate) struct RawAccount {
    pub(crate) user: Scalar,
    pub(crate) domain: Scalar,
    pub(crate) owner: Scalar,
    pub(crate) plan: Scalar,
    pub(crate) email: Scalar,
    pub(crate) ip: Scalar,
    pub(crate) suspended: Scalar,
    pub(crate) suspendreason: Scalar,
    pub(crate) unix_startdate: Scalar,
    pub(crate) startdate: Scalar,
}

impl RawAccount {
    /// The user, else the domain, when it is text.
    pub(crate) fn identifier(&self) -> Option<String> {
        [&self.user, &self.domain]
            .into_iter()
            .find_map(|v| match v {
                Scalar::Str(s) if !s.trim().is_empty() => {
                    Some(s.trim().chars().take(IDENTIFIER_CHARS).collect())
                }
                Scalar::Int(_) | Scalar::UInt(_) => v.clone().into_text().ok().flatten(),
                _ => None,
            })
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum AcctField {
    User,
    Domain,
    Owner,
    Plan,
    Email,
    Ip,
    Suspended,
    Suspendreason,
    UnixStartdate,
    Startdate,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Slot;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an account object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Slot, A::Error> {
                let mut r = RawAccount::default();
                while let Some(k) = map.next_key::<AcctField>()? {
                    let field = match k {
                        AcctField::User => &mut r.user,
                        AcctField::Domain => &mut r.domain,
                        AcctField::Owner => &mut r.owner,
                        AcctField::Plan => &mut r.plan,
                        AcctField::Email => &mut r.email,
                        AcctField::Ip => &mut r.ip,
                        AcctField::Suspended => &mut r.suspended,
                        AcctField::Suspendreason => &mut r.suspendreason,
                        AcctField::UnixStartdate => &mut r.unix_startdate,
                        AcctField::Startdate => &mut r.startdate,
                        AcctField::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *field = map.next_value::<Scalar>()?;
                }
                Ok(Slot::Record(r))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slot, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Slot::Other("a list"))
            }
            other_kinds!(Slot::Other);
        }
        d.deserialize_any(V)
    }
}

/// Converts the records of a page whose first record has 0-based position `offset`.
pub(crate) fn convert_page(records: Vec<Slot>, offset: usize, listing: &mut Listing) {
    for (i, slot) in records.into_iter().enumerate() {
        let index = offset + i;
        match slot {
            Slot::Other(kind) => listing.skipped.push(SkippedRecord {
                index,
                identifier: None,
                reason: format!("record is {kind}, not an account object"),
            }),
            Slot::Record(raw) => {
                let identifier = raw.identifier();
                match convert_account(raw) {
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
}

/// One `listaccts` record → a remote account, or the reason it breaks the contract.
pub(crate) fn convert_account(raw: RawAccount) -> Result<RemoteAccount, String> {
    let username = required(raw.user, "user")?;
    // An empty domain is still an account on the server: it is passed on (the analysis makes
    // it a `conflict`, "no usable domain") rather than skipped, which would make the whole
    // listing incomplete. A missing `domain` key breaks the documented shape and is skipped.
    let domain = match raw.domain.into_text_named("domain")? {
        Some(d) => d.trim().to_string(),
        None => return Err("domain is missing".into()),
    };
    let owner = raw
        .owner
        .into_text_named("owner")?
        .filter(|o| !o.is_empty());
    let product = raw.plan.into_text_named("plan")?.unwrap_or_default();
    let email = match raw.email.into_text_named("email")? {
        Some(e) => {
            // Checked before normalising: an over-long address must skip the record, not be
            // dropped as implausible while the account is imported without it.
            check_field_len("email", e.trim())?;
            normalize_email(&e)
        }
        None => None,
    };
    let primary_ip = raw
        .ip
        .into_text_named("ip")?
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let status = match &raw.suspended {
        Scalar::Int(0) | Scalar::UInt(0) => RemoteStatus::Active,
        Scalar::Int(1) | Scalar::UInt(1) => RemoteStatus::Suspended,
        Scalar::Str(s) if s.trim() == "0" => RemoteStatus::Active,
        Scalar::Str(s) if s.trim() == "1" => RemoteStatus::Suspended,
        Scalar::Missing | Scalar::Null => return Err("suspended is missing".into()),
        other => {
            return Err(format!(
                "suspended value {} is not 0 or 1",
                other.describe()
            ))
        }
    };
    let reason = raw.suspendreason.into_text_named("suspendreason")?;
    let status_detail = match status {
        RemoteStatus::Suspended => reason.filter(|r| !r.trim().is_empty()),
        RemoteStatus::Active => None,
    };
    let created = created(raw.unix_startdate, raw.startdate)?;
    Ok(RemoteAccount {
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
        notes: Vec::new(),
    })
}

/// The creation time, from `unix_startdate` (epoch seconds, UTC; integer or numeric string).
///
/// `0`, `null` and `""` mean "not known" → `None` (never "today"). Only when
/// `unix_startdate` is absent altogether is `startdate` used as a fallback: `YY Mon DD HH:MM`
/// with the two-digit year first (`"18 Jun 26 15:11"` = 2018-06-26 15:11), in the server's
/// local time (the panel does not say which zone), years `70`–`99` read as 19xx.
pub(crate) fn created(
    unix: Scalar,
    startdate: Scalar,
) -> Result<Option<PrimitiveDateTime>, String> {
    let secs: i64 = match unix {
        Scalar::Missing => return parse_startdate(startdate),
        Scalar::Null => return Ok(None),
        Scalar::Int(n) => n,
        Scalar::UInt(n) => {
            i64::try_from(n).map_err(|_| format!("unix_startdate {n} is out of range"))?
        }
        Scalar::Str(ref s) if s.trim().is_empty() => return Ok(None),
        Scalar::Str(ref s) => s.trim().parse::<i64>().map_err(|_| {
            format!(
                "unix_startdate {} is not a time in epoch seconds",
                unix.describe()
            )
        })?,
        other => {
            return Err(format!(
                "unix_startdate {} is not a time in epoch seconds",
                other.describe()
            ))
        }
    };
    super::from_epoch(secs)
}

/// Parses cPanel's `startdate` (`YY Mon DD HH:MM`), see [`created`].
pub(crate) fn parse_startdate(v: Scalar) -> Result<Option<PrimitiveDateTime>, String> {
    match v.into_text_named("startdate")? {
        None => Ok(None),
        Some(s) => super::startdate_text(&s),
    }
}

/// Parses one `listaccts` response body (HTTP status already checked) whose `data.acct`
/// may hold at most `max_records` records, into the raw records.
pub(crate) fn parse_page_limited(
    body: &[u8],
    token: &str,
    max_records: usize,
) -> Result<(Option<u64>, Vec<Slot>), ModuleError> {
    super::parse_envelope(body, token, max_records)
}
