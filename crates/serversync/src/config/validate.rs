//! Values that parse but make no sense, each refused naming its key and where it came from.

use super::Loaded;
use crate::output;

impl Loaded {
    /// Values that parse but make no sense, named with their key and source.
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        let c = &self.config;
        let bad = |key: &str, why: &str| -> anyhow::Error {
            anyhow::anyhow!("configuration: `{key}` {why} ({})", self.origin(key))
        };
        for (key, v) in [
            (
                "guards.max_terminate_percent",
                c.guards.max_terminate_percent,
            ),
            ("guards.max_move_percent", c.guards.max_move_percent),
            ("guards.max_shrink_percent", c.guards.max_shrink_percent),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return Err(bad(key, &format!("is {v}, not between 0 and 100")));
            }
        }
        if !(1..=3600).contains(&c.lease_secs) {
            return Err(bad(
                "lease_secs",
                &format!("is {}, not between 1 and 3600", c.lease_secs),
            ));
        }
        if c.runs.keep == 0 {
            return Err(bad("runs.keep", "must be at least 1"));
        }
        if c.scan.concurrency == 0 {
            return Err(bad("scan.concurrency", "must be at least 1"));
        }
        if c.scan.interval_secs == 0 {
            return Err(bad("scan.interval_secs", "must be at least 1"));
        }
        if c.scan.deadline_secs == 0 {
            return Err(bad("scan.deadline_secs", "must be at least 1"));
        }
        for (name, s) in &c.scan.servers {
            if s.interval_secs == Some(0) || s.deadline_secs == Some(0) {
                return Err(bad(
                    &format!("scan.servers.{}", output::clean(name)),
                    "has a zero interval or deadline",
                ));
            }
        }
        self.validate_misses()?;
        for (i, w) in c.notify.webhooks.iter().enumerate() {
            if !(w.url.starts_with("https://") || w.url.starts_with("http://")) {
                return Err(bad(
                    "notify.webhooks",
                    &format!("entry {} has a URL that is not http:// or https://", i + 1),
                ));
            }
        }
        if !(1..=10).contains(&c.notify.attempts) {
            return Err(bad("notify.attempts", "is not between 1 and 10"));
        }
        if !(1..=300).contains(&c.notify.timeout_secs) {
            return Err(bad("notify.timeout_secs", "is not between 1 and 300"));
        }
        if let Some(at) = &c.notify.daily_report_at {
            if serversync_app::notify::parse_time_of_day(at).is_none() {
                return Err(bad(
                    "notify.daily_report_at",
                    "is not a time of day HH:MM (UTC)",
                ));
            }
        }
        if let Some(u) = &c.notify.base_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(bad("notify.base_url", "is not an http:// or https:// URL"));
            }
        }
        if let Some(s) = &c.notify.smtp {
            if !["starttls", "tls", "none"].contains(&s.tls.as_str()) {
                return Err(bad(
                    "notify.smtp.tls",
                    "is not one of starttls, tls or none",
                ));
            }
        }
        Ok(())
    }
}
