//! The HestiaCP module: lists users with `v-list-users json`, then each user's web domains
//! with `v-list-web-domains USER json`.
//!
//! Sources: Hestia's own code (`web/api/index.php`, `web/inc/helpers.php`, `bin/v-list-users`,
//! `bin/v-list-web-domains` in hestiacp/hestiacp) and its REST API docs, as checked in
//! `/work/shared/reference/panel-apis-verified.md` "HestiaCP (B.5)" (which corrects
//! `panel-apis.md` §B.5).
//!
//! Requests: `POST {scheme}://{host}:{port}/api/` with a form body (credentials never in the
//! URL):
//!
//! ```text
//! hash=ACCESS_KEY:SECRET_KEY&returncode=no&cmd=v-list-users&arg1=json        (access_hash set)
//! user=admin&password=…&returncode=no&cmd=v-list-web-domains&arg1=ann&arg2=json  (otherwise)
//! ```
//!
//! **HTTP status rules.** Hestia takes `hash` as an access key pair when its parts are 20 and
//! 40 characters long. With an access key, the command's exit code becomes the HTTP status
//! (0 → 200, or 204 without output; 2 → 422; 5, 6, 9, 10, 21 → 401; others → 400) with a
//! `Hestia-Exit-Code` header and the command's `Error: …` text as the body. With
//! `user`/`password` (or a legacy API key in `hash`) a failing command still answers
//! **200** with its `Error: …` text, so an `Error:` body is a failure whatever the status. In
//! both modes a refused login is 401 (`Error: authentication failed`, `Error: key … doesn't
//! exist`). Bodies are `text/html` unless Hestia could decode them as JSON, so the content
//! type says nothing; only a body starting with `<` is taken for an HTML page.
//!
//! **Listing.** `v-list-users` is read as the `parse` submodule describes: a user object
//! that cannot be read (an unescaped `"` or `\` in a value) is a skipped record with its
//! reason and the other users are kept; the listing is then incomplete. Hestia's `admin`, users with
//! `ROLE` `admin` and the `system` package are left out (see `convert::is_left_out`). Each
//! other user's web domains come from one `v-list-web-domains` call (bounded concurrency);
//! a call that fails for that user (an `Error:` answer, an HTTP error for that call, an
//! answer that cannot be read) is a skipped record, never a shorter list that looks whole.
//! Failures that concern every call — refused credentials, no connection, a time-out, a
//! broken connection — fail the listing, as does any failure of `v-list-users` itself (an
//! `Error:` answer, an HTTP error, an HTML page, a document cut short or not a JSON object).

mod convert;
mod parse;

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use serversync_core::module::{
    Listing, MetaData, RemoteAccount, ServerParams, SkippedRecord, UniqueIdField,
};

use crate::http::{self, HttpClients};
use crate::{ListingProgress, Module, ModuleError, ModuleOptions, Shared};

use parse::{parse_users, parse_web_domains, UserEntry};

/// How much of a panel message or error body is shown.
const SNIPPET_CHARS: usize = 200;

/// Most bytes one `v-list-web-domains` answer may have: one domain is about 600 bytes, so
/// this leaves room for a thousand domains per user while 16 calls in flight hold at most
/// 16 MiB.
const MAX_WEB_DOMAINS_BYTES: u64 = 1 << 20;

/// The HestiaCP module (`hestiacp`).
///
/// Meta data: display name `HestiaCP`; unique identifier `domain` (heading `Domain`): the
/// user's first web domain in creation order (Hestia has no "main" domain); product field
/// `configoption1` (the package); default port 8083 with and without TLS (Hestia serves its
/// panel and API on one port).
///
/// Authenticates with `access_hash` as `ACCESS_KEY:SECRET_KEY` when set (sent as the form
/// field `hash`; the key needs permission for `v-list-users` and `v-list-web-domains`),
/// else `username` + `password` (form fields `user` and `password`; Hestia accepts only its
/// root user so). Credentials go only into the POSTed form body and are redacted from
/// panel-supplied text.
///
/// **Concurrency.** Hestia's user list has no domains, so a listing needs one request per
/// user; like DirectAdmin, per-user calls keep [`HestiaModule::DEFAULT_USER_CONCURRENCY`]
/// (16) in flight by default, or [`ModuleOptions::max_concurrency`] when larger;
/// [`HestiaModule::with_user_concurrency`] sets the number exactly.
pub struct HestiaModule {
    meta: MetaData,
    opts: ModuleOptions,
    /// `opts` with the per-user answer cap.
    user_opts: ModuleOptions,
    clients: Arc<HttpClients>,
    user_concurrency: usize,
}

impl HestiaModule {
    /// Per-user calls in flight by default (see the type's docs).
    pub const DEFAULT_USER_CONCURRENCY: usize = 16;

    /// The module on the process's shared settings and HTTP clients.
    pub fn new(shared: &Shared) -> Self {
        let opts = shared.opts.clone();
        let mut user_opts = opts.clone();
        user_opts.max_response_bytes = user_opts.max_response_bytes.min(MAX_WEB_DOMAINS_BYTES);
        HestiaModule {
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

    /// The HestiaCP meta data.
    pub fn meta_data() -> MetaData {
        MetaData {
            display_name: "HestiaCP".into(),
            unique_identifier_display_name: "Domain".into(),
            unique_identifier_field: UniqueIdField::Domain,
            product_field: "configoption1".into(),
            default_secure_port: 8083,
            default_plain_port: 8083,
        }
    }
}

/// How a listing authenticates.
enum Credentials<'a> {
    /// `hash=ACCESS_KEY:SECRET_KEY`.
    Hash(&'a str),
    /// `user=…&password=…`.
    Login { user: &'a str, password: &'a str },
}

/// What one listing needs for each request.
struct Ctx<'a> {
    client: &'a reqwest::Client,
    url: String,
    target: String,
    credentials: Credentials<'a>,
    /// The login (user/password mode), left out of the listing.
    login: &'a str,
    /// Redacted from panel-supplied text: the secret key or the password.
    secret: &'a str,
}

/// Why a call failed.
enum CallError {
    /// Hestia ran the command and it failed: its `Error: …` text (and exit code when the
    /// `Hestia-Exit-Code` header gave one).
    Command { text: String, exit: Option<u16> },
    /// Anything else.
    Module(ModuleError),
}

/// Why one user's web domains could not be had.
enum UserError {
    /// This user only: a skipped record with the reason.
    Record(String),
    /// Every call is affected: the listing fails.
    Fatal(ModuleError),
}

#[async_trait::async_trait]
impl Module for HestiaModule {
    fn name(&self) -> &str {
        "hestiacp"
    }

    fn meta(&self) -> &MetaData {
        &self.meta
    }

    /// Lists with `v-list-users json`, then `v-list-web-domains USER json` for each listed
    /// user with at most [`HestiaModule::user_concurrency`] calls in flight; accounts come
    /// in the order of the user list.
    ///
    /// Errors: [`ModuleError::Config`] without credentials; [`ModuleError::AuthRefused`] on
    /// 401/403; [`ModuleError::Remote`] for an `Error:` answer to `v-list-users`;
    /// [`ModuleError::Http`] on other HTTP errors of `v-list-users`;
    /// [`ModuleError::Malformed`] for a user list that cannot be read at all (not a JSON
    /// object, cut off, an HTML page); [`ModuleError::Connect`], [`ModuleError::Timeout`],
    /// [`ModuleError::Transport`] for network failures of any call. Per-user failures are
    /// skipped records.
    async fn list_accounts(
        &self,
        params: &ServerParams,
        progress: &dyn ListingProgress,
    ) -> Result<Listing, ModuleError> {
        let ctx = self.context(params)?;
        let body = match self.call(&ctx, &["v-list-users", "json"], &self.opts).await {
            Ok(b) => b,
            Err(CallError::Command { text, exit }) => {
                return Err(ModuleError::Remote(format!(
                    "v-list-users: {}",
                    command_message(&text, exit, ctx.secret)
                )))
            }
            Err(CallError::Module(e)) => return Err(e),
        };
        // A large user list is CPU work: off the async workers.
        let entries = tokio::task::spawn_blocking(move || parse_users(&body))
            .await
            .map_err(|e| ModuleError::Malformed(format!("reading v-list-users failed: {e}")))?
            .map_err(|e| ModuleError::Malformed(e.to_string()))?;

        // Per entry: `None` left out, else its slot.
        let mut slots: Vec<Option<Result<RemoteAccount, String>>> = Vec::new();
        slots.resize_with(entries.len(), || None);
        let mut wanted = Vec::with_capacity(entries.len());
        let mut seen = std::collections::HashSet::with_capacity(entries.len().min(1 << 16));
        let mut left_out = vec![false; entries.len()];
        for (i, entry) in entries.iter().enumerate() {
            match entry {
                UserEntry::User { name, fields } => {
                    if convert::is_left_out(name, ctx.login, Some(fields)) {
                        left_out[i] = true;
                    } else if name.len() > parse::MAX_USER_NAME {
                        slots[i] = Some(Err(format!(
                            "the user name is {} bytes long, more than the {} allowed",
                            name.len(),
                            parse::MAX_USER_NAME
                        )));
                    } else if name.trim().is_empty() {
                        slots[i] = Some(Err("the user name is empty".into()));
                    } else if !seen.insert(name.as_str()) {
                        slots[i] = Some(Err("the user is listed twice by v-list-users".into()));
                    } else {
                        wanted.push(i);
                    }
                }
                UserEntry::Broken { name, reason } => {
                    if name
                        .as_deref()
                        .is_some_and(|n| convert::is_left_out(n, ctx.login, None))
                    {
                        left_out[i] = true;
                    } else {
                        slots[i] = Some(Err(reason.clone()));
                    }
                }
            }
        }
        let counted = entries.len() - left_out.iter().filter(|l| **l).count();
        progress.total(counted as u64);
        let mut done = (counted - wanted.len()) as u64;
        progress.advanced(done);

        let ctx = &ctx;
        let entries_ref = &entries;
        let mut in_flight = futures::stream::iter(wanted)
            .map(|i| async move {
                let UserEntry::User { name, fields } = &entries_ref[i] else {
                    return (i, Err(UserError::Record("not a readable user".into())));
                };
                let result = self.web_domains(ctx, name).await.and_then(|domains| {
                    convert::convert_user(name, fields, &domains).map_err(UserError::Record)
                });
                (i, result)
            })
            .buffer_unordered(self.user_concurrency.max(1));
        let mut results = Vec::new();
        while let Some((i, result)) = in_flight.next().await {
            match result {
                Ok(acc) => results.push((i, Ok(acc))),
                Err(UserError::Record(reason)) => results.push((i, Err(reason))),
                // Returning drops the calls still in flight.
                Err(UserError::Fatal(e)) => return Err(e),
            }
            done += 1;
            progress.advanced(done);
        }
        drop(in_flight);
        for (i, r) in results {
            slots[i] = Some(r);
        }

        let mut listing = Listing {
            accounts: Vec::with_capacity(counted),
            skipped: Vec::new(),
        };
        for (index, (slot, entry)) in slots.into_iter().zip(&entries).enumerate() {
            if left_out[index] {
                continue;
            }
            let identifier = match entry {
                UserEntry::User { name, .. } => Some(name.as_str()),
                UserEntry::Broken { name, .. } => name.as_deref(),
            }
            .filter(|n| !n.trim().is_empty())
            .map(|n| n.trim().chars().take(60).collect());
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
                    reason: "the user's web domains were not received".into(),
                }),
            }
        }
        Ok(listing)
    }
}

impl HestiaModule {
    fn context<'a>(&'a self, params: &'a ServerParams) -> Result<Ctx<'a>, ModuleError> {
        let hash = params.access_hash.expose().trim();
        let (credentials, login, secret) = if hash.is_empty() {
            let user = params.username.trim();
            let password = params.password.expose();
            if user.is_empty() || password.is_empty() {
                return Err(ModuleError::Config(
                    "no access key and no username and password set: the HestiaCP module \
                     authenticates with the access hash as ACCESS_KEY:SECRET_KEY, or with the \
                     admin's username and password"
                        .into(),
                ));
            }
            (Credentials::Login { user, password }, user, password)
        } else {
            let Some((key, secret)) = hash.split_once(':') else {
                return Err(ModuleError::Config(
                    "the access hash is not ACCESS_KEY:SECRET_KEY (HestiaCP's access key \
                     and secret key, separated by ':')"
                        .into(),
                ));
            };
            if key.is_empty() || secret.is_empty() {
                return Err(ModuleError::Config(
                    "the access hash is not ACCESS_KEY:SECRET_KEY: a part is empty".into(),
                ));
            }
            (Credentials::Hash(hash), "", secret)
        };
        if params.host().is_empty() {
            return Err(ModuleError::Config("no hostname or IP address set".into()));
        }
        let base = params.base_url(&self.meta);
        Ok(Ctx {
            client: self.clients.get(params.tls_verify)?,
            target: http::target_of(&base),
            url: format!("{base}/api/"),
            credentials,
            login,
            secret,
        })
    }

    /// One user's web domains, or why they are missing.
    async fn web_domains(&self, ctx: &Ctx<'_>, user: &str) -> Result<parse::WebDomains, UserError> {
        match self
            .call(ctx, &["v-list-web-domains", user, "json"], &self.user_opts)
            .await
        {
            Ok(body) => parse_web_domains(&body).map_err(UserError::Record),
            Err(CallError::Command { text, exit }) => Err(UserError::Record(format!(
                "v-list-web-domains failed: {}",
                command_message(&text, exit, ctx.secret)
            ))),
            // Problems of this one answer.
            Err(CallError::Module(
                e @ (ModuleError::Http { .. }
                | ModuleError::TooLarge { .. }
                | ModuleError::Malformed(_)),
            )) => Err(UserError::Record(format!("v-list-web-domains failed: {e}"))),
            Err(CallError::Module(e)) => Err(UserError::Fatal(e)),
        }
    }

    /// POSTs `cmd` with `args` as `arg1..` and returns the body of a successful answer.
    async fn call(
        &self,
        ctx: &Ctx<'_>,
        cmd_and_args: &[&str],
        opts: &ModuleOptions,
    ) -> Result<Bytes, CallError> {
        let mut form: Vec<(String, &str)> = Vec::with_capacity(cmd_and_args.len() + 3);
        match &ctx.credentials {
            Credentials::Hash(h) => form.push(("hash".into(), h)),
            Credentials::Login { user, password } => {
                form.push(("user".into(), user));
                form.push(("password".into(), password));
            }
        }
        form.push(("returncode".into(), "no"));
        for (i, v) in cmd_and_args.iter().enumerate() {
            let key = if i == 0 {
                "cmd".to_string()
            } else {
                format!("arg{i}")
            };
            form.push((key, v));
        }
        let command = cmd_and_args.first().copied().unwrap_or_default();
        tracing::debug!(target = %ctx.target, command, "HestiaCP request");
        let limit = opts.request_timeout();
        let fetched = tokio::time::timeout(limit, async {
            let resp = ctx
                .client
                .post(&ctx.url)
                .form(&form)
                .send()
                .await
                .map_err(|e| http::map_reqwest(&e, &ctx.target, opts))?;
            let status = resp.status();
            let exit = resp
                .headers()
                .get("hestia-exit-code")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u16>().ok());
            let body = http::read_body(resp, opts, &ctx.target).await?;
            Ok::<_, ModuleError>((status, exit, body))
        })
        .await;
        let (status, exit, body) = match fetched {
            Ok(r) => r.map_err(CallError::Module)?,
            Err(_) => {
                return Err(CallError::Module(http::total_timeout(&ctx.target, limit)));
            }
        };
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(CallError::Module(ModuleError::AuthRefused {
                status: status.as_u16(),
            }));
        }
        let trimmed = body.trim_ascii_start();
        if trimmed.starts_with(b"Error:") {
            // Legacy mode: a failing command in HTTP 200; access-key mode: in a 4xx.
            return Err(CallError::Command {
                text: String::from_utf8_lossy(&trimmed[..trimmed.len().min(64 * 1024)])
                    .into_owned(),
                exit,
            });
        }
        if !status.is_success() {
            let snippet = http::one_line(
                &String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]),
                SNIPPET_CHARS,
                ctx.secret,
            );
            return Err(CallError::Module(ModuleError::Http {
                status: status.as_u16(),
                snippet: if snippet.is_empty() {
                    "(empty body)".into()
                } else {
                    snippet
                },
            }));
        }
        if trimmed.first() == Some(&b'<') {
            return Err(CallError::Module(ModuleError::Malformed(format!(
                "{command}: the panel answered with an HTML page, not Hestia's JSON; it starts \
                 with: {}",
                http::one_line(
                    &String::from_utf8_lossy(&trimmed[..trimmed.len().min(400)]),
                    80,
                    ctx.secret
                )
            ))));
        }
        if trimmed.is_empty() || trimmed.trim_ascii() == b"OK" {
            // 204 (access key) or `OK` (legacy): the command printed nothing, which neither
            // listing command does when it works.
            return Err(CallError::Module(ModuleError::Malformed(format!(
                "{command} answered with no output"
            ))));
        }
        Ok(body)
    }
}

/// Hestia's `Error: …` text without the prefix, one line, the secret redacted, plus the exit
/// code and its name when known.
fn command_message(text: &str, exit: Option<u16>, secret: &str) -> String {
    let t = text.trim();
    let t = t.strip_prefix("Error:").unwrap_or(t).trim();
    let mut m = http::one_line(t, SNIPPET_CHARS, secret);
    if m.is_empty() {
        m = "no reason given".into();
    }
    if let Some(code) = exit {
        match exit_code_name(code) {
            Some(name) => m.push_str(&format!(" (exit code {code}, {name})")),
            None => m.push_str(&format!(" (exit code {code})")),
        }
    }
    m
}

/// Hestia's return codes (REST API docs, `func/main.sh`).
fn exit_code_name(code: u16) -> Option<&'static str> {
    Some(match code {
        1 => "E_ARGS",
        2 => "E_INVALID",
        3 => "E_NOTEXIST",
        4 => "E_EXISTS",
        5 => "E_SUSPENDED",
        6 => "E_UNSUSPENDED",
        7 => "E_INUSE",
        8 => "E_LIMIT",
        9 => "E_PASSWORD",
        10 => "E_FORBIDEN",
        11 => "E_DISABLED",
        12 => "E_PARSING",
        13 => "E_DISK",
        14 => "E_LA",
        15 => "E_CONNECT",
        16 => "E_FTP",
        17 => "E_DB",
        18 => "E_RRD",
        19 => "E_UPDATE",
        20 => "E_RESTART",
        21 => "E_API_DISABLED",
        _ => return None,
    })
}

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod tests;
