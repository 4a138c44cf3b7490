//! WHMCS server modules used unmodified (`DIR/NAME/NAME.php`), run through a PHP shim of
//! serversync's own, one PHP process per listing (CONTRACT.md "Modules", issue 7 §3).
//!
//! **How a module is run.** The shim (`shim.php`, shipped inside the binary) is written to a
//! fresh private temp dir (0700; the shim file 0600) for each PHP process and removed with it
//! afterwards. serversync runs `php -d … shim.php MODE OUTCOME ANSWER LOG DB` in the module's
//! folder through [`crate::process::run`] (no shell, capped output, the process group killed
//! on time-out); the input — the module's paths, `$params`, the secrets to mask — goes on
//! stdin only, never in argv or the environment. The shim defines what WHMCS defines for a
//! module (`WHMCS`, `ROOTDIR`, `WHMCS\Service\Status`, `logModuleCall()`, `encrypt()` /
//! `decrypt()`, `$CONFIG`, `$_LANG`, `$_SERVER['SERVER_NAME']`, the time zone UTC, the
//! `WHMCS\Module\Server\<Name>\…` autoloader for the module's `lib/`, `WHMCS\Carbon`,
//! `WHMCS\Database\Capsule` on a scratch SQLite database), includes `NAME.php` and calls
//! `NAME_MetaData()` (once, at registration) or `NAME_ListAccounts($params)` (per listing).
//!
//! **The answer channel.** The module's own output cannot corrupt the answer: the shim
//! swallows standard output with an output buffer (keeping only its last bytes for the error
//! of a module that calls `exit()`), PHP's warnings go to stderr, and the answer is written
//! to files in the private temp dir whose paths the shim gets on argv — a small outcome
//! object (`ok`, or a PHP error, an unsupported WHMCS function, an `exit()`) and the JSON
//! encoding of `NAME_ListAccounts()`'s return value, which is read (up to
//! [`ModuleOptions::max_response_bytes`]) and parsed by [`parse_wire`]. `logModuleCall()`
//! lines go to a third file (at most 1 MiB) and become debug log lines.
//!
//! **Libraries.** When the modules directory is a WHMCS installation's `modules/servers`
//! folder and the installation has `vendor/autoload.php`, the module gets that autoloader (the
//! libraries the installation ships); otherwise Debian's autoloaders of Guzzle
//! (`php-guzzlehttp-guzzle`), Carbon (`php-nesbot-carbon`) and Illuminate Database
//! (`php-illuminate-database`) are loaded from PHP's include path when present.
//!
//! **The database.** `WHMCS\Database\Capsule` (an alias of Illuminate's Capsule manager) is
//! booted on first use on a scratch SQLite file in the temp dir — never serversync's own
//! database — with WHMCS's `tblservers` (the server's row, its password in the shim's
//! `encrypt()` form), `tblproducts` and `tblhosting` (rows given in [`WhmcsRows`], empty when
//! none are given). What the module writes there is thrown away with the temp dir.
//!
//! **Not provided.** `localAPI()`, the legacy query functions (`select_query`, `full_query`,
//! `insert_query`, `update_query`, `get_query_val(s)`), `sendMessage`, `sendAdminMessage`,
//! `getClientsDetails` and any other `WHMCS\…` class throw "… is not provided by serversync",
//! which fails the listing with [`ModuleError::Unsupported`] — also when the module catches
//! the exception and returns something anyway, since that answer cannot be whole.

mod meta;
mod run;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};
use serversync_core::module::{parse_wire, Listing, MetaData, ServerParams, WireError};

use crate::{ListingProgress, Module, ModuleError, ModuleKind, ModuleOptions, Shared};
pub use meta::{from_php as meta_from_php, DEFAULT_PLAIN_PORT, DEFAULT_SECURE_PORT};

/// Longest wait for `NAME_MetaData()` at registration (or the external time-out when shorter).
const META_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Where a WHMCS module's files are (absolute paths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleFiles {
    /// The module name (`NAME`).
    pub name: String,
    /// `DIR/NAME/NAME.php`.
    pub file: PathBuf,
    /// `DIR/NAME`: the module's folder (the PHP process's working directory).
    pub dir: PathBuf,
    /// `DIR`: the modules directory (sibling modules' `lib/` classes load from here too).
    pub modules_dir: PathBuf,
    /// `ROOTDIR`: `DIR/../..` (the WHMCS root when `DIR` is its `modules/servers`), else `DIR`.
    pub root: PathBuf,
    /// `ROOT/vendor/autoload.php`, only when `DIR` ends in `modules/servers` and it exists.
    pub vendor_autoload: Option<PathBuf>,
}

impl ModuleFiles {
    /// The files of module `name` in folder `dir` (`DIR/NAME`); the reason when `NAME.php`
    /// is missing or the folder cannot be resolved.
    pub fn locate(name: &str, dir: &Path) -> Result<Self, String> {
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let file = dir.join(format!("{name}.php"));
        if !file.is_file() {
            return Err(format!("{} is missing", file.display()));
        }
        let modules_dir = dir.parent().map_or_else(|| dir.clone(), Path::to_path_buf);
        let up2 = modules_dir.parent().and_then(Path::parent);
        let root = up2.map_or_else(|| modules_dir.clone(), Path::to_path_buf);
        let is_whmcs_layout = modules_dir.file_name().is_some_and(|n| n == "servers")
            && modules_dir
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == "modules");
        let vendor = root.join("vendor").join("autoload.php");
        let vendor_autoload = (is_whmcs_layout && vendor.is_file()).then_some(vendor);
        Ok(ModuleFiles {
            name: name.to_string(),
            file,
            dir,
            modules_dir,
            root,
            vendor_autoload,
        })
    }
}

/// Rows of the scratch database's `tblhosting` and `tblproducts` (WHMCS column names, e.g.
/// `{"id": 1000, "packageid": 10, "server": 16, "domain": "ann.test", "username": "ann",
/// "domainstatus": "Active", "regdate": "2024-01-31"}`); unknown columns are left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WhmcsRows {
    pub hosting: Vec<Map<String, Value>>,
    pub products: Vec<Map<String, Value>>,
}

/// One `logModuleCall()` (or `logActivity()`) of the module, masked as the module asked and
/// with the server's secrets replaced by `[redacted]`; each field one line, cut to 2,000
/// characters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleLog {
    pub module: String,
    pub action: String,
    pub request: String,
    pub response: String,
    pub data: String,
}

/// A listing with what the module left on its side channels.
#[derive(Debug)]
pub struct PhpListing {
    /// The listing, or why it failed.
    pub result: Result<Listing, ModuleError>,
    /// The module's `logModuleCall()` lines.
    pub log: Vec<ModuleLog>,
    /// The last lines of PHP's stderr on one line (warnings, the module's own writes), secrets
    /// redacted.
    pub stderr: String,
}

/// A WHMCS server module run through the PHP shim.
#[derive(Debug)]
pub struct PhpModule {
    files: ModuleFiles,
    meta: MetaData,
    php: PathBuf,
    opts: ModuleOptions,
}

/// Loads the WHMCS module of folder `dir` (calls `NAME_MetaData()` through PHP); the reason
/// when it cannot be used.
pub async fn load(
    name: &str,
    dir: &Path,
    php: &Path,
    shared: &Shared,
) -> Result<Arc<dyn Module>, String> {
    Ok(Arc::new(PhpModule::load(name, dir, php, shared).await?))
}

/// `php` as given when it is a bare name (looked up on the PATH) or absolute; a relative path
/// is made absolute, since PHP runs in the module's folder.
fn absolute_program(php: &Path) -> PathBuf {
    if php.is_absolute() || php.components().count() <= 1 {
        return php.to_path_buf();
    }
    std::env::current_dir().map_or_else(|_| php.to_path_buf(), |d| d.join(php))
}

impl PhpModule {
    /// Loads module `name` from `dir` (`DIR/NAME`): one PHP process that includes `NAME.php`,
    /// calls `NAME_MetaData()` when defined and checks that `NAME_ListAccounts` is defined.
    ///
    /// Errors (one line each): PHP cannot be run (`cannot run PHP (…): install php-cli or
    /// give --php PATH`), the file does not load (`NAME.php does not load: PHP error: …`),
    /// `NAME_ListAccounts` is not defined, or the meta data is invalid.
    pub async fn load(
        name: &str,
        dir: &Path,
        php: &Path,
        shared: &Shared,
    ) -> Result<PhpModule, String> {
        let files = ModuleFiles::locate(name, dir)?;
        let php = absolute_program(php);
        let rows = WhmcsRows::default();
        let job = run::Job {
            php: &php,
            files: &files,
            mode: run::Mode::Meta,
            params: None,
            rows: &rows,
            timeout: META_TIMEOUT.min(shared.opts.external_timeout),
            max_answer: 0,
        };
        let out = match run::run(job).await {
            Ok(out) => out,
            Err(f) => {
                emit_debug(name, &f.log, &f.stderr);
                return Err(match f.error {
                    ModuleError::Process { what, .. }
                        if what.starts_with("could not be started") =>
                    {
                        let cause = what
                            .strip_prefix("could not be started (")
                            .and_then(|w| w.strip_suffix(')'))
                            .unwrap_or(&what);
                        format!("cannot run PHP ({cause}): install php-cli or give --php PATH")
                    }
                    e => format!("{name}.php does not load: {e}"),
                });
            }
        };
        emit_debug(name, &out.log, &out.stderr);
        if out.outcome.has_list_accounts != Some(true) {
            return Err(format!(
                "{name}.php defines no {name}_ListAccounts function (WHMCS Server Sync needs it)"
            ));
        }
        let meta = meta::from_php(name, out.outcome.meta.as_ref())
            .map_err(|e| format!("{name}_MetaData(): {e}"))?;
        Ok(PhpModule {
            files,
            meta,
            php,
            opts: shared.opts.clone(),
        })
    }

    /// The module's files.
    pub fn files(&self) -> &ModuleFiles {
        &self.files
    }

    /// Lists the server with `NAME_ListAccounts($params)`, the scratch database holding
    /// `rows`, within [`ModuleOptions::external_timeout`].
    ///
    /// A `{"success": false, "error": …}` answer is [`ModuleError::Remote`] with the module's
    /// message; an answer that is not the wire form is [`ModuleError::Protocol`]; a fatal
    /// error, an uncaught exception or `exit()` is [`ModuleError::Php`]; a WHMCS function the
    /// shim does not provide is [`ModuleError::Unsupported`]. Every message is one line with
    /// the server's password and access hash replaced by `[redacted]`.
    pub async fn list_with_rows(&self, params: &ServerParams, rows: &WhmcsRows) -> PhpListing {
        let job = run::Job {
            php: &self.php,
            files: &self.files,
            mode: run::Mode::List,
            params: Some(params),
            rows,
            timeout: self.opts.external_timeout,
            max_answer: self.opts.max_response_bytes,
        };
        let out = match run::run(job).await {
            Ok(out) => out,
            Err(f) => {
                return PhpListing {
                    result: Err(f.error),
                    log: f.log,
                    stderr: f.stderr,
                }
            }
        };
        let secrets = run::secrets_of(Some(params));
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let answer = out.answer.unwrap_or_default();
        let result = parse_wire(&answer).map_err(|e| match e {
            WireError::Failure(m) => ModuleError::Remote(run::clean(&m, &secrets, 300)),
            other => ModuleError::Protocol(run::clean(&other.to_string(), &secrets, 300)),
        });
        PhpListing {
            result,
            log: out.log,
            stderr: out.stderr,
        }
    }
}

/// The module's log lines and stderr as debug log lines (already redacted).
fn emit_debug(module: &str, log: &[ModuleLog], stderr: &str) {
    for l in log {
        tracing::debug!(
            module = %module,
            call_module = %l.module,
            action = %l.action,
            request = %l.request,
            response = %l.response,
            data = %l.data,
            "logModuleCall"
        );
    }
    if !stderr.is_empty() {
        tracing::debug!(module = %module, stderr = %stderr, "PHP stderr");
    }
}

#[async_trait::async_trait]
impl Module for PhpModule {
    fn name(&self) -> &str {
        &self.files.name
    }

    fn kind(&self) -> ModuleKind {
        ModuleKind::Php
    }

    fn meta(&self) -> &MetaData {
        &self.meta
    }

    async fn list_accounts(
        &self,
        params: &ServerParams,
        progress: &dyn ListingProgress,
    ) -> Result<Listing, ModuleError> {
        let out = self.list_with_rows(params, &WhmcsRows::default()).await;
        emit_debug(&self.files.name, &out.log, &out.stderr);
        let listing = out.result?;
        let n = (listing.accounts.len() + listing.skipped.len()) as u64;
        progress.total(n);
        progress.advanced(n);
        Ok(listing)
    }
}
