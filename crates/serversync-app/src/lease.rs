//! Server leases while an analysis or apply runs, and cancellation of that work.
//!
//! [`App::take_lease`] takes the per-server lease ([`serversync_store::lease`]) and keeps it
//! alive with a background task renewing it every third of its lifetime; [`Lease::release`]
//! stops the renewals and releases it. If the work's future is dropped instead, the renewals
//! stop and the release is sent off in the background (the lease runs out anyway).
//!
//! [`Cancel`] is how a caller (Ctrl-C in the CLI) stops work: the work checks it only up to
//! its point of no return — the start of its single write — and after that runs to the end,
//! so that what is reported and what the database holds always agree.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serversync_core::model::{Server, ServerId};
use serversync_store::{HeldLock, LockHolder, Store, StoreError};
use tokio::sync::watch;

use crate::{App, AppError, Result};

/// The default lease lifetime: a dead holder blocks its server at most this long (a holder
/// of this machine that is gone not at all).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

/// A request to stop work before its point of no return. Cloning shares it.
#[derive(Clone, Debug)]
pub struct Cancel {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel {
            tx: Arc::new(watch::channel(false).0),
        }
    }
}

impl Cancel {
    /// A request nobody has made yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the work to stop (idempotent).
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once [`Cancel::cancel`] was called.
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// A server lease held by this process, renewed in the background until released.
pub struct Lease {
    store: Arc<dyn Store>,
    server_id: ServerId,
    server: String,
    holder_id: String,
    renewer: Option<tokio::task::JoinHandle<()>>,
    lost: watch::Receiver<bool>,
    released: bool,
}

impl Lease {
    /// What a change set written under this lease carries (checked in its transaction).
    pub fn held(&self) -> HeldLock {
        HeldLock {
            server_id: self.server_id,
            holder_id: self.holder_id.clone(),
        }
    }

    /// Resolves when a renewal found the lease no longer this holder's.
    pub async fn lost(&self) {
        let mut rx = self.lost.clone();
        if rx.wait_for(|l| *l).await.is_err() {
            // The renewer ended without losing the lease (it was stopped): never resolves.
            std::future::pending::<()>().await;
        }
    }

    /// Runs `fut` — work that writes nothing — unless the lease is lost or `cancel` fires
    /// first; then the future is dropped and the error says why.
    pub async fn unless_stopped<T>(
        &self,
        cancel: &Cancel,
        what: &str,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        if cancel.is_cancelled() {
            return Err(AppError::Interrupted(format!(
                "interrupted before anything was written: {what} of server {} was cancelled",
                self.server
            )));
        }
        tokio::select! {
            r = fut => r,
            () = self.lost() => Err(AppError::LockLost(self.server.clone())),
            () = cancel.cancelled() => Err(AppError::Interrupted(format!(
                "interrupted before anything was written: {what} of server {} was cancelled",
                self.server
            ))),
        }
    }

    /// Stops the renewals and releases the lease (if it is still this holder's).
    pub async fn release(mut self) -> Result<()> {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        self.released = true;
        Ok(self
            .store
            .unlock_server(self.server_id, &self.holder_id)
            .await?)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        if !self.released {
            // The work was dropped (e.g. its caller went away): release in the background if
            // a runtime is still there; otherwise the lease simply runs out.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let (store, id, holder) =
                    (self.store.clone(), self.server_id, self.holder_id.clone());
                rt.spawn(async move {
                    let _ = store.unlock_server(id, &holder).await;
                });
            }
        }
    }
}

impl App {
    /// This process's lease holder (actor, pid, host, process start time).
    pub fn lock_holder(&self) -> LockHolder {
        LockHolder::this_process(&self.actor, &self.instance)
    }

    /// Takes `server`'s lease for [`App::lease_ttl`] and renews it every third of that until
    /// released. `Busy` names the holder and its expiry.
    pub async fn take_lease(&self, server: &Server) -> Result<Lease> {
        let holder = self.lock_holder();
        let ttl = self.lease_ttl.max(Duration::from_millis(300));
        match self.store.lock_server(server.id, &holder, ttl).await {
            Ok(l) if l.took_over => self.metrics.lease_taken_over(),
            Ok(_) => {}
            Err(StoreError::Busy(l)) => {
                return Err(AppError::Busy {
                    server: server.name.clone(),
                    holder: l.holder.describe(),
                    until: serversync_store::show_time(l.expires_at),
                })
            }
            Err(e) => return Err(e.into()),
        }
        let (lost_tx, lost) = watch::channel(false);
        let (store, id, holder_id, name) = (
            self.store.clone(),
            server.id,
            holder.id.clone(),
            server.name.clone(),
        );
        let renewer = tokio::spawn(async move {
            let every = ttl / 3;
            loop {
                tokio::time::sleep(every).await;
                match store.renew_lock(id, &holder_id, ttl).await {
                    Ok(_) => {}
                    Err(StoreError::LockLost(_)) => {
                        tracing::warn!(server = %name, "the server's lock was lost");
                        let _ = lost_tx.send(true);
                        return;
                    }
                    // A busy database: try again next time (the lease has two more periods).
                    Err(e) => tracing::warn!(server = %name, error = %e, "lock renewal failed"),
                }
            }
        });
        Ok(Lease {
            store: self.store.clone(),
            server_id: server.id,
            server: server.name.clone(),
            holder_id: holder.id,
            renewer: Some(renewer),
            lost,
            released: false,
        })
    }
}
