//! One JSON value as a lenient parser keeps it: the scalar, and only the *kind* of a list or
//! an object (their contents are consumed unread, so a huge nested value costs no memory).
//!
//! Shared by the WHMCS wire form ([`super::parse_wire`]) and every built-in panel module
//! that reads JSON (serversync-modules re-exports it as `lenient::Scalar`): panels rarely
//! keep to one JSON type per field — WHM's Perl encoder emits numeric-looking strings as
//! numbers, HestiaCP sends `yes`/`no`, Virtualmin wraps every value in an array — so a
//! record with an odd field becomes a skipped record with its reason instead of failing the
//! whole answer.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// Characters of a string value quoted in a message.
const QUOTE_CHARS: usize = 60;

/// Any JSON value, keeping scalars and only the kind of arrays and objects.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Scalar {
    /// The key was not present (never produced by deserialising; the default of a field).
    #[default]
    Missing,
    /// JSON `null`.
    Null,
    /// JSON `true` / `false`.
    Bool(bool),
    /// A negative integer (or any integer serde reads as `i64`).
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A string, as sent.
    Str(String),
    /// A list; its elements were consumed unread.
    Array,
    /// An object; its entries were consumed unread.
    Object,
}

impl Scalar {
    /// A non-negative integer, from a number, a boolean or a decimal string (trimmed).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::Int(n) => u64::try_from(*n).ok(),
            Scalar::UInt(n) => Some(*n),
            Scalar::Bool(b) => Some(u64::from(*b)),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The text of a string or an integer (in decimal); `None` for anything else.
    pub fn text(&self) -> Option<String> {
        match self {
            Scalar::Str(s) => Some(s.clone()),
            Scalar::Int(n) => Some(n.to_string()),
            Scalar::UInt(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Text of a string-typed field: strings as they are, integers in decimal, null or
    /// missing as `None`; anything else is an error naming its kind (`"a boolean"`).
    pub fn into_text(self) -> Result<Option<String>, &'static str> {
        match self {
            Scalar::Missing | Scalar::Null => Ok(None),
            Scalar::Str(s) => Ok(Some(s)),
            Scalar::Int(n) => Ok(Some(n.to_string())),
            Scalar::UInt(n) => Ok(Some(n.to_string())),
            Scalar::Float(_) => Err("a fractional number"),
            Scalar::Bool(_) => Err("a boolean"),
            Scalar::Array => Err("a list"),
            Scalar::Object => Err("an object"),
        }
    }

    /// [`Scalar::into_text`] with the reason naming the field: `user is a list, not a
    /// string`.
    pub fn into_text_named(self, name: &str) -> Result<Option<String>, String> {
        self.into_text()
            .map_err(|kind| format!("{name} is {kind}, not a string"))
    }

    /// For messages: strings quoted (at most 60 characters, control characters escaped),
    /// other values as JSON would show them, lists and objects by kind.
    pub fn describe(&self) -> String {
        match self {
            Scalar::Missing => "missing".into(),
            Scalar::Null => "null".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(n) => n.to_string(),
            Scalar::UInt(n) => n.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => quote(s),
            Scalar::Array => "a list".into(),
            Scalar::Object => "an object".into(),
        }
    }
}

/// A string quoted for a message: bounded, control characters escaped by `{:?}`.
pub(crate) fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((i, _)) => format!("{:?}", format!("{}…", &s[..i])),
        None => format!("{s:?}"),
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(v))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                Scalar::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Object)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_json_parses_to_its_kind() {
        let v: Vec<Scalar> =
            serde_json::from_str(r#"[1,-2,"x",null,true,[1,[2]],{"a":{"b":1}},1.5]"#).unwrap();
        assert_eq!(
            v,
            vec![
                Scalar::UInt(1),
                Scalar::Int(-2),
                Scalar::Str("x".into()),
                Scalar::Null,
                Scalar::Bool(true),
                Scalar::Array,
                Scalar::Object,
                Scalar::Float(1.5)
            ]
        );
    }

    #[test]
    fn scalars_read_as_text() {
        assert_eq!(Scalar::UInt(3).into_text().unwrap().as_deref(), Some("3"));
        assert_eq!(Scalar::Int(-3).text().as_deref(), Some("-3"));
        assert_eq!(Scalar::Null.into_text().unwrap(), None);
        assert_eq!(Scalar::Float(1.5).into_text(), Err("a fractional number"));
        assert_eq!(
            Scalar::Object.into_text_named("user").unwrap_err(),
            "user is an object, not a string"
        );
        assert_eq!(Scalar::Str(" 42 ".into()).as_u64(), Some(42));
        assert_eq!(Scalar::Int(-1).as_u64(), None);
    }

    #[test]
    fn descriptions_are_bounded_and_escaped() {
        let long = Scalar::Str("x".repeat(10_000));
        let d = long.describe();
        assert_eq!(
            d.chars().count(),
            60 + 3,
            "60 characters, an ellipsis, two quotes"
        );
        assert_eq!(
            Scalar::Str("a\u{1b}]0;t\u{7}".into()).describe(),
            "\"a\\u{1b}]0;t\\u{7}\""
        );
        assert_eq!(Scalar::Array.describe(), "a list");
    }
}
