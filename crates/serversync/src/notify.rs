//! Alerts of the binary (issue 11): `[notify]` ([`NotifyConfig`]) as the application's
//! [`NotifyOptions`], and the background worker started for `serve` and `scan`.

use std::time::Duration;

use serversync_app::notify::{
    parse_time_of_day, Notifier, NotifyOptions, SmtpSettings, SmtpTls, WebhookTarget,
};
use serversync_app::App;

use crate::config::NotifyConfig;

/// How long `scan` waits at its end for the alerts of its runs (retries included).
pub const FLUSH_AT_EXIT: Duration = Duration::from_secs(120);

/// The options of `[notify]`; `None` when it names no webhook and no mail server (nothing
/// is started then).
pub fn options(c: &NotifyConfig) -> Option<NotifyOptions> {
    if c.webhooks.is_empty() && c.smtp.is_none() {
        return None;
    }
    Some(NotifyOptions {
        webhooks: c
            .webhooks
            .iter()
            .map(|w| WebhookTarget {
                url: w.url.clone(),
                secret: w.secret.as_ref().map(|s| s.expose().to_string()),
            })
            .collect(),
        smtp: c.smtp.as_ref().map(|s| SmtpSettings {
            host: s.host.clone(),
            port: s.port,
            // Checked when the configuration was loaded.
            tls: SmtpTls::parse(&s.tls).unwrap_or(SmtpTls::StartTls),
            username: s.username.clone(),
            password: s.password.as_ref().map(|p| p.expose().to_string()),
            from: s.from.clone(),
            to: s.to.clone(),
        }),
        base_url: c.base_url.clone(),
        attempts: c.attempts.max(1),
        retry_delay: Duration::from_millis(c.retry_delay_ms),
        timeout: Duration::from_secs(c.timeout_secs.max(1)),
        daily_report_at: c.daily_report_at.as_deref().and_then(parse_time_of_day),
        ..NotifyOptions::default()
    })
}

/// `app` with the alert worker of `c` attached (unchanged when `[notify]` is empty), and the
/// worker's handle to flush it. `daily`: whether this process sends the daily report (only
/// `serve` runs long enough; a `scan` crossing `daily_report_at` must not send it).
pub fn attach(app: App, c: &NotifyConfig, daily: bool) -> (App, Option<Notifier>) {
    match options(c) {
        None => (app, None),
        Some(mut opts) => {
            if !daily {
                opts.daily_report_at = None;
            }
            tracing::info!(
                webhooks = opts.webhooks.len(),
                mail = opts.smtp.is_some(),
                "alerts on"
            );
            let (notifier, _task) = Notifier::start(&app, opts);
            (app.with_notifier(notifier.clone()), Some(notifier))
        }
    }
}

/// Waits for the alerts queued so far (at most [`FLUSH_AT_EXIT`]); a warning when they did
/// not all end in time.
pub async fn flush(notifier: Option<Notifier>) {
    if let Some(n) = notifier {
        if !n.flush(FLUSH_AT_EXIT).await {
            tracing::warn!("alerts still being delivered at exit were dropped");
        }
    }
}
