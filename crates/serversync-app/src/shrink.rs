//! Whether a listing shrank against the server's previous complete listings (issue 11): used
//! by the termination guard, the alerts and `auto_apply`.

use serversync_core::model::{RunId, ServerId};
use serversync_core::shrink::{shrinkage, Shrink};
use serversync_store::{ListingStatus, RunSummary};

use crate::{App, Result};

/// Runs looked back through for previous complete listings; a server whose last 200
/// listings all failed or were incomplete has no previous size to compare with.
pub(crate) const LOOK_BACK: i64 = 200;

/// Complete listings a new listing is compared with: the largest of them is the size the
/// panel is expected to have. A panel that stays broken at a tenth of its accounts is still
/// "shrunk" for this many listings — the ones in which `gone_after` would otherwise count its
/// accounts gone and `auto_apply` terminate them — instead of only for the first.
pub const SHRINK_MEMORY: usize = 5;

impl App {
    /// The shrink of a complete listing of `now` accounts on `server_id` against the largest
    /// of the last [`SHRINK_MEMORY`] complete listings stored before run `before` (before
    /// every stored run when `None`), with the limit
    /// [`serversync_core::plan::Guards::max_shrink_share`]. `None` when it did not shrink
    /// past the limit or there is no previous complete listing.
    ///
    /// Errors: the store's, as [`crate::AppError::Store`].
    pub async fn listing_shrink(
        &self,
        server_id: ServerId,
        now: usize,
        before: Option<RunId>,
    ) -> Result<Option<Shrink>> {
        let runs = self.store.runs(server_id, LOOK_BACK).await?;
        Ok(self.shrink_among(&runs, now, before))
    }

    /// [`App::listing_shrink`] over run summaries already read (newest first, at least
    /// [`LOOK_BACK`] of them when the server has that many).
    pub(crate) fn shrink_among(
        &self,
        runs: &[RunSummary],
        now: usize,
        before: Option<RunId>,
    ) -> Option<Shrink> {
        let previous = runs
            .iter()
            .filter(|r| {
                r.listing_status == ListingStatus::Complete && before.is_none_or(|b| r.id < b)
            })
            .take(SHRINK_MEMORY)
            .map(|r| usize::try_from(r.accounts).unwrap_or(0))
            .max();
        previous.and_then(|p| shrinkage(p, now, self.guards.max_shrink_share))
    }
}
