//! Lenient scalar parsing shared by the built-in modules.
//!
//! Panels rarely keep to one JSON type per field: WHM's Perl encoder emits numeric-looking
//! strings as numbers, DirectAdmin and HestiaCP send `yes`/`no`, Virtualmin wraps every value
//! in an array. [`Scalar`] keeps any JSON value's scalar (and only the *kind* of arrays and
//! objects, never their contents), so a record with an odd field becomes a skipped record with
//! a reason instead of failing the whole page.

//!
//! [`Scalar`] itself lives in serversync-core, where the WHMCS wire form parser uses the same
//! type; this module adds the field rules the panels share.

pub use serversync_core::module::Scalar;

/// A required text field: trimmed, non-empty, else the reason (`user is missing`, `user is
/// empty`, `user is a list, not a string`).
pub fn required(v: Scalar, name: &str) -> Result<String, String> {
    required_text(v.into_text_named(name)?.as_deref(), name)
}

/// [`required`] of a field's text already read (`None`: missing).
pub fn required_text(text: Option<&str>, name: &str) -> Result<String, String> {
    match text {
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

/// A month from its English three-letter abbreviation in any case (`Jan`, `jun`), as
/// C-locale `%b` writes them (cPanel's `startdate`, DirectAdmin's dates); `None` otherwise.
pub fn month_abbrev(s: &str) -> Option<time::Month> {
    use time::Month;
    Some(match s.to_ascii_lowercase().as_str() {
        "jan" => Month::January,
        "feb" => Month::February,
        "mar" => Month::March,
        "apr" => Month::April,
        "may" => Month::May,
        "jun" => Month::June,
        "jul" => Month::July,
        "aug" => Month::August,
        "sep" => Month::September,
        "oct" => Month::October,
        "nov" => Month::November,
        "dec" => Month::December,
        _ => return None,
    })
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
}
