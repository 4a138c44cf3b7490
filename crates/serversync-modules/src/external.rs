//! External modules in any language (`DIR/NAME/module.toml`, CONTRACT.md "Modules"): a
//! command run with the server parameters as JSON on stdin, or a URL they are POSTed to;
//! either answers the ListAccounts wire form (DESIGN.md §2, read by
//! [`serversync_core::module::parse_wire`]).
//!
//! - **command**: run by [`crate::process::run`] in the module's folder, no shell; the
//!   parameters ([`crate::wire::params_json`]) on stdin only — never in argv or the
//!   environment; stdout read up to [`ModuleOptions::max_response_bytes`]; a non-zero exit is
//!   [`ModuleError::Process`] with the last lines of stderr (password and access hash
//!   redacted, also in their JSON-escaped form); past the time-out the process group is
//!   killed ([`ModuleError::ModuleTimeout`]).
//! - **url**: the same JSON POSTed with the process's shared, TLS-verifying HTTP client;
//!   the body read under the size cap; an HTTP error status is [`ModuleError::Http`]; the URL
//!   is shown as `scheme://host:port/path` only (never its credentials or query).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::http;
use crate::process;
use crate::wire::{listing_from_wire, params_json, secret_forms};
use crate::{
    HttpClients, Listing, ListingProgress, MetaData, Module, ModuleError, ModuleKind,
    ModuleOptions, ServerParams, Shared,
};

mod manifest;

use manifest::{Manifest, Target};

/// How much of an HTTP error body is shown.
const SNIPPET_CHARS: usize = 200;

/// An external module: a command or a URL, with the meta data of its manifest.
pub struct ExternalModule {
    name: String,
    dir: PathBuf,
    manifest: Manifest,
    opts: ModuleOptions,
    http: Arc<HttpClients>,
}

impl std::fmt::Debug for ExternalModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalModule")
            .field("name", &self.name)
            .field("kind", &self.kind())
            .field("dir", &self.dir)
            .finish()
    }
}

/// Loads the external module of folder `dir` from its `module.toml`; the reason when it
/// cannot be used (naming the file and the key).
pub fn load(name: &str, dir: &Path, shared: &Shared) -> Result<Arc<dyn Module>, String> {
    Ok(Arc::new(ExternalModule::load(name, dir, shared)?))
}

/// The kind a module folder's manifest declares (`http` for `url`, else `command`), for a
/// module that could not be loaded.
pub fn declared_kind(dir: &Path) -> ModuleKind {
    if manifest::names_url(dir) {
        ModuleKind::Http
    } else {
        ModuleKind::Command
    }
}

impl ExternalModule {
    /// Reads and checks `dir/module.toml` (see [`load`]).
    pub fn load(name: &str, dir: &Path, shared: &Shared) -> Result<Self, String> {
        // The child's working directory must not depend on ours.
        let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let manifest = manifest::read(&dir, name, shared.opts.external_timeout)?;
        Ok(ExternalModule {
            name: name.to_string(),
            dir,
            manifest,
            opts: shared.opts.clone(),
            http: shared.http.clone(),
        })
    }

    /// The module's time-out (its manifest's `timeout_seconds`, else the default).
    pub fn timeout(&self) -> Duration {
        self.manifest.timeout
    }

    async fn run_command(
        &self,
        program: &str,
        args: &[String],
        params: &ServerParams,
        secrets: &[&str],
    ) -> Result<Listing, ModuleError> {
        tracing::debug!(module = %self.name, program, "running the module's command");
        let out = process::run(
            program,
            args,
            &self.dir,
            params_json(params),
            self.manifest.timeout,
            self.opts.max_response_bytes,
            secrets,
        )
        .await?
        .check()?;
        listing_from_wire(&out.stdout, secrets)
    }

    async fn post(
        &self,
        url: &reqwest::Url,
        params: &ServerParams,
        secrets: &[&str],
    ) -> Result<Listing, ModuleError> {
        let client = self.http.get(true)?;
        let target = url_target(url);
        tracing::debug!(module = %self.name, url = %shown_url(url), "posting to the module's URL");
        let limit = self.manifest.timeout;
        let answered = tokio::time::timeout(limit, async {
            let resp = client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "application/json")
                .body(params_json(params))
                .send()
                .await
                // Without the URL: reqwest's message would repeat it, query and userinfo too.
                .map_err(|e| http::map_reqwest(&e.without_url(), &target, &self.opts))?;
            let status = resp.status();
            let body = http::read_body(resp, &self.opts, &target).await?;
            Ok::<_, ModuleError>((status, body))
        })
        .await;
        let (status, body) = match answered {
            Ok(r) => r?,
            Err(_) => return Err(ModuleError::ModuleTimeout { after: limit }),
        };
        if !status.is_success() {
            let text = process::redact(&String::from_utf8_lossy(&body), secrets);
            let snippet = http::one_line(&text, SNIPPET_CHARS, "");
            return Err(ModuleError::Http {
                status: status.as_u16(),
                snippet: if snippet.is_empty() {
                    "(empty body)".into()
                } else {
                    snippet
                },
            });
        }
        listing_from_wire(&body, secrets)
    }
}

#[async_trait::async_trait]
impl Module for ExternalModule {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ModuleKind {
        match self.manifest.target {
            Target::Command { .. } => ModuleKind::Command,
            Target::Url(_) => ModuleKind::Http,
        }
    }

    fn meta(&self) -> &MetaData {
        &self.manifest.meta
    }

    /// Runs the command (or POSTs to the URL) once and reads its wire-form answer.
    ///
    /// Errors: [`ModuleError::Process`] (could not start, non-zero exit, killed),
    /// [`ModuleError::ModuleTimeout`], [`ModuleError::TooLarge`] (output over the cap),
    /// [`ModuleError::Http`] and the network errors for a URL, [`ModuleError::Remote`] for
    /// `{"success": false, "error": …}`, [`ModuleError::Protocol`] for an answer that is not
    /// the wire form.
    async fn list_accounts(
        &self,
        params: &ServerParams,
        _progress: &dyn ListingProgress,
    ) -> Result<Listing, ModuleError> {
        let forms = secret_forms(params);
        let secrets: Vec<&str> = forms.iter().map(String::as_str).collect();
        match &self.manifest.target {
            Target::Command { program, args } => {
                self.run_command(program, args, params, &secrets).await
            }
            Target::Url(url) => self.post(url, params, &secrets).await,
        }
    }
}

/// `host:port` of a URL (never its userinfo).
fn url_target(u: &reqwest::Url) -> String {
    let host = u.host_str().unwrap_or("");
    match u.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// A URL as it may be shown: `scheme://host[:port]/path`, without userinfo, query or
/// fragment.
pub(crate) fn shown_url(u: &reqwest::Url) -> String {
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}{}",
        u.scheme(),
        u.host_str().unwrap_or(""),
        u.path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        let u = reqwest::Url::parse("https://user:pw@panel.test:8443/list?key=abc#x").unwrap();
        assert_eq!(shown_url(&u), "https://panel.test:8443/list");
        assert_eq!(url_target(&u), "panel.test:8443");
        let u = reqwest::Url::parse("https://panel.test/list").unwrap();
        assert_eq!(url_target(&u), "panel.test:443");
    }
}
