//! Compact stored runs and their retention (issue 11): a stored run reads back into exactly
//! the items of the document `analyse` returned, while storing far fewer bytes; a server
//! keeps only its newest runs.

use std::sync::Arc;

use panel_sim::{spawn_cpanel, CpanelSimConfig, SimHandle};
use serde_json::{json, Value};
use serversync_app::items::{RunCache, StoredItem};
use serversync_app::App;
use serversync_modules::NoProgress;
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::Store;

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    _sim: SimHandle,
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// One cPanel server `web1` with `n` generated accounts, and billing records for most of
/// them: most in sync, some drifted (status), some with another e-mail or a domain in
/// another case (still in sync, but not equal to the account's), some accounts without a
/// service (not in billing) and services without an account (not on the server).
async fn world(n: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = serversync_store::open_with_default_key(&url).await.unwrap();
    let accounts = panel_sim::generate_cpanel_accounts(n, 7);
    let sim = spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::with_accounts(accounts.clone()),
    )
    .await
    .unwrap();
    let mut clients = Vec::new();
    let mut services = Vec::new();
    let mut products = std::collections::BTreeMap::new();
    for (i, a) in accounts.iter().enumerate() {
        let plan = text(a, "plan").to_string();
        let next = 100 + products.len() as i64;
        let pid = *products.entry(plan).or_insert(next);
        if i % 10 == 3 {
            continue; // not in billing
        }
        let user = text(a, "user");
        let email = match i % 7 {
            0 => format!("other{i}@mail.test"),
            _ if text(a, "email").contains('@') => text(a, "email").to_string(),
            _ => format!("{user}@mail.test"),
        };
        clients.push(json!({"id": i + 1, "email": email, "first_name": user,
                            "last_name": "T", "company": "", "status": "Active"}));
        let suspended = a.get("suspended").and_then(Value::as_i64) == Some(1);
        let status = match (suspended, i % 9 == 4) {
            (true, false) | (false, true) => "Suspended",
            _ => "Active",
        };
        let domain = match i % 11 {
            5 => text(a, "domain").to_uppercase(),
            _ => text(a, "domain").to_string(),
        };
        let regdate = a
            .get("unix_startdate")
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
            .filter(|t| *t > 0)
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
            .map(|t| serversync_core::model::format_date(t.date()));
        let ip = match text(a, "ip") {
            "192.0.2.10" => "",
            other => other,
        };
        services.push(
            json!({"id": 1000 + i, "client_id": i + 1, "product_id": pid,
            "server_id": 1, "domain": domain, "username": user, "dedicated_ip": ip,
            "regdate": regdate, "status": status, "billing_cycle": "Monthly",
            "amount": "9.99"}),
        );
    }
    for j in 0..5 {
        clients.push(
            json!({"id": 90_000 + j, "email": format!("gone{j}@mail.test"),
                            "status": "Active"}),
        );
        services.push(
            json!({"id": 90_000 + j, "client_id": 90_000 + j, "product_id": 100,
            "server_id": 1, "domain": format!("gone{j}.test"), "username": format!("gone{j}"),
            "status": "Active", "billing_cycle": "Monthly", "amount": "9.99"}),
        );
    }
    let products: Vec<Value> = products
        .iter()
        .map(|(p, id)| {
            json!({"id": id, "name": format!("Hosting {p}"), "module": "cpanel",
                              "config_options": {"configoption1": p}})
        })
        .collect();
    let doc = json!({"clients": clients, "products": products, "services": services,
        "servers": [{"id": 1, "name": "web1", "module": "cpanel", "hostname": "127.0.0.1",
            "ip_address": "192.0.2.10", "port": sim.addr.port(), "secure": false,
            "tls_verify": true, "username": "root", "password": "", "access_hash": "TOKEN"}]});
    App::new(store.clone(), "cli:tester")
        .import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    World {
        _dir: dir,
        store,
        _sim: sim,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_run_reads_back_as_the_document_analyse_returned() {
    let w = world(600).await;
    let app = App::new(w.store.clone(), "cli:tester");
    let out = app.analyse_server("web1", &NoProgress).await.unwrap();
    let doc: Value = out.document_json.read().unwrap();
    let items: Vec<StoredItem> = serde_json::from_value(doc["items"].clone()).unwrap();
    // Every kind of item is there: plain in-sync ones (stored as rows) and the rest.
    let c = &out.counts;
    assert!(c.in_sync > 300 && c.out_of_sync > 10, "{c:?}");
    assert!(c.not_in_billing > 10 && c.not_on_server == 5, "{c:?}");
    assert!(items.iter().any(|it| it.category.as_str() == "in_sync"
        && it.billing.as_ref().map(|b| &b.domain) != it.remote.as_ref().map(|r| &r.domain)));

    let view = app
        .run_view(&RunCache::default(), out.run_id)
        .await
        .unwrap();
    assert_eq!(view.items.len(), items.len());
    for (i, (got, want)) in view.items.iter().zip(&items).enumerate() {
        assert_eq!(got, want, "item {i}");
    }
    assert_eq!(view.counts, out.counts);
    assert_eq!(view.accounts, 600);
    assert!(view.complete);

    // What the run stored of the analysis is a fraction of the document (a quarter of these
    // items are drift, stored whole).
    let run = w.store.run(out.run_id).await.unwrap();
    let stored = run.analysis_json.expect("an analysis");
    assert!(
        stored.len() * 2 < out.document_json.len(),
        "stored {} of {}",
        stored.len(),
        out.document_json.len()
    );
    assert_eq!(run.accounts.len(), 600);

    // A run stored as before compact runs (the whole document, no rows) reads the same.
    let old = w
        .store
        .insert_run(&serversync_store::NewRun {
            server_id: run.server_id,
            started_at: run.started_at,
            finished_at: run.finished_at,
            listing_status: run.listing_status,
            error: None,
            accounts: run.accounts.clone(),
            skipped: run.skipped.clone(),
            analysis_json: Some(out.document_json.to_string()),
            counts_json: run.counts_json.clone(),
            service_versions: run.service_versions.clone(),
            misses: None,
        })
        .await
        .unwrap();
    let old_view = app.run_view(&RunCache::default(), old).await.unwrap();
    assert_eq!(old_view.items, view.items);
    assert_eq!(old_view.counts, view.counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_stored_run_prunes_the_servers_runs_beyond_keep() {
    let w = world(20).await;
    let mut app = App::new(w.store.clone(), "cli:tester");
    let run_ids = || async {
        w.store
            .runs(1, 0)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<i64>>()
    };
    // Complete runs always kept: the newest and the ones the shrink guard compares it with.
    let guarded = serversync_app::SHRINK_MEMORY + 1;
    let mut ids = Vec::new();
    for _ in 0..guarded + 2 {
        ids.push(
            app.analyse_server("web1", &NoProgress)
                .await
                .unwrap()
                .run_id,
        );
    }
    assert_eq!(
        run_ids().await.len(),
        guarded + 2,
        "within the default keep"
    );
    app.keep_runs = 2;
    let pruned = app.prune_all_runs().await.unwrap();
    assert_eq!(pruned.len(), 1);
    assert_eq!((pruned[0].server.as_str(), pruned[0].deleted), ("web1", 2));
    let newest: Vec<i64> = ids.iter().rev().take(guarded).copied().collect();
    assert_eq!(run_ids().await, newest);
    // Each stored run prunes too: still the newest `guarded`.
    ids.push(
        app.analyse_server("web1", &NoProgress)
            .await
            .unwrap()
            .run_id,
    );
    let newest: Vec<i64> = ids.iter().rev().take(guarded).copied().collect();
    assert_eq!(run_ids().await, newest);
}
