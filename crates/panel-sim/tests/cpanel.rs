//! End-to-end tests of the cPanel/WHM simulator over real HTTP.

use std::time::{Duration, Instant};

use panel_sim::{
    generate_cpanel_accounts, spawn_cpanel, CpanelAccount, CpanelSimConfig, Fault, SimHandle,
};
use serde_json::{json, Value};

const AUTH: &str = "whm root:TOKEN";

async fn sim(cfg: CpanelSimConfig) -> SimHandle {
    match spawn_cpanel("127.0.0.1:0".parse().expect("addr"), cfg).await {
        Ok(h) => h,
        Err(e) => panic!("spawn: {e}"),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// GET `/json-api/{path}` with the given Authorization header; returns status and body.
async fn get(h: &SimHandle, path: &str, auth: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = client().get(format!("{}/json-api/{path}", h.base_url()));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

async fn get_json(h: &SimHandle, path: &str) -> Value {
    let (status, body) = get(h, path, Some(AUTH)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("valid JSON")
}

fn users(v: &Value) -> Vec<String> {
    v["data"]["acct"]
        .as_array()
        .expect("data.acct array")
        .iter()
        .map(|a| a["user"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn listing_envelope_and_accounts() {
    let h = sim(CpanelSimConfig::generated(25, 1)).await;
    let v = get_json(&h, "listaccts?api.version=1").await;
    assert_eq!(
        v["metadata"],
        json!({"command": "listaccts", "result": 1, "reason": "OK", "version": 1})
    );
    assert_eq!(v["data"]["acct"].as_array().map(Vec::len), Some(25));
    assert_eq!(v["data"]["acct"][0]["user"], "res1");
    assert_eq!(
        v["data"]["acct"],
        Value::Array(generate_cpanel_accounts(25, 1))
    );
}

#[tokio::test]
async fn auth_is_refused_with_403() {
    let mut cfg = CpanelSimConfig::generated(5, 1);
    cfg.password = Some("secret".into());
    let h = sim(cfg).await;
    let path = "listaccts?api.version=1";
    for bad in [
        None,
        Some("whm root:WRONG"),
        Some("whm admin:TOKEN"),
        Some("whm root"),
        Some("cpanel root:TOKEN"),
        Some("Basic cm9vdDp3cm9uZw=="), // root:wrong
    ] {
        let (status, body) = get(&h, path, bad).await;
        assert_eq!(status, 403, "{bad:?}");
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["cpanelresult"]["error"], "Access denied");
        assert!(v.get("data").is_none() && v.get("metadata").is_none());
    }
    for good in ["whm root:TOKEN", "WHM root:TOKEN", "Basic cm9vdDpzZWNyZXQ="] {
        let (status, _) = get(&h, path, Some(good)).await;
        assert_eq!(status, 200, "{good}");
    }
    // Without a configured password, Basic is refused.
    let h2 = sim(CpanelSimConfig::generated(5, 1)).await;
    assert_eq!(get(&h2, path, Some("Basic cm9vdDpzZWNyZXQ=")).await.0, 403);
    assert!(h.request_count() >= 9);
}

#[tokio::test]
async fn chunking_pages_and_metadata() {
    let h = sim(CpanelSimConfig::generated(25, 1)).await;
    let all = users(&get_json(&h, "listaccts?api.version=1").await);
    let mut seen = Vec::new();
    for (start, len, current) in [(1, 10, 1), (11, 10, 2), (21, 5, 3)] {
        let v = get_json(
            &h,
            &format!("listaccts?api.version=1&api.chunk.enable=1&api.chunk.size=10&api.chunk.start={start}"),
        )
        .await;
        assert_eq!(
            v["metadata"]["chunk"],
            json!({"start": start, "size": 10, "records": 25, "chunks": 3, "current": current})
        );
        let page = users(&v);
        assert_eq!(page.len(), len);
        assert_eq!(page, all[start - 1..start - 1 + len]);
        seen.extend(page);
    }
    assert_eq!(seen, all);

    // Past the end: an empty page, still a success.
    let v = get_json(
        &h,
        "listaccts?api.version=1&api.chunk.enable=1&api.chunk.size=10&api.chunk.start=31",
    )
    .await;
    assert_eq!(v["metadata"]["result"], 1);
    assert_eq!(users(&v).len(), 0);
    assert_eq!(v["metadata"]["chunk"]["records"], 25);

    // 0-indexed start and missing size are refused, not guessed.
    for bad in [
        "listaccts?api.version=1&api.chunk.enable=1&api.chunk.size=10&api.chunk.start=0",
        "listaccts?api.version=1&api.chunk.enable=1&api.chunk.start=1",
        "listaccts?api.version=1&api.chunk.enable=1&api.chunk.size=0",
    ] {
        let v = get_json(&h, bad).await;
        assert_eq!(v["metadata"]["result"], 0, "{bad}");
        assert!(v.get("data").is_none());
    }
    // Chunking disabled: everything, no chunk metadata.
    let v = get_json(
        &h,
        "listaccts?api.version=1&api.chunk.enable=0&api.chunk.size=10",
    )
    .await;
    assert_eq!(users(&v).len(), 25);
    assert!(v["metadata"].get("chunk").is_none());
}

#[tokio::test]
async fn want_and_search() {
    let h = sim(CpanelSimConfig::generated(50, 2)).await;
    let v = get_json(&h, "listaccts?api.version=1&want=user,domain,nosuchkey").await;
    for a in v["data"]["acct"].as_array().expect("acct") {
        let obj = a.as_object().expect("object");
        assert_eq!(obj.len(), 2, "{a}");
        assert!(obj.contains_key("user") && obj.contains_key("domain"));
    }
    let target = generate_cpanel_accounts(50, 2)[17].clone();
    let user = target["user"].as_str().expect("user");
    let domain = target["domain"].as_str().expect("domain");

    let v = get_json(
        &h,
        &format!("listaccts?api.version=1&searchtype=user&searchmethod=exact&search={user}"),
    )
    .await;
    assert_eq!(v["data"]["acct"], json!([target]));
    let v = get_json(
        &h,
        &format!(
            "listaccts?api.version=1&searchtype=domain&searchmethod=exact&search={}",
            domain.to_uppercase()
        ),
    )
    .await;
    assert_eq!(users(&v), vec![user.to_string()]);
    let v = get_json(
        &h,
        "listaccts?api.version=1&searchtype=user&searchmethod=exact&search=nobody",
    )
    .await;
    assert_eq!(v["metadata"]["result"], 1);
    assert_eq!(users(&v).len(), 0);
    // Owner search via the default regex method, combined with chunking.
    let v = get_json(&h, "listaccts?api.version=1&searchtype=owner&search=^res1$&api.chunk.enable=1&api.chunk.size=2").await;
    let expected = generate_cpanel_accounts(50, 2)
        .iter()
        .filter(|a| a["owner"] == "res1")
        .count();
    assert_eq!(v["metadata"]["chunk"]["records"], expected);
    // An unsupported regex is refused clearly.
    let v = get_json(&h, "listaccts?api.version=1&searchtype=user&search=a.*b").await;
    assert_eq!(v["metadata"]["result"], 0);

    // accountsummary
    let v = get_json(&h, &format!("accountsummary?api.version=1&user={user}")).await;
    assert_eq!(v["data"]["acct"], json!([target]));
    let v = get_json(&h, "accountsummary?api.version=1&user=nobody").await;
    assert_eq!(v["metadata"]["result"], 0);
}

#[tokio::test]
async fn api0_without_version() {
    let h = sim(CpanelSimConfig::generated(7, 1)).await;
    let v = get_json(&h, "listaccts").await;
    assert_eq!(v["status"], 1);
    assert_eq!(v["statusmsg"], "Ok");
    assert_eq!(v["acct"].as_array().map(Vec::len), Some(7));
    assert!(v.get("metadata").is_none());
    let v = get_json(&h, "nosuchfunction?api.version=1").await;
    assert_eq!(v["metadata"]["result"], 0);
}

#[tokio::test]
async fn quirky_accounts_are_served_verbatim() {
    let mut odd = CpanelAccount::new("odd", "odd.test").to_value();
    odd["suspended"] = json!("1");
    odd["unix_startdate"] = json!("0");
    odd["email"] = json!("*unknown*");
    let sparse = json!({"user": "sparse"});
    let h = sim(CpanelSimConfig::with_accounts(vec![
        odd.clone(),
        sparse.clone(),
    ]))
    .await;
    let v = get_json(&h, "listaccts?api.version=1").await;
    assert_eq!(v["data"]["acct"], json!([odd, sparse]));
}

#[tokio::test]
async fn accounts_and_fault_change_while_running() {
    let h = sim(CpanelSimConfig::generated(3, 1)).await;
    assert_eq!(
        users(&get_json(&h, "listaccts?api.version=1").await).len(),
        3
    );
    h.set_accounts(vec![CpanelAccount::new("zed", "zed.test").to_value()]);
    assert_eq!(
        users(&get_json(&h, "listaccts?api.version=1").await),
        vec!["zed"]
    );
    h.set_fault(Some(Fault::Http500));
    assert_eq!(get(&h, "listaccts?api.version=1", Some(AUTH)).await.0, 500);
    h.set_fault(None);
    assert_eq!(
        users(&get_json(&h, "listaccts?api.version=1").await),
        vec!["zed"]
    );
    assert_eq!(h.accounts().len(), 1);
    // One shared list can back several simulators.
    let shared = std::sync::Arc::new(generate_cpanel_accounts(4, 9));
    let h2 = sim(CpanelSimConfig::with_accounts(Vec::new())).await;
    h.set_accounts(std::sync::Arc::clone(&shared));
    h2.set_accounts(std::sync::Arc::clone(&shared));
    assert_eq!(
        users(&get_json(&h, "listaccts?api.version=1").await).len(),
        4
    );
    assert_eq!(
        users(&get_json(&h2, "listaccts?api.version=1").await).len(),
        4
    );
}

#[tokio::test]
async fn fault_error_in_200() {
    let mut cfg = CpanelSimConfig::generated(10, 1);
    cfg.fault = Some(Fault::ErrorIn200);
    let h = sim(cfg).await;
    let v = get_json(&h, "listaccts?api.version=1").await;
    assert_eq!(v["metadata"]["result"], 0);
    assert_eq!(v["metadata"]["command"], "listaccts");
    assert!(v["metadata"]["reason"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    assert!(v.get("data").is_none());
    let v = get_json(&h, "listaccts").await;
    assert_eq!(v["status"], 0);
    assert!(v.get("acct").is_none());
}

#[tokio::test]
async fn fault_http_500() {
    let mut cfg = CpanelSimConfig::generated(10, 1);
    cfg.fault = Some(Fault::Http500);
    let h = sim(cfg).await;
    let (status, body) = get(&h, "listaccts?api.version=1", Some(AUTH)).await;
    assert_eq!(status, 500);
    assert!(String::from_utf8_lossy(&body).contains("Internal Server Error"));
    assert!(serde_json::from_slice::<Value>(&body).is_err());
}

#[tokio::test]
async fn fault_truncated() {
    let mut cfg = CpanelSimConfig::generated(200, 1);
    cfg.fault = Some(Fault::Truncated);
    let h = sim(cfg).await;
    for path in [
        "listaccts?api.version=1",
        "listaccts?api.version=1&api.chunk.enable=1&api.chunk.size=3",
    ] {
        let resp = client()
            .get(format!("{}/json-api/{path}", h.base_url()))
            .header("Authorization", AUTH)
            .send()
            .await
            .expect("headers arrive");
        assert_eq!(resp.status().as_u16(), 200);
        let announced = resp.content_length().expect("content-length");
        match resp.bytes().await {
            Err(e) => assert!(e.is_body() || e.is_decode(), "{e}"),
            Ok(b) => {
                assert!((b.len() as u64) < announced);
                assert!(serde_json::from_slice::<Value>(&b).is_err());
            }
        }
    }
    // The first half really is sent: read it with a raw socket.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(h.addr)
        .await
        .expect("connect");
    s.write_all(
        format!("GET /json-api/listaccts?api.version=1 HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read until close");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    assert_eq!(body.len(), len / 2);
    assert!(body.starts_with("{\"metadata\":{\"command\":\"listaccts\",\"result\":1"));
    assert!(serde_json::from_str::<Value>(body).is_err());
}

#[tokio::test]
async fn fault_slow_fires_client_timeout_and_shutdown_cancels_it() {
    let mut cfg = CpanelSimConfig::generated(10, 1);
    cfg.fault = Some(Fault::Slow(Duration::from_secs(30)));
    let h = sim(cfg).await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let t = Instant::now();
    let err = quick
        .get(format!("{}/json-api/listaccts?api.version=1", h.base_url()))
        .header("Authorization", AUTH)
        .send()
        .await
        .expect_err("must time out");
    assert!(err.is_timeout(), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));

    // A short slow fault answers normally after the wait.
    h.set_fault(Some(Fault::Slow(Duration::from_millis(200))));
    let t = Instant::now();
    let v = get_json(&h, "listaccts?api.version=1").await;
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(users(&v).len(), 10);

    // Shutdown does not wait for a pending slow answer.
    h.set_fault(Some(Fault::Slow(Duration::from_secs(60))));
    let url = format!("{}/json-api/listaccts?api.version=1", h.base_url());
    let pending =
        tokio::spawn(async move { client().get(url).header("Authorization", AUTH).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), h.shutdown())
        .await
        .expect("shutdown is quick");
    assert!(t.elapsed() < Duration::from_secs(5));
    let resp = pending.await.expect("join").expect("answered");
    assert_eq!(resp.status().as_u16(), 503);
}

#[tokio::test]
async fn fault_bad_auth() {
    let mut cfg = CpanelSimConfig::generated(10, 1);
    cfg.fault = Some(Fault::BadAuth);
    let h = sim(cfg).await;
    let (status, body) = get(&h, "listaccts?api.version=1", Some(AUTH)).await;
    assert_eq!(status, 403);
    assert_eq!(body, panel_sim::cpanel::ACCESS_DENIED_BODY.as_bytes());
}

#[tokio::test]
async fn big_listing_is_served() {
    let accounts = generate_cpanel_accounts(100_000, 1);
    let h = sim(CpanelSimConfig::with_accounts(accounts)).await;
    let t = Instant::now();
    let v = get_json(&h, "listaccts?api.version=1").await;
    let first = t.elapsed();
    assert_eq!(v["data"]["acct"].as_array().map(Vec::len), Some(100_000));
    let v = get_json(
        &h,
        "listaccts?api.version=1&api.chunk.enable=1&api.chunk.size=1000&api.chunk.start=99001&want=user",
    )
    .await;
    assert_eq!(users(&v).len(), 1000);
    assert_eq!(v["metadata"]["chunk"]["current"], 100);
    // Generous bound: debug build, shared 2-core machine.
    assert!(first < Duration::from_secs(30), "{first:?}");
}

#[tokio::test]
async fn accounts_file_loading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.json");
    let accts = vec![
        CpanelAccount::new("ann", "ann.test").to_value(),
        json!({"user": "bob"}),
    ];
    std::fs::write(&good, serde_json::to_vec(&accts).expect("ser")).expect("write");
    assert_eq!(panel_sim::load_accounts_file(&good).expect("loads"), accts);

    for (name, content, needle) in [
        ("obj.json", r#"{"acct": []}"#, "expected a JSON array"),
        (
            "elem.json",
            r#"[{"user": "a"}, 3]"#,
            "element 1 is a number",
        ),
        ("bad.json", "[{", "not valid JSON"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, content).expect("write");
        let msg = panel_sim::load_accounts_file(&p)
            .expect_err("refused")
            .to_string();
        assert!(msg.contains(name) && msg.contains(needle), "{msg}");
    }
    let missing = panel_sim::load_accounts_file(&dir.path().join("missing.json"))
        .expect_err("refused")
        .to_string();
    assert!(
        missing.contains("missing.json") && missing.contains("cannot read"),
        "{missing}"
    );
}

/// `delay` (the CLI's `--delay-ms`) is waited before every request is answered, refused
/// ones included (a lower bound: it cannot fail on a slow machine).
#[tokio::test]
async fn delay_is_waited_before_every_answer() {
    let h = sim(CpanelSimConfig {
        delay: Duration::from_millis(300),
        ..CpanelSimConfig::generated(3, 1)
    })
    .await;
    let started = Instant::now();
    let doc = get_json(&h, "listaccts?api.version=1").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(doc["data"]["acct"].as_array().map(Vec::len), Some(3));
    let started = Instant::now();
    let (status, _) = get(&h, "listaccts?api.version=1", Some("whm root:WRONG")).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, 403);
    assert_eq!(h.request_count(), 2);
}
