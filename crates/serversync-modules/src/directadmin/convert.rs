//! One `CMD_API_SHOW_USER_CONFIG` answer → a remote account, or the reason it cannot be one.
//!
//! The keys used are those of DirectAdmin's `user.conf` (`/work/shared/reference/
//! panel-apis-verified.md`, "user.conf keys"): `username`, `domain`, `creator`, `email`,
//! `package`, `ip`, `suspended`, `date_created`.

use serversync_core::module::{
    check_field_len, normalize_email, parse_created, RemoteAccount, RemoteStatus,
};
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use super::form::{Form, Lookup};

/// What a `CMD_API_SHOW_USER_CONFIG` (or any legacy command) answered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer<'a> {
    /// `error=1&text=…&details=…` (any `error` other than `0`): the command failed.
    Error { text: &'a str, details: &'a str },
    /// Anything else: the data.
    Data,
}

/// Reads `error`, `text` and `details` (DirectAdmin's legacy error form, sent with HTTP 200).
pub(crate) fn answer(form: &Form) -> Answer<'_> {
    let text_of = |k: &str| match form.get(k) {
        Lookup::Text(s) => s.trim(),
        _ => "",
    };
    match form.get("error") {
        Lookup::Missing => Answer::Data,
        Lookup::Text(e) if e.trim() == "0" => Answer::Data,
        _ => Answer::Error {
            text: text_of("text"),
            details: text_of("details"),
        },
    }
}

/// A text field: `Ok(None)` when missing, the reason when it is not usable text.
fn field<'a>(form: &'a Form, key: &str) -> Result<Option<&'a str>, String> {
    match form.get(key) {
        Lookup::Missing => Ok(None),
        Lookup::Text(s) => Ok(Some(s)),
        Lookup::NotUtf8 => Err(format!("{key} is not valid UTF-8")),
        Lookup::Conflict => Err(format!("{key} is given twice with different values")),
    }
}

/// The account of user `requested`, from its `CMD_API_SHOW_USER_CONFIG` data.
///
/// - `username`: must be `requested` when present (an answer for another user is refused);
///   when absent, the user asked for.
/// - `domain`: the user's default domain, the unique identifier. Missing or empty → an empty
///   domain, passed on (the analysis shows it as a `conflict`, "no usable domain"): the user
///   exists on the server, and skipping it would make the listing incomplete for good.
/// - `creator` → owner (`admin` or the reseller); `package` → product (`custom` when the
///   limits were edited by hand, kept as it is); `ip` → primary IP.
/// - `email`: placeholders and empty values → none.
/// - `suspended`: `yes` or `no` (any case, surrounding space ignored); anything else, or a
///   missing value, is the reason the record is skipped — never guessed.
/// - `date_created`: see [`parse_date_created`].
///
/// What was read leniently goes to the account's `notes` (a missing `username`, a
/// `date_created` in another form than DirectAdmin's).
pub(crate) fn convert_user(form: &Form, requested: &str) -> Result<RemoteAccount, String> {
    let mut notes = Vec::new();
    let username = match field(form, "username")? {
        Some(u) if u.trim() == requested => requested.to_string(),
        Some(u) => {
            return Err(format!(
                "the answer is for user {:?}, not {requested:?}",
                crate::http::one_line(u, 60, "")
            ))
        }
        None => {
            notes.push("the config has no username: the user asked for is listed".into());
            requested.to_string()
        }
    };
    let domain = field(form, "domain")?.unwrap_or("").trim().to_string();
    let owner = field(form, "creator")?
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let product = field(form, "package")?.unwrap_or("").trim().to_string();
    let email = match field(form, "email")? {
        // Checked before normalising, so an over-long address skips the record.
        Some(e) => {
            check_field_len("email", e.trim())?;
            normalize_email(e)
        }
        None => None,
    };
    let primary_ip = field(form, "ip")?.unwrap_or("").trim().to_string();
    let status = match field(form, "suspended")? {
        None => return Err("suspended is missing".into()),
        Some(s) => match s.trim().to_ascii_lowercase().as_str() {
            "no" => RemoteStatus::Active,
            "yes" => RemoteStatus::Suspended,
            _ => {
                return Err(format!(
                    "suspended value {:?} is not yes or no",
                    crate::http::one_line(s, 60, "")
                ))
            }
        },
    };
    let created = match field(form, "date_created")? {
        None => None,
        Some(d) => {
            let (created, note) = parse_date_created(d)?;
            notes.extend(note);
            created
        }
    };
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
        status_detail: None,
        notes,
    })
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses `date_created`.
///
/// DirectAdmin writes it as `%a %b %d %H:%M:%S %Y` in the server's local time, without a
/// zone: `Tue Nov 14 22:13:20 2023` (its own cPanel→DA converter writes it so; see
/// panel-apis-verified.md). The time is kept as the local time it is (the panel does not
/// say which zone; only the date part is compared). Read leniently:
///
/// - empty → `None` (not known; never "today");
/// - the weekday is optional and not checked against the date; the day may be space-padded
///   (`Thu Jan  3 …`, ctime's own form); seconds are optional; one zone word between the
///   time and the year (`date`'s default output, `Tue Nov 14 22:13:20 UTC 2023`) is
///   ignored;
/// - a number is epoch seconds, UTC (the form DirectAdmin's JSON listing uses); `0` → `None`;
/// - `Y-m-d H:i:s` is taken as it is.
///
/// Anything else is the reason the record is skipped. Returns the time and, when the value
/// was not in DirectAdmin's own form, a note saying how it was read.
pub(crate) fn parse_date_created(
    raw: &str,
) -> Result<(Option<PrimitiveDateTime>, Option<String>), String> {
    let s = raw.trim();
    let shown = || crate::http::one_line(s, 60, "");
    if s.is_empty() {
        return Ok((None, None));
    }
    let bad = || {
        format!(
            "date_created {:?} is not a date like \"Tue Nov 14 22:13:20 2023\"",
            crate::http::one_line(s, 60, "")
        )
    };
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s.parse().map_err(|_| bad())?;
        if secs == 0 {
            return Ok((None, None));
        }
        let t = OffsetDateTime::from_unix_timestamp(secs).map_err(|_| bad())?;
        let note = format!("date_created {:?} read as epoch seconds (UTC)", shown());
        return Ok((Some(PrimitiveDateTime::new(t.date(), t.time())), Some(note)));
    }
    if s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        let d = parse_created(s).map_err(|_| bad())?;
        let note = format!("date_created {:?} read as Y-m-d H:i:s", shown());
        return Ok((d, Some(note)));
    }
    let mut note = None;
    let mut tokens: Vec<&str> = s.split_whitespace().take(7).collect();
    if tokens
        .first()
        .is_some_and(|w| WEEKDAYS.contains(&w.to_ascii_lowercase().as_str()))
    {
        tokens.remove(0);
    }
    if tokens.len() == 5 && tokens[3].bytes().all(|b| b.is_ascii_alphabetic()) {
        note = Some(format!(
            "date_created {:?}: the zone {:?} is ignored (kept as the server's local time)",
            shown(),
            tokens[3]
        ));
        tokens.remove(3);
    }
    let [mon, day, hms, year] = tokens.as_slice() else {
        return Err(bad());
    };
    let month = crate::lenient::month_abbrev(mon).ok_or_else(bad)?;
    let day: u8 = small_number(day, 2).ok_or_else(bad)?;
    let year: i32 = if year.len() == 4 {
        year.parse().map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    let mut parts = hms.split(':');
    let h = parts
        .next()
        .and_then(|p| small_number(p, 2))
        .ok_or_else(bad)?;
    let m = parts
        .next()
        .and_then(|p| small_number(p, 2))
        .ok_or_else(bad)?;
    let sec = match parts.next() {
        None => 0,
        Some(p) => small_number(p, 2).ok_or_else(bad)?,
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    let date = Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let time = Time::from_hms(h, m, sec).map_err(|_| bad())?;
    Ok((Some(PrimitiveDateTime::new(date, time)), note))
}

/// One to `max` ASCII digits.
fn small_number(s: &str, max: usize) -> Option<u8> {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
