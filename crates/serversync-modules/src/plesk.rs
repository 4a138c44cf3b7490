//! The Plesk module: lists subscriptions with the XML API (`agent.php`), then looks up their
//! owners and service plans in batches.
//!
//! Sources: Plesk's XML API reference (docs.plesk.com: "A Sample Packet" 50169, webspace get
//! 33899/33856, service plans 32915/32907, subscriptions 66383/66521, errors 28729/33765)
//! and `/work/shared/reference/panel-apis-verified.md` "Plesk (B.3)", which corrects
//! `panel-apis.md` §B.3 against those pages and plesk/api-php-lib.
//!
//! Requests (`POST {scheme}://{host}:{port}/enterprise/control/agent.php`,
//! `Content-Type: text/xml`; header `KEY: <secret key>` when the server's access hash is
//! set, else `HTTP_AUTH_LOGIN` + `HTTP_AUTH_PASSWD`, as api-php-lib sends them):
//!
//! ```text
//! 1. <packet><webspace><get><filter/><dataset><gen_info/><hosting/><subscriptions/></dataset></get></webspace></packet>
//!    (Plesk has no paging: an empty filter is every subscription, in one document)
//! 2. <packet><customer><get><filter><id>3</id><id>5</id>…</filter><dataset><gen_info/></dataset></get></customer></packet>
//!    owners not found as customers (error 1013) → the same with <reseller> and <gen-info/>
//! 3. <packet><service-plan><get><filter><guid>…</guid>…</filter><owner-all/></get></service-plan></packet>
//!    GUIDs that are no service plan → the same with <service-plan-addon>
//! ```
//!
//! Lookups go [`PleskModule::BATCH`] ids (or GUIDs) per filter — Plesk filters take several
//! values of one kind — with at most [`PleskModule::concurrency`] requests in flight.
//! `<owner-all/>` makes Plesk search every owner's plans: without it only the requester's own
//! are searched, and subscriptions of a reseller's customers would lose their plan.
//!
//! **Errors.** Plesk answers HTTP 200 for both of its error levels, and both are failures: a
//! `<packet><system>` error (1001 wrong password, 11003 secret key refused, 1014 parse
//! error, …) fails the listing; so does a per-`<result>` error in the subscription listing.
//! In a lookup, error 1013 ("does not exist") for one owner is not a failure: the owner is
//! then looked up as a reseller, and one that is neither (the administrator owns the
//! subscription) is listed without an e-mail, with a note. Any other per-result lookup error
//! skips the subscriptions it concerns with the reason (the listing is then incomplete).
//!
//! **Fields.** unique identifier = domain = the subscription's name; username = the
//! subscription's system user (the `hosting` dataset's `ftp_login`: unique per subscription,
//! and what WHMCS's Plesk module sets as the service's username when it creates the
//! subscription — the owner's login is shared by all of one customer's subscriptions, so it
//! cannot tell services apart; it is used, with a note, only where there is no system user,
//! e.g. a subscription without hosting); owner = the owner's login; e-mail = the owner's
//! (customer or reseller `gen_info`); product = the service plan's name (empty, with a note,
//! for a custom subscription: it is listed, not dropped); add-on plans are noted; primary IP
//! = the IPv4 address when IPv6 is listed too; created = `cr_date` (a date only: midnight);
//! status = the bit set ([`convert::status_of`]).

mod convert;
mod lookup;
mod xml;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use serversync_core::module::{
    normalize_email, Listing, MetaData, RemoteAccount, ServerParams, SkippedRecord, UniqueIdField,
};

use crate::http::{self, HttpClients};
use crate::{ListingProgress, Module, ModuleError, ModuleOptions, Shared};

use convert::Subscription;
use lookup::{OwnerLookup, PlanLookup};
use xml::PacketError;

/// How much of a panel message or error body is shown.
const SNIPPET_CHARS: usize = 200;

/// The XML API's path.
pub const AGENT_PATH: &str = "/enterprise/control/agent.php";

/// Most subscriptions one listing accepts.
const MAX_SUBSCRIPTIONS: usize = 1_000_000;

/// Most bytes of one lookup answer (100 customers' `gen_info` are about 100 KB).
const MAX_LOOKUP_BYTES: u64 = 16 << 20;

/// The subscription listing request.
const WEBSPACE_REQUEST: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<packet><webspace>\
<get><filter/><dataset><gen_info/><hosting/><subscriptions/></dataset></get></webspace></packet>";

/// The Plesk module (`plesk`).
///
/// Meta data: display name `Plesk`; unique identifier `domain` (heading `Domain`, the
/// subscription's name — WHMCS's own Plesk module keys services on the domain too); product
/// field `configoption1` (the service plan's name); default ports 8443 (TLS) / 8880.
///
/// Authenticates with the server's access hash as Plesk's secret key (`KEY` header) when it
/// is set, else with `HTTP_AUTH_LOGIN` / `HTTP_AUTH_PASSWD` from the username and password
/// (CONTRACT.md "Modules"). Secrets go only into those headers.
pub struct PleskModule {
    meta: MetaData,
    opts: ModuleOptions,
    lookup_opts: ModuleOptions,
    clients: Arc<HttpClients>,
    concurrency: usize,
}

impl PleskModule {
    /// Ids or GUIDs per lookup filter.
    pub const BATCH: usize = 100;

    /// The module on the process's shared settings and HTTP clients; lookups keep
    /// [`ModuleOptions::max_concurrency`] requests in flight.
    pub fn new(shared: &Shared) -> Self {
        let opts = shared.opts.clone();
        let mut lookup_opts = opts.clone();
        lookup_opts.max_response_bytes = lookup_opts.max_response_bytes.min(MAX_LOOKUP_BYTES);
        PleskModule {
            meta: Self::meta_data(),
            concurrency: opts.max_concurrency.max(1),
            opts,
            lookup_opts,
            clients: shared.http.clone(),
        }
    }

    /// The same module with exactly `n` lookup requests in flight (values below 1 are 1).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Lookup requests this module keeps in flight.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The Plesk meta data.
    pub fn meta_data() -> MetaData {
        MetaData {
            display_name: "Plesk".into(),
            unique_identifier_display_name: "Domain".into(),
            unique_identifier_field: UniqueIdField::Domain,
            product_field: "configoption1".into(),
            default_secure_port: 8443,
            default_plain_port: 8880,
        }
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    /// `KEY: <secret key>`.
    Key(&'a str),
    /// `HTTP_AUTH_LOGIN` + `HTTP_AUTH_PASSWD`.
    Login { login: &'a str, password: &'a str },
}

/// What one listing needs for each request.
pub(crate) struct Ctx<'a> {
    client: &'a reqwest::Client,
    url: String,
    target: String,
    auth: Auth<'a>,
    /// The secret in use, redacted from panel-supplied text.
    secret: &'a str,
}

impl From<PacketError> for ModuleError {
    fn from(e: PacketError) -> Self {
        match e {
            PacketError::Malformed(m) => ModuleError::Malformed(m),
            PacketError::System { code, text } => ModuleError::Remote(system_message(&code, &text)),
        }
    }
}

/// `agent.php system error 1001: Authentication failed - wrong password (the login was
/// refused)`.
fn system_message(code: &str, text: &str) -> String {
    let why = match code.trim() {
        "1001" => " (the login or password was refused)",
        "11003" => " (the secret key was refused)",
        "1006" => " (the login may not use this operation)",
        _ => "",
    };
    format!(
        "agent.php system error {}: {}{why}",
        http::one_line(code, 20, ""),
        if text.trim().is_empty() {
            "no reason given".to_string()
        } else {
            http::one_line(text, SNIPPET_CHARS, "")
        }
    )
}

#[async_trait::async_trait]
impl Module for PleskModule {
    fn name(&self) -> &str {
        "plesk"
    }

    fn meta(&self) -> &MetaData {
        &self.meta
    }

    /// Lists every subscription with `webspace get`, then looks up owners and plans in
    /// batches; accounts come in the order of the listing.
    ///
    /// Errors: [`ModuleError::Config`] without a secret key or login; [`ModuleError::Remote`]
    /// for a `<system>` error (refused login or key, …) in any answer, or an error result in
    /// the listing; [`ModuleError::AuthRefused`] on HTTP 401/403; [`ModuleError::Http`] on
    /// other HTTP errors; [`ModuleError::Malformed`] for an answer that is not Plesk's XML
    /// packet, or one cut off; [`ModuleError::TooLarge`] past the caps;
    /// [`ModuleError::Connect`], [`ModuleError::Timeout`], [`ModuleError::Transport`] for
    /// network failures. Per-subscription problems are skipped records.
    async fn list_accounts(
        &self,
        params: &ServerParams,
        progress: &dyn ListingProgress,
    ) -> Result<Listing, ModuleError> {
        let ctx = self.context(params)?;
        let body = self.post(&ctx, WEBSPACE_REQUEST, &self.opts).await?;
        let subs = parse_webspaces(&body, ctx.secret)?;
        drop(body);
        progress.total(subs.len() as u64);

        let mut owner_ids: Vec<String> = Vec::new();
        let mut guids: Vec<String> = Vec::new();
        {
            let (mut seen_o, mut seen_g) = (HashSet::new(), HashSet::new());
            for s in subs.iter().filter_map(|(_, s)| s.as_ref().ok()) {
                if let Some(id) = &s.owner_id {
                    if seen_o.insert(id.as_str()) {
                        owner_ids.push(id.clone());
                    }
                }
                for g in &s.plan_guids {
                    if seen_g.insert(g.as_str()) {
                        guids.push(g.clone());
                    }
                }
            }
        }
        let owners = lookup::owners(self, &ctx, owner_ids).await?;
        let plans = lookup::plans(self, &ctx, guids).await?;

        let mut listing = Listing {
            accounts: Vec::with_capacity(subs.len()),
            skipped: Vec::new(),
        };
        for (index, (identifier, sub)) in subs.into_iter().enumerate() {
            match sub.and_then(|s| account(s, &owners, &plans)) {
                Ok(acc) => listing.accounts.push(acc),
                Err(reason) => listing.skipped.push(SkippedRecord {
                    index,
                    identifier,
                    reason,
                }),
            }
        }
        progress.advanced((listing.accounts.len() + listing.skipped.len()) as u64);
        Ok(listing)
    }
}

/// One `webspace get` result: its name for messages (cut to 60 characters), and the
/// subscription or why it cannot be one.
type Listed = (Option<String>, Result<Subscription, String>);

/// Every result of the `webspace get` answer: its name for messages, and the subscription
/// or why it cannot be one. An error result fails the listing (both error levels are
/// failures).
fn parse_webspaces(body: &[u8], secret: &str) -> Result<Vec<Listed>, ModuleError> {
    let mut out = Vec::new();
    xml::read_results(body, "webspace", |r| {
        if let Some((code, text)) = r.error() {
            return Err(ModuleError::Remote(format!(
                "webspace get answered error {}: {}",
                http::one_line(code, 20, secret),
                if text.is_empty() {
                    "no reason given".to_string()
                } else {
                    http::one_line(text, SNIPPET_CHARS, secret)
                }
            )));
        }
        if out.len() == MAX_SUBSCRIPTIONS {
            return Err(ModuleError::Malformed(format!(
                "webspace get lists more than {MAX_SUBSCRIPTIONS} subscriptions"
            )));
        }
        let ident = r
            .get("data/gen_info/name")
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .or_else(|| r.key())
            .map(|n| n.chars().take(60).collect());
        out.push((ident, convert::subscription(&r)));
        Ok(())
    })
    .map_err(|e| redact(e, secret))?;
    Ok(out)
}

/// `e` with `secret` taken out of panel-supplied text (a `<system>` error's `errtext`, or a
/// malformed answer's snippet, might echo it).
pub(crate) fn redact(e: ModuleError, secret: &str) -> ModuleError {
    let clean = |m: String| {
        if secret.len() >= 4 && m.contains(secret) {
            m.replace(secret, "[redacted]")
        } else {
            m
        }
    };
    match e {
        ModuleError::Remote(m) => ModuleError::Remote(clean(m)),
        ModuleError::Malformed(m) => ModuleError::Malformed(clean(m)),
        other => other,
    }
}

/// The account of one subscription, with its owner and plans looked up.
fn account(
    s: Subscription,
    owners: &HashMap<String, OwnerLookup>,
    plans: &HashMap<String, PlanLookup>,
) -> Result<RemoteAccount, String> {
    let mut notes = s.notes;
    let (owner, email) = match s.owner_id.as_deref().map(|id| (id, owners.get(id))) {
        Some((_, Some(OwnerLookup::Found { login, email, .. }))) => (
            Some(login.clone()),
            email.as_deref().and_then(normalize_email),
        ),
        Some((id, Some(OwnerLookup::NotFound))) => {
            notes.push(format!(
                "owner {} (id {id}) is neither a customer nor a reseller (the administrator?): \
                 no e-mail",
                s.owner_login.as_deref().unwrap_or("without login")
            ));
            (s.owner_login.clone(), None)
        }
        Some((_, Some(OwnerLookup::Failed(reason)))) => {
            return Err(format!("the owner lookup failed: {reason}"))
        }
        Some((id, None)) => return Err(format!("owner id {id} was not looked up")),
        None => {
            notes.push("gen_info has no owner-id: no owner e-mail".into());
            (s.owner_login.clone(), None)
        }
    };
    let (mut service_plans, mut addons, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for g in &s.plan_guids {
        match plans.get(g) {
            Some(PlanLookup::Plan(name)) => service_plans.push(name.as_str()),
            Some(PlanLookup::Addon(name)) => addons.push(name.as_str()),
            Some(PlanLookup::Failed(reason)) => {
                return Err(format!("the lookup of plan GUID {g} failed: {reason}"))
            }
            Some(PlanLookup::NotFound) | None => unknown.push(g.as_str()),
        }
    }
    let product = match service_plans.as_slice() {
        [one] => one.to_string(),
        [] if unknown.is_empty() => {
            notes.push("no service plan (a custom subscription): the product is empty".into());
            String::new()
        }
        [] => {
            return Err(format!(
                "plan GUID {} is neither a service plan nor an add-on (searched with owner-all)",
                unknown.join(", ")
            ))
        }
        several => {
            return Err(format!(
                "the subscription carries {} service plans ({}): the product cannot be known",
                several.len(),
                several.join(", ")
            ))
        }
    };
    if !addons.is_empty() {
        notes.push(format!("add-on plans: {}", addons.join(", ")));
    }
    if !unknown.is_empty() {
        notes.push(format!(
            "plan GUID {} was found neither as a service plan nor as an add-on (ignored)",
            unknown.join(", ")
        ));
    }
    let username = match s.system_user {
        Some(u) => u,
        None => {
            notes.push(
                "no system user (hosting ftp_login): the owner's login is the username".into(),
            );
            owner.clone().unwrap_or_default()
        }
    };
    Ok(RemoteAccount {
        email,
        unique_identifier: s.name.clone(),
        username,
        domain: s.name,
        product,
        primary_ip: s.primary_ip,
        created: s.created,
        status: s.status,
        owner,
        status_detail: s.status_detail,
        notes,
    })
}

impl PleskModule {
    fn context<'a>(&'a self, params: &'a ServerParams) -> Result<Ctx<'a>, ModuleError> {
        let key = params.access_hash.expose().trim();
        let (auth, secret) = if !key.is_empty() {
            (Auth::Key(key), key)
        } else {
            let login = params.username.trim();
            let password = params.password.expose();
            if login.is_empty() || password.is_empty() {
                return Err(ModuleError::Config(
                    "no secret key (access hash) and no username and password set: the Plesk \
                     module authenticates with one of them"
                        .into(),
                ));
            }
            (Auth::Login { login, password }, password)
        };
        let bad_header = |s: &str| s.bytes().any(|b| b.is_ascii_control());
        match auth {
            Auth::Key(k) if bad_header(k) => {
                return Err(ModuleError::Config(
                    "the secret key contains control characters, which an HTTP header cannot \
                     carry"
                        .into(),
                ))
            }
            Auth::Login { login, password } if bad_header(login) || bad_header(password) => {
                return Err(ModuleError::Config(
                    "the username or password contains control characters, which an HTTP \
                     header cannot carry"
                        .into(),
                ))
            }
            _ => {}
        }
        if params.host().is_empty() {
            return Err(ModuleError::Config("no hostname or IP address set".into()));
        }
        let base = params.base_url(&self.meta);
        Ok(Ctx {
            client: self.clients.get(params.tls_verify)?,
            target: http::target_of(&base),
            url: format!("{base}{AGENT_PATH}"),
            auth,
            secret,
        })
    }

    /// POSTs `packet` and returns the body of a 2xx answer that is not an HTML page.
    pub(crate) async fn post(
        &self,
        ctx: &Ctx<'_>,
        packet: &str,
        opts: &ModuleOptions,
    ) -> Result<Bytes, ModuleError> {
        tracing::debug!(target = %ctx.target, "Plesk request");
        let limit = opts.request_timeout();
        let fetched = tokio::time::timeout(limit, async {
            let mut req = ctx
                .client
                .post(&ctx.url)
                .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=UTF-8")
                .body(packet.to_string());
            req = match ctx.auth {
                Auth::Key(k) => req.header("KEY", k),
                Auth::Login { login, password } => req
                    .header("HTTP_AUTH_LOGIN", login)
                    .header("HTTP_AUTH_PASSWD", password),
            };
            let resp = req
                .send()
                .await
                .map_err(|e| http::map_reqwest(&e, &ctx.target, opts))?;
            let status = resp.status();
            let html = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
            let body = http::read_body(resp, opts, &ctx.target).await?;
            Ok::<_, ModuleError>((status, html, body))
        })
        .await;
        let (status, html, body) = match fetched {
            Ok(r) => r?,
            Err(_) => return Err(http::total_timeout(&ctx.target, limit)),
        };
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(ModuleError::AuthRefused {
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            let snippet =
                http::one_line(&String::from_utf8_lossy(&body), SNIPPET_CHARS, ctx.secret);
            return Err(ModuleError::Http {
                status: status.as_u16(),
                snippet: if snippet.is_empty() {
                    "(empty body)".into()
                } else {
                    snippet
                },
            });
        }
        if html {
            return Err(ModuleError::Malformed(format!(
                "the panel answered with an HTML page, not Plesk's XML packet; it starts with: {}",
                http::one_line(
                    &String::from_utf8_lossy(&body[..body.len().min(400)]),
                    80,
                    ctx.secret
                )
            )));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests;
