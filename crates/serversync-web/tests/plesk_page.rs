//! The pages with the built-in Plesk module: the servers form offers `plesk`, and the run
//! page of a Plesk server (simulated) shows its subscriptions, their status details and the
//! notes of the status-4 (backup) and custom subscriptions.

mod common;

use std::sync::Arc;

use common::*;
use panel_sim::{plesk_subscription, spawn_plesk, PleskSimConfig};
use serde_json::json;
use serversync_app::App;
use serversync_modules::{ModuleOptions, ModuleRegistry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plesk_is_offered_and_its_run_page_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut backup = plesk_subscription(1, "backup.test", "ann");
    backup["status"] = json!(4);
    let mut expired = plesk_subscription(2, "expired.test", "ann");
    expired["status"] = json!(272);
    expired["ftp_login"] = json!("ann_2");
    let mut custom = plesk_subscription(3, "custom.test", "ann");
    custom["plan"] = serde_json::Value::Null;
    custom["ftp_login"] = json!("ann_3");
    let sim = spawn_plesk(
        "127.0.0.1:0".parse().unwrap(),
        PleskSimConfig::with_accounts(vec![backup, expired, custom]),
    )
    .await
    .unwrap();
    let registry = ModuleRegistry::builtin(ModuleOptions::default());
    let store = sqlite_store(dir.path()).await;
    let app = App::with_registry(store, Arc::new(registry), "test");
    let doc = json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann", "last_name": "Lee"}],
        "products": [{"id": 120, "name": "Plesk Basic", "module": "plesk", "config_options": {"configoption1": "Basic"}}],
        "servers": [{"id": 12, "name": "plesk1", "module": "plesk", "hostname": "127.0.0.1",
                     "ip_address": "192.0.2.12", "port": sim.addr.port(), "secure": false,
                     "username": "admin", "access_hash": "TOKEN"}],
    });
    let (base, run_id) = analyse_and_serve(app, &doc, "plesk1").await;
    let page = module_offered_and_run_page(&base, "plesk", run_id, "Domain").await;
    for text in [
        "backup.test",
        "expired.test",
        "custom.test",
        "status 4: under backup/restore (4): the subscription works, listed as Active",
        "no service plan (a custom subscription): the product is empty",
    ] {
        assert!(page.contains(text), "{text} missing from {page}");
    }
    sim.shutdown().await;
}
