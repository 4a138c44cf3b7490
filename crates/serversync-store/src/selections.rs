//! The run selection capability: the items a signed-in user ticked on a run's pages, kept
//! server-side across pages until the review (the pages have no script to carry them).
//!
//! A separate trait (a supertrait of [`crate::Store`]) so that every store implements it
//! beside the main capability.

use async_trait::async_trait;

use crate::{Result, RunId};

/// At most this many keys are kept per run and user: more than any run's items times
/// actions the pages offer, small enough that a forged form cannot grow the table without
/// bound.
pub const MAX_SELECTION_KEYS: usize = 50_000;

/// What a user ticked on a run.
#[async_trait]
pub trait RunSelections: Send + Sync {
    /// The keys (`{index}:{action}`) `user_id` has ticked on run `run_id`, sorted; empty
    /// when none.
    async fn run_selection(&self, run_id: RunId, user_id: i64) -> Result<Vec<String>>;

    /// Adds `ticked` and removes `unticked` from the selection of `user_id` on `run_id` in
    /// one transaction (a key in both ends up ticked). `Invalid` when a key is empty or
    /// longer than 64 bytes, or the selection would pass [`MAX_SELECTION_KEYS`];
    /// `NotFound` for an unknown run or user.
    async fn update_run_selection(
        &self,
        run_id: RunId,
        user_id: i64,
        ticked: &[String],
        unticked: &[String],
    ) -> Result<()>;

    /// Forgets the selection of `user_id` on `run_id` (after an apply); none is not an error.
    async fn clear_run_selection(&self, run_id: RunId, user_id: i64) -> Result<()>;
}
