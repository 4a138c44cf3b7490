//! Whether a listing shrank against the server's previous complete listing (issue 11): used
//! by the termination guard, the alerts and `auto_apply`.

use serversync_core::model::{RunId, ServerId};
use serversync_core::shrink::{shrinkage, Shrink};
use serversync_store::ListingStatus;

use crate::{App, Result};

/// Runs looked back through for the previous complete listing; a server whose last 200
/// listings all failed or were incomplete has no previous size to compare with.
const LOOK_BACK: i64 = 200;

impl App {
    /// The shrink of a complete listing of `now` accounts on `server_id` against the latest
    /// complete listing stored before run `before` (before every stored run when `None`),
    /// with the limit [`serversync_core::plan::Guards::max_shrink_share`]. `None` when it did
    /// not shrink past the limit or there is no previous complete listing.
    ///
    /// Errors: the store's, as [`crate::AppError::Store`].
    pub async fn listing_shrink(
        &self,
        server_id: ServerId,
        now: usize,
        before: Option<RunId>,
    ) -> Result<Option<Shrink>> {
        let runs = self.store.runs(server_id, LOOK_BACK).await?;
        let previous = runs.iter().find(|r| {
            r.listing_status == ListingStatus::Complete && before.is_none_or(|b| r.id < b)
        });
        Ok(previous.and_then(|p| {
            let previous = usize::try_from(p.accounts).unwrap_or(0);
            shrinkage(previous, now, self.guards.max_shrink_share)
        }))
    }
}
