//! Alerts (issue 11): webhooks with retries, signatures and a delivery log; e-mail on failed
//! and shrunken listings and the daily drift report, against a loopback receiver and SMTP
//! sink; and the scheduler's runs raising them.

mod notify_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use notify_support::{Receiver, Sink};
use panel_sim::{
    generate_cpanel_accounts, spawn_cpanel, CpanelAccount, CpanelSimConfig, Fault, SimHandle,
};
use serde_json::{json, Value};
use serversync_app::notify::{Notifier, NotifyOptions, SmtpSettings, SmtpTls, WebhookTarget};
use serversync_app::scheduler::ScheduleOptions;
use serversync_app::{App, AppError, Cancel};
use serversync_modules::NoProgress;
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::{Channel, Delivery, Store};
use sha2::Sha256;

const SECRET: &str = "whsec-test-0123";
const FLUSH: Duration = Duration::from_secs(60);

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    sim: SimHandle,
}

/// Server `web1` (id 101) on a cPanel simulator serving `accounts`; billing has no service.
async fn world(accounts: Vec<Value>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = serversync_store::open_with_default_key(&url).await.unwrap();
    let sim = spawn_cpanel(
        "127.0.0.1:0".parse().unwrap(),
        CpanelSimConfig::with_accounts(accounts),
    )
    .await
    .unwrap();
    let doc = json!({"clients": [], "products": [], "services": [],
        "servers": [{"id": 101, "name": "web1", "module": "cpanel", "hostname": "127.0.0.1",
            "ip_address": "192.0.2.1", "port": sim.addr.port(), "secure": false,
            "tls_verify": true, "username": "root", "password": "", "access_hash": "TOKEN"}]});
    App::new(store.clone(), "cli:tester")
        .import_records(doc.to_string().as_bytes())
        .await
        .unwrap();
    World {
        _dir: dir,
        store,
        sim,
    }
}

fn two_accounts() -> Vec<Value> {
    vec![
        CpanelAccount::new("ann", "ann.test").into_value(),
        CpanelAccount::new("bob", "bob.test").into_value(),
    ]
}

fn options(hook: Option<&Receiver>, sink: Option<&Sink>) -> NotifyOptions {
    NotifyOptions {
        webhooks: hook
            .map(|h| WebhookTarget {
                url: h.url.clone(),
                secret: Some(SECRET.into()),
            })
            .into_iter()
            .collect(),
        smtp: sink.map(|s| SmtpSettings {
            host: "127.0.0.1".into(),
            port: s.port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "serversync <alerts@example.test>".into(),
            to: vec!["ops@example.test".into(), "oncall@example.test".into()],
        }),
        base_url: Some("https://sync.example.test/".into()),
        attempts: 3,
        retry_delay: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
        daily_report_at: None,
        report_claim_stale_after: Duration::from_secs(30 * 60),
    }
}

fn app_with(w: &World, opts: NotifyOptions) -> (App, Notifier) {
    let app = App::new(w.store.clone(), "cli:tester");
    let (notifier, _task) = Notifier::start(&app, opts);
    (app.with_notifier(notifier.clone()), notifier)
}

fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

fn header<'a>(r: &'a notify_support::Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Runs the scheduler (hourly, no jitter, the given per-server deadlines) until `hook` got
/// its first request; returns what it got.
async fn first_scheduled_alert(
    app: &App,
    hook: &Receiver,
    deadlines: HashMap<String, Duration>,
) -> Vec<notify_support::Received> {
    let stop = Cancel::new();
    let sched = tokio::spawn({
        let (app, stop) = (app.clone(), stop.clone());
        async move {
            app.run_scheduler(
                ScheduleOptions {
                    interval: Duration::from_secs(3600),
                    intervals: HashMap::new(),
                    jitter: Duration::ZERO,
                    concurrency: 4,
                    deadline: Duration::from_secs(30),
                    deadlines,
                    refresh: Duration::from_secs(5),
                },
                stop,
            )
            .await
        }
    });
    let got = hook.wait_for(1).await;
    stop.cancel();
    sched.await.unwrap();
    got
}

async fn log_of(store: &dyn Store, event_id: &str) -> Vec<Delivery> {
    let mut log: Vec<Delivery> = store
        .recent_deliveries(0)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.event_id == event_id)
        .collect();
    log.sort_by_key(|d| d.id);
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answering_500_twice_then_200_is_delivered_once_with_three_attempts_logged() {
    let w = world(two_accounts()).await;
    let hook = Receiver::start(vec![500, 500, 200]).await;
    let (app, notifier) = app_with(&w, options(Some(&hook), None));
    let out = app.analyse_server("web1", &NoProgress).await.unwrap();
    assert!(notifier.flush(FLUSH).await, "deliveries did not end");

    let got = hook.requests();
    assert_eq!(got.len(), 3, "three attempts, then delivered: no fourth");
    let event_id = format!("{}-drift", out.run_id);
    for r in &got {
        // The same signed body on every attempt.
        assert_eq!(r.body, got[0].body);
        assert!(
            verify(SECRET, &r.body, header(r, "x-serversync-signature")),
            "signature {:?} does not verify",
            header(r, "x-serversync-signature")
        );
        assert!(!verify(
            "another-secret",
            &r.body,
            header(r, "x-serversync-signature")
        ));
        assert_eq!(header(r, "x-serversync-event"), event_id);
        assert_eq!(header(r, "content-type"), "application/json");
        let ts: i64 = header(r, "x-serversync-timestamp").parse().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((now - 600..=now + 5).contains(&ts), "timestamp {ts}");
    }
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["id"], event_id);
    assert_eq!(body["kind"], "drift");
    assert_eq!(body["server"], json!({"id": 101, "name": "web1"}));
    assert_eq!(body["run_id"], out.run_id);
    assert_eq!(
        body["link"],
        format!("https://sync.example.test/runs/{}", out.run_id)
    );
    assert_eq!(
        body["grew"],
        json!([{"category": "not_in_billing", "before": 0, "now": 2}])
    );
    assert_eq!(body["counts"]["not_in_billing"], 2);

    let log = log_of(&*w.store, &event_id).await;
    let seen: Vec<(u32, Option<u16>, bool)> = log
        .iter()
        .map(|d| (d.attempt, d.status, d.delivered))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, Some(500), false),
            (2, Some(500), false),
            (3, Some(200), true)
        ]
    );
    let port = hook
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    for d in &log {
        assert_eq!(d.kind, "drift");
        assert_eq!(d.channel, Channel::Webhook);
        assert_eq!(d.server_id, Some(101));
        // Path and query (where tokens live) are not kept.
        assert_eq!(d.target, format!("http://127.0.0.1:{port}/…"));
    }
    assert_eq!(log[0].error.as_deref(), Some("HTTP 500"));
    // `/metrics` counts each attempt by its result.
    assert_eq!(
        deliveries_metric(&app),
        [("delivered", 1), ("failed", 0), ("retrying", 2)]
    );

    // The next run with the same drift is no news: nothing more is sent.
    app.analyse_server("web1", &NoProgress).await.unwrap();
    assert!(notifier.flush(FLUSH).await);
    assert_eq!(hook.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_keeps_failing_is_tried_attempts_times_and_logged_undelivered() {
    let w = world(two_accounts()).await;
    let hook = Receiver::start(vec![503, 503, 503, 503]).await;
    let (app, notifier) = app_with(&w, options(Some(&hook), None));
    let out = app.analyse_server("web1", &NoProgress).await.unwrap();
    assert!(notifier.flush(FLUSH).await);
    assert_eq!(hook.requests().len(), 3);
    let log = log_of(&*w.store, &format!("{}-drift", out.run_id)).await;
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|d| !d.delivered && d.status == Some(503)));
    assert_eq!(
        deliveries_metric(&app),
        [("delivered", 0), ("failed", 1), ("retrying", 2)]
    );
    assert!(!w
        .store
        .event_delivered(&format!("{}-drift", out.run_id), Channel::Webhook)
        .await
        .unwrap());
}

/// A target nobody listens on: each attempt's log line says why (the connection was refused),
/// never the URL's path, which may carry a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_logs_the_cause_without_the_url() {
    let w = world(two_accounts()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut opts = options(None, None);
    opts.webhooks = vec![WebhookTarget {
        url: format!("http://127.0.0.1:{port}/hooks/T0KEN-in-the-path"),
        secret: None,
    }];
    let (app, notifier) = app_with(&w, opts);
    let out = app.analyse_server("web1", &NoProgress).await.unwrap();
    assert!(notifier.flush(FLUSH).await);
    let log = log_of(&*w.store, &format!("{}-drift", out.run_id)).await;
    assert_eq!(log.len(), 3, "{log:?}");
    for d in &log {
        let error = d.error.as_deref().unwrap_or("");
        assert!(
            error.starts_with("could not connect: ") && error.contains("refused"),
            "{error}"
        );
        assert!(
            !error.contains("T0KEN") && !d.target.contains("T0KEN"),
            "{d:?}"
        );
        assert_eq!((d.status, d.delivered), (None, false));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_listing_raises_a_listing_failed_webhook_and_mail() {
    let w = world(two_accounts()).await;
    w.sim.set_fault(Some(Fault::Http500));
    let hook = Receiver::start(vec![]).await;
    let sink = Sink::start().await;
    let (app, notifier) = app_with(&w, options(Some(&hook), Some(&sink)));
    let err = app.analyse_server("web1", &NoProgress).await.unwrap_err();
    assert!(matches!(err, AppError::Listing { .. }), "{err:?}");
    assert!(notifier.flush(FLUSH).await);

    let got = hook.requests();
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["kind"], "listing_failed");
    assert_eq!(body["server"]["name"], "web1");
    let error = body["error"].as_str().unwrap();
    assert!(error.starts_with("server web1: listing failed"), "{error}");
    assert!(error.contains("500"), "{error}");
    assert!(body.get("grew").is_none() && body.get("shrink").is_none());

    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.from, "alerts@example.test");
    assert_eq!(m.rcpt, vec!["ops@example.test", "oncall@example.test"]);
    assert_eq!(
        m.header("subject"),
        Some("[serversync] web1: listing failed")
    );
    assert!(
        m.body
            .starts_with("The listing of server web1 (#101) failed ("),
        "{}",
        m.body
    );
    assert!(m.body.contains(error), "{}", m.body);
    assert!(
        m.body.contains(&format!(
            "Run: https://sync.example.test/runs/{}",
            body["run_id"]
        )),
        "{}",
        m.body
    );
    let mail_log = log_of(&*w.store, body["id"].as_str().unwrap()).await;
    let channels: Vec<(Channel, bool, &str)> = mail_log
        .iter()
        .map(|d| (d.channel, d.delivered, d.target.as_str()))
        .collect();
    assert!(channels.contains(&(
        Channel::Email,
        true,
        "ops@example.test, oncall@example.test"
    )));
    assert!(channels.iter().any(|c| c.0 == Channel::Webhook && c.1));

    // Failing again the same way is no news; a listing, then a failure, is.
    let hooks = hook.requests().len();
    app.analyse_server("web1", &NoProgress).await.unwrap_err();
    assert!(notifier.flush(FLUSH).await);
    assert_eq!(
        hook.requests().len(),
        hooks,
        "the same failure again: no alert"
    );
    w.sim.set_fault(None);
    app.analyse_server("web1", &NoProgress).await.unwrap();
    w.sim.set_fault(Some(Fault::Http500));
    app.analyse_server("web1", &NoProgress).await.unwrap_err();
    assert!(notifier.flush(FLUSH).await);
    let kinds: Vec<Value> = hook.requests()[hooks..]
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["kind"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![json!("drift"), json!("listing_failed")],
        "after a listing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_dropping_from_1000_to_10_accounts_raises_shrank() {
    let accounts = generate_cpanel_accounts(1000, 7);
    let w = world(accounts.clone()).await;
    let hook = Receiver::start(vec![]).await;
    let sink = Sink::start().await;
    let (app, notifier) = app_with(&w, options(Some(&hook), Some(&sink)));
    app.analyse_server("web1", &NoProgress).await.unwrap();
    assert!(notifier.flush(FLUSH).await);
    let before = hook.requests().len();
    w.sim.set_accounts(accounts[..10].to_vec());
    let out = app.analyse_server("web1", &NoProgress).await.unwrap();
    assert_eq!(out.accounts, 10);
    assert!(notifier.flush(FLUSH).await);

    let bodies: Vec<Value> = hook.requests()[before..]
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    // Fewer accounts not in billing is no drift growth: the shrink is the one event.
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let b = &bodies[0];
    assert_eq!(b["kind"], "shrank");
    assert_eq!(b["id"], format!("{}-shrank", out.run_id));
    assert_eq!(b["shrink"]["previous"], 1000);
    assert_eq!(b["shrink"]["now"], 10);
    assert!((b["shrink"]["missing_share"].as_f64().unwrap() - 0.99).abs() < 1e-9);
    assert_eq!(b["max_missing_share"], 0.5);

    let mails = sink.mails();
    let m = mails
        .iter()
        .find(|m| m.header("subject").is_some_and(|s| s.contains("shrank")))
        .expect("a shrank mail");
    assert_eq!(
        m.header("subject"),
        Some("[serversync] web1: listing shrank from 1000 to 10 accounts")
    );
    assert!(
        m.body.contains(
            "the listing shrank from 1000 to 10 accounts (99% missing at once, above the 50% limit)"
        ),
        "{}",
        m.body
    );
    assert!(m.body.contains("without --force"), "{}", m.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_report_mails_each_servers_drift_once_a_day() {
    let w = world(two_accounts()).await;
    let sink = Sink::start().await;
    let (app, notifier) = app_with(&w, options(None, Some(&sink)));
    let out = app.analyse_server("web1", &NoProgress).await.unwrap();
    assert!(notifier.flush(FLUSH).await);
    // Drift alone mails nothing at once.
    assert_eq!(sink.mails().len(), 0);

    assert!(notifier.send_daily_report(FLUSH).await);
    let today = time::OffsetDateTime::now_utc().date();
    let date = format!(
        "{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.rcpt, vec!["ops@example.test", "oncall@example.test"]);
    assert_eq!(
        m.header("subject"),
        Some(
            format!(
                "[serversync] drift report {date}: 2 drift items on 1 of 1 servers, 0 listings failed"
            )
            .as_str()
        )
    );
    assert!(
        m.body.contains(&format!(
            "web1 run #{}: 2 accounts, Not in billing 2\n",
            out.run_id
        )),
        "{}",
        m.body
    );
    assert!(m
        .body
        .contains("Servers: https://sync.example.test/servers"));

    // Once a day: a second call (another instance at the same time) sends nothing.
    assert!(notifier.send_daily_report(FLUSH).await);
    assert_eq!(sink.mails().len(), 1);
    let log = log_of(&*w.store, &format!("daily-{date}")).await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (
            log[0].kind.as_str(),
            log[0].channel,
            log[0].delivered,
            log[0].status
        ),
        ("daily_report", Channel::Email, true, Some(250))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_scans_raise_alerts_in_the_background() {
    let w = world(two_accounts()).await;
    let hook = Receiver::start(vec![]).await;
    let (app, _notifier) = app_with(&w, options(Some(&hook), None));
    let got = first_scheduled_alert(&app, &hook, HashMap::new()).await;
    assert_eq!(got.len(), 1, "one drift alert from the scheduled scan");
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["kind"], "drift");
    let runs = w.store.runs(101, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(body["run_id"], runs[0].id);
}

/// Two instances on one database asked for the daily report at the same moment send one mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_the_daily_report_once() {
    let w = world(two_accounts()).await;
    let sink = Sink::start().await;
    let (app, first) = app_with(&w, options(None, Some(&sink)));
    app.analyse_server("web1", &NoProgress).await.unwrap();
    let (_other_app, second) = app_with(&w, options(None, Some(&sink)));
    let (a, b) = tokio::join!(
        first.send_daily_report(FLUSH),
        second.send_daily_report(FLUSH)
    );
    assert!(a && b);
    assert_eq!(sink.mails().len(), 1, "{:?}", sink.mails());
    let log = log_of(&*w.store, &todays_report()).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].delivered);
}

/// Today's daily report's event id.
fn todays_report() -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "daily-{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    )
}

/// An instance that claimed the daily report and stopped before sending it: another
/// instance finds the claim, looks again once it is stale and sends the report, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_report_claimed_by_a_stopped_instance_is_sent_by_another() {
    let w = world(two_accounts()).await;
    let sink = Sink::start().await;
    let opts = NotifyOptions {
        report_claim_stale_after: Duration::from_millis(500),
        ..options(None, Some(&sink))
    };
    let (app, notifier) = app_with(&w, opts);
    app.analyse_server("web1", &NoProgress).await.unwrap();
    let event = todays_report();
    let hour = Duration::from_secs(3600);
    assert!(w
        .store
        .claim_event(&event, Channel::Email, "stopped:1@host", hour)
        .await
        .unwrap());
    assert!(notifier.send_daily_report(FLUSH).await);
    assert!(sink.mails().is_empty(), "sent despite a fresh claim");
    // The second look comes a little past the claim's staleness (0.5 s + 1 s).
    let mut waited = Duration::ZERO;
    while sink.mails().is_empty() && waited < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let log = log_of(&*w.store, &event).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].delivered);
    // Delivered: the claim is never taken over again.
    assert!(!w
        .store
        .claim_event(&event, Channel::Email, "late:2@host", Duration::ZERO)
        .await
        .unwrap());
}

/// A scheduled scan whose panel does not answer within the server's deadline is a failed
/// listing: a failed run is stored and `listing_failed` is raised, while the scheduler goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_scan_past_its_deadline_stores_a_failed_run_and_alerts() {
    let w = world(two_accounts()).await;
    w.sim.set_fault(Some(Fault::Slow(Duration::from_secs(120))));
    let hook = Receiver::start(vec![]).await;
    let (app, _notifier) = app_with(&w, options(Some(&hook), None));
    let deadlines = HashMap::from([("web1".to_string(), Duration::from_secs(1))]);
    let got = first_scheduled_alert(&app, &hook, deadlines).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["kind"], "listing_failed");
    assert_eq!(
        body["error"],
        "server web1: listing failed: the listing did not finish within 1 s"
    );
    let runs = w.store.runs(101, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].listing_status,
        serversync_store::ListingStatus::Failed
    );
    assert_eq!(
        runs[0].error.as_deref(),
        Some("server web1: listing failed: the listing did not finish within 1 s")
    );
    assert_eq!(body["run_id"], runs[0].id);
}

/// `serversync_webhook_deliveries_total` by result, from the app's `/metrics` text.
fn deliveries_metric(app: &serversync_app::App) -> Vec<(&'static str, u64)> {
    let text = app.metrics.render().unwrap();
    ["delivered", "failed", "retrying"]
        .into_iter()
        .map(|r| {
            let key = format!("serversync_webhook_deliveries_total{{result=\"{r}\"}} ");
            let n = text
                .lines()
                .find_map(|l| l.strip_prefix(&key))
                .unwrap_or_else(|| panic!("no {key} in {text}"))
                .trim()
                .parse()
                .unwrap();
            (r, n)
        })
        .collect()
}
