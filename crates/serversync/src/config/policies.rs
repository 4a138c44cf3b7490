//! The miss counter's and `auto_apply`'s part of the configuration (issue 11):
//! `[guards] gone_after`, `[guards] max_shrink_percent`, `[scan] auto_apply` and their
//! `[scan.servers.NAME]` overrides, checked and turned into what the app holds.

use std::collections::HashMap;

use serversync_app::auto_apply::{AutoApply, AutoApplyPolicy};
use serversync_app::misses::GoneAfter;

use super::{Config, Loaded};
use crate::output;

/// What every app of this process gets from the configuration, beside the module options.
#[derive(Clone, Debug, Default)]
pub struct Policies {
    pub gone_after: GoneAfter,
    pub auto_apply: AutoApplyPolicy,
    /// `[guards] max_shrink_percent / 100`.
    pub max_shrink_share: f64,
}

impl Policies {
    /// From a checked configuration ([`Loaded::validate_misses`]); an `auto_apply` list
    /// that does not parse counts as empty (the check refused it before).
    pub fn of(c: &Config) -> Policies {
        let parse = |v: &[String]| AutoApply::parse(v).unwrap_or_default();
        Policies {
            gone_after: GoneAfter {
                default: c.guards.gone_after,
                servers: c
                    .scan
                    .servers
                    .iter()
                    .filter_map(|(name, s)| s.gone_after.map(|g| (name.clone(), g)))
                    .collect(),
            },
            auto_apply: AutoApplyPolicy {
                default: parse(&c.scan.auto_apply),
                servers: c
                    .scan
                    .servers
                    .iter()
                    .filter_map(|(name, s)| {
                        s.auto_apply.as_deref().map(|l| (name.clone(), parse(l)))
                    })
                    .collect::<HashMap<_, _>>(),
            },
            max_shrink_share: c.guards.max_shrink_percent / 100.0,
        }
    }

    /// Sets them on `app`.
    pub fn apply_to(&self, app: &mut serversync_app::App) {
        app.gone_after = self.gone_after.clone();
        app.auto_apply = self.auto_apply.clone();
        app.guards.max_shrink_share = self.max_shrink_share;
    }
}

impl Loaded {
    /// `gone_after` of at least 1 and `auto_apply` lists of safe actions only, each error
    /// naming its key and where the value came from.
    pub(crate) fn validate_misses(&self) -> anyhow::Result<()> {
        let c = &self.config;
        let bad = |key: &str, why: &str| -> anyhow::Error {
            anyhow::anyhow!("configuration: `{key}` {why} ({})", self.origin(key))
        };
        if c.guards.gone_after == 0 {
            return Err(bad("guards.gone_after", "must be at least 1"));
        }
        if let Err(e) = AutoApply::parse(&c.scan.auto_apply) {
            return Err(bad("scan.auto_apply", &e.to_string()));
        }
        for (name, s) in &c.scan.servers {
            let key = |k: &str| format!("scan.servers.{}.{k}", output::clean(name));
            if s.gone_after == Some(0) {
                return Err(bad(&key("gone_after"), "must be at least 1"));
            }
            if let Some(Err(e)) = s.auto_apply.as_deref().map(AutoApply::parse) {
                return Err(bad(&key("auto_apply"), &e.to_string()));
            }
        }
        Ok(())
    }
}
