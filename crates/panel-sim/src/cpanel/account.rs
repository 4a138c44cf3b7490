use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::macros::format_description;
use time::OffsetDateTime;

/// The shared IPv4 address of the simulated server (documentation range).
pub const SHARED_IP: &str = "192.0.2.10";

/// One entry of WHM API 1 `listaccts` → `data.acct[]` (and of `accountsummary`), in its
/// canonical, well-typed form.
///
/// Source: WHM API 1 `listaccts` documentation (fields as cPanel & WHM returns them); see
/// `/work/shared/reference/panel-apis.md` B.1. The simulator itself serves raw
/// [`serde_json::Value`] objects so that tests can serve quirks this type cannot express
/// (`suspended: "1"`, `unix_startdate: "1529997060"`, missing keys); use
/// [`CpanelAccount::to_value`] to get such an object and then edit it.
///
/// Shape (JSON): `{"user":"ann","domain":"ann.test","owner":"root","plan":"basic",
/// "email":"ann@mail.test","ip":"192.0.2.10","ipv6":[],"suspended":0,
/// "suspendreason":"not suspended","suspendtime":null,"is_locked":0,
/// "unix_startdate":1529997060,"startdate":"18 Jun 26 07:11","disklimit":"1000M",
/// "diskused":"12M"}`
///
/// (WHM returns more keys — `partition`, `theme`, `shell`, `maxpop`, … — that reconciliation
/// does not use; they are left out to keep large simulated servers small in memory. Add them
/// to the JSON object when a test needs them.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpanelAccount {
    /// cPanel username (unique per server; lowercase, ≤ 16 chars, starts with a letter).
    pub user: String,
    /// Main domain, IDN domains in their ASCII (`xn--`) form.
    pub domain: String,
    /// `root`, a reseller's username, or the account itself for a reseller.
    pub owner: String,
    /// Package name; reseller packages are `<reseller>_<name>`; `default` occurs.
    pub plan: String,
    /// Contact e-mail, or the placeholder `*unknown*`, or empty.
    pub email: String,
    /// Dedicated or shared IPv4 address.
    pub ip: String,
    /// IPv6 addresses, usually empty.
    pub ipv6: Vec<String>,
    /// 1 when suspended, else 0.
    pub suspended: u8,
    /// `not suspended` when active.
    pub suspendreason: String,
    /// Suspension time (epoch seconds); null or 0 when active.
    pub suspendtime: Option<i64>,
    /// 1 when only root may unsuspend.
    pub is_locked: u8,
    /// Creation time, epoch seconds (0 when unknown).
    pub unix_startdate: i64,
    /// Creation time as `YY Mon DD HH:MM` (two-digit year first), see [`whm_startdate`].
    pub startdate: String,
    /// Disk quota, e.g. `1000M` or `unlimited`.
    pub disklimit: String,
    /// Disk used, e.g. `12M`.
    pub diskused: String,
}

impl CpanelAccount {
    /// An active, root-owned account on the shared IP with package `default`, e-mail
    /// `<user>@mail.test`, created 2023-11-14 22:13:20 UTC.
    pub fn new(user: &str, domain: &str) -> Self {
        let unix_startdate = 1_700_000_000;
        CpanelAccount {
            user: user.to_string(),
            domain: domain.to_string(),
            owner: "root".to_string(),
            plan: "default".to_string(),
            email: format!("{user}@mail.test"),
            ip: SHARED_IP.to_string(),
            ipv6: Vec::new(),
            suspended: 0,
            suspendreason: "not suspended".to_string(),
            suspendtime: None,
            is_locked: 0,
            unix_startdate,
            startdate: whm_startdate(unix_startdate),
            disklimit: "unlimited".to_string(),
            diskused: "0M".to_string(),
        }
    }

    /// Set the creation time, keeping `startdate` consistent with `unix_startdate`.
    pub fn created(mut self, unix_startdate: i64) -> Self {
        self.unix_startdate = unix_startdate;
        self.startdate = whm_startdate(unix_startdate);
        self
    }

    /// Mark the account suspended at `suspendtime` for `reason`.
    pub fn suspended(mut self, reason: &str, suspendtime: i64) -> Self {
        self.suspended = 1;
        self.suspendreason = reason.to_string();
        self.suspendtime = Some(suspendtime);
        self
    }

    /// The JSON object WHM would serve for this account.
    pub fn to_value(&self) -> Value {
        self.clone().into_value()
    }

    /// [`CpanelAccount::to_value`], moving the strings instead of copying them.
    pub fn into_value(self) -> Value {
        let mut m = Map::new();
        m.insert("user".into(), Value::String(self.user));
        m.insert("domain".into(), Value::String(self.domain));
        m.insert("owner".into(), Value::String(self.owner));
        m.insert("plan".into(), Value::String(self.plan));
        m.insert("email".into(), Value::String(self.email));
        m.insert("ip".into(), Value::String(self.ip));
        m.insert(
            "ipv6".into(),
            Value::Array(self.ipv6.into_iter().map(Value::String).collect()),
        );
        m.insert("suspended".into(), Value::from(self.suspended));
        m.insert("suspendreason".into(), Value::String(self.suspendreason));
        m.insert(
            "suspendtime".into(),
            self.suspendtime.map_or(Value::Null, Value::from),
        );
        m.insert("is_locked".into(), Value::from(self.is_locked));
        m.insert("unix_startdate".into(), Value::from(self.unix_startdate));
        m.insert("startdate".into(), Value::String(self.startdate));
        m.insert("disklimit".into(), Value::String(self.disklimit));
        m.insert("diskused".into(), Value::String(self.diskused));
        Value::Object(m)
    }
}

/// WHM's `startdate` form of an epoch time: `YY Mon DD HH:MM` in UTC, e.g. 1529997060 →
/// `"18 Jun 26 07:11"` (2018-06-26). Epoch 0 gives `"70 Jan 01 00:00"`.
pub fn whm_startdate(unix: i64) -> String {
    let fmt = format_description!("[year repr:last_two] [month repr:short] [day] [hour]:[minute]");
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startdate_is_two_digit_year_first() {
        assert_eq!(whm_startdate(1_529_997_060), "18 Jun 26 07:11");
        assert_eq!(whm_startdate(0), "70 Jan 01 00:00");
    }

    #[test]
    fn account_value_has_whm_keys() {
        let v = CpanelAccount::new("ann", "ann.test").to_value();
        assert_eq!(v["user"], "ann");
        assert_eq!(v["suspended"], 0);
        assert_eq!(v["suspendtime"], Value::Null);
        assert_eq!(v["ipv6"], serde_json::json!([]));
        assert_eq!(v["startdate"], "23 Nov 14 22:13");
        // into_value and serde agree.
        let a = CpanelAccount::new("bob", "bob.test").suspended("x", 5);
        assert_eq!(a.to_value(), serde_json::to_value(&a).unwrap_or_default());
    }
}
