//! Sign-in and first-run setup over real connections (issue 6 kinds 11 and 12): exactly one
//! first administrator from two `serve` instances on one SQLite file, and throttling per
//! (user name, client address) that slows down instead of locking the administrator out.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect::Policy;
use serversync_app::auth::SetupLink;
use serversync_app::App;
use serversync_store::{Role, Store};
use serversync_web::{WebConfig, WebState};

/// Serves `state` on a loopback port with the real wiring (peer addresses included).
async fn serve(state: WebState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        serversync_web::serve(listener, state, std::future::pending())
            .await
            .unwrap()
    });
    base
}

fn client(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .local_address(from.parse::<IpAddr>().ok())
        .build()
        .unwrap()
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_instances_on_one_database_make_exactly_one_first_admin() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        // Two processes: each its own store (connection pool) and application instance.
        let (s1, s2) = tokio::join!(
            serversync_store::open_with_default_key(&url),
            serversync_store::open_with_default_key(&url)
        );
        let (s1, s2): (Arc<dyn Store>, Arc<dyn Store>) = (s1.unwrap(), s2.unwrap());
        let w1 = WebState::new(App::new(s1.clone(), "web"), WebConfig::default());
        let w2 = WebState::new(App::new(s2, "web"), WebConfig::default());
        let (l1, l2) = tokio::join!(w1.setup_link(), w2.setup_link());
        let links = [l1.unwrap(), l2.unwrap()];
        let new: Vec<&String> = links
            .iter()
            .filter_map(|l| match l {
                SetupLink::New(path) => Some(path),
                _ => None,
            })
            .collect();
        assert_eq!(
            new.len(),
            1,
            "round {round}: exactly one setup link: {links:?}"
        );
        assert!(
            links.iter().any(|l| matches!(l, SetupLink::Offered { .. })),
            "round {round}: the other says one exists: {links:?}"
        );
        let token = new[0].strip_prefix("/setup?token=").unwrap().to_string();
        let (b1, b2) = (serve(w1).await, serve(w2).await);
        // The link works on either instance (the token lives in the database)…
        let page = client("127.0.0.1")
            .get(format!("{b2}/setup?token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "round {round}");
        // … but of two concurrent posts, to both instances, exactly one creates an admin.
        let post = |base: String, name: &'static str| {
            let token = token.clone();
            async move {
                client("127.0.0.1")
                    .post(format!("{base}/setup"))
                    .form(&[
                        ("token", token.as_str()),
                        ("username", name),
                        ("password", "a long enough password"),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        let (r1, r2) = tokio::join!(post(b1.clone(), "first"), post(b2.clone(), "second"));
        let mut codes = [r1, r2];
        codes.sort_unstable();
        assert_eq!(codes, [303, 403], "round {round}");
        let users = s1.users().await.unwrap();
        assert_eq!(users.len(), 1, "round {round}: {users:?}");
        assert_eq!(users[0].role, Role::Admin);
        let events = s1.audit_events(None, None, None, 0).await.unwrap();
        let adds: Vec<_> = events.iter().filter(|e| e.action == "user_add").collect();
        assert_eq!(adds.len(), 1, "round {round}");
        assert_eq!(adds[0].actor, "setup");
        // Used up everywhere.
        for base in [&b1, &b2] {
            let again = client("127.0.0.1")
                .get(format!("{base}/setup?token={token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 403, "round {round}");
        }
        assert_eq!(
            WebState::new(App::new(s1.clone(), "web"), WebConfig::default())
                .setup_link()
                .await
                .unwrap(),
            SetupLink::NotNeeded
        );
    }
}

/// Posts the sign-in form from `http` (fetching its CSRF value first); the status.
async fn sign_in(http: &reqwest::Client, base: &str, user: &str, pw: &str) -> (u16, String) {
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"")
        .unwrap()
        .to_string();
    let r = http
        .post(format!("{base}/login"))
        .form(&[("username", user), ("password", pw), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, location)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_from_one_address_never_lock_the_admin_out() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = serversync_store::open_with_default_key(&url).await.unwrap();
    let app = App::new(store, "test");
    app.add_user("admin", "the right password", Role::Admin)
        .await
        .unwrap();
    let base = serve(WebState::new(app, WebConfig::default())).await;
    let attacker = client("127.0.0.2");
    for i in 0..6 {
        assert_eq!(
            sign_in(&attacker, &base, "admin", "wrong guess").await.0,
            401,
            "guess {i}"
        );
    }
    // The real administrator, from another address: signed in at once, not refused.
    let admin = client("127.0.0.1");
    assert_eq!(
        sign_in(&admin, &base, "admin", "the right password").await,
        (303, "/servers".to_string())
    );
    // From the attacker's address too the right password works — after a bounded wait
    // (a liveness bound here, not a timing assertion).
    let same = tokio::time::timeout(
        Duration::from_secs(60),
        sign_in(&attacker, &base, "admin", "the right password"),
    )
    .await
    .expect("the right password was held too long");
    assert_eq!(same, (303, "/servers".to_string()));
}
