use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Fault;

/// What a running simulator serves; swapped as a whole by [`SimHandle::set_accounts`].
pub(crate) struct SimState {
    pub(crate) accounts: Arc<Vec<Value>>,
    pub(crate) fault: Option<Fault>,
    /// The serialised default listing (no search, no chunk, no `want`), built on first use.
    pub(crate) full_listing: Arc<OnceLock<Bytes>>,
}

/// State shared between a [`SimHandle`] and its server task.
pub(crate) struct Shared {
    state: RwLock<SimState>,
    requests: AtomicU64,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(accounts: Vec<Value>, fault: Option<Fault>) -> Arc<Self> {
        let (shutdown, _) = watch::channel(false);
        Arc::new(Shared {
            state: RwLock::new(SimState {
                accounts: Arc::new(accounts),
                fault,
                full_listing: Arc::new(OnceLock::new()),
            }),
            requests: AtomicU64::new(0),
            shutdown,
        })
    }

    /// A consistent view of accounts, fault and listing cache (the lock is not held after).
    pub(crate) fn snapshot(&self) -> (Arc<Vec<Value>>, Option<Fault>, Arc<OnceLock<Bytes>>) {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        (
            Arc::clone(&st.accounts),
            st.fault,
            Arc::clone(&st.full_listing),
        )
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves once shutdown has been asked for.
    pub(crate) async fn shutdown_requested(&self) {
        let mut rx = self.shutdown.subscribe();
        // An error means the sender is gone, which also means shutdown.
        let _ = rx.wait_for(|down| *down).await;
    }

    /// Whether shutdown has been asked for.
    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

/// A running simulator on `addr`. Shuts down when dropped or via [`SimHandle::shutdown`].
///
/// The served accounts and fault can be changed while it runs, so one test can list, change
/// the server and list again.
pub struct SimHandle {
    /// The bound address (the real port when asked for port 0).
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    pub(crate) fn new(addr: SocketAddr, shared: Arc<Shared>, task: JoinHandle<()>) -> Self {
        SimHandle {
            addr,
            shared,
            task: Some(task),
        }
    }

    /// `http://HOST:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serve these accounts from now on (raw panel objects; quirks are served as given).
    ///
    /// Takes a `Vec<Value>` or an `Arc<Vec<Value>>`; the latter lets many simulators share
    /// one list (a generated account costs roughly 2.5–3 KB as a `serde_json::Value`).
    pub fn set_accounts(&self, accounts: impl Into<Arc<Vec<Value>>>) {
        let accounts = accounts.into();
        let mut st = self.shared.state.write().unwrap_or_else(|e| e.into_inner());
        st.accounts = accounts;
        st.full_listing = Arc::new(OnceLock::new());
    }

    /// Make every listing fail in this way from now on (`None`: answer normally).
    pub fn set_fault(&self, fault: Option<Fault>) {
        let mut st = self.shared.state.write().unwrap_or_else(|e| e.into_inner());
        st.fault = fault;
    }

    /// The accounts currently served.
    pub fn accounts(&self) -> Arc<Vec<Value>> {
        self.shared.snapshot().0
    }

    /// The fault currently applied.
    pub fn fault(&self) -> Option<Fault> {
        self.shared.snapshot().1
    }

    /// How many API requests (any function, refused ones included) the simulator has received.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Stop accepting, cancel pending `slow` answers, and wait for the server to finish.
    pub async fn shutdown(mut self) {
        self.shared.request_shutdown();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        // The server task ends by itself once open connections are done; `slow` answers
        // are cancelled by the same signal.
        self.shared.request_shutdown();
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .field("fault", &self.fault())
            .field("accounts", &self.accounts().len())
            .finish()
    }
}
