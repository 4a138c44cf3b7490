//! The background worker of [`super::Notifier`]: turns queued runs into events, delivers
//! each to every target with retries (each attempt logged), and sends the daily report at
//! its time. Deliveries run concurrently (bounded), so one slow target delays no other.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serversync_core::model::ServerId;
use serversync_store::{Channel, NewDelivery};
use time::{OffsetDateTime, Time};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use super::email::{self, Mail};
use super::events::AlertEvent;
use super::webhook::{self, Attempt};
use super::{Msg, NotifyOptions};
use crate::metrics::Delivery;
use crate::App;

/// Deliveries in flight at once.
const PARALLEL: usize = 16;

/// What the delivery log names for one event and target.
struct LogKey {
    event_id: String,
    kind: &'static str,
    channel: Channel,
    server_id: Option<ServerId>,
    target: String,
}

pub(super) async fn run(app: App, opts: NotifyOptions, mut rx: mpsc::Receiver<Msg>) {
    let client = webhook::client(opts.timeout);
    let opts = Arc::new(opts);
    let slots = Arc::new(Semaphore::new(PARALLEL));
    // Deliveries and daily reports; a daily report another instance claimed ends with its
    // date, to be looked at again (`rechecks`: not waited for by a flush, stopped with the
    // worker — their sleeps are long).
    let mut tasks: JoinSet<Option<String>> = JoinSet::new();
    let mut rechecks: JoinSet<()> = JoinSet::new();
    let recheck = |rechecks: &mut JoinSet<()>, done: Option<Result<Option<String>, _>>| {
        if let Some(Ok(Some(date))) = done {
            let (app, opts) = (app.clone(), Arc::clone(&opts));
            rechecks.spawn(async move { recheck_report(&app, &opts, &date).await });
        }
    };
    let mut daily_at = opts
        .daily_report_at
        .map(|at| next_daily(OffsetDateTime::now_utc(), at));
    loop {
        let until_daily = async {
            match daily_at {
                Some(t) => {
                    let wait = t - OffsetDateTime::now_utc();
                    tokio::time::sleep(Duration::try_from(wait).unwrap_or(Duration::ZERO)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = rx.recv() => match msg {
                None => break,
                Some(Msg::Run(run)) => {
                    match app.alert_events(&run, opts.base_url.as_deref()).await {
                        Ok(events) => {
                            for ev in events {
                                spawn_deliveries(&mut tasks, &app, &client, &opts, &slots, ev);
                            }
                        }
                        Err(e) => tracing::warn!(server = %run.server, run = run.run_id,
                            error = %e, "alert events not computed"),
                    }
                }
                Some(Msg::Flush(done)) => {
                    while let Some(d) = tasks.join_next().await {
                        recheck(&mut rechecks, Some(d));
                    }
                    let _ = done.send(());
                }
                Some(Msg::Daily(done)) => {
                    let date = report_date();
                    let claimed = daily_report(&app, &opts, &date).await == Report::ClaimedElsewhere;
                    recheck(&mut rechecks, Some(Ok(claimed.then_some(date))));
                    let _ = done.send(());
                }
            },
            () = until_daily => {
                let (app, task_opts) = (app.clone(), Arc::clone(&opts));
                tasks.spawn(async move {
                    let date = report_date();
                    (daily_report(&app, &task_opts, &date).await == Report::ClaimedElsewhere)
                        .then_some(date)
                });
                daily_at = opts
                    .daily_report_at
                    .map(|at| next_daily(OffsetDateTime::now_utc() + time::Duration::SECOND, at));
            }
            d = tasks.join_next(), if !tasks.is_empty() => recheck(&mut rechecks, d),
            Some(_) = rechecks.join_next(), if !rechecks.is_empty() => {}
        }
    }
    rechecks.shutdown().await;
    while tasks.join_next().await.is_some() {}
}

/// Today's date (UTC) as the daily report names it, `YYYY-MM-DD`.
fn report_date() -> String {
    let d = OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Looks again, a few times, at the daily report of `date` that another instance claimed:
/// once its claim is stale and the report still undelivered (that instance stopped before
/// sending), this one takes the claim over and sends it.
async fn recheck_report(app: &App, opts: &NotifyOptions, date: &str) {
    const LOOKS: u32 = 3;
    for _ in 0..LOOKS {
        // A little past the claim's staleness, so that it is stale when looked at.
        tokio::time::sleep(opts.report_claim_stale_after + Duration::from_secs(1)).await;
        if daily_report(app, opts, date).await != Report::ClaimedElsewhere {
            return;
        }
    }
}

/// One task per webhook target, and one for the mail when the event has one.
fn spawn_deliveries(
    tasks: &mut JoinSet<Option<String>>,
    app: &App,
    client: &reqwest::Client,
    opts: &Arc<NotifyOptions>,
    slots: &Arc<Semaphore>,
    ev: AlertEvent,
) {
    let body = match serde_json::to_vec(&ev) {
        Ok(b) => Arc::new(b),
        Err(e) => {
            tracing::warn!(event = %ev.id, error = %e, "alert event not serialised");
            return;
        }
    };
    let key = |channel, target| LogKey {
        event_id: ev.id.clone(),
        kind: ev.kind.as_str(),
        channel,
        server_id: Some(ev.server.id),
        target,
    };
    for target in &opts.webhooks {
        let (app, client, opts, slots, body, target) = (
            app.clone(),
            client.clone(),
            Arc::clone(opts),
            Arc::clone(slots),
            Arc::clone(&body),
            target.clone(),
        );
        let key = key(Channel::Webhook, webhook::shown_target(&target.url));
        tasks.spawn(async move {
            let _slot = slots.acquire().await;
            let event_id = key.event_id.clone();
            with_retries(&app, &opts, key, || {
                webhook::post(&client, &target, &event_id, &body)
            })
            .await;
            None
        });
    }
    if let (Some(smtp), Some(mail)) = (&opts.smtp, email::event_mail(&ev)) {
        let (app, opts, slots) = (app.clone(), Arc::clone(opts), Arc::clone(slots));
        let key = key(Channel::Email, smtp.shown_target());
        tasks.spawn(async move {
            let _slot = slots.acquire().await;
            send_mail(&app, &opts, key, &mail).await;
            None
        });
    }
}

async fn send_mail(app: &App, opts: &NotifyOptions, key: LogKey, mail: &Mail) -> bool {
    let Some(smtp) = &opts.smtp else {
        return false;
    };
    with_retries(app, opts, key, || async {
        match email::send(smtp, mail, opts.timeout).await {
            Ok(status) => Attempt {
                status,
                error: None,
                retry: false,
            },
            Err(e) => Attempt {
                status: None,
                error: Some(e),
                retry: true,
            },
        }
    })
    .await
}

/// What became of one try at the daily report.
#[derive(Debug, PartialEq, Eq)]
enum Report {
    /// Sent now (or tried: the attempts are logged), already delivered, or not configured.
    Done,
    /// Another instance holds a fresh claim on it and it is not delivered yet.
    ClaimedElsewhere,
}

/// The daily report of `date`, unless another instance (or an earlier call) already sent
/// it or holds a fresh claim on it.
async fn daily_report(app: &App, opts: &NotifyOptions, date: &str) -> Report {
    let Some(smtp) = &opts.smtp else {
        return Report::Done;
    };
    let event_id = format!("daily-{date}");
    match app.store.event_delivered(&event_id, Channel::Email).await {
        Ok(true) => return Report::Done,
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "delivery log not read; sending the report"),
    }
    // Instances sharing the database fire at the same time of day: the one whose claim is
    // inserted first sends the report (the log check above cannot tell before a send ended).
    // A claim whose holder stopped before delivering goes stale and is taken over.
    match app
        .store
        .claim_event(
            &event_id,
            Channel::Email,
            &app.lock_holder().id,
            opts.report_claim_stale_after,
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(event = %event_id, "daily drift report claimed by another instance");
            return Report::ClaimedElsewhere;
        }
        Err(e) => tracing::warn!(error = %e, "daily report not claimed; sending it anyway"),
    }
    let report = match app.daily_report(date).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "daily drift report not made");
            return Report::Done;
        }
    };
    let mail = report.mail(opts.base_url.as_deref());
    let key = LogKey {
        event_id,
        kind: "daily_report",
        channel: Channel::Email,
        server_id: None,
        target: smtp.shown_target(),
    };
    send_mail(app, opts, key, &mail).await;
    Report::Done
}

/// Up to `opts.attempts` attempts, waiting `retry_delay`, then twice as long each time;
/// every attempt is logged. Whether one delivered.
async fn with_retries<F, Fut>(app: &App, opts: &NotifyOptions, key: LogKey, mut attempt: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt>,
{
    let attempts = opts.attempts.max(1);
    let mut delay = opts.retry_delay;
    for n in 1..=attempts {
        let a = attempt().await;
        let delivered = a.error.is_none();
        let logged = app
            .store
            .record_delivery(&NewDelivery {
                event_id: key.event_id.clone(),
                kind: key.kind.to_string(),
                channel: key.channel,
                server_id: key.server_id,
                target: key.target.clone(),
                attempt: n,
                status: a.status,
                error: a.error.clone(),
                delivered,
            })
            .await;
        if let Err(e) = logged {
            tracing::warn!(event = %key.event_id, error = %e, "delivery attempt not logged");
        }
        if key.channel == Channel::Webhook {
            app.metrics.webhook_delivery(if delivered {
                Delivery::Delivered
            } else if a.retry && n < attempts {
                Delivery::Retrying
            } else {
                Delivery::Failed
            });
        }
        if delivered {
            tracing::info!(event = %key.event_id, channel = key.channel.as_str(),
                target = %key.target, attempt = n, "alert delivered");
            return true;
        }
        tracing::warn!(event = %key.event_id, channel = key.channel.as_str(),
            target = %key.target, attempt = n, status = a.status,
            error = a.error.as_deref().unwrap_or(""), "alert delivery failed");
        if !a.retry || n == attempts {
            break;
        }
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2);
    }
    false
}

/// The first time of day `at` (UTC) after `now`.
pub(super) fn next_daily(now: OffsetDateTime, (hour, minute): (u8, u8)) -> OffsetDateTime {
    let now = now.to_offset(time::UtcOffset::UTC);
    let at = Time::from_hms(hour, minute, 0).unwrap_or(Time::MIDNIGHT);
    let today = now.replace_time(at);
    if today > now {
        today
    } else {
        today + time::Duration::DAY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_daily_report_is_due_at_the_next_time_of_day() {
        assert_eq!(
            next_daily(datetime!(2026-12-03 06:59:59 UTC), (7, 0)),
            datetime!(2026-12-03 07:00:00 UTC)
        );
        assert_eq!(
            next_daily(datetime!(2026-12-03 07:00:00 UTC), (7, 0)),
            datetime!(2026-12-04 07:00:00 UTC)
        );
        assert_eq!(
            next_daily(datetime!(2026-12-31 23:30:00 UTC), (0, 15)),
            datetime!(2027-01-01 00:15:00 UTC)
        );
    }
}
