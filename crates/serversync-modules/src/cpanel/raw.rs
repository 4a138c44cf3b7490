//! Tolerant wire types of WHM API 1 `listaccts` (see [`super`] for the shape). Envelope
//! problems fail the page; a record that is not an object, or a field of an unexpected
//! type, becomes a skipped record instead of failing the listing. Each record is read into a
//! [`RawAccount`] whose strings borrow from the page (no intermediate `serde_json::Value`, no
//! copy of a string without escapes) and converted at once ([`super::convert_record`]), so a
//! page parses into its accounts and skipped records in one pass.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use serversync_core::module::{RemoteAccount, SkippedRecord};

use super::IDENTIFIER_CHARS;
use crate::lenient::Scalar;

std::thread_local! {
    /// Most records `data.acct` may hold in the page being parsed on this thread (parsing
    /// is synchronous, so [`super::parse_page_limited`] sets it around one `from_slice`).
    pub(super) static MAX_RECORDS: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// What the records of `data.acct` are read into, one element at a time: the page's
/// records converted as they are read ([`PageRecords`]), or (tests) the records of the
/// earlier parse, kept raw (`super::reference`).
pub(super) trait Records<'de>: Sized {
    /// One element of `data.acct` as it is read.
    type Element: Deserialize<'de>;
    /// None yet, with room for up to `max` records (`max` is ours, never the panel's).
    fn with_room(max: usize) -> Self;
    /// Records read so far.
    fn count(&self) -> usize;
    /// Takes the element read next.
    fn add(&mut self, element: Self::Element);
}

/// A `listaccts` response: `{"metadata": {...}, "data": {"acct": [...]}}`, its records read
/// into `L`.
#[derive(Deserialize)]
#[serde(bound = "L: Records<'de>")]
pub(super) struct Envelope<L> {
    #[serde(default)]
    pub(super) metadata: Option<RawMeta>,
    #[serde(default)]
    pub(super) data: Option<DataSlot<L>>,
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
// The earlier parse's records (test only) are read with it too.
#[cfg(test)]
pub(super) use other_kinds;

/// `data`: an object with `acct`, or something else (its kind).
pub(super) enum DataSlot<L> {
    Object(Option<AcctList<L>>),
    Other(&'static str),
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum DataField {
    Acct,
    #[serde(other)]
    Other,
}

impl<'de, L: Records<'de>> Deserialize<'de> for DataSlot<L> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<L>(PhantomData<L>);
        impl<'de, L: Records<'de>> Visitor<'de> for V<L> {
            type Value = DataSlot<L>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the data object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DataSlot<L>, A::Error> {
                let mut acct = None;
                while let Some(k) = map.next_key::<DataField>()? {
                    match k {
                        DataField::Acct => acct = Some(map.next_value::<AcctList<L>>()?),
                        DataField::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(DataSlot::Object(acct))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DataSlot<L>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(DataSlot::Other("a list"))
            }
            other_kinds!(DataSlot::Other);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// `data.acct`: its records, read into `L`, or something else (its kind).
pub(super) enum AcctList<L> {
    List(L),
    Other(&'static str),
}

/// The records of one page, converted: its accounts, and the records that break the
/// contract (each `index` is the record's 0-based position in the page).
#[derive(Default)]
pub(super) struct PageRecords {
    pub(super) accounts: Vec<RemoteAccount>,
    pub(super) skipped: Vec<SkippedRecord>,
}

impl PageRecords {
    /// The number of records the page held.
    pub(super) fn len(&self) -> usize {
        self.accounts.len() + self.skipped.len()
    }
}

impl<'de> Records<'de> for PageRecords {
    type Element = Slot<'de>;

    fn with_room(max: usize) -> Self {
        // Our own page size (or 4,096 when the first page may be the whole list).
        PageRecords {
            accounts: Vec::with_capacity(max.min(1 << 12)),
            ..PageRecords::default()
        }
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn add(&mut self, slot: Slot<'de>) {
        super::convert_record(slot, self);
    }
}

impl<'de, L: Records<'de>> Deserialize<'de> for AcctList<L> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<L>(PhantomData<L>);
        impl<'de, L: Records<'de>> Visitor<'de> for V<L> {
            type Value = AcctList<L>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the account list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AcctList<L>, A::Error> {
                let max = MAX_RECORDS.with(std::cell::Cell::get);
                // Bounded by our own limit, never by what the panel sends.
                let mut records = L::with_room(max);
                while let Some(element) = seq.next_element::<L::Element>()? {
                    if records.count() >= max {
                        return Err(serde::de::Error::custom(format!(
                            "data.acct holds more than the {max} records asked for"
                        )));
                    }
                    records.add(element);
                }
                Ok(AcctList::List(records))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AcctList<L>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AcctList::Other("an object"))
            }
            other_kinds!(AcctList::Other);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// One element of `data.acct`.
// Nearly every element is a record, read and converted at once: boxing it would only add an
// allocation per account.
#[allow(clippy::large_enum_variant)]
pub(super) enum Slot<'a> {
    Record(RawAccount<'a>),
    Other(&'static str),
}

/// One field of a record as it came: a string (borrowed from the page when it holds no
/// escape), or any other JSON value as a [`Scalar`] (which then never holds a string).
#[derive(Debug)]
pub(super) enum Field<'a> {
    Str(Cow<'a, str>),
    Other(Scalar),
}

impl Default for Field<'_> {
    fn default() -> Self {
        Field::Other(Scalar::Missing)
    }
}

impl Field<'_> {
    /// Text of a string-typed field, as [`Scalar::into_text_named`]: strings as they are
    /// (borrowed), integers in decimal, null or missing as `None`; anything else is an
    /// error naming the field and its kind (`user is a list, not a string`).
    pub(super) fn text_named(&self, name: &str) -> Result<Option<Cow<'_, str>>, String> {
        match self {
            Field::Str(s) => Ok(Some(Cow::Borrowed(s))),
            // Not a string: cloning it copies no text.
            Field::Other(v) => Ok(v.clone().into_text_named(name)?.map(Cow::Owned)),
        }
    }

    /// For messages, as [`Scalar::describe`].
    pub(super) fn describe(&self) -> String {
        match self {
            Field::Str(s) => Scalar::Str(s.to_string()).describe(),
            Field::Other(v) => v.describe(),
        }
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Field<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Field<'de>, E> {
                Ok(Field::Other(Scalar::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Field<'de>, E> {
                Ok(Field::Other(Scalar::Int(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Field<'de>, E> {
                Ok(Field::Other(Scalar::UInt(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Field<'de>, E> {
                Ok(Field::Other(Scalar::Float(v)))
            }
            fn visit_unit<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Other(Scalar::Null))
            }
            fn visit_none<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Other(Scalar::Null))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Field<'de>, D::Error> {
                Field::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other(Scalar::Array))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other(Scalar::Object))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `listaccts` fields we use, each kept as it came.
#[derive(Default)]
pub(super) struct RawAccount<'a> {
    pub(super) user: Field<'a>,
    pub(super) domain: Field<'a>,
    pub(super) owner: Field<'a>,
    pub(super) plan: Field<'a>,
    pub(super) email: Field<'a>,
    pub(super) ip: Field<'a>,
    pub(super) suspended: Field<'a>,
    pub(super) suspendreason: Field<'a>,
    pub(super) unix_startdate: Field<'a>,
    pub(super) startdate: Field<'a>,
}

impl RawAccount<'_> {
    /// The user, else the domain, when it is text.
    pub(super) fn identifier(&self) -> Option<String> {
        [&self.user, &self.domain]
            .into_iter()
            .find_map(|v| match v {
                Field::Str(s) if !s.trim().is_empty() => {
                    Some(s.trim().chars().take(IDENTIFIER_CHARS).collect())
                }
                Field::Other(n @ (Scalar::Int(_) | Scalar::UInt(_))) => n.text(),
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

impl<'de> Deserialize<'de> for Slot<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Slot<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an account object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Slot<'de>, A::Error> {
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
                    *field = map.next_value::<Field<'de>>()?;
                }
                Ok(Slot::Record(r))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slot<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Slot::Other("a list"))
            }
            other_kinds!(Slot::Other);
        }
        d.deserialize_any(V)
    }
}
