//! Shared helpers of the web integration tests: a temporary SQLite store, web1's records and
//! cPanel accounts, the router served on loopback, a signed-in cookie-keeping client, and the
//! worlds of the pages and JSON API tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use panel_sim::{spawn_cpanel, CpanelAccount, CpanelSimConfig, SimHandle};
use serde_json::{json, Value};
use serversync_app::App;
use serversync_store::{Role, Store};
use serversync_web::{router, WebConfig, WebState};

/// 2024-01-31 13:15:00 UTC.
pub const CREATED: i64 = 1_706_706_900;
/// The IP of server `web1` in [`web1_records`] (also the simulator's shared IP).
pub const WEB1_IP: &str = "192.0.2.10";
pub const ADMIN_PW: &str = "admin password 1";
pub const VIEWER_PW: &str = "viewer password 1";

/// The text between `start` (after it) and the next `end`.
pub fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

/// An active WHM account on [`WEB1_IP`] with plan `plan`, created [`CREATED`], e-mail
/// `ann@mail.test`.
pub fn acct(user: &str, domain: &str, plan: &str) -> CpanelAccount {
    let mut a = CpanelAccount::new(user, domain).created(CREATED);
    a.plan = plan.into();
    a.ip = WEB1_IP.into();
    a.email = "ann@mail.test".into();
    a
}

/// A cPanel product with package `pkg`.
pub fn product(id: i64, name: &str, pkg: &str) -> Value {
    json!({"id": id, "name": name, "module": "cpanel", "config_options": {"configoption1": pkg}})
}

/// Client 1's service `id` on product 10 of server 100, registered 2024-01-31.
pub fn service(id: i64, domain: &str, user: &str, status: &str) -> Value {
    json!({"id": id, "client_id": 1, "product_id": 10, "server_id": 100, "domain": domain,
           "username": user, "dedicated_ip": "", "regdate": "2024-01-31", "status": status,
           "billing_cycle": "Monthly", "amount": "9.99", "next_due_date": "2026-12-31"})
}

/// Client 1 (`ann@mail.test`, Ann Lee), `products`, server 100 `web1` (cPanel on
/// 127.0.0.1:`port`, WHM token `TOKEN`) and `services`.
pub fn web1_records(port: u16, products: Vec<Value>, services: Vec<Value>) -> Value {
    json!({
        "clients": [{"id": 1, "email": "ann@mail.test", "first_name": "Ann", "last_name": "Lee",
                     "company": "", "status": "Active"}],
        "products": products,
        "servers": [{"id": 100, "name": "web1", "module": "cpanel", "hostname": "127.0.0.1",
                     "ip_address": WEB1_IP, "port": port, "secure": false, "tls_verify": true,
                     "username": "root", "password": "", "access_hash": "TOKEN"}],
        "services": services,
    })
}

/// A cPanel simulator of `accounts` on a loopback port.
pub async fn cpanel_sim(accounts: Vec<Value>) -> SimHandle {
    spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::with_accounts(accounts),
    )
    .await
    .expect("cpanel simulator")
}

/// The store `t.db` in `dir`.
pub async fn sqlite_store(dir: &Path) -> Arc<dyn Store> {
    serversync_store::open_with_default_key(&format!("sqlite://{}", dir.join("t.db").display()))
        .await
        .expect("open store")
}

/// Serves `app` (default web configuration) on a loopback port; the base URL.
pub async fn serve(app: App) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let r = router(WebState::new(app, WebConfig::default()));
    tokio::spawn(async move { axum::serve(listener, r).await.unwrap() });
    base
}

/// Imports `doc`, analyses `server` once, adds the user `admin` ([`ADMIN_PW`]) and serves
/// the pages: the base URL and the run's id.
pub async fn analyse_and_serve(app: App, doc: &Value, server: &str) -> (String, i64) {
    app.import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    let run_id = app
        .analyse_server(server, &serversync_modules::NoProgress)
        .await
        .unwrap()
        .run_id;
    app.add_user("admin", ADMIN_PW, Role::Admin).await.unwrap();
    (serve(app).await, run_id)
}

/// Signs in as `user` with a new cookie-keeping client (the CSRF token from the login page);
/// the client and the answer to the sign-in form.
pub async fn sign_in(base: &str, user: &str, pw: &str) -> (reqwest::Client, reqwest::Response) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = get_text(&http, &format!("{base}/login")).await;
    let csrf =
        between(&page, "name=\"csrf\" value=\"", "\"").expect("a CSRF token on the login page");
    let r = http
        .post(format!("{base}/login"))
        .form(&[("username", user), ("password", pw), ("csrf", csrf)])
        .send()
        .await
        .unwrap();
    (http, r)
}

/// The body of `GET url`.
pub async fn get_text(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// Signed in as admin: the servers form offers `module`, and run `run_id`'s page heads the
/// identifier column with `heading`; returns the run page.
pub async fn module_offered_and_run_page(
    base: &str,
    module: &str,
    run_id: i64,
    heading: &str,
) -> String {
    let (http, r) = sign_in(base, "admin", ADMIN_PW).await;
    assert_eq!(r.status(), 200);
    let form = get_text(&http, &format!("{base}/servers/new")).await;
    assert!(
        form.contains(&format!("<option value=\"{module}\">{module}</option>")),
        "{form}"
    );
    let page = get_text(&http, &format!("{base}/runs/{run_id}")).await;
    assert!(
        page.contains(&format!(
            "<th><span id=\"uid-heading\">{heading}</span> / service"
        )),
        "{page}"
    );
    page
}

/// A signed-in cookie-keeping client of the pages, with the CSRF token of its session.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: String,
    /// Where signing in led.
    pub landing: reqwest::Url,
}

impl Browser {
    /// Signs in as `user` (see [`sign_in`]), asserting the answer is 200; the CSRF token from
    /// the page signed in to.
    pub async fn login(base: &str, user: &str, pw: &str) -> Browser {
        let (http, r) = sign_in(base, user, pw).await;
        assert_eq!(r.status(), 200);
        let landing = r.url().clone();
        let page = r.text().await.unwrap();
        let csrf = between(&page, "name=\"csrf\" value=\"", "\"")
            .expect("a CSRF token after signing in")
            .to_string();
        Browser {
            http,
            base: base.to_string(),
            csrf,
            landing,
        }
    }

    /// [`Browser::login`], asserting it led to the servers page.
    pub async fn login_to_servers(base: &str, user: &str, pw: &str) -> Browser {
        let b = Browser::login(base, user, pw).await;
        assert!(b.landing.path().starts_with("/servers"), "{}", b.landing);
        b
    }

    /// `GET path`: (status, final path, body).
    pub async fn get(&self, path: &str) -> (u16, String, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let url = r.url().path().to_string();
        (r.status().as_u16(), url, r.text().await.unwrap())
    }

    /// `POST path` with `form`: (status, final path, body).
    pub async fn post<T: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        form: &T,
    ) -> (u16, String, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let url = r.url().path().to_string();
        (r.status().as_u16(), url, r.text().await.unwrap())
    }
}

/// A pages test's world: a temporary SQLite store with web1's records, a cPanel simulator,
/// the users `admin` ([`ADMIN_PW`]) and `viewer` ([`VIEWER_PW`], read-only), the pages
/// served on loopback at `base`.
pub struct World {
    pub _dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub sim: SimHandle,
    pub base: String,
}

impl World {
    /// The world of a simulator listing `accounts`, and billing of [`web1_records`] with
    /// `products` and `services`.
    pub async fn start(accounts: Vec<Value>, products: Vec<Value>, services: Vec<Value>) -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(dir.path()).await;
        let sim = cpanel_sim(accounts).await;
        let doc = web1_records(sim.addr.port(), products, services);
        let app = App::new(store.clone(), "test");
        app.import_records(doc.to_string().as_bytes())
            .await
            .unwrap();
        app.add_user("admin", ADMIN_PW, Role::Admin).await.unwrap();
        app.add_user("viewer", VIEWER_PW, Role::ReadOnly)
            .await
            .unwrap();
        let base = serve(app).await;
        World {
            _dir: dir,
            store,
            sim,
            base,
        }
    }
}

/// A JSON API test's world: a temporary SQLite store with web1's records, a cPanel
/// simulator, the API served on loopback at `base`, a plain client, and two API tokens.
pub struct ApiWorld {
    pub _dir: tempfile::TempDir,
    pub sim: SimHandle,
    pub base: String,
    pub http: reqwest::Client,
    /// The token `deploy` (admin).
    pub admin: String,
    /// The token `monitor` (read-only).
    pub readonly: String,
}

impl ApiWorld {
    /// The world of a simulator listing `accounts`, and billing of [`web1_records`] with
    /// product 10 `basic` and `services`.
    pub async fn start(accounts: Vec<Value>, services: Vec<Value>) -> ApiWorld {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = App::new(sqlite_store(dir.path()).await, "test");
        let sim = cpanel_sim(accounts).await;
        let doc = web1_records(
            sim.addr.port(),
            vec![product(10, "Basic Hosting", "basic")],
            services,
        );
        app.import_records(&serde_json::to_vec(&doc).unwrap())
            .await
            .expect("import records");
        let (admin, _) = app.add_api_token("deploy", Role::Admin).await.unwrap();
        let (readonly, _) = app.add_api_token("monitor", Role::ReadOnly).await.unwrap();
        ApiWorld {
            _dir: dir,
            sim,
            base: serve(app).await,
            http: reqwest::Client::new(),
            admin,
            readonly,
        }
    }
}
