//! Alert e-mail over SMTP (lettre): an immediate mail for a failed or shrunken listing, and
//! the daily drift report (one mail a day with the drift of every enabled server, from its
//! latest run). Bodies are plain text; panel text in them is bounded and stripped of
//! control characters.

use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serversync_core::analysis::Category;
use serversync_core::model::RunId;
use serversync_store::ListingStatus;

use super::events::{bounded, AlertEvent, AlertKind, MAX_ERROR_CHARS};
use crate::{App, Result};

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required), port 587.
    StartTls,
    /// TLS from the first byte, port 465.
    Tls,
    /// No TLS (a relay on the same host, tests).
    None,
}

impl SmtpTls {
    /// `starttls`, `tls` or `none`.
    pub fn parse(s: &str) -> Option<SmtpTls> {
        match s {
            "starttls" => Some(SmtpTls::StartTls),
            "tls" => Some(SmtpTls::Tls),
            "none" => Some(SmtpTls::None),
            _ => None,
        }
    }
}

/// The mail server and addresses of alert e-mails. `Debug` never shows the password.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Host name of the mail server (also the name its TLS certificate must carry).
    pub host: String,
    /// Its port (587 for STARTTLS, 465 for TLS).
    pub port: u16,
    /// How the connection is secured.
    pub tls: SmtpTls,
    /// User name of SMTP AUTH; used only together with `password`.
    pub username: Option<String>,
    /// Password of SMTP AUTH; never logged or shown.
    pub password: Option<String>,
    /// Sender address (`serversync <alerts@example.com>` or a bare address).
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(redacted)"))
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

impl SmtpSettings {
    /// The recipients as the delivery log shows them.
    pub fn shown_target(&self) -> String {
        self.to.join(", ")
    }
}

/// A mail to send: subject and plain-text body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// One line (cut to 200 characters when sent).
    pub subject: String,
    /// Plain text, lines ending in `\n`.
    pub body: String,
}

/// The immediate mail of an event: for `listing_failed` and `shrank` (drift waits for the
/// daily report).
pub fn event_mail(ev: &AlertEvent) -> Option<Mail> {
    let server = format!("{} (#{})", ev.server.name, ev.server.id);
    match ev.kind {
        AlertKind::Drift => None,
        AlertKind::ListingFailed => Some(Mail {
            subject: format!("[serversync] {}", ev.summary()),
            body: format!(
                "The listing of server {server} failed ({}):\n\n{}\n\nNothing was changed; the \
                 server is listed again at its next scan.\nRun: {}\n",
                ev.at,
                ev.error.as_deref().unwrap_or(""),
                ev.link
            ),
        }),
        AlertKind::Shrank => {
            let what = match (&ev.shrink, ev.max_missing_share) {
                (Some(s), Some(max)) => s.describe(max),
                _ => "the listing shrank".into(),
            };
            Some(Mail {
                subject: format!("[serversync] {}", ev.summary()),
                body: format!(
                    "Server {server}: {what} ({}).\n\nThis is the classic sign of a broken \
                     panel; no termination is offered from this listing without --force.\n\
                     Run: {}\n",
                    ev.at, ev.link
                ),
            })
        }
    }
}

/// One server's line of the daily report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportLine {
    /// The server's name (bounded).
    pub server: String,
    /// Its latest run (`None`: never listed).
    pub run_id: Option<RunId>,
    /// `complete`, `incomplete`, `failed` or `never`.
    pub status: &'static str,
    /// Accounts its latest listing returned (0 for a failed or no listing).
    pub accounts: i64,
    /// Drift categories with a non-zero count, as (label, count), in CONTRACT.md's order.
    pub drift: Vec<(&'static str, u64)>,
    /// The failed listing's error, bounded.
    pub error: Option<String>,
}

/// The daily drift report: every enabled server's latest run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyReport {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    /// One line per enabled server, in the store's order (by id).
    pub lines: Vec<ReportLine>,
}

impl DailyReport {
    /// The report as a mail: subject with the totals, one line per server.
    pub fn mail(&self, base_url: Option<&str>) -> Mail {
        let total: u64 = self.lines.iter().flat_map(|l| &l.drift).map(|d| d.1).sum();
        let drifting = self.lines.iter().filter(|l| !l.drift.is_empty()).count();
        let failed = self.lines.iter().filter(|l| l.status == "failed").count();
        let mut body = format!(
            "Drift report of {} (UTC), from the latest run of each enabled server.\n\n",
            self.date
        );
        for l in &self.lines {
            let run = l.run_id.map(|r| format!(" run #{r}")).unwrap_or_default();
            let what = match (l.status, &l.error) {
                ("never", _) => "never listed".to_string(),
                ("failed", e) => format!("listing failed: {}", e.as_deref().unwrap_or("")),
                _ if l.drift.is_empty() => format!("{} accounts, no drift", l.accounts),
                _ => {
                    let d: Vec<String> = l.drift.iter().map(|(c, n)| format!("{c} {n}")).collect();
                    format!("{} accounts, {}", l.accounts, d.join(", "))
                }
            };
            body.push_str(&format!("{}{run}: {what}\n", l.server));
        }
        if let Some(b) = base_url {
            body.push_str(&format!(
                "\nServers: {}/servers\n",
                b.trim().trim_end_matches('/')
            ));
        }
        Mail {
            subject: format!(
                "[serversync] drift report {}: {total} drift items on {drifting} of {} servers, \
                 {failed} listings failed",
                self.date,
                self.lines.len()
            ),
            body,
        }
    }
}

impl App {
    /// The daily drift report of `date` (`YYYY-MM-DD`) from every enabled server's latest
    /// run.
    pub async fn daily_report(&self, date: &str) -> Result<DailyReport> {
        let mut lines = Vec::new();
        for s in self
            .store
            .servers()
            .await?
            .into_iter()
            .filter(|s| !s.disabled)
        {
            let latest = self.store.runs(s.id, 1).await?.into_iter().next();
            let line = match latest {
                None => ReportLine {
                    server: bounded(&s.name, 100),
                    run_id: None,
                    status: "never",
                    accounts: 0,
                    drift: Vec::new(),
                    error: None,
                },
                Some(r) => {
                    let counts: serde_json::Value =
                        serde_json::from_str(&r.counts_json).unwrap_or_default();
                    ReportLine {
                        server: bounded(&s.name, 100),
                        run_id: Some(r.id),
                        status: r.listing_status.as_str(),
                        accounts: r.accounts,
                        drift: Category::ALL
                            .iter()
                            .filter(|c| c.is_drift())
                            .filter_map(|c| {
                                counts
                                    .get(c.as_str())
                                    .and_then(serde_json::Value::as_u64)
                                    .filter(|n| *n > 0)
                                    .map(|n| (c.label(), n))
                            })
                            .collect(),
                        error: (r.listing_status == ListingStatus::Failed)
                            .then(|| bounded(r.error.as_deref().unwrap_or(""), MAX_ERROR_CHARS)),
                    }
                }
            };
            lines.push(line);
        }
        Ok(DailyReport {
            date: date.to_string(),
            lines,
        })
    }
}

/// Sends `mail` to every recipient of `smtp` within `timeout`: the SMTP reply code on
/// success, or the reason (bounded; the server's text may be in it, never the password).
pub(crate) async fn send(
    smtp: &SmtpSettings,
    mail: &Mail,
    timeout: Duration,
) -> std::result::Result<Option<u16>, String> {
    let parse = |a: &str| -> std::result::Result<Mailbox, String> {
        a.trim()
            .parse::<Mailbox>()
            .map_err(|e| format!("address {:?}: {e}", bounded(a, 100)))
    };
    let mut builder = Message::builder()
        .from(parse(&smtp.from)?)
        .subject(bounded(&mail.subject, 200))
        .header(ContentType::TEXT_PLAIN);
    if smtp.to.is_empty() {
        return Err("no recipients ([notify.smtp] to is empty)".into());
    }
    for to in &smtp.to {
        builder = builder.to(parse(to)?);
    }
    let message = builder
        .body(mail.body.clone())
        .map_err(|e| format!("the mail could not be built: {e}"))?;
    let host = smtp.host.trim();
    let transport = match smtp.tls {
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    }
    .map_err(|e| bounded(&format!("SMTP server {host}: {e}"), 300))?
    .port(smtp.port)
    .timeout(Some(timeout));
    let transport = match (&smtp.username, &smtp.password) {
        (Some(u), Some(p)) => transport.credentials(Credentials::new(u.clone(), p.clone())),
        _ => transport,
    }
    .build();
    match tokio::time::timeout(timeout, transport.send(message)).await {
        Ok(Ok(resp)) => Ok(resp.code().to_string().parse().ok()),
        Ok(Err(e)) => Err(bounded(&format!("SMTP: {e}"), 300)),
        Err(_) => Err(format!("SMTP: no answer within {} s", timeout.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_mail_counts_drift_and_failures() {
        let r = DailyReport {
            date: "2026-12-03".into(),
            lines: vec![
                ReportLine {
                    server: "web1".into(),
                    run_id: Some(4),
                    status: "complete",
                    accounts: 12,
                    drift: vec![("Not in billing", 2), ("Out of sync", 1)],
                    error: None,
                },
                ReportLine {
                    server: "web2".into(),
                    run_id: Some(5),
                    status: "failed",
                    accounts: 0,
                    drift: Vec::new(),
                    error: Some("HTTP 500".into()),
                },
                ReportLine {
                    server: "web3".into(),
                    run_id: None,
                    status: "never",
                    accounts: 0,
                    drift: Vec::new(),
                    error: None,
                },
            ],
        };
        let m = r.mail(Some("https://sync.example.com/"));
        assert_eq!(
            m.subject,
            "[serversync] drift report 2026-12-03: 3 drift items on 1 of 3 servers, 1 listings failed"
        );
        assert!(m
            .body
            .contains("web1 run #4: 12 accounts, Not in billing 2, Out of sync 1\n"));
        assert!(m.body.contains("web2 run #5: listing failed: HTTP 500\n"));
        assert!(m.body.contains("web3: never listed\n"));
        assert!(m
            .body
            .ends_with("Servers: https://sync.example.com/servers\n"));
    }
}
