//! Checks of [`serversync_store::Deliveries`]: attempts logged and read back newest first
//! with every field, texts bounded, empty ids refused, delivered events found per channel.

use serversync_store::deliveries::MAX_DELIVERY_TEXT;
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::{Channel, NewDelivery, Store, StoreError};
use time::OffsetDateTime;

fn attempt(event: &str, n: u32, status: Option<u16>, delivered: bool) -> NewDelivery {
    NewDelivery {
        event_id: event.into(),
        kind: "listing_failed".into(),
        channel: Channel::Webhook,
        server_id: Some(42),
        target: "https://hooks.example.test".into(),
        attempt: n,
        status,
        error: (!delivered).then(|| format!("HTTP {}", status.unwrap_or(0))),
        delivered,
    }
}

pub async fn deliveries_log_attempts_newest_first(store: &dyn Store) {
    let event = format!(
        "delivery-check-{}",
        OffsetDateTime::now_utc().unix_timestamp()
    );
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(5);
    assert!(!store
        .event_delivered(&event, Channel::Webhook)
        .await
        .unwrap());
    let a = store
        .record_delivery(&attempt(&event, 1, Some(500), false))
        .await
        .unwrap();
    let b = store
        .record_delivery(&attempt(&event, 2, Some(500), false))
        .await
        .unwrap();
    // Not delivered yet: two failed attempts.
    assert!(!store
        .event_delivered(&event, Channel::Webhook)
        .await
        .unwrap());
    let c = store
        .record_delivery(&attempt(&event, 3, Some(200), true))
        .await
        .unwrap();
    assert!(a < b && b < c, "ids {a} {b} {c}");
    assert!(store
        .event_delivered(&event, Channel::Webhook)
        .await
        .unwrap());
    // Per channel: the e-mail of the same event was not sent.
    assert!(!store.event_delivered(&event, Channel::Email).await.unwrap());

    let recent = store.recent_deliveries(3).await.unwrap();
    let got: Vec<(u32, Option<u16>, bool, Option<&str>)> = recent
        .iter()
        .map(|d| (d.attempt, d.status, d.delivered, d.error.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, Some(200), true, None),
            (2, Some(500), false, Some("HTTP 500")),
            (1, Some(500), false, Some("HTTP 500")),
        ]
    );
    let first = &recent[2];
    assert_eq!(first.id, a);
    assert_eq!(first.event_id, event);
    assert_eq!(first.kind, "listing_failed");
    assert_eq!(first.channel, Channel::Webhook);
    assert_eq!(first.server_id, Some(42));
    assert_eq!(first.target, "https://hooks.example.test");
    let now = OffsetDateTime::now_utc() + time::Duration::seconds(5);
    assert!(first.at > before && first.at < now, "at {}", first.at);
    assert!(store.recent_deliveries(0).await.unwrap().len() >= 3);

    // An e-mail without a server, with an over-long error: cut to the bound.
    let long = "é".repeat(MAX_DELIVERY_TEXT + 50);
    store
        .record_delivery(&NewDelivery {
            event_id: format!("{event}-mail"),
            kind: "daily_report".into(),
            channel: Channel::Email,
            server_id: None,
            target: "ops@example.test".into(),
            attempt: 1,
            status: None,
            error: Some(long),
            delivered: false,
        })
        .await
        .unwrap();
    let mail = &store.recent_deliveries(1).await.unwrap()[0];
    assert_eq!(mail.channel, Channel::Email);
    assert_eq!(mail.server_id, None);
    assert_eq!(mail.status, None);
    assert_eq!(
        mail.error.as_deref().map(|e| e.chars().count()),
        Some(MAX_DELIVERY_TEXT)
    );

    let mut empty = attempt("", 1, None, false);
    assert!(matches!(
        store.record_delivery(&empty).await,
        Err(StoreError::Invalid(_))
    ));
    empty.event_id = event.clone();
    empty.target = "  ".into();
    assert!(matches!(
        store.record_delivery(&empty).await,
        Err(StoreError::Invalid(_))
    ));
}

/// A claim is taken over only when stale: claims older than this are not, in these tests.
const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// Claims of an event: the first claim wins, every later one (another holder, the same
/// holder again, several at once) loses; each channel is claimed on its own; an empty id is
/// refused.
pub async fn deliveries_claims_are_won_once(store: &dyn Store) {
    let event = format!(
        "daily-claim-check-{}",
        OffsetDateTime::now_utc().unix_timestamp_nanos()
    );
    assert!(store
        .claim_event(&event, Channel::Email, "a:1@host", HOUR)
        .await
        .unwrap());
    assert!(!store
        .claim_event(&event, Channel::Email, "b:2@host", HOUR)
        .await
        .unwrap());
    assert!(!store
        .claim_event(&event, Channel::Email, "a:1@host", HOUR)
        .await
        .unwrap());
    assert!(store
        .claim_event(&event, Channel::Webhook, "b:2@host", HOUR)
        .await
        .unwrap());
    // Claimed at once by three: one wins.
    let other = format!("{event}-at-once");
    let (x, y, z) = tokio::join!(
        store.claim_event(&other, Channel::Email, "x:1@host", HOUR),
        store.claim_event(&other, Channel::Email, "y:1@host", HOUR),
        store.claim_event(&other, Channel::Email, "z:1@host", HOUR),
    );
    let won = [x.unwrap(), y.unwrap(), z.unwrap()];
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    assert!(matches!(
        store
            .claim_event(" ", Channel::Email, "a:1@host", HOUR)
            .await,
        Err(StoreError::Invalid(_))
    ));
}

/// A stale claim of an undelivered event is taken over once (its holder stopped before
/// sending); a fresh one is not; nor is any claim of an event some attempt delivered.
pub async fn deliveries_stale_claims_are_taken_over_unless_delivered(store: &dyn Store) {
    let event = format!(
        "daily-stale-check-{}",
        OffsetDateTime::now_utc().unix_timestamp_nanos()
    );
    let claim = |holder: &'static str, stale_after| {
        let event = event.clone();
        async move {
            store
                .claim_event(&event, Channel::Email, holder, stale_after)
                .await
                .unwrap()
        }
    };
    assert!(claim("dead:1@host", HOUR).await);
    assert!(!claim("b:2@host", HOUR).await, "a fresh claim stands");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let tenth = std::time::Duration::from_millis(10);
    assert!(
        claim("b:2@host", tenth).await,
        "a stale claim is taken over"
    );
    assert!(
        !claim("c:3@host", HOUR).await,
        "the taken-over claim is fresh"
    );
    // Taken over by two at once: one wins (the other sees a claim of a moment ago).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let fifth = std::time::Duration::from_millis(200);
    let (x, y) = tokio::join!(claim("x:1@host", fifth), claim("y:1@host", fifth));
    assert!(x ^ y, "{x} {y}");
    // Delivered: never taken over, however old the claim.
    store
        .record_delivery(&NewDelivery {
            event_id: event.clone(),
            kind: "daily_report".into(),
            channel: Channel::Email,
            server_id: None,
            target: "smtp://mail.test:25".into(),
            attempt: 1,
            status: None,
            error: None,
            delivered: true,
        })
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(
        !claim("d:4@host", tenth).await,
        "a delivered event stays claimed"
    );
}
