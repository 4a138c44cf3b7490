//! The admin pages, end to end in-process: a temporary SQLite store, a cPanel simulator,
//! the router on a loopback port, and a cookie-keeping HTTP client.

mod common;

use std::time::Duration;

use common::*;
use panel_sim::Fault;

const XSS: &str = "<img src=x onerror=alert(1)>.test";
const FORMULA: &str = "=cmd|' /C calc'!A0";

async fn world() -> World {
    let accounts = vec![
        acct("ann", "ann.test", "basic").into_value(),
        acct("bob", "bob.test", "basic")
            .suspended("unpaid", 1_730_000_000)
            .into_value(),
        acct("fresh", "fresh.test", "basic").into_value(),
        acct("xss", XSS, "basic").into_value(),
    ];
    let products = vec![
        product(10, "Basic Hosting", "basic"),
        product(11, "Silver Hosting", "silver"),
    ];
    let services = vec![
        service(1000, "ann.test", "ann", "Active"),
        service(1001, "bob.test", "bob", "Active"),
        service(1002, "gone.test", "gone", "Active"),
        service(1003, FORMULA, "formula", "Active"),
        service(1004, "more.test", "more", "Active"),
        service(1005, "other.test", "other", "Active"),
        service(1006, "x1.test", "x1", "Active"),
        service(1007, "x2.test", "x2", "Active"),
    ];
    World::start(accounts, products, services).await
}

impl Browser {
    /// Posts the sync form and follows the job page until it leaves it; returns the final
    /// path and page.
    async fn sync(&self, server_id: i64) -> (String, String) {
        let (status, mut url, mut page) = self
            .post(
                &format!("/servers/{server_id}/sync"),
                &[("csrf", &self.csrf)],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        for _ in 0..100 {
            if !url.starts_with("/jobs/") || page.contains("id=\"job-error\"") {
                return (url, page);
            }
            assert!(page.contains("id=\"job-progress\""), "{page}");
            assert!(
                page.contains("http-equiv=\"refresh\" content=\"1\""),
                "{page}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (s, u, p) = self.get(&url).await;
            assert_eq!(s, 200, "{p}");
            (url, page) = (u, p);
        }
        panic!("the sync job did not finish: {page}");
    }
}

/// The checkbox value of `action` in the items-table row of `uid`.
fn choice(page: &str, uid: &str, action: &str) -> String {
    let row = between(page, &format!("data-uid=\"{uid}\""), "</tr>")
        .unwrap_or_else(|| panic!("no row {uid}"));
    let v = between(row, "name=\"c\" value=\"", "\"")
        .unwrap_or_else(|| panic!("no checkbox in row {uid}: {row}"));
    assert!(v.ends_with(&format!(":{action}")), "{v}");
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_review_apply_end_to_end() {
    let w = world().await;
    let admin = Browser::login_to_servers(&w.base, "admin", ADMIN_PW).await;

    let (_, _, servers) = admin.get("/servers").await;
    assert!(servers.contains("id=\"sync-web1\""), "{servers}");

    let (url, run) = admin.sync(100).await;
    assert!(url.starts_with("/runs/"), "{url}: {run}");
    let run_id: i64 = url.trim_start_matches("/runs/").parse().unwrap();

    // Summary, tabs with counts, the table and the highlighted difference.
    assert!(run.contains("data-status=\"complete\""), "{run}");
    assert!(run.contains("id=\"tab-in_sync\" data-count=\"1\""), "{run}");
    assert!(
        run.contains("id=\"tab-out_of_sync\" data-count=\"1\""),
        "{run}"
    );
    assert!(
        run.contains("id=\"tab-not_on_server\" data-count=\"6\""),
        "{run}"
    );
    assert!(run.contains("id=\"items\""));
    let bob = between(&run, "data-uid=\"bob.test\"", "</tr>").unwrap();
    assert!(
        bob.contains("data-category=\"out_of_sync\"")
            || run.contains("data-category=\"out_of_sync\" data-uid=\"bob.test\"")
    );
    assert!(
        bob.contains("class=\"diff\" title=\"billing: Active\" data-field=\"status\">Suspended<"),
        "{bob}"
    );
    assert!(
        bob.contains("class=\"diff\" title=\"server: Suspended\" data-field=\"status\">Active<"),
        "{bob}"
    );
    assert!(bob.contains("href=\"/services?id=1001\""), "{bob}");
    // Words for people (the machine names stay in ids and data attributes), and the
    // client and product of the billing side linked.
    assert!(bob.contains(">Out of sync<"), "{bob}");
    assert!(
        run.contains("id=\"tab-not_on_server\" data-count=\"6\" data-href="),
        "{run}"
    );
    assert!(
        run.contains(">Not on the server <span class=\"count\">6<"),
        "{run}"
    );
    // Each not_on_server item says how many listings missed it (issue 11).
    let (_, _, nos) = admin
        .get(&format!("/runs/{run_id}?category=not_on_server"))
        .await;
    assert_eq!(
        nos.matches("<div>missing in 1 of 3 listings</div>").count(),
        6,
        "{nos}"
    );
    assert!(!run.contains(">out_of_sync<") && !run.contains(">not_in_billing <"));
    assert!(bob.contains("href=\"/clients?q=1\">client #1</a>"), "{bob}");
    assert!(bob.contains("href=\"/products#product-10\""), "{bob}");
    assert!(bob.contains(">Basic Hosting</a>"), "{bob}");
    // The pager above and below the table: 10 items on one page.
    assert_eq!(run.matches("class=\"pager\"").count(), 2, "{run}");
    assert!(run.contains("aria-label=\"Pages\">10 items\n"), "{run}");
    let (_, _, one) = admin
        .get(&format!("/runs/{run_id}?category=out_of_sync"))
        .await;
    assert!(one.contains("aria-label=\"Pages\">1 item\n"), "{one}");
    let ann = between(&run, "data-uid=\"ann.test\"", "</tr>").unwrap();
    assert!(!ann.contains("class=\"diff\""), "{ann}");
    assert!(
        run.contains("name=\"all\" value=\"not_in_billing:import\""),
        "{run}"
    );
    assert!(run.contains("id=\"review\""));

    // Category tab and search filter the table.
    let (_, _, tab) = admin
        .get(&format!("/runs/{run_id}?category=out_of_sync"))
        .await;
    assert!(
        tab.contains("data-uid=\"bob.test\"") && !tab.contains("data-uid=\"ann.test\""),
        "{tab}"
    );
    let (_, _, found) = admin.get(&format!("/runs/{run_id}?q=fresh")).await;
    assert!(found.contains("data-uid=\"fresh.test\"") && !found.contains("data-uid=\"bob.test\""));
    let (status, _, _) = admin
        .get(&format!("/runs/{run_id}?category=nonsense"))
        .await;
    assert_eq!(status, 400);

    // Review: a dry run, nothing changes.
    let sync_bob = choice(&run, "bob.test", "sync");
    let form = [
        ("csrf", admin.csrf.as_str()),
        ("c", sync_bob.as_str()),
        ("all", "not_in_billing:import"),
    ];
    let (status, _, review) = admin.post(&format!("/runs/{run_id}/review"), &form).await;
    assert_eq!(status, 200, "{review}");
    assert!(review.contains("id=\"summary\""), "{review}");
    assert!(
        review
            .contains("data-outcome=\"would_apply\" data-action=\"sync\" data-target=\"bob.test\""),
        "{review}"
    );
    assert!(
        review.contains(
            "data-outcome=\"would_apply\" data-action=\"import\" data-target=\"fresh.test\""
        ),
        "{review}"
    );
    // What will be written, field by field; the client and product of an import.
    let bob_review = between(&review, "data-target=\"bob.test\"", "</tr>").unwrap();
    assert!(
        bob_review.contains("<div class=\"change\">status: Active → Suspended</div>"),
        "{bob_review}"
    );
    let fresh_review = between(&review, "data-target=\"fresh.test\"", "</tr>").unwrap();
    assert!(
        fresh_review.contains("<div class=\"change\">product: #10 ")
            && fresh_review.contains("<div class=\"change\">domain: (none) → fresh.test</div>"),
        "{fresh_review}"
    );
    assert!(review.contains("id=\"import-options\""));
    assert!(review.contains("id=\"apply\""));
    assert!(review.contains(&format!("name=\"c\" value=\"{sync_bob}\"")));
    assert!(review.contains("name=\"all\" value=\"not_in_billing:import\""));
    assert_eq!(
        w.store.service(1001).await.unwrap().status.as_str(),
        "Active"
    );
    let before = w.store.services(None).await.unwrap();

    // Without the CSRF token: refused, nothing changes.
    let (status, _, _) = admin
        .post(
            &format!("/runs/{run_id}/apply"),
            &[("c", sync_bob.as_str()), ("all", "not_in_billing:import")],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = admin
        .post(
            &format!("/runs/{run_id}/apply"),
            &[("csrf", "forged"), ("c", sync_bob.as_str())],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(w.store.services(None).await.unwrap(), before);

    // A read-only user may look and review, never apply, sync or edit.
    let viewer = Browser::login_to_servers(&w.base, "viewer", VIEWER_PW).await;
    let (_, _, vservers) = viewer.get("/servers").await;
    assert!(!vservers.contains("id=\"sync-web1\""), "{vservers}");
    let (status, _, vrun) = viewer.get(&format!("/runs/{run_id}")).await;
    assert_eq!(status, 200);
    assert!(vrun.contains("id=\"items\""));
    let vform = [("csrf", viewer.csrf.as_str()), ("c", sync_bob.as_str())];
    let (status, _, vreview) = viewer.post(&format!("/runs/{run_id}/review"), &vform).await;
    assert_eq!(status, 200, "{vreview}");
    assert!(!vreview.contains("id=\"apply\""), "{vreview}");
    assert_eq!(
        viewer
            .post(&format!("/runs/{run_id}/apply"), &vform)
            .await
            .0,
        403
    );
    assert_eq!(
        viewer
            .post("/servers/100/sync", &[("csrf", &viewer.csrf)])
            .await
            .0,
        403
    );
    let edit = [
        ("csrf", viewer.csrf.as_str()),
        ("name", "web1"),
        ("module", "cpanel"),
        ("hostname", "evil.test"),
    ];
    assert_eq!(viewer.post("/servers/100/edit", &edit).await.0, 403);
    assert_eq!(viewer.post("/servers/new", &edit).await.0, 403);
    let pedit = [
        ("csrf", viewer.csrf.as_str()),
        ("name", "X"),
        ("module", "cpanel"),
        ("configoption1", "evil"),
    ];
    assert_eq!(viewer.post("/products/11/edit", &pedit).await.0, 403);
    assert_eq!(viewer.get("/servers/100/edit").await.0, 403);
    assert_eq!(w.store.services(None).await.unwrap(), before);
    assert_eq!(
        w.store.server_by_id(100).await.unwrap().hostname,
        "127.0.0.1"
    );

    // Apply: the summary, and the records changed.
    let (status, _, summary) = admin.post(&format!("/runs/{run_id}/apply"), &form).await;
    assert_eq!(status, 200, "{summary}");
    assert!(summary.contains("id=\"summary\""));
    assert!(
        summary.contains("data-outcome=\"applied\" data-action=\"sync\" data-target=\"bob.test\""),
        "{summary}"
    );
    assert!(
        summary
            .contains("data-outcome=\"applied\" data-action=\"import\" data-target=\"fresh.test\""),
        "{summary}"
    );
    assert!(summary.contains(&format!("href=\"/audit?run={run_id}\"")));
    assert_eq!(
        w.store.service(1001).await.unwrap().status.as_str(),
        "Suspended"
    );
    assert!(w
        .store
        .services(Some(100))
        .await
        .unwrap()
        .iter()
        .any(|s| s.domain == "fresh.test"));

    assert!(
        summary.contains("<div class=\"change\">status: Active → Suspended</div>"),
        "{summary}"
    );

    // Back on the run: the applied items say so, link to their audit events and cannot be
    // ticked; choosing one again is refused.
    let (_, _, after) = admin.get(&format!("/runs/{run_id}")).await;
    let bob = between(&after, "data-uid=\"bob.test\"", "</tr>").unwrap();
    assert!(bob.contains("data-state=\"applied\""), "{bob}");
    assert!(
        bob.contains(&format!("value=\"{sync_bob}\" id=\"c-")),
        "{bob}"
    );
    assert!(
        bob.contains(" disabled title=\"applied: cannot be selected\""),
        "{bob}"
    );
    assert!(
        bob.contains(&format!(
            "<a href=\"/audit?run={run_id}&#38;service=1001\">applied</a>"
        )),
        "{bob}"
    );
    let fresh = between(&after, "data-uid=\"fresh.test\"", "</tr>").unwrap();
    assert!(fresh.contains("data-state=\"applied\""), "{fresh}");
    let ann = between(&after, "data-uid=\"ann.test\"", "</tr>").unwrap();
    assert!(ann.contains("data-state=\"open\""), "{ann}");
    assert!(!after.contains("id=\"sync-again\""), "{after}");
    let (status, _, again) = admin.post(&format!("/runs/{run_id}/review"), &form).await;
    assert_eq!(status, 400, "{again}");
    assert!(
        again.contains("is applied: it cannot be selected again"),
        "{again}"
    );
    // The whole category again: its applied item is skipped, nothing is left to review.
    let (status, _, again) = admin
        .post(
            &format!("/runs/{run_id}/review"),
            &[
                ("csrf", admin.csrf.as_str()),
                ("all", "not_in_billing:import"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert!(again.contains("id=\"nothing-selected\""), "{again}");

    // A record of the run changes elsewhere: its item is stale, and the run offers a new sync.
    let ann_service = w.store.service(1000).await.unwrap();
    let mut changed = ann_service.clone();
    changed.amount = "1.00".into();
    let mut cs = serversync_store::ChangeSet::default();
    cs.ops.push(serversync_store::Op::UpdateService {
        expected_version: ann_service.version,
        service: changed,
    });
    // Every write serversync makes is audited (the page's cached states rely on it).
    cs.audit.push((
        Some(0),
        serversync_store::NewAuditEvent {
            actor: "cli:test".into(),
            action: "records_import".into(),
            service_id: Some(1000),
            ..Default::default()
        },
    ));
    w.store.apply(&cs).await.unwrap();
    let (_, _, after) = admin.get(&format!("/runs/{run_id}")).await;
    let ann = between(&after, "data-uid=\"ann.test\"", "</tr>").unwrap();
    assert!(ann.contains("data-state=\"stale\""), "{ann}");
    assert!(
        ann.contains("service 1000 changed since this run was analysed"),
        "{ann}"
    );
    assert!(
        after.contains("action=\"/servers/100/sync\" id=\"stale\"")
            && after.contains("id=\"sync-again\""),
        "{after}"
    );

    // The audit log of the run.
    let (_, _, audit) = admin.get(&format!("/audit?run={run_id}")).await;
    assert!(audit.contains("data-action=\"sync\""), "{audit}");
    assert!(audit.contains("data-action=\"import\""), "{audit}");
    assert!(audit.contains("web:admin"));
    assert!(audit.contains("status: Active → Suspended"), "{audit}");
    let (status, _, _) = admin.get("/audit?run=abc").await;
    assert_eq!(status, 400);

    // Run history and the server page.
    let (_, _, fleet) = admin.get("/runs").await;
    assert!(fleet.contains("id=\"nav-runs\""), "{fleet}");
    let row = between(&fleet, &format!("data-run=\"{run_id}\""), "</tr>").unwrap();
    assert!(
        row.contains("data-server-id=\"100\"")
            && row.contains(">web1</a> <span class=\"muted\">#100</span>"),
        "{row}"
    );
    assert!(
        row.contains("data-category=\"not_on_server\">Not on the server <span class=\"count\">6<"),
        "{row}"
    );
    let (_, _, hist) = admin.get("/servers/100/runs").await;
    assert!(hist.contains(&format!("data-run=\"{run_id}\"")));
    let (_, _, sp) = admin.get("/servers/100").await;
    assert!(sp.contains("id=\"latest-run\"") && sp.contains("id=\"sync-web1\""));
    // The chart of accounts and drift (SVG, no script) with its numbers beside it: one run,
    // 4 accounts, 9 drift items (1 out of sync, 2 not in billing, 6 not on the server).
    let chart = between(&sp, "id=\"server-chart\"", "</div>").unwrap();
    assert!(chart.contains("<svg class=\"chart\""), "{chart}");
    assert!(chart.contains("<title>Accounts on web1 and drift over its last 1 runs</title>"));
    assert!(
        chart.contains(&format!("<tr data-run=\"{run_id}\">"))
            && chart.contains("<td>4</td><td>9</td>"),
        "{chart}"
    );
    assert!(!sp.contains("<script"));
    let (_, _, servers) = admin.get("/servers").await;
    let trend = between(&servers, "class=\"trend\"", "</td>\n").unwrap();
    assert!(
        trend.contains(&format!(
            "data-run=\"{run_id}\" data-category=\"not_on_server\""
        )),
        "{trend}"
    );
    assert!(
        trend.contains("Out of sync 1") && trend.contains("Not on the server 6"),
        "{trend}"
    );
    let (_, _, services) = admin.get("/services?id=1001").await;
    assert!(
        services.contains("id=\"service-1001\"") && services.contains("data-status=\"Suspended\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_values_are_escaped_and_csv_is_guarded() {
    let w = world().await;
    let admin = Browser::login_to_servers(&w.base, "admin", ADMIN_PW).await;
    let (url, run) = admin.sync(100).await;
    let run_id: i64 = url.trim_start_matches("/runs/").parse().unwrap();
    // askama escapes `<` as `&#60;` (equivalent to `&lt;`).
    let escaped = [
        "&lt;img src=x onerror=alert(1)&gt;.test",
        "&#60;img src=x onerror=alert(1)&#62;.test",
    ];
    assert!(
        escaped
            .iter()
            .any(|e| run.contains(&format!("data-uid=\"{e}\""))),
        "{run}"
    );
    assert!(
        escaped.iter().any(|e| run.contains(&format!(">{e}<"))),
        "{run}"
    );
    assert!(
        !run.contains("<img"),
        "raw markup from the panel in the run page"
    );
    let (_, _, page) = admin
        .get(&format!("/runs/{run_id}?category=not_on_server"))
        .await;
    assert!(!page.contains("<img"));

    // The CSV export guards formula cells.
    let r = admin
        .http
        .get(format!("{}/runs/{run_id}/export.csv", w.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("category,unique_identifier,"), "{csv}");
    assert!(csv.contains("'=cmd|"), "{csv}");
    assert!(!csv.contains(",=cmd") && !csv.contains("\"=cmd"), "{csv}");
    let (_, _, one) = admin
        .get(&format!("/runs/{run_id}/export.csv?category=out_of_sync"))
        .await;
    assert_eq!(one.lines().count(), 2, "{one}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sync_shows_the_error_and_a_retry_button() {
    let w = world().await;
    let admin = Browser::login_to_servers(&w.base, "admin", ADMIN_PW).await;
    w.sim.set_fault(Some(Fault::Http500));
    let (url, page) = admin.sync(100).await;
    assert!(url.starts_with("/jobs/"), "{url}");
    let err = between(&page, "id=\"job-error\">", "</p>").unwrap();
    assert!(err.contains("web1"), "{err}");
    assert!(page.contains("id=\"retry\""));
    assert!(!page.contains("http-equiv=\"refresh\""));
    // The failed run is listed with its error.
    let (_, _, servers) = admin.get("/servers").await;
    assert!(servers.contains("status-failed"), "{servers}");
    w.sim.set_fault(None);
    let (url, _) = admin.sync(100).await;
    assert!(url.starts_with("/runs/"), "{url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_and_products_are_edited_by_admins_with_secrets_write_only() {
    let w = world().await;
    let admin = Browser::login_to_servers(&w.base, "admin", ADMIN_PW).await;
    let (status, _, form) = admin.get("/servers/100/edit").await;
    assert_eq!(status, 200);
    assert!(!form.contains("TOKEN"), "a secret was rendered back");
    assert!(form.contains("name=\"access_hash\" value=\"\""));
    let port = w.sim.addr.port().to_string();
    let edit = [
        ("csrf", admin.csrf.as_str()),
        ("name", "web1"),
        ("module", "cpanel"),
        ("hostname", "127.0.0.1"),
        ("ip_address", "192.0.2.10"),
        ("port", port.as_str()),
        ("tls_verify", "on"),
        ("username", "root"),
        ("password", ""),
        ("access_hash", ""),
    ];
    let (status, url, _) = admin.post("/servers/100/edit", &edit).await;
    assert_eq!(status, 200);
    assert_eq!(url, "/servers/100");
    let s = w.store.server_by_id(100).await.unwrap();
    assert_eq!(
        s.access_hash.expose(),
        "TOKEN",
        "an empty secret field keeps the secret"
    );
    // Still syncs with the kept token.
    let (url, _) = admin.sync(100).await;
    assert!(url.starts_with("/runs/"));
    // Without CSRF: refused.
    let mut no_csrf = edit.to_vec();
    no_csrf.remove(0);
    assert_eq!(admin.post("/servers/100/edit", &no_csrf).await.0, 403);
    // A bad port is shown on the form, nothing saved.
    let mut bad = edit.to_vec();
    bad[5] = ("port", "99999");
    let (status, _, page) = admin.post("/servers/100/edit", &bad).await;
    assert_eq!(status, 400);
    assert!(page.contains("id=\"form-error\""));
    // A new server.
    let new = [
        ("csrf", admin.csrf.as_str()),
        ("name", "web9"),
        ("module", "cpanel"),
        ("hostname", "h.test"),
        ("ip_address", "192.0.2.90"),
        ("username", "root"),
        ("access_hash", "S3CRET"),
    ];
    let (status, url, page) = admin.post("/servers/new", &new).await;
    assert_eq!(status, 200, "{page}");
    assert!(url.starts_with("/servers/"));
    assert!(!page.contains("S3CRET"));
    assert_eq!(
        w.store.server("web9").await.unwrap().access_hash.expose(),
        "S3CRET"
    );

    // Map a package on a product.
    let (status, _, pform) = admin.get("/products/11/edit").await;
    assert_eq!(status, 200);
    assert!(pform.contains("name=\"configoption1\" value=\"silver\""));
    let p = [
        ("csrf", admin.csrf.as_str()),
        ("name", "Silver Hosting"),
        ("module", "cpanel"),
        ("configoption1", "silver2"),
    ];
    let (status, url, _) = admin.post("/products/11/edit", &p).await;
    assert_eq!((status, url.as_str()), (200, "/products"));
    let prod = w
        .store
        .products()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.id == 11)
        .unwrap();
    assert_eq!(prod.config_option("configoption1"), Some("silver2"));
    let (_, _, audit) = admin.get("/audit").await;
    assert!(
        audit.contains("data-action=\"product_edit\"")
            && audit.contains("data-action=\"server_edit\"")
    );
    let (_, _, clients) = admin.get("/clients").await;
    assert!(clients.contains("ann@mail.test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_are_kept_across_tabs_per_user_until_apply() {
    let w = world().await;
    let admin = Browser::login_to_servers(&w.base, "admin", ADMIN_PW).await;
    let (url, run) = admin.sync(100).await;
    let run_id: i64 = url.trim_start_matches("/runs/").parse().unwrap();
    let sync_bob = choice(&run, "bob.test", "sync");
    let checked = format!(
        "value=\"{sync_bob}\" id=\"c-{}\" checked",
        sync_bob.replace(':', "-")
    );
    assert!(!run.contains(&checked), "{run}");

    // Tick bob on the "all" tab and change to the "not on the server" tab: the tick is kept
    // and the browser is sent to that tab (303 → GET).
    let shown_all = [
        ("csrf", admin.csrf.as_str()),
        ("shown_category", ""),
        ("shown_q", ""),
        ("shown_page", "1"),
    ];
    let mut form = shown_all.to_vec();
    form.extend([("c", sync_bob.as_str()), ("goto_category", "not_on_server")]);
    let (status, url, tab) = admin.post(&format!("/runs/{run_id}/select"), &form).await;
    assert_eq!(status, 200, "{tab}");
    assert_eq!(url, format!("/runs/{run_id}"));
    assert!(tab.contains("data-uid=\"gone.test\"") && !tab.contains("data-uid=\"bob.test\""));
    assert!(
        tab.contains("id=\"kept-top\">1 ticked, kept until you apply"),
        "{tab}"
    );
    let (_, _, back) = admin.get(&format!("/runs/{run_id}")).await;
    assert!(back.contains(&checked), "{back}");

    // A search (the Search button submits the run form too) keeps the ticks as well.
    let mut search = shown_all.to_vec();
    search.extend([
        ("c", sync_bob.as_str()),
        ("goto_search", "1"),
        ("q", "fresh"),
    ]);
    let (status, _, found) = admin.post(&format!("/runs/{run_id}/select"), &search).await;
    assert_eq!(status, 200, "{found}");
    assert!(
        found.contains("data-uid=\"fresh.test\"") && !found.contains("data-uid=\"bob.test\""),
        "{found}"
    );
    assert!(found.contains("id=\"kept-top\">1 ticked"), "{found}");

    // Another user's ticks are their own.
    let viewer = Browser::login_to_servers(&w.base, "viewer", VIEWER_PW).await;
    let (_, _, vrun) = viewer.get(&format!("/runs/{run_id}")).await;
    assert!(
        !vrun.contains(&checked) && !vrun.contains("id=\"kept-top\""),
        "{vrun}"
    );

    // A box that is not on the page shown is refused; nothing changes.
    let mut forged = shown_all.to_vec();
    forged[1] = ("shown_category", "not_on_server");
    forged.extend([("c", sync_bob.as_str()), ("goto", "1")]);
    let (status, _, _) = admin.post(&format!("/runs/{run_id}/select"), &forged).await;
    assert_eq!(status, 400);
    let (status, _, _) = admin
        .post(
            &format!("/runs/{run_id}/select"),
            &[("c", sync_bob.as_str())],
        )
        .await;
    assert_eq!(status, 403, "without the CSRF token");

    // Review from the "not on the server" tab with nothing ticked there: bob (kept) is in it.
    let review_form = [
        ("csrf", admin.csrf.as_str()),
        ("from_run", "1"),
        ("shown_category", "not_on_server"),
        ("shown_q", ""),
        ("shown_page", "1"),
    ];
    let (status, _, review) = admin
        .post(&format!("/runs/{run_id}/review"), &review_form)
        .await;
    assert_eq!(status, 200, "{review}");
    assert!(
        review
            .contains("data-outcome=\"would_apply\" data-action=\"sync\" data-target=\"bob.test\""),
        "{review}"
    );
    assert!(review.contains(&format!("name=\"c\" value=\"{sync_bob}\"")));

    // Unticked on its page: gone from the selection.
    let mut untick = shown_all.to_vec();
    untick.push(("goto", "1"));
    admin.post(&format!("/runs/{run_id}/select"), &untick).await;
    let (_, _, after) = admin.get(&format!("/runs/{run_id}")).await;
    assert!(
        !after.contains(&checked) && !after.contains("id=\"kept-top\""),
        "{after}"
    );

    // Ticked again and applied: the selection is cleared.
    let mut tick = shown_all.to_vec();
    tick.extend([("c", sync_bob.as_str()), ("goto", "1")]);
    admin.post(&format!("/runs/{run_id}/select"), &tick).await;
    let (status, _, summary) = admin
        .post(
            &format!("/runs/{run_id}/apply"),
            &[("csrf", admin.csrf.as_str()), ("c", sync_bob.as_str())],
        )
        .await;
    assert_eq!(status, 200, "{summary}");
    assert!(
        summary.contains("data-outcome=\"applied\" data-action=\"sync\" data-target=\"bob.test\"")
    );
    assert!(
        w.store.run_selection(run_id, 1).await.unwrap().is_empty()
            && w.store.run_selection(run_id, 2).await.unwrap().is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_found_by_id_email_or_name_on_the_page_and_in_the_review() {
    let w = world().await;
    let admin = Browser::login_to_servers(&w.base, "admin", ADMIN_PW).await;
    let (_, _, found) = admin.get("/clients?q=LEE").await;
    assert!(found.contains("id=\"client-1\""), "{found}");
    assert!(found.contains("1 client matches “LEE”"), "{found}");
    let (_, _, none) = admin.get("/clients?q=nobody").await;
    assert!(!none.contains("id=\"client-1\"") && none.contains("No client matches."));

    let (url, _) = admin.sync(100).await;
    let run_id: i64 = url.trim_start_matches("/runs/").parse().unwrap();
    let base = [
        ("csrf", admin.csrf.as_str()),
        ("all", "not_in_billing:import"),
    ];
    // No search yet: only "refuse them", chosen; no list of every client.
    let (status, _, review) = admin.post(&format!("/runs/{run_id}/review"), &base).await;
    assert_eq!(status, 200, "{review}");
    assert!(review.contains("id=\"client_q\""), "{review}");
    assert!(review.contains("id=\"client-none\" checked"), "{review}");
    assert!(!review.contains("id=\"client-1\""), "{review}");
    // Searching by e-mail offers the client; choosing it keeps it chosen.
    let mut f = base.to_vec();
    f.push(("client_q", "ann@mail"));
    let (_, _, review) = admin.post(&format!("/runs/{run_id}/review"), &f).await;
    assert!(
        review.contains("value=\"1\" id=\"client-1\"> #1 ann@mail.test (Ann Lee)"),
        "{review}"
    );
    let mut f = base.to_vec();
    f.extend([("client_q", ""), ("unassigned_client", "1")]);
    let (_, _, review) = admin.post(&format!("/runs/{run_id}/review"), &f).await;
    assert!(review.contains("id=\"client-1\" checked"), "{review}");
    assert!(!review.contains("id=\"client-none\" checked"), "{review}");
    let mut f = base.to_vec();
    f.push(("client_q", "zzz"));
    let (_, _, review) = admin.post(&format!("/runs/{run_id}/review"), &f).await;
    assert!(review.contains("no client matches “zzz”"), "{review}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_names_terminate_targets_as_services_with_their_domain() {
    let w = world().await;
    let admin = Browser::login_to_servers(&w.base, "admin", ADMIN_PW).await;
    let (url, _) = admin.sync(100).await;
    let run_id: i64 = url.trim_start_matches("/runs/").parse().unwrap();
    let form = [
        ("csrf", admin.csrf.as_str()),
        ("all", "not_on_server:terminate"),
    ];
    let (status, _, review) = admin.post(&format!("/runs/{run_id}/review"), &form).await;
    assert_eq!(status, 200, "{review}");
    let row = between(
        &review,
        "data-action=\"terminate\" data-target=\"1002\">",
        "</tr>",
    )
    .unwrap_or_else(|| panic!("no terminate row of 1002: {review}"));
    assert!(row.contains("<td>service #1002 gone.test</td>"), "{row}");
    assert!(!review.contains("--force"), "{review}");
}
