//! Lenient scalar parsing shared by the built-in modules.
//!
//! Panels rarely keep to one JSON type per field: WHM's Perl encoder emits numeric-looking
//! strings as numbers, DirectAdmin and HestiaCP send `yes`/`no`, Virtualmin wraps every value
//! in an array. [`Scalar`] keeps any JSON value's scalar (and only the *kind* of arrays and
//! objects, never their contents), so a record with an odd field becomes a skipped record with
//! a reason instead of failing the whole page.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::http;

/// Any JSON value, keeping scalars and only the kind of arrays and objects.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Scalar {
    /// The key was not present.
    #[default]
    Missing,
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Array,
    Object,
}

impl Scalar {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::Int(n) => u64::try_from(*n).ok(),
            Scalar::UInt(n) => Some(*n),
            Scalar::Bool(b) => Some(u64::from(*b)),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Text of a string-typed field: strings as they are, numbers in decimal (Perl's JSON
    /// encoder emits numeric-looking strings as numbers), null/missing as `None`.
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

    pub fn into_text_named(self, name: &str) -> Result<Option<String>, String> {
        self.into_text()
            .map_err(|kind| format!("{name} is {kind}, not a string"))
    }

    /// For messages: strings quoted, other values as JSON would show them.
    pub fn describe(&self) -> String {
        match self {
            Scalar::Missing => "missing".into(),
            Scalar::Null => "null".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(n) => n.to_string(),
            Scalar::UInt(n) => n.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => format!("{:?}", http::one_line(s, 60, "")),
            Scalar::Array => "a list".into(),
            Scalar::Object => "an object".into(),
        }
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

/// A required text field: trimmed, non-empty, else the reason (`user is missing`, `user is
/// empty`, `user is a list, not a string`).
pub fn required(v: Scalar, name: &str) -> Result<String, String> {
    match v.into_text_named(name)? {
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(_) => Err(format!("{name} is empty")),
        None => Err(format!("{name} is missing")),
    }
}

/// A `yes`/`no` flag (any case, surrounding space ignored; also `1`/`0`, `true`/`false`):
/// `Ok(true)` for yes. Anything else is reported with the value, never guessed.
pub fn yes_no(v: &Scalar, name: &str) -> Result<bool, String> {
    match v {
        Scalar::Bool(b) => Ok(*b),
        Scalar::Int(1) | Scalar::UInt(1) => Ok(true),
        Scalar::Int(0) | Scalar::UInt(0) => Ok(false),
        Scalar::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "1" | "true" | "on" => Ok(true),
            "no" | "0" | "false" | "off" => Ok(false),
            _ => Err(format!("{name} value {} is not yes or no", v.describe())),
        },
        Scalar::Missing | Scalar::Null => Err(format!("{name} is missing")),
        other => Err(format!(
            "{name} value {} is not yes or no",
            other.describe()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_as_text() {
        assert_eq!(Scalar::UInt(3).into_text().unwrap().as_deref(), Some("3"));
        assert_eq!(Scalar::Null.into_text().unwrap(), None);
        assert!(Scalar::Float(1.5).into_text().is_err());
        assert_eq!(
            required(Scalar::Str("  ".into()), "user").unwrap_err(),
            "user is empty"
        );
        assert_eq!(
            required(Scalar::Missing, "user").unwrap_err(),
            "user is missing"
        );
        assert_eq!(
            required(Scalar::Array, "user").unwrap_err(),
            "user is a list, not a string"
        );
    }

    #[test]
    fn yes_no_never_guesses() {
        assert_eq!(yes_no(&Scalar::Str(" YES ".into()), "suspended"), Ok(true));
        assert_eq!(yes_no(&Scalar::Str("no".into()), "suspended"), Ok(false));
        assert_eq!(
            yes_no(&Scalar::Str("maybe".into()), "suspended").unwrap_err(),
            "suspended value \"maybe\" is not yes or no"
        );
        assert!(yes_no(&Scalar::Missing, "suspended").is_err());
    }

    #[test]
    fn any_json_parses_to_its_kind() {
        let v: Vec<Scalar> =
            serde_json::from_str(r#"[1,-2,"x",null,true,[1,2],{"a":1},1.5]"#).unwrap();
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
}
