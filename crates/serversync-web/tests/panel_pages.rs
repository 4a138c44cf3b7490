//! The whole flow on the pages for each built-in panel module against its in-process
//! simulator: the servers form offers the module, Sync accounts, the run page, tick the
//! out-of-sync item (a service Active in billing whose account is suspended on the panel) and
//! the import of the account that is not in billing, Review, Apply; then the billing records
//! hold the new values and a new sync of the server shows every item in sync.
//!
//! The assertions are on behaviour (status codes, form fields read from the pages, the
//! records read through `App`), not on the run page's layout, which changes independently.

mod common;

use std::time::Duration;

use common::{between, serve, sqlite_store, Browser, ADMIN_PW};
use serde_json::Value;
use serversync_app::items::{RunCache, RunView};
use serversync_app::App;
use serversync_store::Role;

#[path = "panel_pages/cases.rs"]
mod cases;

use cases::*;

/// Every `start…end` span of `s`, in order.
fn all_between<'a>(s: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(start) {
        let from = &rest[i + start.len()..];
        let Some(j) = from.find(end) else { break };
        out.push(&from[..j]);
        rest = &from[j + end.len()..];
    }
    out
}

/// Undoes the HTML escaping askama applies to attribute values.
fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in the inside of a tag (`input type="…" name="…"`).
fn attr(tag: &str, name: &str) -> Option<String> {
    between(tag, &format!(" {name}=\""), "\"").map(unescape)
}

/// The fields a browser would submit for the form with `id` on `page`: its inputs (checked
/// checkboxes only) and each select's selected option (the first when none is), in order.
fn form_fields(page: &str, id: &str) -> Vec<(String, String)> {
    let form = between(page, &format!("id=\"{id}\""), "</form>")
        .unwrap_or_else(|| panic!("no form {id}: {page}"));
    let mut fields = Vec::new();
    for tag in all_between(form, "<input", ">") {
        let Some(name) = attr(tag, "name") else {
            continue;
        };
        let kind = attr(tag, "type").unwrap_or_else(|| "text".into());
        if kind == "checkbox" || kind == "radio" {
            if tag.contains(" checked") {
                fields.push((name, attr(tag, "value").unwrap_or_else(|| "on".into())));
            }
        } else {
            fields.push((name, attr(tag, "value").unwrap_or_default()));
        }
    }
    for select in all_between(form, "<select", "</select>") {
        let Some(name) = attr(select, "name") else {
            continue;
        };
        let options: Vec<(String, bool)> = all_between(select, "<option", "</option>")
            .into_iter()
            .map(|o| {
                let (tag, text) = o.split_once('>').unwrap_or((o, ""));
                let value = attr(tag, "value").unwrap_or_else(|| unescape(text.trim()));
                (value, tag.contains(" selected"))
            })
            .collect();
        let chosen = options
            .iter()
            .find(|(_, sel)| *sel)
            .or(options.first())
            .map(|(v, _)| v.clone())
            .unwrap_or_default();
        fields.push((name, chosen));
    }
    fields
}

/// The values of the item checkboxes (`name="c"`) on a run page: `{index}:{action}`.
fn item_choices(page: &str) -> Vec<String> {
    all_between(page, "<input", ">")
        .into_iter()
        .filter(|tag| attr(tag, "name").as_deref() == Some("c"))
        .filter_map(|tag| attr(tag, "value"))
        .collect()
}

/// The checkbox value offering `action` on the run item whose unique identifier is `uid`:
/// the page's `c` values are matched to the run's items through `App::run_view`.
fn choice_for(choices: &[String], view: &RunView, uid: &str, action: &str) -> String {
    let found: Vec<&String> = choices
        .iter()
        .filter(|c| {
            let Some((index, a)) = c.split_once(':') else {
                return false;
            };
            let item = index.parse::<usize>().ok().and_then(|i| view.items.get(i));
            a == action && item.is_some_and(|it| it.unique_identifier.as_deref() == Some(uid))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {action} checkbox for {uid} expected among {choices:?}"
    );
    found[0].clone()
}

/// `(category, count)` of the view's non-zero categories, sorted by name.
fn nonzero_counts(view: &RunView) -> Vec<(String, usize)> {
    let mut c: Vec<(String, usize)> = serversync_app::items::category_counts(&view.counts)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    c.sort();
    c
}

fn category_of(view: &RunView, uid: &str) -> String {
    view.items
        .iter()
        .find(|it| it.unique_identifier.as_deref() == Some(uid))
        .unwrap_or_else(|| panic!("no item {uid} in run {}", view.run_id))
        .category
        .as_str()
        .to_string()
}

impl Browser {
    /// Presses Sync accounts and follows the job page to the run page; returns the run id
    /// and the run page.
    async fn sync(&self, server_id: i64) -> (i64, String) {
        let (status, mut url, mut page) = self
            .post(
                &format!("/servers/{server_id}/sync"),
                &[("csrf", &self.csrf)],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        for _ in 0..100 {
            if !url.starts_with("/jobs/") {
                break;
            }
            assert!(
                !page.contains("id=\"job-error\""),
                "the sync failed: {page}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (s, u, p) = self.get(&url).await;
            assert_eq!(s, 200, "{p}");
            (url, page) = (u, p);
        }
        let run_id = url
            .strip_prefix("/runs/")
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("the sync did not reach a run page: {url}: {page}"));
        (run_id, page)
    }
}

/// The service of `server` with `domain`, as a records-document entry read through `App`.
async fn service_with_domain(app: &App, server: &str, domain: &str) -> Option<Value> {
    app.services_of(Some(server))
        .await
        .unwrap()
        .iter()
        .map(serversync_app::records::service_json)
        .find(|s| s["domain"] == domain)
}

async fn service_by_id(app: &App, server: &str, id: i64) -> Value {
    app.services_of(Some(server))
        .await
        .unwrap()
        .iter()
        .map(serversync_app::records::service_json)
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no service {id} on {server}"))
}

/// The flow on the pages for one panel (see the file's doc comment).
async fn sync_review_apply_on_the_pages(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(sqlite_store(dir.path()).await, "test");
    app.import_records(case.doc.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(
        app.services_of(Some(case.server_name)).await.unwrap().len(),
        2,
        "{}: two services imported",
        case.module
    );
    app.add_user("admin", ADMIN_PW, Role::Admin).await.unwrap();
    let base = serve(app.clone()).await;
    let admin = Browser::login_to_servers(&base, "admin", ADMIN_PW).await;
    let server = case.server_name;

    // The servers form offers the module.
    let (status, _, form) = admin.get("/servers/new").await;
    assert_eq!(status, 200, "{form}");
    let select = between(&form, "name=\"module\"", "</select>")
        .unwrap_or_else(|| panic!("no module select: {form}"));
    let modules: Vec<String> = all_between(select, "<option", ">")
        .into_iter()
        .filter_map(|tag| attr(tag, "value"))
        .collect();
    assert!(
        modules.iter().any(|m| m == case.module),
        "{} not offered: {modules:?}",
        case.module
    );

    // Sync accounts → the run page.
    let (run_id, run) = admin.sync(case.server_id).await;
    let cache = RunCache::default();
    let view = app.run_view(&cache, run_id).await.unwrap();
    assert!(view.complete, "{}: the listing is complete", case.module);
    assert_eq!(view.server_id, case.server_id);
    assert_eq!(
        nonzero_counts(&view),
        vec![
            ("in_sync".to_string(), 1),
            ("not_in_billing".to_string(), 1),
            ("out_of_sync".to_string(), 1)
        ],
        "{}",
        case.module
    );
    let bob = view
        .items
        .iter()
        .find(|it| it.unique_identifier.as_deref() == Some(SUSPENDED))
        .expect("the suspended account is an item");
    assert_eq!(bob.category.as_str(), "out_of_sync");
    assert_eq!(bob.service_id, Some(case.suspended_service));
    let diffs: Vec<(&str, &str, &str)> = bob
        .diffs
        .iter()
        .map(|d| (d.field.as_str(), d.remote.as_str(), d.billing.as_str()))
        .collect();
    assert_eq!(
        diffs,
        vec![("status", "Suspended", "Active")],
        "{}",
        case.module
    );
    assert_eq!(category_of(&view, NOT_IN_BILLING), "not_in_billing");
    // The page shows the accounts and offers their checkboxes.
    for d in [IN_SYNC, SUSPENDED, NOT_IN_BILLING] {
        assert!(
            run.contains(d),
            "{}: {d} missing on the run page",
            case.module
        );
    }
    let choices = item_choices(&run);
    let sync_bob = choice_for(&choices, &view, SUSPENDED, "sync");
    let import_ed = choice_for(&choices, &view, NOT_IN_BILLING, "import");
    let select_csrf = form_fields(&run, "select-form")
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v)
        .expect("the selection form carries the CSRF token");

    // Review: a dry run that changes nothing and carries the selection to the apply form.
    let tick = [
        ("csrf", select_csrf.as_str()),
        ("c", sync_bob.as_str()),
        ("c", import_ed.as_str()),
    ];
    let (status, _, review) = admin.post(&format!("/runs/{run_id}/review"), &tick).await;
    assert_eq!(status, 200, "{review}");
    assert_eq!(
        service_by_id(&app, server, case.suspended_service).await["status"],
        "Active",
        "{}: the review changed a record",
        case.module
    );
    assert!(service_with_domain(&app, server, NOT_IN_BILLING)
        .await
        .is_none());
    let apply = form_fields(&review, "apply-form");
    let carried: Vec<&str> = apply
        .iter()
        .filter(|(k, _)| k == "c")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(carried, vec![sync_bob.as_str(), import_ed.as_str()]);
    assert!(apply.iter().any(|(k, v)| k == "csrf" && !v.is_empty()));
    assert!(
        !apply.iter().any(|(k, _)| k == "force"),
        "the guards stay on"
    );

    // Apply, with the form as the review page gave it.
    let (status, _, summary) = admin.post(&format!("/runs/{run_id}/apply"), &apply).await;
    assert_eq!(status, 200, "{summary}");
    let bob_service = service_by_id(&app, server, case.suspended_service).await;
    assert_eq!(bob_service["status"], "Suspended", "{}", case.module);
    assert_eq!(bob_service["domain"], SUSPENDED);
    let ed = service_with_domain(&app, server, NOT_IN_BILLING)
        .await
        .unwrap_or_else(|| panic!("{}: {NOT_IN_BILLING} was not imported", case.module));
    assert_eq!(ed["username"], "ed", "{ed}");
    assert_eq!(ed["server_id"], case.server_id, "{ed}");
    assert_eq!(ed["product_id"], case.import_product, "{ed}");
    assert_eq!(ed["client_id"], 1, "{ed}");
    assert_eq!(ed["status"], "Active", "{ed}");
    assert_eq!(ed["regdate"], "2024-01-31", "{ed}");
    assert_eq!(app.services_of(Some(server)).await.unwrap().len(), 3);
    assert_eq!(
        service_by_id(&app, server, case.suspended_service - 1).await["status"],
        "Active",
        "the in-sync service is untouched"
    );

    // A new sync of the same server: everything in sync.
    let (again, _) = admin.sync(case.server_id).await;
    assert_ne!(again, run_id);
    let view = app.run_view(&cache, again).await.unwrap();
    assert_eq!(
        nonzero_counts(&view),
        vec![("in_sync".to_string(), 3)],
        "{}",
        case.module
    );
    for d in [IN_SYNC, SUSPENDED, NOT_IN_BILLING] {
        assert_eq!(category_of(&view, d), "in_sync", "{}: {d}", case.module);
    }
    case.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directadmin_sync_review_apply_on_the_pages() {
    sync_review_apply_on_the_pages(directadmin_case().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plesk_sync_review_apply_on_the_pages() {
    sync_review_apply_on_the_pages(plesk_case().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtualmin_sync_review_apply_on_the_pages() {
    sync_review_apply_on_the_pages(virtualmin_case().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hestiacp_sync_review_apply_on_the_pages() {
    sync_review_apply_on_the_pages(hestiacp_case().await).await;
}
