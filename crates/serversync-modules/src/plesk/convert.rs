//! One `webspace get` result → a subscription, and the pieces of it that need reading:
//! the status bit set, `cr_date`, the primary IP.
//!
//! Fields (Plesk XML API reference 33899/33856 `domainGenInfoType`, 66383/66521 for the
//! `subscriptions` dataset, and the `hosting` dataset's `vrt_hst` properties; see
//! panel-apis-verified.md "Plesk (B.3)").

use std::net::IpAddr;

use serversync_core::module::RemoteStatus;
use time::{Date, Month, PrimitiveDateTime, Time};

use super::xml::ResultFields;
use crate::http::one_line;

/// A subscription as `webspace get` gives it, before its owner and plans are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    /// `gen_info/name`: the subscription's (main) domain, the unique identifier.
    pub(crate) name: String,
    /// `gen_info/owner-id` (customer, reseller or the administrator).
    pub(crate) owner_id: Option<String>,
    /// `gen_info/owner-login`.
    pub(crate) owner_login: Option<String>,
    /// `hosting/vrt_hst` property `ftp_login`: the subscription's system user.
    pub(crate) system_user: Option<String>,
    /// `subscriptions/subscription/plan/plan-guid`, in document order (service plan and
    /// add-ons; none for a custom subscription).
    pub(crate) plan_guids: Vec<String>,
    pub(crate) primary_ip: String,
    pub(crate) created: Option<PrimitiveDateTime>,
    pub(crate) status: RemoteStatus,
    pub(crate) status_detail: Option<String>,
    pub(crate) notes: Vec<String>,
}

/// Most plan GUIDs one subscription may carry (a service plan and its add-ons).
pub(crate) const MAX_PLAN_GUIDS: usize = 64;

/// Reads one successful `webspace get` result.
///
/// - `gen_info/name` is required (the unique identifier); empty → the reason.
/// - `gen_info/status`: see [`status_of`]; missing or unreadable → the reason.
/// - `gen_info/cr_date`: see [`parse_cr_date`].
/// - `gen_info/dns_ip_address` (may repeat): see [`primary_ip`]; when absent, the
///   `hosting/vrt_hst/ip_address` values are used.
/// - `hosting/vrt_hst/property` with `name` `ftp_login` → the system user.
/// - `data/subscriptions/subscription/plan/plan-guid` (may repeat) → plan GUIDs.
pub(crate) fn subscription(r: &ResultFields) -> Result<Subscription, String> {
    let name = r.get("data/gen_info/name").unwrap_or("").trim();
    if name.is_empty() {
        return Err("gen_info has no name (the subscription's domain)".into());
    }
    let mut notes = Vec::new();
    let (status, status_detail) = match r.get("data/gen_info/status") {
        None => return Err("gen_info has no status".into()),
        Some(raw) => {
            let (status, detail, note) = status_of(raw)?;
            notes.extend(note);
            (status, detail)
        }
    };
    let created = match r.get("data/gen_info/cr_date") {
        None => None,
        Some(d) => parse_cr_date(d)?,
    };
    let dns: Vec<&str> = r.all("data/gen_info/dns_ip_address").collect();
    let ips = if dns.is_empty() {
        r.all("data/hosting/vrt_hst/ip_address").collect()
    } else {
        dns
    };
    let (primary_ip, ip_note) = primary_ip(&ips);
    notes.extend(ip_note);
    let mut system_user = None;
    let mut last_property: Option<&str> = None;
    for (path, value) in &r.leaves {
        match path.as_str() {
            "data/hosting/vrt_hst/property/name" => last_property = Some(value),
            "data/hosting/vrt_hst/property/value" => {
                if last_property == Some("ftp_login") && !value.trim().is_empty() {
                    system_user = Some(value.trim().to_string());
                }
                last_property = None;
            }
            _ => {}
        }
    }
    let plan_guids: Vec<String> = r
        .all("data/subscriptions/subscription/plan/plan-guid")
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect();
    if plan_guids.len() > MAX_PLAN_GUIDS {
        return Err(format!(
            "the subscription carries {} plan GUIDs, more than the {MAX_PLAN_GUIDS} allowed",
            plan_guids.len()
        ));
    }
    let text = |p: &str| {
        r.get(p)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Ok(Subscription {
        name: name.to_string(),
        owner_id: text("data/gen_info/owner-id"),
        owner_login: text("data/gen_info/owner-login"),
        system_user,
        plan_guids,
        primary_ip,
        created,
        status,
        status_detail,
        notes,
    })
}

/// The status bits Plesk documents, with what they mean and whether they suspend.
///
/// Subscription codes (doc 33856): 0 active, 4 under backup/restore, 16/32/64 disabled by
/// the administrator/reseller/customer, 256 expired; site codes (doc 66550, Obsidian) add 1
/// suspended, 2 suspended with its parent, 8 web service suspended by the administrator;
/// "Plesk can combine the statuses above by summing up their codes" (272 = 256 + 16).
pub(crate) const STATUS_BITS: [(u64, &str, bool); 8] = [
    (1, "suspended", true),
    (2, "suspended with its parent", true),
    (4, "under backup/restore", false),
    (8, "web service suspended by the administrator", true),
    (16, "disabled by the administrator", true),
    (32, "disabled by the reseller", true),
    (64, "disabled by the customer", true),
    (256, "expired", true),
];

/// Reads a status code as the bit set it is.
///
/// - `0` → Active, no detail.
/// - any suspending bit (1, 2, 8, 16, 32, 64, 256) → Suspended, the detail naming every
///   bit set (`status 272: expired (256), disabled by the administrator (16)`).
/// - `4` alone → Active (the subscription works; a backup or restore is running), the detail
///   `status 4: under backup/restore (4)` and a note saying so.
/// - a bit Plesk does not document (e.g. 1024) → the reason the record is skipped: the safe
///   choice, since neither Active nor Suspended can be known, and a guess would make
///   serversync suspend or unsuspend a service on no evidence.
/// - not a non-negative integer → the reason.
///
/// Returns `(status, detail, note)`.
pub(crate) fn status_of(
    raw: &str,
) -> Result<(RemoteStatus, Option<String>, Option<String>), String> {
    let s = raw.trim();
    let code: u64 = if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse()
            .map_err(|_| format!("status {:?} is not a number", one_line(s, 40, "")))?
    } else {
        return Err(format!(
            "status {:?} is not a Plesk status code",
            one_line(s, 40, "")
        ));
    };
    if code == 0 {
        return Ok((RemoteStatus::Active, None, None));
    }
    let known: u64 = STATUS_BITS.iter().map(|(b, _, _)| b).sum();
    let unknown = code & !known;
    let parts: Vec<String> = STATUS_BITS
        .iter()
        .rev()
        .filter(|(b, _, _)| code & b != 0)
        .map(|(b, what, _)| format!("{what} ({b})"))
        .collect();
    if unknown != 0 {
        let bits: Vec<String> = (0..64)
            .map(|i| 1u64 << i)
            .filter(|b| unknown & b != 0)
            .map(|b| b.to_string())
            .collect();
        let besides = if parts.is_empty() {
            String::new()
        } else {
            format!(" besides {}", parts.join(", "))
        };
        return Err(format!(
            "status {code} has bits Plesk does not document ({}){besides}: neither Active \
             nor Suspended can be known",
            bits.join(", ")
        ));
    }
    let suspending = STATUS_BITS
        .iter()
        .any(|(b, _, suspends)| *suspends && code & b != 0);
    let detail = format!("status {code}: {}", parts.join(", "));
    if suspending {
        Ok((RemoteStatus::Suspended, Some(detail), None))
    } else {
        let note = format!("{detail}: the subscription works, listed as Active");
        Ok((RemoteStatus::Active, Some(detail), Some(note)))
    }
}

/// Reads `cr_date`, which Plesk gives as a date only (`YYYY-MM-DD`, domainGenInfoType; the
/// api-php-lib test asserts `^\d{4}-\d{2}-\d{2}$`): the time is midnight. Empty and the zero
/// date `0000-00-00` → `None` (never invented). Anything else is the reason.
pub(crate) fn parse_cr_date(raw: &str) -> Result<Option<PrimitiveDateTime>, String> {
    let s = raw.trim();
    if s.is_empty() || s == "0000-00-00" {
        return Ok(None);
    }
    let bad = || {
        format!(
            "cr_date {:?} is not a date like \"2021-03-04\"",
            one_line(s, 40, "")
        )
    };
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Option<u16> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = match (num(0..4), num(5..7), num(8..10)) {
        (Some(y), Some(m), Some(d)) => (y, m, d),
        _ => return Err(bad()),
    };
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let day = u8::try_from(d).map_err(|_| bad())?;
    let date = Date::from_calendar_date(i32::from(y), month, day).map_err(|_| bad())?;
    Ok(Some(PrimitiveDateTime::new(date, Time::MIDNIGHT)))
}

/// The primary IP of `ips` (the `dns_ip_address` values, which repeat for IPv4 and IPv6):
/// the first IPv4 address; the first IPv6 address when there is no IPv4 one (with a note);
/// empty when none. Values that are not IP addresses are noted and passed over.
pub(crate) fn primary_ip(ips: &[&str]) -> (String, Option<String>) {
    let mut v4 = None;
    let mut v6 = None;
    let mut bad = Vec::new();
    for raw in ips {
        let s = raw.trim();
        match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) if v4.is_none() => v4 = Some(a.to_string()),
            Ok(IpAddr::V6(a)) if v6.is_none() => v6 = Some(a.to_string()),
            Ok(_) => {}
            Err(_) if !s.is_empty() && bad.len() < 2 => bad.push(one_line(s, 45, "")),
            Err(_) => {}
        }
    }
    let mut notes = Vec::new();
    if !bad.is_empty() {
        notes.push(format!(
            "dns_ip_address {bad:?} is not an IP address (passed over)"
        ));
    }
    let ip = match (v4, v6) {
        (Some(a), _) => a,
        (None, Some(a)) => {
            notes.push("no IPv4 address: the IPv6 address is the primary IP".into());
            a
        }
        (None, None) => String::new(),
    };
    (ip, (!notes.is_empty()).then(|| notes.join("; ")))
}
