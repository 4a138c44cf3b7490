//! The DirectAdmin module: lists users with the legacy API, `CMD_API_SHOW_ALL_USERS` and then
//! one `CMD_API_SHOW_USER_CONFIG` per user.
//!
//! Sources: DirectAdmin's API documentation (directadmin.com/api.html, the legacy API page)
//! and `/work/shared/reference/panel-apis-verified.md` ("DirectAdmin"), which checks
//! `panel-apis.md` §B.2 against DirectAdmin's docs and its clients (WHMCS's own module,
//! omines/directadmin, directadmin-go).
//!
//! Requests (HTTP Basic `username:password`; a login key works as the password, and
//! `admin|user` logs in as another user, both as DirectAdmin documents them):
//!
//! ```text
//! GET {scheme}://{host}:{port}/CMD_API_SHOW_ALL_USERS
//!   → list[]=ann&list[]=bob
//! GET {scheme}://{host}:{port}/CMD_API_SHOW_USER_CONFIG?user=ann
//!   → username=ann&usertype=user&creator=res1&domain=ann.test&email=ann&#64mail.test
//!     &package=basic&ip=192.0.2.10&suspended=no&date_created=Tue%20Nov%2014%2022%3A13%3A20%202023
//! error (HTTP 200): error=1&text=Cannot%20show%20user&details=User%20does%20not%20exist
//! ```
//!
//! Answers are URL-encoded forms in which DirectAdmin's `&#NN` entities (with or without `;`)
//! are decoded **before** the split on `&` ([`form`]). HTTP 200 does not mean success: an
//! `error` other than `0` is a failure with `text` and `details`.
//!
//! A user whose config call fails (an `error=1` answer, an HTTP error status for that user,
//! an answer that cannot be read) or whose config breaks the contract (`suspended` neither
//! `yes` nor `no`, an unreadable `date_created`) is a skipped record with its reason: the
//! listing is then incomplete, never a shorter list that looks whole. Failures that concern
//! every call — refused credentials, the login page, the permission refusal `You cannot
//! execute that command`, no connection, a time-out, a broken connection — fail the listing.

mod convert;
mod form;

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use serversync_core::module::{
    Listing, MetaData, RemoteAccount, ServerParams, SkippedRecord, UniqueIdField,
};

use crate::http::{self, HttpClients};
use crate::{ListingProgress, Module, ModuleError, ModuleOptions, Shared};

use convert::{answer, convert_user, Answer};
use form::{Form, FormValue};

/// How much of a panel message or error body is shown.
const SNIPPET_CHARS: usize = 200;

/// Most bytes one `CMD_API_SHOW_USER_CONFIG` answer may have. A `user.conf` is one to two
/// KB; with 16 calls in flight the listing then holds at most 16 MiB of answers, whatever
/// the panel sends.
const MAX_USER_CONFIG_BYTES: u64 = 1 << 20;

/// Most users one listing accepts from `CMD_API_SHOW_ALL_USERS` (each costs one request;
/// real servers have thousands).
const MAX_USERS: usize = 1_000_000;

/// Longest user name sent back to the panel in a query (DirectAdmin's own limit is far
/// shorter); longer names are skipped with their reason.
const MAX_USER_NAME: usize = 64;

/// DirectAdmin's text when the login may not run a command (WHMCS tolerates it for a
/// reseller's `CMD_API_SHOW_RESELLERS`); for the config of every user it fails the listing.
const NOT_ALLOWED: &str = "You cannot execute that command";

/// The DirectAdmin module (`directadmin`).
///
/// Meta data: display name `DirectAdmin`; unique identifier `domain` (heading `Domain`) —
/// WHMCS's own DirectAdmin module keys its `ListAccounts` on the user's default domain
/// (`uniqueIdentifier => domain`), so services imported either way match; product field
/// `configoption1` (the package); default port 2222 with and without TLS.
///
/// Authenticates with HTTP Basic `<username>:<password>` from the server record (a login key
/// works as the password; restrict it to `CMD_API_SHOW_ALL_USERS` and
/// `CMD_API_SHOW_USER_CONFIG`). The password goes only into the `Authorization` header.
///
/// **Concurrency.** DirectAdmin has no listing with the user fields, so a listing needs one
/// request per user. [`ModuleOptions::max_concurrency`] (default 4) is sized for heavy paged
/// requests; a config call is one small `user.conf` read, and at 20 ms per request 5,000
/// users take 100 s one at a time. Per-user calls therefore keep
/// [`DirectAdminModule::DEFAULT_USER_CONCURRENCY`] (16) in flight by default — or
/// `max_concurrency` when that is larger — about 6.5 s for those 5,000 users;
/// [`DirectAdminModule::with_user_concurrency`] sets the number exactly.
pub struct DirectAdminModule {
    meta: MetaData,
    opts: ModuleOptions,
    /// `opts` with the per-user answer cap.
    user_opts: ModuleOptions,
    clients: Arc<HttpClients>,
    user_concurrency: usize,
}

impl DirectAdminModule {
    /// Per-user calls in flight by default (see the type's docs).
    pub const DEFAULT_USER_CONCURRENCY: usize = 16;

    /// The module on the process's shared settings and HTTP clients.
    pub fn new(shared: &Shared) -> Self {
        let opts = shared.opts.clone();
        let mut user_opts = opts.clone();
        user_opts.max_response_bytes = user_opts.max_response_bytes.min(MAX_USER_CONFIG_BYTES);
        DirectAdminModule {
            meta: Self::meta_data(),
            user_concurrency: Self::DEFAULT_USER_CONCURRENCY.max(opts.max_concurrency),
            opts,
            user_opts,
            clients: shared.http.clone(),
        }
    }

    /// The same module with exactly `n` per-user calls in flight (values below 1 are 1).
    pub fn with_user_concurrency(mut self, n: usize) -> Self {
        self.user_concurrency = n.max(1);
        self
    }

    /// Per-user calls this module keeps in flight.
    pub fn user_concurrency(&self) -> usize {
        self.user_concurrency
    }

    /// The DirectAdmin meta data.
    pub fn meta_data() -> MetaData {
        MetaData {
            display_name: "DirectAdmin".into(),
            unique_identifier_display_name: "Domain".into(),
            unique_identifier_field: UniqueIdField::Domain,
            product_field: "configoption1".into(),
            default_secure_port: 2222,
            default_plain_port: 2222,
        }
    }
}

/// What one listing needs for each request.
struct Ctx<'a> {
    client: &'a reqwest::Client,
    base: String,
    target: String,
    username: &'a str,
    /// The password or login key; also redacted from panel-supplied text.
    password: &'a str,
}

/// Why one user's config could not be had.
enum UserError {
    /// This user only: a skipped record with the reason.
    Record(String),
    /// Every call is affected: the listing fails.
    Fatal(ModuleError),
}

#[async_trait::async_trait]
impl Module for DirectAdminModule {
    fn name(&self) -> &str {
        "directadmin"
    }

    fn meta(&self) -> &MetaData {
        &self.meta
    }

    /// Lists with `CMD_API_SHOW_ALL_USERS`, then `CMD_API_SHOW_USER_CONFIG` for each user
    /// with at most [`DirectAdminModule::user_concurrency`] calls in flight; accounts come in
    /// the order of the user list.
    ///
    /// Errors: [`ModuleError::Config`] without a username or password;
    /// [`ModuleError::AuthRefused`] on 401/403; [`ModuleError::Remote`] for an `error=1`
    /// answer to the user list, the login page, or the permission refusal of the config
    /// command; [`ModuleError::Http`] on other HTTP errors of the user list;
    /// [`ModuleError::Malformed`] for a user list that is not DirectAdmin's form, or a cut-off
    /// body; [`ModuleError::Connect`], [`ModuleError::Timeout`], [`ModuleError::Transport`]
    /// for network failures of any call. Per-user failures are skipped records.
    async fn list_accounts(
        &self,
        params: &ServerParams,
        progress: &dyn ListingProgress,
    ) -> Result<Listing, ModuleError> {
        let ctx = self.context(params)?;
        let body = self
            .fetch(&ctx, "CMD_API_SHOW_ALL_USERS", None, &self.opts)
            .await?;
        let users = parse_user_list(&body, ctx.password)?;
        drop(body);
        progress.total(users.len() as u64);

        // Names that cannot be asked for are skipped without a request.
        let mut slots: Vec<Option<Result<RemoteAccount, String>>> = Vec::new();
        slots.resize_with(users.len(), || None);
        let mut seen: HashSet<&str> = HashSet::with_capacity(users.len().min(1 << 16));
        let mut wanted: Vec<(usize, String)> = Vec::with_capacity(users.len());
        for (i, user) in users.iter().enumerate() {
            let refused = match user {
                FormValue::NotUtf8 => Some("the user name is not valid UTF-8".to_string()),
                FormValue::Text(u) if u.trim().is_empty() => Some("the user name is empty".into()),
                FormValue::Text(u) if u.len() > MAX_USER_NAME => Some(format!(
                    "the user name is {} bytes long, more than the {MAX_USER_NAME} allowed",
                    u.len()
                )),
                FormValue::Text(u) if !seen.insert(u.as_str()) => {
                    Some("the user is listed twice by CMD_API_SHOW_ALL_USERS".into())
                }
                FormValue::Text(u) => {
                    wanted.push((i, u.clone()));
                    None
                }
            };
            if let Some(reason) = refused {
                slots[i] = Some(Err(reason));
            }
        }

        let mut done = (users.len() - wanted.len()) as u64;
        progress.advanced(done);
        let ctx = &ctx;
        let mut in_flight = futures::stream::iter(wanted)
            .map(|(i, user)| async move { (i, self.user_account(ctx, &user).await) })
            .buffer_unordered(self.user_concurrency.max(1));
        while let Some((i, result)) = in_flight.next().await {
            slots[i] = Some(match result {
                Ok(acc) => Ok(acc),
                Err(UserError::Record(reason)) => Err(reason),
                // Returning drops the calls still in flight.
                Err(UserError::Fatal(e)) => return Err(e),
            });
            done += 1;
            progress.advanced(done);
        }
        drop(in_flight);

        let mut listing = Listing {
            accounts: Vec::with_capacity(users.len()),
            skipped: Vec::new(),
        };
        for (index, (slot, user)) in slots.into_iter().zip(&users).enumerate() {
            let identifier = match user {
                FormValue::Text(u) if !u.trim().is_empty() => {
                    Some(u.trim().chars().take(60).collect())
                }
                _ => None,
            };
            match slot {
                Some(Ok(acc)) => listing.accounts.push(acc),
                Some(Err(reason)) => listing.skipped.push(SkippedRecord {
                    index,
                    identifier,
                    reason,
                }),
                None => listing.skipped.push(SkippedRecord {
                    index,
                    identifier,
                    reason: "the user's config was not received".into(),
                }),
            }
        }
        Ok(listing)
    }
}

impl DirectAdminModule {
    fn context<'a>(&'a self, params: &'a ServerParams) -> Result<Ctx<'a>, ModuleError> {
        let username = params.username.trim();
        if username.is_empty() {
            return Err(ModuleError::Config(
                "no username set: the DirectAdmin module logs in as an admin or reseller \
                 (HTTP Basic username and password)"
                    .into(),
            ));
        }
        if username.contains(':') {
            return Err(ModuleError::Config(
                "the username contains ':', which HTTP Basic authentication cannot carry".into(),
            ));
        }
        let password = params.password.expose();
        if password.is_empty() {
            return Err(ModuleError::Config(
                "no password set: the DirectAdmin module authenticates with the server's \
                 password (a login key works as the password)"
                    .into(),
            ));
        }
        if params.host().is_empty() {
            return Err(ModuleError::Config("no hostname or IP address set".into()));
        }
        let base = params.base_url(&self.meta);
        Ok(Ctx {
            client: self.clients.get(params.tls_verify)?,
            target: http::target_of(&base),
            base,
            username,
            password,
        })
    }

    /// One user's account, or why it is missing.
    async fn user_account(&self, ctx: &Ctx<'_>, user: &str) -> Result<RemoteAccount, UserError> {
        let body = self
            .fetch(ctx, "CMD_API_SHOW_USER_CONFIG", Some(user), &self.user_opts)
            .await
            .map_err(|e| match e {
                // Problems of this one answer.
                ModuleError::Http { .. }
                | ModuleError::TooLarge { .. }
                | ModuleError::Malformed(_) => {
                    UserError::Record(format!("CMD_API_SHOW_USER_CONFIG failed: {e}"))
                }
                other => UserError::Fatal(other),
            })?;
        let form = Form::parse(&body);
        if let Answer::Error { text, details } = answer(&form) {
            if text.eq_ignore_ascii_case(NOT_ALLOWED) {
                return Err(UserError::Fatal(ModuleError::Remote(format!(
                    "CMD_API_SHOW_USER_CONFIG: {}",
                    message(text, details, ctx.password)
                ))));
            }
            return Err(UserError::Record(format!(
                "CMD_API_SHOW_USER_CONFIG answered error=1: {}",
                message(text, details, ctx.password)
            )));
        }
        if form.is_empty() {
            return Err(UserError::Record(
                "CMD_API_SHOW_USER_CONFIG answered with an empty body".into(),
            ));
        }
        convert_user(&form, user).map_err(UserError::Record)
    }

    /// GETs `command` (with `?user=` when given) and returns the body of a 2xx answer that is
    /// not an HTML page.
    async fn fetch(
        &self,
        ctx: &Ctx<'_>,
        command: &str,
        user: Option<&str>,
        opts: &ModuleOptions,
    ) -> Result<Bytes, ModuleError> {
        let url = match user {
            Some(u) => format!("{}/{command}?user={}", ctx.base, form::percent_encode(u)),
            None => format!("{}/{command}", ctx.base),
        };
        tracing::debug!(target = %ctx.target, command, "DirectAdmin request");
        let limit = opts.request_timeout();
        let fetched = tokio::time::timeout(limit, async {
            let resp = http::answered(
                ctx.client
                    .get(&url)
                    .basic_auth(ctx.username, Some(ctx.password))
                    .send(),
                &ctx.target,
                opts,
            )
            .await?;
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
                http::one_line(&String::from_utf8_lossy(&body), SNIPPET_CHARS, ctx.password);
            return Err(ModuleError::Http {
                status: status.as_u16(),
                snippet: if snippet.is_empty() {
                    "(empty body)".into()
                } else {
                    snippet
                },
            });
        }
        if html || body.trim_ascii_start().first() == Some(&b'<') {
            return Err(html_answer(&body, ctx.password));
        }
        Ok(body)
    }
}

/// An HTML page where the API answers with a form: DirectAdmin's login page (a refused
/// login can come back so) or some other page (a proxy, a wrong port).
fn html_answer(body: &[u8], secret: &str) -> ModuleError {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]).to_ascii_lowercase();
    if text.contains("directadmin login") || text.contains("cmd_login") {
        return ModuleError::Remote(
            "DirectAdmin answered with its login page instead of API data: the username or \
             password (login key) was refused"
                .into(),
        );
    }
    ModuleError::Malformed(format!(
        "the panel answered with an HTML page, not DirectAdmin's URL-encoded form; it starts \
         with: {}",
        http::one_line(
            &String::from_utf8_lossy(&body[..body.len().min(400)]),
            80,
            secret
        )
    ))
}

/// `text: details` (or the one that is there), on one line, the password redacted.
fn message(text: &str, details: &str, secret: &str) -> String {
    let m = match (text.is_empty(), details.is_empty()) {
        (true, true) => "no reason given".to_string(),
        (false, true) => text.to_string(),
        (true, false) => details.to_string(),
        (false, false) => format!("{text}: {details}"),
    };
    http::one_line(&m, SNIPPET_CHARS, secret)
}

/// The `list[]` entries of a `CMD_API_SHOW_ALL_USERS` answer.
///
/// An empty body is a server without users. Errors: [`ModuleError::Remote`] for an `error`
/// answer; [`ModuleError::Malformed`] for JSON, or a non-empty body without list entries;
/// more than [`MAX_USERS`] entries.
fn parse_user_list(body: &[u8], secret: &str) -> Result<Vec<FormValue>, ModuleError> {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    if matches!(trimmed.first(), Some(b'{' | b'[')) {
        return Err(ModuleError::Malformed(
            "CMD_API_SHOW_ALL_USERS answered with JSON, not DirectAdmin's URL-encoded form".into(),
        ));
    }
    let form = Form::parse(trimmed);
    if let Answer::Error { text, details } = answer(&form) {
        return Err(ModuleError::Remote(format!(
            "CMD_API_SHOW_ALL_USERS: {}",
            message(text, details, secret)
        )));
    }
    if !form.has_list() {
        return Err(ModuleError::Malformed(format!(
            "CMD_API_SHOW_ALL_USERS answered without list[] entries; it starts with: {}",
            http::one_line(
                &String::from_utf8_lossy(&trimmed[..trimmed.len().min(400)]),
                80,
                secret
            )
        )));
    }
    let mut users = Vec::new();
    for v in form.list() {
        if users.len() == MAX_USERS {
            return Err(ModuleError::Malformed(format!(
                "CMD_API_SHOW_ALL_USERS lists more than {MAX_USERS} users"
            )));
        }
        users.push(match v {
            FormValue::Text(s) => FormValue::Text(s.trim().to_string()),
            FormValue::NotUtf8 => FormValue::NotUtf8,
        });
    }
    Ok(users)
}

#[cfg(test)]
mod tests;
