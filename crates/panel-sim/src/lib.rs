//! Simulators of hosting panels' account-listing APIs, for serversync's demo, tests and
//! benchmarks.
//!
//! Each simulator serves one panel's documented API — authentication, envelope, paging,
//! quirks — over plain HTTP on loopback, with generated or supplied accounts, and can be told
//! to fail in one of a few documented ways ([`Fault`]).
//!
//! Panels:
//! - **cPanel & WHM** (WHM API 1 `listaccts`): [`spawn_cpanel`], [`CpanelSimConfig`],
//!   [`generate_cpanel_accounts`], [`CpanelAccount`]. See the [`cpanel`] module for the exact
//!   wire behaviour.
//! - **DirectAdmin** (legacy `CMD_API_SHOW_ALL_USERS` + `CMD_API_SHOW_USER_CONFIG`):
//!   [`spawn_directadmin`], [`DirectAdminSimConfig`], [`generate_directadmin_accounts`]. See
//!   the [`directadmin`] module.
//! - **Virtualmin** (remote API `remote.cgi?program=list-domains&multiline=&json=1`):
//!   [`spawn_virtualmin`], [`VirtualminSimConfig`], [`generate_virtualmin_accounts`],
//!   [`VirtualminDomain`]. See the [`virtualmin`] module.
//! - **Plesk** (XML API `agent.php`: `webspace`, `customer`, `reseller`, `service-plan`,
//!   `service-plan-addon` `get`): [`spawn_plesk`], [`PleskSimConfig`],
//!   [`generate_plesk_accounts`], [`plesk_subscription`]. See the [`plesk`] module.
//! - **HestiaCP** (`POST /api/` `v-list-users json` + `v-list-web-domains USER json`, both
//!   auth modes with their HTTP status rules): [`spawn_hestiacp`], [`HestiaSimConfig`],
//!   [`generate_hestia_accounts`], [`hestia_user`]. See the [`hestiacp`] module.
//!
//! A fleet of cPanel simulators with the records of a provider who bills most of their
//! accounts: [`fleet::spawn_cpanel_fleet`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), panel_sim::SimError> {
//! use panel_sim::{spawn_cpanel, CpanelSimConfig, Fault};
//! let sim = spawn_cpanel("127.0.0.1:0".parse().unwrap(), CpanelSimConfig::generated(25, 1)).await?;
//! // GET {sim.base_url()}/json-api/listaccts?api.version=1 with `Authorization: whm root:TOKEN`
//! sim.set_fault(Some(Fault::Http500)); // every listing now fails with HTTP 500
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod basic_auth;
pub mod cpanel;
pub mod directadmin;
mod error;
mod fault;
pub mod fleet;
mod handle;
pub mod hestiacp;
pub mod plesk;
pub mod transport;
pub mod virtualmin;

pub use cpanel::{
    generate_cpanel_accounts, load_accounts_file, spawn_cpanel, whm_startdate, CpanelAccount,
    CpanelSimConfig,
};
pub use directadmin::{
    da_date_created, directadmin_user, generate_directadmin_accounts,
    load_directadmin_accounts_file, spawn_directadmin, DirectAdminSimConfig,
};
pub use error::SimError;
pub use fault::{Fault, DEFAULT_SLOW, DEFAULT_TRICKLE, HUGE_TOTAL, OVERSIZED_FIELD_BYTES};
pub use handle::SimHandle;
pub use hestiacp::{
    generate_hestia_accounts, hestia_admin, hestia_date_time, hestia_user, hestia_web_domain,
    load_hestia_accounts_file, spawn_hestiacp, HestiaSimConfig, HESTIA_SHARED_IP,
    HESTIA_TEST_ACCESS_KEY,
};
pub use plesk::{
    generate_plesk_accounts, load_plesk_accounts_file, plesk_subscription, spawn_plesk,
    PleskSimConfig,
};
pub use virtualmin::{
    generate_virtualmin_accounts, load_virtualmin_accounts_file, spawn_virtualmin,
    VirtualminDomain, VirtualminSimConfig,
};
