//! The pages' record actions, end to end in-process (a temporary SQLite store, a cPanel
//! simulator accepting the WHM token `TOKEN`, the router on loopback, a cookie-keeping
//! client): the server form's checks with the error beside its field and the entered values
//! kept, the Test connection button, and a review where nothing would apply.

mod common;

use std::time::Duration;

use common::*;
use panel_sim::CpanelAccount;

/// web1 lists `ann.test` only; billing has ann and five more Active services that are not
/// on the server (terminating them all would exceed the 25% guard).
async fn world() -> World {
    let mut ann = CpanelAccount::new("ann", "ann.test").created(1_706_706_900);
    ann.plan = "basic".into();
    ann.ip = "192.0.2.10".into();
    let services = ["ann", "gone1", "gone2", "gone3", "gone4", "gone5"]
        .iter()
        .zip(1000..)
        .map(|(u, id)| service(id, &format!("{u}.test"), u, "Active"))
        .collect();
    World::start(
        vec![ann.into_value()],
        vec![product(10, "Basic Hosting", "basic")],
        services,
    )
    .await
}

impl Browser {
    /// Syncs server 100 and follows the job page to the run; returns the run id.
    async fn sync(&self) -> i64 {
        let (status, mut url, mut page) = self
            .post("/servers/100/sync", &[("csrf", &self.csrf)])
            .await;
        assert_eq!(status, 200, "{page}");
        for _ in 0..100 {
            if let Some(id) = url.strip_prefix("/runs/") {
                return id.parse().unwrap();
            }
            assert!(!page.contains("id=\"job-error\""), "{page}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (_, u, p) = self.get(&url).await;
            (url, page) = (u, p);
        }
        panic!("the sync job did not finish: {page}");
    }
}

/// The server form's fields for a new cPanel server `web2` on the simulator.
fn web2<'a>(csrf: &'a str, port: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("name", "web2"),
        ("module", "cpanel"),
        ("hostname", "127.0.0.1"),
        ("ip_address", "192.0.2.20"),
        ("port", port),
        ("tls_verify", "on"),
        ("username", "root"),
        ("password", ""),
        ("access_hash", "S3CRET-TOKEN"),
    ]
}

fn set<'a>(form: &mut [(&'a str, &'a str)], key: &str, value: &'a str) {
    let field = form
        .iter_mut()
        .find(|(k, _)| *k == key)
        .unwrap_or_else(|| panic!("no field {key}"));
    field.1 = value;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_form_shows_each_check_beside_its_field_and_keeps_the_values() {
    let w = world().await;
    let admin = Browser::login(&w.base, "admin", ADMIN_PW).await;
    let port = w.sim.addr.port().to_string();
    let cases = [
        (
            "ip_address",
            "300.1.1.1",
            "ip_address: &#34;300.1.1.1&#34; is not an IPv4 or IPv6 address",
        ),
        (
            "name",
            "  WEB1 ",
            "name: &#34;WEB1&#34; is already used by web1 (server 100); names are compared ignoring case and surrounding spaces",
        ),
        (
            "access_hash",
            "",
            "password: the cpanel module needs a password or an access hash (API token)",
        ),
        (
            "username",
            "",
            "username: the cpanel module signs in with a user name",
        ),
    ];
    for (field, value, want) in cases {
        let mut form = web2(&admin.csrf, &port);
        set(&mut form, field, value);
        let (status, url, page) = admin.post("/servers/new", &form).await;
        assert_eq!((status, url.as_str()), (400, "/servers/new"), "{field}");
        // At the top and beside the field it is about.
        assert!(
            page.contains(&format!("<p class=\"error\" id=\"form-error\">{want}</p>")),
            "{field}: {page}"
        );
        // The error is shown beside the field it names (the password check names the
        // password field, whose neighbour is the access hash).
        let named = want.split(':').next().unwrap();
        assert!(
            page.contains(&format!(
                "<span class=\"error field-error\" id=\"{named}-error\">{want}</span>"
            )),
            "{field}: {page}"
        );
        assert_eq!(page.matches("field-error").count(), 1, "{field}");
        // The entered values are kept, the secret is not.
        let kept_ip = if field == "ip_address" {
            value
        } else {
            "192.0.2.20"
        };
        assert!(
            page.contains(&format!("name=\"ip_address\" value=\"{kept_ip}\"")),
            "{field}: {page}"
        );
        assert!(
            page.contains(&format!(
                "name=\"port\" min=\"1\" max=\"65535\" value=\"{port}\""
            )),
            "{page}"
        );
        assert!(
            !page.contains("S3CRET-TOKEN"),
            "{field}: the secret was rendered back"
        );
    }
    assert_eq!(
        w.store.servers().await.unwrap().len(),
        1,
        "nothing was saved"
    );

    // IPv6 is an IP address too; a valid form saves and the name is trimmed.
    let mut form = web2(&admin.csrf, &port);
    set(&mut form, "ip_address", "2001:db8::20");
    set(&mut form, "name", "  web2 ");
    let (status, url, page) = admin.post("/servers/new", &form).await;
    assert_eq!(status, 200, "{page}");
    assert!(url.starts_with("/servers/"), "{url}");
    let web2 = w.store.server("web2").await.unwrap();
    assert_eq!(web2.name, "web2");
    assert_eq!(web2.ip_address, "2001:db8::20");
    assert_eq!(web2.access_hash.expose(), "S3CRET-TOKEN");
    // Editing: the stored token counts as the module's credential.
    let mut form = web2_edit(&admin.csrf, &port);
    set(&mut form, "ip_address", "192.0.2.21");
    let (status, url, page) = admin
        .post(&format!("/servers/{}/edit", web2.id), &form)
        .await;
    assert_eq!(
        (status, url),
        (200, format!("/servers/{}", web2.id)),
        "{page}"
    );
    assert_eq!(
        w.store.server("web2").await.unwrap().access_hash.expose(),
        "S3CRET-TOKEN"
    );
}

fn web2_edit<'a>(csrf: &'a str, port: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut f = web2(csrf, port);
    set(&mut f, "access_hash", "");
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_button_says_in_one_line_whether_the_panel_answered() {
    let w = world().await;
    let admin = Browser::login(&w.base, "admin", ADMIN_PW).await;
    let port = w.sim.addr.port().to_string();
    let mut form = web2(&admin.csrf, &port);
    set(&mut form, "access_hash", "WRONG-TOKEN");
    let (status, _, page) = admin.post("/servers/new", &form).await;
    assert_eq!(status, 200, "{page}");

    // One button per server, for read-only users too (a test writes nothing).
    let viewer = Browser::login(&w.base, "viewer", VIEWER_PW).await;
    let (_, _, servers) = viewer.get("/servers").await;
    assert!(servers.contains("id=\"test-web1\""), "{servers}");
    assert!(servers.contains("id=\"test-web2\""), "{servers}");
    assert!(
        servers.contains("action=\"/servers/100/test\""),
        "{servers}"
    );

    let (status, _, page) = viewer
        .post("/servers/100/test", &[("csrf", &viewer.csrf)])
        .await;
    assert_eq!(status, 200, "{page}");
    let line = between(&page, "data-connected=\"true\">", "</p>").expect("connected line");
    assert!(
        line.starts_with("web1: connected, 1 account listed in ") && line.ends_with(" s"),
        "{line}"
    );
    assert!(
        page.contains("id=\"connection-result\" class=\"ok\""),
        "{page}"
    );

    let id = w.store.server("web2").await.unwrap().id;
    let (status, _, page) = admin
        .post(&format!("/servers/{id}/test"), &[("csrf", &admin.csrf)])
        .await;
    assert_eq!(status, 200, "{page}");
    let line = between(&page, "data-connected=\"false\">", "</p>").expect("failed line");
    assert!(line.starts_with("web2: failed: "), "{line}");
    assert!(page.contains("class=\"error\""), "{page}");
    assert!(!page.contains("WRONG-TOKEN"), "{page}");

    // Without the CSRF token: refused. Nothing was stored by any test.
    let (status, _, _) = admin.post::<[(&str, &str)]>("/servers/100/test", &[]).await;
    assert_eq!(status, 403);
    assert!(w.store.runs(100, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_is_disabled_when_nothing_would_apply_and_says_nothing_applied() {
    let w = world().await;
    let admin = Browser::login(&w.base, "admin", ADMIN_PW).await;
    let run = admin.sync().await;
    // Terminating the five services not on the server (5 of 6 live) exceeds the 25% guard:
    // every one would be refused.
    let form = [
        ("csrf", admin.csrf.as_str()),
        ("all", "not_on_server:terminate"),
    ];
    let (status, _, review) = admin.post(&format!("/runs/{run}/review"), &form).await;
    assert_eq!(status, 200, "{review}");
    assert_eq!(
        review.matches("data-outcome=\"refused\"").count(),
        5,
        "{review}"
    );
    assert!(
        review.contains("<button type=\"submit\" id=\"apply\" disabled aria-describedby=\"apply-why\">Apply</button>"),
        "{review}"
    );
    assert!(review.contains("Nothing would be applied: every selected item would be refused"));

    // Posted anyway (the form is still there): the result says nothing was applied.
    let before = w.store.services(None).await.unwrap();
    let (status, _, result) = admin.post(&format!("/runs/{run}/apply"), &form).await;
    assert_eq!(status, 200, "{result}");
    let summary = between(&result, "<p id=\"apply-result\">", "</p>").expect("apply result");
    assert!(
        summary.starts_with("<strong id=\"nothing-applied\">Nothing applied</strong>: <strong class=\"refused\">5 refused</strong>"),
        "{summary}"
    );
    assert!(
        summary.contains("No billing record was changed."),
        "{summary}"
    );
    assert!(!summary.contains("applied</strong>,"), "{summary}");
    assert_eq!(w.store.services(None).await.unwrap(), before);

    // With the guard overridden the review would apply, and Apply is enabled.
    let forced = [
        ("csrf", admin.csrf.as_str()),
        ("all", "not_on_server:terminate"),
        ("force", "on"),
    ];
    let (_, _, review) = admin.post(&format!("/runs/{run}/review"), &forced).await;
    assert!(
        review.contains("<button type=\"submit\" id=\"apply\">Apply</button>"),
        "{review}"
    );
}
