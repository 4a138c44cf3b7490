//! The hostile faults of the simulators over real HTTP: what each one puts on the wire.

use std::time::{Duration, Instant};

use panel_sim::{
    spawn_cpanel, spawn_directadmin, CpanelSimConfig, DirectAdminSimConfig, Fault, SimHandle,
    HUGE_TOTAL, OVERSIZED_FIELD_BYTES,
};
use serde_json::Value;

const LISTACCTS: &str = "/json-api/listaccts?api.version=1&api.chunk.enable=1&api.chunk.size=10";

async fn cpanel(n: usize, fault: Fault) -> SimHandle {
    let mut cfg = CpanelSimConfig::generated(n, 5);
    cfg.fault = Some(fault);
    spawn_cpanel("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("spawn")
}

async fn get(h: &SimHandle, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", h.base_url()))
        .header("Authorization", "whm root:TOKEN")
        .send()
        .await
        .expect("send")
}

async fn json(h: &SimHandle, path: &str) -> Value {
    let resp = get(h, path).await;
    assert_eq!(resp.status(), 200);
    serde_json::from_slice(&resp.bytes().await.unwrap()).expect("JSON")
}

#[tokio::test]
async fn huge_total_is_a_real_page_claiming_ten_to_the_fourteen() {
    let h = cpanel(25, Fault::HugeTotal).await;
    let v = json(&h, LISTACCTS).await;
    assert_eq!(v["metadata"]["chunk"]["records"], HUGE_TOTAL);
    assert_eq!(v["metadata"]["chunk"]["chunks"], HUGE_TOTAL / 10);
    assert_eq!(v["data"]["acct"].as_array().unwrap().len(), 10);
    assert_eq!(v["data"]["acct"][0]["user"], h.accounts()[0]["user"]);
}

#[tokio::test]
async fn wrong_envelope_is_a_top_level_array_of_the_page() {
    let h = cpanel(25, Fault::WrongEnvelope).await;
    let v = json(&h, LISTACCTS).await;
    let list = v.as_array().expect("a top-level array");
    assert_eq!(list.len(), 10);
    assert_eq!(list[3]["domain"], h.accounts()[3]["domain"]);
}

#[tokio::test]
async fn oversized_field_makes_a_10_mb_email_and_plan() {
    let h = cpanel(5, Fault::OversizedField).await;
    let v = json(&h, LISTACCTS).await;
    let acct = &v["data"]["acct"];
    let email = acct[0]["email"].as_str().unwrap();
    assert_eq!(email.len(), OVERSIZED_FIELD_BYTES + 1);
    assert!(email.ends_with("@mail.test"));
    assert_eq!(
        acct[1]["plan"].as_str().unwrap().len(),
        OVERSIZED_FIELD_BYTES
    );
    assert_eq!(acct[2]["email"], h.accounts()[2]["email"]);
    // The served list itself is unchanged.
    assert!(h.accounts()[0]["email"].as_str().unwrap().len() < 100);
}

#[tokio::test]
async fn gzip_is_sent_whatever_was_asked() {
    let h = cpanel(5, Fault::Gzip).await;
    let resp = get(&h, LISTACCTS).await;
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let body = resp.bytes().await.unwrap();
    assert_eq!(&body[..3], &[0x1f, 0x8b, 8]);
    // The stored blocks hold the plain answer: it is inside the member, unchanged.
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("\"records\":5"), "{text:.200}");
}

#[tokio::test]
async fn endless_never_ends_and_trickle_sends_a_byte_at_a_time() {
    let h = cpanel(5, Fault::Endless).await;
    let mut resp = get(&h, LISTACCTS).await;
    assert!(resp.content_length().is_none());
    let mut got = 0usize;
    while got < 20 << 20 {
        got += resp.chunk().await.unwrap().expect("the body goes on").len();
    }
    drop(resp);

    h.set_fault(Some(Fault::Trickle(Duration::from_millis(200))));
    let started = Instant::now();
    let mut resp = get(&h, LISTACCTS).await;
    let mut bytes = Vec::new();
    for _ in 0..4 {
        let chunk = resp.chunk().await.unwrap().expect("a byte");
        assert_eq!(chunk.len(), 1);
        bytes.extend_from_slice(&chunk);
    }
    assert_eq!(bytes, b"{\"me");
    // Three pauses of 200 ms between the four bytes.
    assert!(started.elapsed() >= Duration::from_millis(600));
}

#[tokio::test]
async fn transport_faults_work_for_directadmin_too() {
    let mut cfg = DirectAdminSimConfig::generated(3, 1);
    cfg.fault = Some(Fault::Gzip);
    let h = spawn_directadmin("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{}/CMD_API_SHOW_ALL_USERS", h.base_url()))
        .basic_auth("admin", Some("PASSWORD"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    assert_eq!(&resp.bytes().await.unwrap()[..2], &[0x1f, 0x8b]);
}
