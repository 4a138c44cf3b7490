//! The miss counter (issue 11): per service, how many complete listings of its server in a
//! row did not contain its account. Panels glitch, so one missing listing does not make a
//! service gone; scheduled scans and `auto_apply` wait for the server's `gone_after` count.
//!
//! The counts are written by [`crate::Runs::insert_run`] in the transaction that stores the
//! run, from [`crate::NewRun::misses`]: after a complete listing the services it missed
//! count one more (a count kept on another server, before a move, does not carry over) and
//! every other service of the server is back at 0; a failed or incomplete listing changes
//! nothing. The caller holds the server's lease, so the count it predicts for its document
//! (the stored one + 1, [`Misses::service_misses`]) is the one stored.

use async_trait::async_trait;
use serversync_core::model::{RunId, ServerId, ServiceId};

use crate::Result;

/// What one complete listing of a server says about the counter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MissUpdate {
    /// Every live service of the server whose account the listing did not contain (its
    /// `not_on_server` items): each gets its stored count on this server + 1. Every other
    /// service of the server is reset to 0.
    pub missing: Vec<ServiceId>,
}

/// One service's stored count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceMisses {
    pub service_id: ServiceId,
    /// Complete listings in a row without the account (at least 1; 0 is not stored).
    pub misses: u32,
    /// The run whose listing counted last.
    pub last_run_id: RunId,
}

/// Reads of the miss counter (writes come with the run, [`crate::Runs::insert_run`]).
#[async_trait]
pub trait Misses: Send + Sync {
    /// The counts above 0 of the services that are live on `server_id` now (a service
    /// terminated or moved to another server since drops out), ordered by service id.
    async fn service_misses(&self, server_id: ServerId) -> Result<Vec<ServiceMisses>>;
}
