//! The pages with an external command module (issue 7 §5): the servers form offers it, and
//! the run page heads the identifier column with the module's
//! `ListAccountsUniqueIdentifierDisplayName` and shows the notes of leniently read records.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;
use serversync_app::App;
use serversync_modules::{ModuleRegistry, RegistryConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_page_uses_the_modules_identifier_heading() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("modules/sitepanel");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(
        module.join("module.toml"),
        "command = [\"python3\", \"list.py\"]\n[meta_data]\nDisplayName = \"Site Panel\"\n\
         ListAccountsUniqueIdentifierDisplayName = \"Site name\"\n\
         ListAccountsUniqueIdentifierField = \"username\"\n",
    )
    .unwrap();
    std::fs::write(
        module.join("list.py"),
        "import json, sys\njson.load(sys.stdin)\nprint(json.dumps({'success': True, 'accounts': [\
         {'uniqueIdentifier': 'alpha', 'username': 'alpha', 'status': 'active', 'product': 7}]}))\n",
    )
    .unwrap();
    let registry = ModuleRegistry::load(RegistryConfig {
        modules_dir: Some(dir.path().join("modules")),
        ..Default::default()
    })
    .await
    .unwrap();
    let store = sqlite_store(dir.path()).await;
    let app = App::with_registry(store, Arc::new(registry), "test");
    let doc = json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann", "last_name": "Lee"}],
        "products": [{"id": 10, "name": "Plan 7", "module": "sitepanel", "config_options": {"configoption1": "7"}}],
        "servers": [{"id": 100, "name": "site1", "module": "sitepanel", "hostname": "127.0.0.1",
                     "ip_address": "192.0.2.10", "secure": false, "username": "u", "access_hash": "T"}],
    });
    let (base, run_id) = analyse_and_serve(app, &doc, "site1").await;
    let page = module_offered_and_run_page(&base, "sitepanel", run_id, "Site name").await;
    assert!(
        page.contains("status &#34;active&#34; read as Active"),
        "{page}"
    );
    assert!(page.contains("product was the number 7"), "{page}");
}
