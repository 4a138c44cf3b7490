//! The demo's servers beyond the four cPanel ones: one per other built-in panel, and servers
//! run by an external command module and a WHMCS-style PHP module (CONTRACT.md "Modules").
//!
//! Each panel or module kind adds one starter to [`STARTERS`]. A starter starts what its
//! server needs (a simulator on loopback, module files in the demo's modules folder) and
//! returns the server's records (a records-document fragment), or `None` with a notice when
//! something it needs is missing (e.g. `php`).
//!
//! Id ranges, so fragments never collide: server `id` N (10..99), its products `N*10..N*10+9`,
//! its services `N*100..N*100+99`, extra clients `N*10..N*10+9`; clients 1..5 of the cPanel
//! demo may be used.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::future::BoxFuture;
use panel_sim::SimHandle;
use serde_json::Value;

use crate::ModuleArgs;

/// One extra demo server.
pub(crate) struct ExtraServer {
    /// The server's name (analysed after web1..web4).
    pub name: String,
    /// One line for the demo's header: what runs this server.
    pub about: String,
    /// Records-document fragment: `{"clients": [...], "products": [...], "servers": [...],
    /// "services": [...]}` (sections may be left out).
    pub records: Value,
    /// The simulator to shut down at the end, if any.
    pub sim: Option<SimHandle>,
}

/// What a starter gets: the demo's modules folder (already created) and the PHP binary.
#[allow(dead_code)] // read by the external and PHP module starters
pub(crate) struct DemoEnv<'a> {
    pub modules_dir: &'a Path,
    pub php: &'a Path,
}

type Starter = for<'a> fn(&'a DemoEnv<'a>) -> BoxFuture<'a, anyhow::Result<Option<ExtraServer>>>;

/// The starters, in the order their servers are shown.
const STARTERS: &[Starter] = &[
    super::directadmin::start,
    super::virtualmin::start,
    super::external::start,
    super::whmcs::start,
    super::plesk::start,
    super::hestiacp::start,
];

static SKIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records a notice for a demo server that was left out (printed in the demo's header).
#[allow(dead_code)] // used by starters that need a tool which may be missing
pub(crate) fn skip_notice(note: String) {
    if let Ok(mut v) = SKIPPED.lock() {
        v.push(note);
    }
}

pub(crate) fn skipped_notes() -> Vec<String> {
    SKIPPED.lock().map(|v| v.clone()).unwrap_or_default()
}

/// The folder the demo writes its module folders to.
const DEMO_MODULES_DIR: &str = "serversync-demo-modules";

/// The module settings of the demo: the user's, with the demo's modules folder (recreated)
/// when the user gave none.
pub(crate) fn demo_module_args(m: &ModuleArgs) -> anyhow::Result<ModuleArgs> {
    let dir = match &m.modules_dir {
        Some(d) => d.clone(),
        None => {
            let d = PathBuf::from(DEMO_MODULES_DIR);
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", d.display()))?;
            d
        }
    };
    Ok(ModuleArgs {
        secret_key_file: m.secret_key_file.clone(),
        connect: m.connect,
        read: m.read,
        max_listing_bytes: m.max_listing_bytes,
        listing_deadline_secs: m.listing_deadline_secs,
        lease_secs: m.lease_secs,
        modules_dir: Some(dir),
        php: m.php.clone(),
        policies: m.policies.clone(),
        keep_runs: m.keep_runs,
    })
}

/// Starts every extra demo server.
pub(crate) async fn start_all(m: &ModuleArgs) -> anyhow::Result<Vec<ExtraServer>> {
    let dir = m
        .modules_dir
        .clone()
        .unwrap_or_else(|| DEMO_MODULES_DIR.into());
    let env = DemoEnv {
        modules_dir: &dir,
        php: &m.php,
    };
    let mut out = Vec::new();
    for start in STARTERS {
        if let Some(x) = start(&env).await? {
            out.push(x);
        }
    }
    Ok(out)
}

/// Appends the sections of `fragment` to the records document `doc`.
pub(crate) fn merge(doc: &mut Value, fragment: &Value) {
    for section in ["clients", "products", "servers", "services"] {
        let Some(items) = fragment.get(section).and_then(Value::as_array) else {
            continue;
        };
        if let Some(list) = doc.get_mut(section).and_then(Value::as_array_mut) {
            list.extend(items.iter().cloned());
        }
    }
}

/// Writes `files` (relative path, contents) into `modules_dir/name/`.
#[allow(dead_code)] // used by the external and PHP module starters
pub(crate) fn write_module(
    modules_dir: &Path,
    name: &str,
    files: &[(&str, &str)],
) -> anyhow::Result<PathBuf> {
    let dir = modules_dir.join(name);
    for (rel, contents) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, contents)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(dir)
}
