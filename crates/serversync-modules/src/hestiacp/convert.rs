//! One Hestia user (its `v-list-users` fields and its web domains) → a remote account, or
//! the reason it cannot be one.
//!
//! Keys as `bin/v-list-users` and `bin/v-list-web-domains` write them
//! (panel-apis-verified.md "HestiaCP (B.5)"): `PACKAGE`, `CONTACT`, `SUSPENDED` (`yes`/`no`),
//! `ROLE`, `DATE` (`YYYY-MM-DD`) and `TIME` (`HH:MM:SS`, both `date +'%T %F'` at creation,
//! server local time); per web domain its `IP`.

use serversync_core::module::{normalize_email, RemoteAccount, RemoteStatus};
use time::{Date, PrimitiveDateTime, Time};

use super::parse::{UserFields, WebDomains};
use crate::lenient::{yes_no, Scalar};

/// The root user Hestia installs (`ROOT_USER`, `admin` by default).
pub(crate) const ADMIN_USER: &str = "admin";

/// Whether a user is left out of the listing: Hestia's `admin`, the login itself (with
/// `user`/`password` only the root user can log in), any user with `ROLE` `admin`
/// (Hestia 1.9's additional administrators) and the `system` package's users (the package
/// Hestia gives its admin). They run the panel; they are not hosting accounts anyone bills.
pub(crate) fn is_left_out(name: &str, login: &str, fields: Option<&UserFields>) -> bool {
    if name == ADMIN_USER || (!login.is_empty() && name == login) {
        return true;
    }
    let Some(f) = fields else {
        return false;
    };
    let is =
        |v: &Scalar, want: &str| matches!(v, Scalar::Str(s) if s.trim().eq_ignore_ascii_case(want));
    is(&f.role, "admin") || is(&f.package, "system")
}

/// A text field: trimmed, `""` when missing or null, the reason when it is not text.
fn text(v: &Scalar, name: &str) -> Result<String, String> {
    Ok(v.clone()
        .into_text_named(name)?
        .map(|s| s.trim().to_string())
        .unwrap_or_default())
}

/// The account of user `name`.
///
/// - unique identifier and domain: the user's **first web domain in creation order** —
///   Hestia has no "main" domain, and `web.conf` keeps the order the domains were added in;
///   the others are named in the account's notes. A user without web domains gets an empty
///   domain, passed on (the analysis shows it as a `conflict`, "no usable domain"): the user
///   exists, and skipping it would make every listing incomplete.
/// - primary IP: that domain's `IP`;
/// - product: `PACKAGE`; e-mail: `CONTACT` (placeholders → none); no owner (Hestia has no
///   resellers);
/// - status: `SUSPENDED` `yes`/`no` ([`yes_no`]); anything else, or missing, is the reason
///   the record is skipped;
/// - created: [`created`].
pub(crate) fn convert_user(
    name: &str,
    fields: &UserFields,
    domains: &WebDomains,
) -> Result<RemoteAccount, String> {
    let mut notes = Vec::new();
    let product = text(&fields.package, "PACKAGE")?;
    let email = normalize_email(&text(&fields.contact, "CONTACT")?);
    let status = if yes_no(&fields.suspended, "SUSPENDED")? {
        RemoteStatus::Suspended
    } else {
        RemoteStatus::Active
    };
    let created = created(&fields.date, &fields.time)?;
    let (domain, primary_ip) = match &domains.first {
        Some((d, f)) => (d.trim().to_string(), text(&f.ip, "IP")?),
        None => {
            notes.push("the user has no web domain".to_string());
            (String::new(), String::new())
        }
    };
    if domains.other_count > 0 {
        let mut shown = domains
            .others
            .iter()
            .map(|d| crate::http::one_line(d, 60, ""))
            .collect::<Vec<_>>()
            .join(", ");
        if domains.other_count > domains.others.len() {
            shown.push_str(&format!(
                " and {} more",
                domains.other_count - domains.others.len()
            ));
        }
        notes.push(format!(
            "the first web domain in creation order is the account's domain; the user also \
             has {shown}"
        ));
    }
    Ok(RemoteAccount {
        email,
        username: name.to_string(),
        unique_identifier: domain.clone(),
        domain,
        product,
        primary_ip,
        created,
        status,
        owner: None,
        status_detail: None,
        notes,
    })
}

/// `DATE` + `TIME` as the server's local time (Hestia stores no zone).
///
/// Both missing or empty → `None` (not known; never "today"); a `DATE` without `TIME` →
/// midnight of that day; `DATE` must be `YYYY-MM-DD` and `TIME` `HH:MM:SS`, anything else is
/// the reason the record is skipped.
pub(crate) fn created(date: &Scalar, time: &Scalar) -> Result<Option<PrimitiveDateTime>, String> {
    let d = text(date, "DATE")?;
    let t = text(time, "TIME")?;
    if d.is_empty() {
        if t.is_empty() {
            return Ok(None);
        }
        return Err("TIME is given without a DATE".into());
    }
    let shown = |s: &str| crate::http::one_line(s, 40, "");
    let date = parse_ymd(&d)
        .ok_or_else(|| format!("DATE {:?} is not a date like \"2023-05-01\"", shown(&d)))?;
    let time = if t.is_empty() {
        Time::MIDNIGHT
    } else {
        parse_hms(&t)
            .ok_or_else(|| format!("TIME {:?} is not a time like \"10:11:12\"", shown(&t)))?
    };
    Ok(Some(PrimitiveDateTime::new(date, time)))
}

fn numbers<const N: usize>(s: &str, sep: char, widths: [usize; N]) -> Option<[u16; N]> {
    let mut out = [0u16; N];
    let mut parts = s.split(sep);
    for (slot, width) in out.iter_mut().zip(widths) {
        let p = parts.next()?;
        if p.len() != width || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn parse_ymd(s: &str) -> Option<Date> {
    let [y, m, d] = numbers(s, '-', [4, 2, 2])?;
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    Date::from_calendar_date(i32::from(y), month, u8::try_from(d).ok()?).ok()
}

fn parse_hms(s: &str) -> Option<Time> {
    let [h, m, sec] = numbers(s, ':', [2, 2, 2])?;
    Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(sec).ok()?,
    )
    .ok()
}
