//! Tolerant wire types of WHM API 1 `listaccts` (see [`super`] for the shape). Envelope
//! problems fail the page; a record that is not an object, or a field of an unexpected
//! type, becomes a skipped record instead of failing the listing. Records are read straight
//! into [`RawAccount`] (no intermediate `serde_json::Value`).

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::IDENTIFIER_CHARS;
use crate::lenient::Scalar;

std::thread_local! {
    /// Most records `data.acct` may hold in the page being parsed on this thread (parsing
    /// is synchronous, so [`super::parse_page_limited`] sets it around one `from_slice`).
    pub(super) static MAX_RECORDS: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

#[derive(Deserialize)]
pub(super) struct Envelope {
    #[serde(default)]
    pub(super) metadata: Option<RawMeta>,
    #[serde(default)]
    pub(super) data: Option<DataSlot>,
}

#[derive(Deserialize)]
pub(super) struct RawMeta {
    #[serde(default)]
    pub(super) result: Scalar,
    #[serde(default)]
    pub(super) reason: Scalar,
    #[serde(default)]
    pub(super) chunk: Option<RawChunk>,
}

/// `metadata.chunk`: `{start, size, records, chunks, current}`; only `records` is used.
#[derive(Deserialize)]
pub(super) struct RawChunk {
    #[serde(default)]
    pub(super) records: Scalar,
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

/// `data`: an object with `acct`, or something else (its kind).
pub(super) enum DataSlot {
    Object(Option<AcctList>),
    Other(&'static str),
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum DataField {
    Acct,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for DataSlot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DataSlot;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the data object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DataSlot, A::Error> {
                let mut acct = None;
                while let Some(k) = map.next_key::<DataField>()? {
                    match k {
                        DataField::Acct => acct = Some(map.next_value::<AcctList>()?),
                        DataField::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(DataSlot::Object(acct))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DataSlot, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(DataSlot::Other("a list"))
            }
            other_kinds!(DataSlot::Other);
        }
        d.deserialize_any(V)
    }
}

/// `data.acct`: the list of records, or something else (its kind).
pub(super) enum AcctList {
    List(Vec<Slot>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for AcctList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AcctList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the account list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AcctList, A::Error> {
                let max = MAX_RECORDS.with(std::cell::Cell::get);
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(slot) = seq.next_element::<Slot>()? {
                    if v.len() >= max {
                        return Err(serde::de::Error::custom(format!(
                            "data.acct holds more than the {max} records asked for"
                        )));
                    }
                    v.push(slot);
                }
                Ok(AcctList::List(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AcctList, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AcctList::Other("an object"))
            }
            other_kinds!(AcctList::Other);
        }
        d.deserialize_any(V)
    }
}

/// One element of `data.acct`.
// Nearly every element is a record: boxing it would only add an allocation per account.
#[allow(clippy::large_enum_variant)]
pub(super) enum Slot {
    Record(RawAccount),
    Other(&'static str),
}

/// The `listaccts` fields we use, each kept as it came.
#[derive(Default)]
pub(super) struct RawAccount {
    pub(super) user: Scalar,
    pub(super) domain: Scalar,
    pub(super) owner: Scalar,
    pub(super) plan: Scalar,
    pub(super) email: Scalar,
    pub(super) ip: Scalar,
    pub(super) suspended: Scalar,
    pub(super) suspendreason: Scalar,
    pub(super) unix_startdate: Scalar,
    pub(super) startdate: Scalar,
}

impl RawAccount {
    /// The user, else the domain, when it is text.
    pub(super) fn identifier(&self) -> Option<String> {
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
