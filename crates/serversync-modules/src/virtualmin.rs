//! The Virtualmin module: lists virtual servers with the remote API's `list-domains`.
//!
//! Request (virtualmin-gpl `remote.cgi`; `/work/shared/reference/panel-apis-verified.md`
//! §B.4, which corrects `panel-apis.md` §B.4):
//!
//! ```text
//! GET {scheme}://{host}:{port}/virtual-server/remote.cgi?program=list-domains&multiline=&json=1
//! Authorization: Basic base64(USERNAME:PASSWORD)
//! ```
//!
//! The credentials go in the header only (never the URL). remote.cgi passes every parameter
//! but `program` and the format on to `list-domains.pl` as a flag (`multiline=` → bare
//! `--multiline`), and converts its output (json-lib.pl `convert_remote_format`):
//!
//! ```json
//! {"status" : "success",
//!  "data" : [{"name" : "ann.test",
//!             "values" : {"type" : ["Top-level server"], "username" : ["ann"],
//!                         "contact_email" : ["ann@mail.test"], "plan" : ["Basic"],
//!                         "created_unix_time" : ["1631350537"],
//!                         "ip_address" : ["198.51.100.7 (Shared)"],
//!                         "disabled" : ["Manually (non-payment)"], "reseller" : ["res1"],
//!                         "password" : ["…"], …}}],
//!  "command" : "list-domains"}
//! ```
//!
//! Keys are list-domains' labels lower-cased with white space as `_`, in Perl hash order;
//! every value is an array of strings. One request lists the whole server: there is no
//! paging and no per-domain call.
//!
//! HTTP 200 does not mean success. The three failure shapes are all failures
//! ([`ModuleError::Remote`]): `{"status": "failure", "error": …}` (list-domains ran and
//! failed; `error` is its first line), `{"status": "error", "error": …}` (remote.cgi refused
//! the request once the format was known, e.g. `Remote program X does not exist`) and plain
//! text `ERROR: …` (refused before that, e.g. `You are not allowed to run remote commands`
//! for a login that is not the master admin).

mod parse;

use std::sync::Arc;

use serversync_core::module::{Listing, MetaData, ServerParams, UniqueIdField};

use crate::http::{self, HttpClients};
use crate::{ListingProgress, Module, ModuleError, ModuleOptions, Shared};

use parse::{panel_text, parse_listing};

/// The path and query of the one request (no secret in it).
const LIST_DOMAINS: &str = "/virtual-server/remote.cgi?program=list-domains&multiline=&json=1";

/// The Virtualmin module (`virtualmin`).
///
/// Meta data: display name `Virtualmin`; unique identifier `domain` (heading `Domain`) — a
/// Virtualmin account is a top-level virtual server, known by its domain, as WHMCS's own
/// Virtualmin module keys services (`create-domain --domain`, `delete-domain --domain`);
/// default ports 10000 (TLS) and 10000 (plain), Webmin's, as in WHMCS's module.
///
/// Product field **`configoption2`**, not the usual `configoption1`: WHMCS's Virtualmin
/// module has "Template Name" as its first config option and "Plan Name" as its second, and
/// sends `configoption2` as `--plan` when it creates a server. The remote product compared
/// with it is the server's plan name (`plan`); a server without a plan lists an empty
/// product (not compared).
///
/// Authenticates with HTTP Basic: the server's username and password (a Webmin login;
/// `root` or another master admin sees every server and its secrets, a login without the
/// remote-API right is refused). Both are sent only in the `Authorization` header.
///
/// What is listed, per `list-domains` entry:
/// - only **top-level servers** (`type` `Top-level server`): sub-servers (`parent_domain`)
///   and aliases (`Alias`/`Alias with own email`, with `real_domain` and *no*
///   `parent_domain`) belong to their top-level server's account and share its username, so
///   they are left out (counted in a debug log line). An entry without `type` is left out
///   when it has a `parent_domain` or `real_domain`, else skipped with its reason; a
///   "top-level" entry that has either is skipped as contradictory;
/// - domain = the entry's `name`; username = `username`; e-mail = `contact_email` (empty or
///   implausible, e.g. `user@localhost` → none); product = `plan`; owner = `reseller` (its
///   reseller names, space-separated; none without);
/// - status: **Suspended when `disabled` is present** (Virtualmin sends it only for a
///   disabled server; its text, e.g. `Manually (non-payment)`, is the status detail), else
///   Active;
/// - created = `created_unix_time` (UTC); missing, empty or `0` → none; `created_on` is never
///   read (its form follows the panel's locale settings);
/// - primary IP = `ip_address` without its annotation (`198.51.100.7 (Shared)`, `… (On
///   eth0)`, `… (Private)` → `198.51.100.7`), else `ipv6_address` likewise;
///   `external_ip_address` (a NAT address) is not used.
///
/// A value that is a bare string instead of an array is accepted; an entry whose used values
/// are of the wrong kind, hold several different values, or are not valid UTF-8 (the rest of
/// the answer may be Latin-1: JSON::PP passes bytes through) is skipped with its reason,
/// which makes the listing incomplete. So are entries that are not server objects, and a
/// `{"name", "value"}` entry (a `Key: value` line of stray output before the first server).
///
/// **Secrets** — `password`, `hashed_password`, `password_for_mysql`/`postgres`, a failure's
/// `full_error` (the whole output) — are skipped by the parser unread: they never reach a
/// record, a run, a log line or an error. Panel text shown in an error is cut to one line,
/// with the server's password redacted and anything after a `pass…:` label withheld.
///
/// Concurrency: the whole server comes in one request, so `max_concurrency` does not apply.
/// A large server answers slowly (list-domains gathers every server's details before
/// remote.cgi prints anything); raise `--read-timeout` if it takes longer than 60 s.
pub struct VirtualminModule {
    meta: MetaData,
    opts: ModuleOptions,
    clients: Arc<HttpClients>,
}

impl VirtualminModule {
    /// The module on the process's shared settings and HTTP clients.
    pub fn new(shared: &Shared) -> Self {
        VirtualminModule {
            meta: Self::meta_data(),
            opts: shared.opts.clone(),
            clients: shared.http.clone(),
        }
    }

    /// The Virtualmin meta data (see [`VirtualminModule`] for the product field).
    pub fn meta_data() -> MetaData {
        MetaData {
            display_name: "Virtualmin".into(),
            unique_identifier_display_name: "Domain".into(),
            unique_identifier_field: UniqueIdField::Domain,
            product_field: "configoption2".into(),
            default_secure_port: 10000,
            default_plain_port: 10000,
        }
    }
}

#[async_trait::async_trait]
impl Module for VirtualminModule {
    fn name(&self) -> &str {
        "virtualmin"
    }

    fn meta(&self) -> &MetaData {
        &self.meta
    }

    /// Lists with one `list-domains` request (see the module docs).
    ///
    /// Errors: [`ModuleError::Config`] without a username, password or host, or with a `:`
    /// in the username; [`ModuleError::AuthRefused`] on HTTP 401/403 (miniserv refuses the
    /// login); [`ModuleError::Http`] on other HTTP errors; [`ModuleError::Remote`] for the
    /// three failure shapes in HTTP 200; [`ModuleError::Malformed`] for HTML (a login page),
    /// other text, invalid or truncated JSON, or the wrong shape;
    /// [`ModuleError::Connect`], [`ModuleError::Timeout`], [`ModuleError::Transport`],
    /// [`ModuleError::TooLarge`] for network and size failures.
    async fn list_accounts(
        &self,
        params: &ServerParams,
        progress: &dyn ListingProgress,
    ) -> Result<Listing, ModuleError> {
        let user = params.username.trim();
        let password = params.password.expose();
        if user.is_empty() {
            return Err(ModuleError::Config(
                "no username set: the Virtualmin module logs in to Webmin (e.g. as root) \
                 with the server's username and password"
                    .into(),
            ));
        }
        if user.contains(':') {
            return Err(ModuleError::Config(
                "the username contains ':', which HTTP Basic authentication cannot send".into(),
            ));
        }
        if password.is_empty() {
            return Err(ModuleError::Config(
                "no password set: the Virtualmin module logs in to Webmin with the server's \
                 username and password"
                    .into(),
            ));
        }
        if params.host().is_empty() {
            return Err(ModuleError::Config("no hostname or IP address set".into()));
        }
        let client = self.clients.get(params.tls_verify)?;
        let base = params.base_url(&self.meta);
        let target = http::target_of(&base);
        let url = format!("{base}{LIST_DOMAINS}");
        tracing::debug!(target = %target, "virtualmin list-domains");

        let limit = self.opts.request_timeout();
        let fetched = tokio::time::timeout(limit, async {
            // basic_auth marks the header sensitive (kept out of reqwest's Debug output).
            let resp = http::answered(
                client
                    .get(&url)
                    .basic_auth(user, Some(password))
                    .header(reqwest::header::ACCEPT, "application/json")
                    .send(),
                &target,
                &self.opts,
            )
            .await?;
            let status = resp.status();
            let body = http::read_body(resp, &self.opts, &target).await?;
            Ok::<_, ModuleError>((status, body))
        })
        .await;
        let (status, body) = match fetched {
            Ok(r) => r?,
            Err(_) => return Err(http::total_timeout(&target, limit)),
        };
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(ModuleError::AuthRefused {
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            // Only the start of an error page is looked at.
            let head = &body[..body.len().min(4096)];
            let snippet = panel_text(&String::from_utf8_lossy(head), password);
            return Err(ModuleError::Http {
                status: status.as_u16(),
                snippet: if snippet.is_empty() {
                    "(empty body)".into()
                } else {
                    snippet
                },
            });
        }
        let parsed = parse_listing(&body, password)?;
        let n = parsed.listing.accounts.len() as u64;
        progress.total(n);
        progress.advanced(n);
        tracing::debug!(
            target = %target,
            accounts = n,
            skipped = parsed.listing.skipped.len(),
            sub_servers_and_aliases = parsed.not_top_level,
            "virtualmin list-domains parsed"
        );
        Ok(parsed.listing)
    }
}

#[cfg(test)]
mod tests;
