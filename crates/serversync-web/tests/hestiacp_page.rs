//! The pages with the built-in HestiaCP module: the servers form offers it, and the run page
//! of a Hestia server lists its accounts under the `Domain` heading, shows the skipped record
//! of a user whose `NAME` broke the JSON, and shows the note of a user with several web
//! domains.

mod common;

use std::sync::Arc;

use common::*;
use panel_sim::{
    hestia_admin, hestia_user, hestia_web_domain, spawn_hestiacp, HestiaSimConfig,
    HESTIA_SHARED_IP, HESTIA_TEST_ACCESS_KEY,
};
use serde_json::json;
use serversync_app::App;
use serversync_modules::{ModuleOptions, ModuleRegistry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hestiacp_on_the_server_form_and_its_run_page() {
    let mut ann = hestia_user("ann", "ann.test");
    ann["_web_domains"] = json!([
        hestia_web_domain("ann.test", HESTIA_SHARED_IP),
        hestia_web_domain("ann-shop.test", HESTIA_SHARED_IP)
    ]);
    let mut bob = hestia_user("bob", "bob.test");
    bob["_quirk"] = json!("quote");
    let secrets: Vec<String> = [&ann, &bob]
        .iter()
        .map(|u| u["RKEY"].as_str().unwrap().to_string())
        .collect();
    let users = vec![hestia_admin(), ann, bob, hestia_user("cid", "cid.test")];
    let sim = spawn_hestiacp(
        "127.0.0.1:0".parse().unwrap(),
        HestiaSimConfig::with_accounts(users),
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let registry = ModuleRegistry::builtin(ModuleOptions::default());
    let app = App::with_registry(store, Arc::new(registry), "test");
    let doc = json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann", "last_name": "Lee"}],
        "products": [{"id": 140, "name": "Hestia Default", "module": "hestiacp",
                      "config_options": {"configoption1": "default"}}],
        "servers": [{"id": 14, "name": "hestia1", "module": "hestiacp", "hostname": "127.0.0.1",
                     "ip_address": HESTIA_SHARED_IP, "port": sim.addr.port(), "secure": false,
                     "username": "", "access_hash": HESTIA_TEST_ACCESS_KEY}],
    });
    let (base, run_id) = analyse_and_serve(app, &doc, "hestia1").await;
    let page = module_offered_and_run_page(&base, "hestiacp", run_id, "Domain").await;
    for d in ["ann.test", "cid.test"] {
        assert!(page.contains(d), "{d} missing: {page}");
    }
    // bob's record is reported, never silently dropped; the secret never shows.
    assert!(page.contains("bob"), "{page}");
    assert!(page.contains("is not valid JSON"), "{page}");
    assert!(page.contains("ann-shop.test"), "{page}");
    for s in &secrets {
        assert!(!page.contains(s.as_str()), "{s}: {page}");
    }
    sim.shutdown().await;
}
