//! Billing-side domain types: clients, products, servers, services.
//!
//! Shapes follow the records document of `CONTRACT.md` (which follows the WHMCS data model:
//! `tblclients`, `tblproducts` with `configoption1..24`, `tblservers`, `tblhosting`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::CoreError;

/// Id of a client (`tblclients.id`).
pub type ClientId = i64;
/// Id of a product (`tblproducts.id`).
pub type ProductId = i64;
/// Id of a server (`tblservers.id`).
pub type ServerId = i64;
/// Id of a service (`tblhosting.id`).
pub type ServiceId = i64;
/// Id of a stored sync run.
pub type RunId = i64;

/// `YYYY-MM-DD`, the date format of the records document and of `regdate`.
pub const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Formats a date as `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    // By hand: `time`'s general formatter (and even `format!`) costs more than the rest of
    // an item's output, and a run document formats two dates per item.
    let mut out = Vec::with_capacity(10);
    crate::json_text::date_digits(&mut out, d);
    crate::json_text::into_text(out)
}

/// Parses a strict `YYYY-MM-DD` date; the error names the bad value.
pub fn parse_date(s: &str) -> Result<Date, CoreError> {
    let bad = || CoreError::Invalid(format!("invalid date {s:?}, expected YYYY-MM-DD"));
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, CoreError> {
        b[r].iter().try_fold(0u32, |n, c| {
            if c.is_ascii_digit() {
                Ok(n * 10 + u32::from(c - b'0'))
            } else {
                Err(bad())
            }
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let month = time::Month::try_from(m as u8).map_err(|_| bad())?;
    // `from_calendar_date` rejects days the month does not have (2024-02-30).
    Date::from_calendar_date(y as i32, month, d as u8).map_err(|_| bad())
}

#[cfg(test)]
mod date_tests {
    use super::*;

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(
            parse_date("2024-02-29").map(format_date).as_deref(),
            Ok("2024-02-29")
        );
        for bad in [
            "2024-02-30",
            "2023-02-29",
            "2024-1-01",
            "2024-13-01",
            "24-01-01",
            "2024/01/01",
            "2024-01-01 ",
            "+024-01-01",
            "2024-00-10",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}

/// A secret value (password, API token, access hash).
///
/// `Debug` prints `[redacted]`, there is no `Display` and no `Serialize`: a secret leaves the
/// process only through [`Secret::expose`], at the one place that sends it to its panel.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call only where it is sent to the panel or stored.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("[redacted]")
        }
    }
}

/// Service status as billing knows it (WHMCS `tblhosting.domainstatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ServiceStatus {
    Pending,
    Active,
    Suspended,
    Terminated,
    Cancelled,
    Fraud,
    Completed,
}

impl ServiceStatus {
    /// Every status, in the order of the glossary.
    pub const ALL: [ServiceStatus; 7] = [
        ServiceStatus::Pending,
        ServiceStatus::Active,
        ServiceStatus::Suspended,
        ServiceStatus::Terminated,
        ServiceStatus::Cancelled,
        ServiceStatus::Fraud,
        ServiceStatus::Completed,
    ];

    /// The status name as written in records and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Pending => "Pending",
            ServiceStatus::Active => "Active",
            ServiceStatus::Suspended => "Suspended",
            ServiceStatus::Terminated => "Terminated",
            ServiceStatus::Cancelled => "Cancelled",
            ServiceStatus::Fraud => "Fraud",
            ServiceStatus::Completed => "Completed",
        }
    }

    /// `Active`, `Suspended` or `Pending`: a service that is (or is about to be) provisioned.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            ServiceStatus::Active | ServiceStatus::Suspended | ServiceStatus::Pending
        )
    }

    /// `Terminated`, `Cancelled`, `Fraud` or `Completed`: a service that should have no account.
    pub fn is_closed(self) -> bool {
        !self.is_live()
    }
}

impl fmt::Display for ServiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceStatus {
    type Err = CoreError;
    /// Exact, case-sensitive names only: `"active "` is an error, not `Active`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| CoreError::Invalid(format!("unknown status {s:?}")))
    }
}

/// A customer of the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub id: ClientId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    /// `Active`, `Inactive` or `Closed` (WHMCS client status); free text is kept as given.
    pub status: String,
}

/// Something the provider sells, bound to a module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    /// Module name, e.g. `cpanel`.
    pub module: String,
    /// Module settings `configoption1`..`configoption24` (only the set ones).
    pub config_options: BTreeMap<String, String>,
}

impl Product {
    /// The value of a module setting such as `configoption1`, if set and not blank.
    pub fn config_option(&self, name: &str) -> Option<&str> {
        self.config_options
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
}

/// One remote system run by one module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub id: ServerId,
    pub name: String,
    pub module: String,
    pub hostname: String,
    /// The server's main IP; the primary IP of services without a dedicated IP.
    pub ip_address: String,
    /// Port to use; `None` means the module's default for `secure`.
    pub port: Option<u16>,
    /// HTTPS (`true`) or plain HTTP.
    pub secure: bool,
    /// Verify the TLS certificate (on unless explicitly turned off).
    pub tls_verify: bool,
    pub username: String,
    pub password: Secret,
    /// API token / access hash.
    pub access_hash: Secret,
    /// A disabled server is never listed by fleet scans.
    pub disabled: bool,
}

/// One billed account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub id: ServiceId,
    pub client_id: ClientId,
    pub product_id: ProductId,
    pub server_id: Option<ServerId>,
    pub domain: String,
    pub username: String,
    /// Empty when the service uses the server's IP.
    pub dedicated_ip: String,
    pub regdate: Option<Date>,
    pub status: ServiceStatus,
    pub billing_cycle: String,
    /// Decimal amount as text (e.g. `9.99`), kept exact.
    pub amount: String,
    pub next_due_date: Option<Date>,
    pub termination_date: Option<Date>,
    /// Custom field values by field name.
    pub custom_fields: BTreeMap<String, String>,
    /// Bumped on every change; used for optimistic checks at apply time.
    pub version: i64,
}
