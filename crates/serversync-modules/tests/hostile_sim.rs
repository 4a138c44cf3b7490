//! The built-in modules against panel-sim's hostile faults, through the registry (which
//! gives every listing its byte budget and deadline): each ends as one clear error.

use std::time::Duration;

use panel_sim::{
    spawn_cpanel, spawn_directadmin, spawn_hestiacp, spawn_plesk, spawn_virtualmin,
    CpanelSimConfig, DirectAdminSimConfig, Fault, HestiaSimConfig, PleskSimConfig, SimHandle,
    VirtualminSimConfig, HESTIA_TEST_ACCESS_KEY,
};
use serversync_core::model::Secret;
use serversync_core::module::{Listing, ServerParams};
use serversync_modules::{ModuleError, ModuleOptions, ModuleRegistry, NoProgress};

fn params(sim: &SimHandle, user: &str, password: &str, token: &str) -> ServerParams {
    ServerParams {
        server_id: 1,
        ip: "192.0.2.10".into(),
        hostname: sim.addr.ip().to_string(),
        username: user.into(),
        password: Secret::new(password),
        access_hash: Secret::new(token),
        secure: false,
        tls_verify: true,
        port: Some(sim.addr.port()),
    }
}

fn opts() -> ModuleOptions {
    ModuleOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        ..ModuleOptions::default()
    }
}

async fn list(opts: ModuleOptions, module: &str, p: &ServerParams) -> Result<Listing, ModuleError> {
    let r = ModuleRegistry::builtin(opts);
    let m = r.get(module).unwrap();
    r.list_accounts(m.as_ref(), p, &NoProgress).await
}

async fn cpanel(n: usize) -> (SimHandle, ServerParams) {
    let sim = spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::generated(n, 3),
    )
    .await
    .unwrap();
    let p = params(&sim, "root", "", "TOKEN");
    (sim, p)
}

/// The byte cap is one budget for all pages of a listing: pages that each fit, but not
/// together, fail it — while the same pages with the budget raised list fine.
#[tokio::test]
async fn the_listing_budget_spans_every_page() {
    let (sim, p) = cpanel(200).await;
    let paged = ModuleOptions {
        chunk_size: 20,
        max_concurrency: 1,
        ..opts()
    };
    let whole = list(paged.clone(), "cpanel", &p).await.expect("lists");
    assert_eq!(whole.accounts.len(), 200);
    assert_eq!(sim.request_count(), 10);

    // One page is ~1/10 of the listing: a budget of 3 pages' worth stops it partway.
    let tight = ModuleOptions {
        max_listing_bytes: 40_000,
        ..paged
    };
    let e = list(tight, "cpanel", &p).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::TooLarge {
            what: format!("the listing's responses from {} together", sim.addr),
            limit: 40_000,
        }
    );
    assert!(
        sim.request_count() < 20,
        "stopped before all 10 pages: {}",
        sim.request_count()
    );
}

/// A total that no byte budget could hold fails before any further page is asked for; one
/// past the most accounts a listing may hold too, even with an unlimited budget.
#[tokio::test]
async fn an_impossible_total_fails_at_the_first_page() {
    let (sim, p) = cpanel(30).await;
    sim.set_fault(Some(Fault::HugeTotal));
    let e = list(opts(), "cpanel", &p).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the listing of 100000000000000 accounts announced by {} (metadata.chunk.records) \
             is larger than the limit of 1073741824 bytes",
            sim.addr
        )
    );
    assert_eq!(sim.request_count(), 1);

    let unlimited = ModuleOptions {
        max_listing_bytes: u64::MAX,
        ..opts()
    };
    let e = list(unlimited, "cpanel", &p).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Malformed(format!(
            "{} announced 100000000000000 accounts (metadata.chunk.records), more than the \
             2000000 one listing may hold",
            sim.addr
        ))
    );
}

/// A 10 MB e-mail or plan skips its record with a short reason naming the field.
#[tokio::test]
async fn oversized_fields_are_skipped_records() {
    let (sim, p) = cpanel(10).await;
    sim.set_fault(Some(Fault::OversizedField));
    let l = list(opts(), "cpanel", &p).await.expect("lists");
    assert_eq!(l.accounts.len(), 8);
    let reasons: Vec<&str> = l.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "email is 10000001 bytes long, more than the 254 allowed",
            "product is 10000000 bytes long, more than the 255 allowed"
        ]
    );
    assert!(l
        .skipped
        .iter()
        .all(|s| s.identifier.as_deref().is_some_and(|i| i.len() <= 60)));
}

/// The transport faults end every panel's listing the same way.
#[tokio::test]
async fn transport_faults_fail_every_panel() {
    let da = spawn_directadmin(
        "127.0.0.1:0".parse().unwrap(),
        DirectAdminSimConfig::generated(5, 1),
    )
    .await
    .unwrap();
    let vm = spawn_virtualmin(
        "127.0.0.1:0".parse().unwrap(),
        VirtualminSimConfig::generated(5, 1),
    )
    .await
    .unwrap();
    let plesk = spawn_plesk(
        "127.0.0.1:0".parse().unwrap(),
        PleskSimConfig::generated(5, 1),
    )
    .await
    .unwrap();
    let hestia = spawn_hestiacp(
        "127.0.0.1:0".parse().unwrap(),
        HestiaSimConfig::generated(5, 1),
    )
    .await
    .unwrap();
    let (cp, cp_params) = cpanel(5).await;
    let panels = [
        ("cpanel", &cp, cp_params),
        ("directadmin", &da, params(&da, "admin", "PASSWORD", "")),
        ("virtualmin", &vm, params(&vm, "root", "PASSWORD", "")),
        ("plesk", &plesk, params(&plesk, "admin", "PASSWORD", "")),
        (
            "hestiacp",
            &hestia,
            params(&hestia, "admin", "PASSWORD", HESTIA_TEST_ACCESS_KEY),
        ),
    ];
    let small = ModuleOptions {
        max_listing_bytes: 1 << 20,
        max_response_bytes: 1 << 20,
        read_timeout: Duration::from_secs(1),
        ..opts()
    };
    for (module, sim, p) in &panels {
        list(small.clone(), module, p)
            .await
            .unwrap_or_else(|e| panic!("{module} lists when healthy: {e}"));

        sim.set_fault(Some(Fault::Gzip));
        let e = list(small.clone(), module, p).await.unwrap_err();
        assert_eq!(
            e,
            ModuleError::Malformed(format!(
                "{} answered gzip-compressed data (Content-Encoding: gzip), which serversync \
                 did not ask for",
                sim.addr
            )),
            "{module}"
        );

        sim.set_fault(Some(Fault::Endless));
        let e = list(small.clone(), module, p).await.unwrap_err();
        assert!(
            matches!(&e, ModuleError::TooLarge { limit, .. } if *limit == 1 << 20),
            "{module}: {e}"
        );

        sim.set_fault(Some(Fault::Trickle(Duration::from_millis(300))));
        let e = list(small.clone(), module, p).await.unwrap_err();
        assert!(
            e.to_string().contains("arrives too slowly"),
            "{module}: {e}"
        );

        let deadline = ModuleOptions {
            listing_deadline: Duration::from_millis(800),
            read_timeout: Duration::from_secs(30),
            ..small.clone()
        };
        let e = list(deadline, module, p).await.unwrap_err();
        assert_eq!(
            e,
            ModuleError::Deadline {
                after: Duration::from_millis(800)
            },
            "{module}"
        );
        sim.set_fault(None);
    }
}

/// A body starting with the gzip signature is refused even without a `Content-Encoding`.
#[tokio::test]
async fn gzip_signature_without_header_is_refused() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(panel_sim::transport::gzip(b"{\"a\":1}")),
        )
        .mount(&server)
        .await;
    let addr = server.address();
    let p = ServerParams {
        hostname: addr.ip().to_string(),
        port: Some(addr.port()),
        ..params_for_mock()
    };
    let e = list(opts(), "cpanel", &p).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Malformed(format!(
            "{addr} answered gzip-compressed data (the body starts with the gzip signature), \
             which serversync did not ask for"
        ))
    );
}

fn params_for_mock() -> ServerParams {
    ServerParams {
        server_id: 1,
        ip: "192.0.2.10".into(),
        hostname: String::new(),
        username: "root".into(),
        password: Secret::new(""),
        access_hash: Secret::new("TOKEN"),
        secure: false,
        tls_verify: true,
        port: None,
    }
}

/// A panel sending its response headers a byte at a time (each byte restarting reqwest's
/// read time-out) is cut off once connect + read time-out have passed.
#[tokio::test]
async fn trickled_headers_end_at_the_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut req = [0u8; 4096];
        let _ = sock.read(&mut req).await;
        for b in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: aaaaaaaaaaaaaaaa"
        {
            if sock.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let p = ServerParams {
        hostname: addr.ip().to_string(),
        port: Some(addr.port()),
        ..params_for_mock()
    };
    let o = ModuleOptions {
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_secs(1),
        ..opts()
    };
    let e = list(o, "cpanel", &p).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("read timeout: {addr} did not send data within 1 s")
    );
    server.abort();
}

/// The gzip signature is seen even when its two bytes arrive in separate reads.
#[tokio::test]
async fn a_split_gzip_signature_is_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut req = [0u8; 4096];
        let _ = sock.read(&mut req).await;
        let body = panel_sim::transport::gzip(br#"{"metadata":{"result":1}}"#);
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = sock.write_all(head.as_bytes()).await;
        let _ = sock.write_all(&body[..1]).await;
        let _ = sock.flush().await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let _ = sock.write_all(&body[1..]).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    let p = ServerParams {
        hostname: addr.ip().to_string(),
        port: Some(addr.port()),
        ..params_for_mock()
    };
    let e = list(opts(), "cpanel", &p).await.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Malformed(format!(
            "{addr} answered gzip-compressed data (the body starts with the gzip signature), \
             which serversync did not ask for"
        ))
    );
    server.abort();
}
