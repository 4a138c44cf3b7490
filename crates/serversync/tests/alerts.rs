//! Alerts through the real binary (issue 11): `scan --all` with `[notify]` in
//! `serversync.toml` posts a signed `drift` and a `listing_failed` webhook before it exits,
//! retries a failing target, logs every attempt, and shows no secret.

mod common;

use common::{acct, client, product, server, service, Env, WEB1_IP};
use hmac::{Hmac, Mac};
use panel_sim::Fault;
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "whsec-cli-secret-42";

fn signed(body: &[u8], header: &str) -> bool {
    let Some(sig) = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_posts_signed_drift_and_listing_failed_webhooks_before_it_exits() {
    let web1 = common::sim(vec![
        acct("ann", "ann.test", "basic").into_value(),
        acct("fresh", "fresh.test", "basic").into_value(),
    ])
    .await;
    let web3 = common::sim(vec![]).await;
    web3.set_fault(Some(Fault::Http500));
    let env = Env::new();
    env.import(&json!({
        "clients": [client(1, "ann@mail.test")],
        "products": [product(10, "Basic Hosting", "basic")],
        "servers": [server(100, "web1", web1.addr.port(), WEB1_IP),
                    server(102, "web3", web3.addr.port(), WEB1_IP)],
        "services": [service(1000, 1, 10, 100, "ann.test", "ann", "Active")],
    }))
    .await;
    let hooks = MockServer::start().await;
    // The first attempt of whichever event comes first fails: it is tried again.
    Mock::given(method("POST"))
        .and(path("/hook/T0K3N"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&hooks)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook/T0K3N"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&hooks)
        .await;
    std::fs::write(
        env.path("serversync.toml"),
        format!(
            "[notify]\nbase_url = \"https://sync.example.test\"\nretry_delay_ms = 10\n\n\
             [[notify.webhooks]]\nurl = \"{}/hook/T0K3N\"\nsecret = \"{SECRET}\"\n",
            hooks.uri()
        ),
    )
    .unwrap();

    let out = env.run(&["scan", "--all"]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    for secret in [SECRET, "T0K3N"] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{out:#?}"
        );
    }

    let got = hooks.received_requests().await.unwrap();
    assert_eq!(got.len(), 3, "two events, one retried: {got:#?}");
    let mut kinds = Vec::new();
    for r in &got {
        let sig = r
            .headers
            .get("x-serversync-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(signed(&r.body, sig), "signature {sig:?}");
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        kinds.push((
            b["kind"].as_str().unwrap().to_string(),
            b["server"]["name"].as_str().unwrap().to_string(),
        ));
        assert!(
            b["link"]
                .as_str()
                .unwrap()
                .starts_with("https://sync.example.test/runs/"),
            "{b}"
        );
    }
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        vec![
            ("drift".to_string(), "web1".to_string()),
            ("listing_failed".to_string(), "web3".to_string())
        ]
    );

    // The delivery log: three attempts, one failed with 500, every event delivered once.
    let store = serversync_store::open_with_default_key(&env.db)
        .await
        .unwrap();
    let log = store.recent_deliveries(0).await.unwrap();
    assert_eq!(log.len(), 3, "{log:#?}");
    assert_eq!(log.iter().filter(|d| d.delivered).count(), 2);
    let failed: Vec<_> = log.iter().filter(|d| !d.delivered).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].attempt, failed[0].status), (1, Some(500)));
    let host = hooks.uri();
    for d in &log {
        assert_eq!(d.target, format!("{host}/…"));
    }
}

/// Kills the `serve` process when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_the_scheduler_posts_alerts_of_its_scheduled_scans() {
    let web3 = common::sim(vec![]).await;
    web3.set_fault(Some(Fault::Http500));
    let env = Env::new();
    env.import(&json!({
        "clients": [], "products": [], "services": [],
        "servers": [server(102, "web3", web3.addr.port(), WEB1_IP)],
    }))
    .await;
    let hooks = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hooks)
        .await;
    std::fs::write(
        env.path("serversync.toml"),
        format!(
            "[scan]\nenabled = true\njitter_secs = 0\n\n[notify]\n\n\
             [[notify.webhooks]]\nurl = \"{}/hook\"\nsecret = \"{SECRET}\"\n",
            hooks.uri()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(env.path("serve.log")).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_serversync"))
        .args(["--database", &env.db, "serve", "--listen", "127.0.0.1:0"])
        .current_dir(env.dir.path())
        .env_remove("SERVERSYNC_DATABASE_URL")
        .env("SERVERSYNC_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _serve = Killed(child);
    let mut got = Vec::new();
    for _ in 0..300 {
        got = hooks.received_requests().await.unwrap();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let served = std::fs::read_to_string(env.path("serve.log")).unwrap_or_default();
    assert_eq!(got.len(), 1, "{served}");
    let b: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(b["kind"], "listing_failed", "{b}");
    assert_eq!(b["server"]["name"], "web3");
    let sig = got[0]
        .headers
        .get("x-serversync-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(signed(&got[0].body, sig));
    assert!(!served.contains(SECRET), "{served}");
}
