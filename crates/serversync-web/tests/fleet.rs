//! `/metrics` and the servers page of a fleet, in-process: a temporary SQLite store, cPanel
//! simulators, the router on a loopback port. The metrics text is parsed and its values are
//! compared with what the simulators hold and the analyses found.

mod common;

use common::ADMIN_PW;
use panel_sim::{spawn_cpanel, CpanelAccount, CpanelSimConfig, Fault, SimHandle};
use serde_json::json;
use serversync_app::App;
use serversync_core::analysis::Category;
use serversync_modules::NoProgress;
use serversync_store::Role;
use serversync_web::metrics::MetricsAccess;
use serversync_web::{router, WebConfig, WebState};

/// 2024-01-31 13:15:00 UTC.
const CREATED: i64 = 1_706_706_900;
/// web1's API token: must never show in the metrics.
const SECRET: &str = "s3cret-access-hash";

fn acct(user: &str) -> serde_json::Value {
    let mut a = CpanelAccount::new(user, &format!("{user}.test")).created(CREATED);
    a.plan = "basic".into();
    a.ip = "192.0.2.10".into();
    a.email = "ann@mail.test".into();
    a.into_value()
}

fn service(id: i64, server: i64, user: &str) -> serde_json::Value {
    json!({"id": id, "client_id": 1, "product_id": 10, "server_id": server,
           "domain": format!("{user}.test"), "username": user, "dedicated_ip": "",
           "regdate": "2024-01-31", "status": "Active", "billing_cycle": "Monthly",
           "amount": "9.99", "next_due_date": "2026-12-31"})
}

fn server(id: i64, name: &str, port: u16) -> serde_json::Value {
    json!({"id": id, "name": name, "module": "cpanel", "hostname": "127.0.0.1",
           "ip_address": "192.0.2.10", "port": port, "secure": false, "tls_verify": true,
           "username": "root", "password": "", "access_hash": SECRET})
}

struct World {
    _dir: tempfile::TempDir,
    app: App,
    web1: SimHandle,
    web2: SimHandle,
}

/// web1 lists ann, bob, cat, dan, eve (billing has ann, bob, cat and gone: 2 not in billing,
/// 1 not on the server); web2 lists fay, gus, hal (billing has none of them); web3 has no
/// panel and is never scanned.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite_store(dir.path()).await;
    let sim = |users: &[&str]| {
        let accounts = users.iter().map(|u| acct(u)).collect();
        let cfg = CpanelSimConfig {
            token: SECRET.into(),
            ..CpanelSimConfig::with_accounts(accounts)
        };
        spawn_cpanel("127.0.0.1:0".parse().unwrap(), cfg)
    };
    let web1 = sim(&["ann", "bob", "cat", "dan", "eve"]).await.unwrap();
    let web2 = sim(&["fay", "gus", "hal"]).await.unwrap();
    let doc = json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann", "last_name": "Lee", "company": "", "status": "Active"}],
        "products": [{"id": 10, "name": "Basic Hosting", "module": "cpanel", "config_options": {"configoption1": "basic"}}],
        "servers": [server(100, "web1", web1.addr.port()), server(200, "web2", web2.addr.port()),
                    server(300, "web3", 9)],
        "services": [service(1000, 100, "ann"), service(1001, 100, "bob"),
                     service(1002, 100, "cat"), service(1003, 100, "gone")],
    });
    let app = App::new(store, "test");
    app.import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    World {
        _dir: dir,
        app,
        web1,
        web2,
    }
}

/// Serves the router with `metrics` access on a loopback port; returns its base URL.
async fn serve(app: &App, metrics: MetricsAccess) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = WebConfig {
        metrics,
        ..WebConfig::default()
    };
    let r = router(WebState::new(app.clone(), config));
    tokio::spawn(async move { axum::serve(listener, r).await.unwrap() });
    base
}

fn loopback() -> MetricsAccess {
    MetricsAccess::new("127.0.0.1:8080".parse().unwrap(), None)
}

/// The value of the sample `series` (name and labels exactly as rendered, labels in
/// alphabetical order) in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(base: &str) -> String {
    let r = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_scans_hold_accounts_drift_durations_and_failures() {
    let w = world().await;
    let base = serve(&w.app, loopback()).await;
    let one = w.app.analyse_server("web1", &NoProgress).await.unwrap();
    let two = w.app.analyse_server("web2", &NoProgress).await.unwrap();
    assert_eq!(
        (one.counts.not_in_billing, one.counts.not_on_server),
        (2, 1)
    );
    assert_eq!(two.counts.not_in_billing, 3);

    let t = scrape(&base).await;
    // Accounts listed: what each simulator holds.
    assert_eq!(w.web1.accounts().len(), 5);
    assert_eq!(
        sample(&t, "serversync_accounts_listed{server=\"web1\"}"),
        Some(5.0)
    );
    assert_eq!(
        sample(&t, "serversync_accounts_listed{server=\"web2\"}"),
        Some(w.web2.accounts().len() as f64)
    );
    // Drift per category: every drift category of each server, as its analysis counted.
    for (name, outcome) in [("web1", &one), ("web2", &two)] {
        for c in Category::ALL.into_iter().filter(|c| c.is_drift()) {
            assert_eq!(
                sample(
                    &t,
                    &format!(
                        "serversync_drift_items{{category=\"{}\",server=\"{name}\"}}",
                        c.as_str()
                    )
                ),
                Some(outcome.counts.get(c) as f64),
                "{name} {c:?}"
            );
        }
    }
    assert_eq!(
        sample(
            &t,
            "serversync_drift_items{category=\"not_in_billing\",server=\"web1\"}"
        ),
        Some(2.0)
    );
    // One scan each in the duration histogram (its +Inf bucket holds every observation).
    for name in ["web1", "web2"] {
        assert_eq!(
            sample(
                &t,
                &format!(
                    "serversync_scan_duration_seconds_count{{module=\"cpanel\",server=\"{name}\"}}"
                )
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &t,
                &format!(
                    "serversync_scan_duration_seconds_bucket{{module=\"cpanel\",server=\"{name}\",le=\"+Inf\"}}"
                )
            ),
            Some(1.0)
        );
    }
    assert_eq!(sample(&t, "serversync_lease_takeovers_total"), Some(0.0));
    assert!(
        !t.contains("serversync_listing_failures_total{"),
        "no failure yet: {t}"
    );
    assert_eq!(
        sample(
            &t,
            "serversync_webhook_deliveries_total{result=\"delivered\"}"
        ),
        Some(0.0)
    );

    // A failed listing counts once under its module and cause; the accounts listed stay
    // those of the last good listing.
    w.web1.set_fault(Some(Fault::Http500));
    w.app.analyse_server("web1", &NoProgress).await.unwrap_err();
    w.web2.set_fault(Some(Fault::BadAuth));
    w.app.analyse_server("web2", &NoProgress).await.unwrap_err();
    let t = scrape(&base).await;
    assert_eq!(
        sample(
            &t,
            "serversync_listing_failures_total{cause=\"http\",module=\"cpanel\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &t,
            "serversync_listing_failures_total{cause=\"auth\",module=\"cpanel\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&t, "serversync_accounts_listed{server=\"web1\"}"),
        Some(5.0)
    );
    assert_eq!(
        sample(
            &t,
            "serversync_scan_duration_seconds_count{module=\"cpanel\",server=\"web1\"}"
        ),
        Some(2.0)
    );
    // No secret and no panel text in the metrics.
    assert!(!t.contains(SECRET), "{t}");
    assert!(!t.to_lowercase().contains("<html"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_open_on_loopback_hidden_elsewhere_and_need_a_configured_token() {
    let w = world().await;
    let get = |base: String, auth: Option<&'static str>| async move {
        let mut r = reqwest::Client::new().get(format!("{base}/metrics"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send().await.unwrap().status().as_u16()
    };
    let open = serve(&w.app, loopback()).await;
    assert_eq!(get(open.clone(), None).await, 200);
    // Bound to every address without a token: not there.
    let public = "0.0.0.0:8080".parse().unwrap();
    let hidden = serve(&w.app, MetricsAccess::new(public, None)).await;
    assert_eq!(get(hidden.clone(), None).await, 404);
    assert_eq!(get(hidden, Some("Bearer anything")).await, 404);
    // With a token: only with it.
    let guarded = serve(&w.app, MetricsAccess::new(public, Some("scrape-token"))).await;
    assert_eq!(get(guarded.clone(), None).await, 401);
    assert_eq!(get(guarded.clone(), Some("Bearer wrong")).await, 401);
    assert_eq!(get(guarded, Some("Bearer scrape-token")).await, 200);
    // The web config's Debug does not show the token.
    let shown = format!(
        "{:?}",
        WebConfig {
            metrics: MetricsAccess::new(public, Some("scrape-token")),
            ..WebConfig::default()
        }
    );
    assert!(!shown.contains("scrape-token"), "{shown}");
}

/// Signs `admin` in; returns a cookie-keeping client.
async fn sign_in(base: &str) -> reqwest::Client {
    let (http, r) = common::sign_in(base, "admin", ADMIN_PW).await;
    assert!(r.url().path().starts_with("/servers"), "{}", r.url());
    http
}

/// The `<tr>` of server `name` on the servers page.
fn row<'a>(page: &'a str, name: &str) -> &'a str {
    let start = page
        .find(&format!("<tr data-server=\"{name}\""))
        .unwrap_or_else(|| panic!("no row for {name}: {page}"));
    let len = page[start..].find("</tr>\n").unwrap();
    &page[start..start + len]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_page_shows_the_fleet_summary_and_a_drift_trend_of_three_runs() {
    let w = world().await;
    w.app
        .add_user("admin", ADMIN_PW, Role::Admin)
        .await
        .unwrap();
    // web1: three runs, drift 3, then 5 (two more accounts not in billing), then 3 again.
    let first = w.app.analyse_server("web1", &NoProgress).await.unwrap();
    let all = w.web1.accounts();
    let mut more = (*all).clone();
    more.extend([acct("ivy"), acct("jon")]);
    w.web1.set_accounts(more);
    let second = w.app.analyse_server("web1", &NoProgress).await.unwrap();
    w.web1.set_accounts(all);
    let third = w.app.analyse_server("web1", &NoProgress).await.unwrap();
    assert_eq!((first.drift(), second.drift(), third.drift()), (3, 5, 3));
    // web2: its listing fails; web3: never scanned, and busy (its lease is held).
    w.web2.set_fault(Some(Fault::BadAuth));
    w.app.analyse_server("web2", &NoProgress).await.unwrap_err();
    let web3 = w.app.server("web3").await.unwrap();
    let lease = w.app.take_lease(&web3).await.unwrap();

    let base = serve(&w.app, loopback()).await;
    let http = sign_in(&base).await;
    let page = http
        .get(format!("{base}/servers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let summary = page
        .split("<p id=\"fleet-summary\"")
        .nth(1)
        .and_then(|s| s.split("</p>").next())
        .unwrap();
    assert!(
        summary.contains(
            "<strong>3 servers</strong>: 1 ok, <span class=\"error\">1 failed</span>, 1 never \
             scanned, 1 busy now · drift at the last scans: <strong>3</strong>"
        ),
        "{summary}"
    );
    let web1 = row(&page, "web1");
    assert!(
        web1.contains("<div class=\"trend-text muted\" title=\"Drift of the last runs, oldest first\">3 → 5 → 3</div>"),
        "{web1}"
    );
    // The SVG has a bar segment for each run (runs are numbered in order).
    for run in [first.run_id, second.run_id, third.run_id] {
        assert!(
            web1.contains(&format!(
                "data-run=\"{run}\" data-category=\"not_in_billing\""
            )),
            "{web1}"
        );
    }
    let web2 = row(&page, "web2");
    assert!(web2.contains(">failed</div>"), "{web2}");
    assert!(web2.contains("listing failed"), "{web2}");
    let web3 = row(&page, "web3");
    assert!(web3.contains("class=\"muted\">never</span>"), "{web3}");
    assert!(web3.contains("busy: a scan or apply is running"), "{web3}");
    assert!(!web1.contains("busy:"), "{web1}");
    // One page: no pager.
    assert!(!page.contains("id=\"servers-pager\""));
    lease.release().await.unwrap();
    let bad = http
        .get(format!("{base}/servers?page=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

/// A fleet of 250 servers: the summary counts all of them, the page shows 100 at a time
/// with a pager, and the last page holds the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_fleet_is_paged_and_summarised_whole() {
    let w = world().await;
    w.app
        .add_user("admin", ADMIN_PW, Role::Admin)
        .await
        .unwrap();
    // 247 more servers (ids 1000..): 250 with web1..web3.
    let servers: Vec<_> = (0..247)
        .map(|i| server(1000 + i, &format!("fleet{i:03}"), 9))
        .collect();
    let doc = json!({"clients": [], "products": [], "servers": servers, "services": []});
    w.app
        .import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    w.app.analyse_server("web1", &NoProgress).await.unwrap();
    let base = serve(&w.app, loopback()).await;
    let http = sign_in(&base).await;
    let get = |path: String| {
        let http = http.clone();
        async move { http.get(path).send().await.unwrap().text().await.unwrap() }
    };
    let rows = |page: &str| page.matches("<tr data-server=\"").count();
    let first = get(format!("{base}/servers")).await;
    assert_eq!(rows(&first), 100);
    assert!(
        first.contains("<strong>250 servers</strong>: 1 ok, <span>0 failed</span>, 249 never"),
        "{first}"
    );
    assert!(first.contains("page 1 of 3"), "{first}");
    assert!(first.contains("<a href=\"/servers?page=2\" rel=\"next\">"));
    let last = get(format!("{base}/servers?page=3")).await;
    assert_eq!(rows(&last), 50);
    assert!(last.contains("<tr data-server=\"fleet246\""));
    assert!(last.contains("<a href=\"/servers?page=2\" rel=\"prev\">"));
    assert!(!last.contains("rel=\"next\""));
    // Past the last page: an empty table, the summary still whole.
    let past = get(format!("{base}/servers?page=9")).await;
    assert_eq!(rows(&past), 0);
    assert!(past.contains("<strong>250 servers</strong>"));
}
