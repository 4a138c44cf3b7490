//! One run of the PHP shim: a private temp dir holding the shim and its answer files, the
//! input on stdin, the outcome read back and turned into a result or a [`ModuleError`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use serversync_core::module::ServerParams;

use super::{ModuleFiles, ModuleLog, WhmcsRows};
use crate::http::one_line;
use crate::process;
use crate::ModuleError;

/// The shim, shipped inside the binary.
const SHIM: &str = include_str!("shim.php");
/// Most bytes of the outcome file (a small JSON object).
const MAX_OUTCOME: u64 = 64 * 1024;
/// Most bytes of the log file read (the shim stops writing at 1 MiB).
const MAX_LOG: u64 = 1024 * 1024 + 4096;
/// Most bytes of standard output kept: the shim swallows the module's output, so anything
/// here was written to `STDOUT` directly and is only counted.
const MAX_STDOUT: u64 = 16 * 1024 * 1024;
/// Characters of a PHP message shown in an error.
const MESSAGE_CHARS: usize = 500;
/// Characters of one log field.
const LOG_CHARS: usize = 2000;
/// PHP's memory limit for one run (Debian's CLI default is unlimited).
const MEMORY_LIMIT: &str = "memory_limit=1024M";

/// What the shim is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `NAME_MetaData()` and whether `NAME_ListAccounts` exists.
    Meta,
    /// `NAME_ListAccounts($params)`.
    List,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Meta => "meta",
            Mode::List => "list",
        }
    }
}

/// The outcome file's object (see shim.php).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Outcome {
    pub kind: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub function: Option<String>,
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub meta: Option<Value>,
    #[serde(default)]
    pub has_list_accounts: Option<bool>,
}

/// What one run left: the outcome (already checked to be `ok`), the module's answer (mode
/// list), its log lines and the tail of its stderr (both with secrets redacted).
pub(crate) struct ShimRun {
    pub outcome: Outcome,
    pub answer: Option<Vec<u8>>,
    pub log: Vec<ModuleLog>,
    pub stderr: String,
}

/// A failed run, with whatever log and stderr it left.
pub(crate) struct ShimFailure {
    pub error: ModuleError,
    pub log: Vec<ModuleLog>,
    pub stderr: String,
}

/// One run's inputs.
pub(crate) struct Job<'a> {
    pub php: &'a Path,
    pub files: &'a ModuleFiles,
    pub mode: Mode,
    pub params: Option<&'a ServerParams>,
    pub rows: &'a WhmcsRows,
    pub timeout: Duration,
    /// Most bytes of the module's answer.
    pub max_answer: u64,
}

/// The secrets of `params` in every form the shim may show them: as they are, as the shim's
/// `encrypt()` form (tblservers.password) and its hex part.
pub(crate) fn secrets_of(params: Option<&ServerParams>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = params {
        for s in [p.password.expose(), p.access_hash.expose()] {
            if s.len() >= 4 {
                out.push(s.to_string());
                out.push(hex(s));
            }
        }
    }
    out
}

/// Lower-case hex of `s`'s bytes (PHP's `bin2hex`).
pub(crate) fn hex(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `$params` as WHMCS builds them for a server (CONTRACT.md "Modules"): `serverid` a number,
/// `serversecure` a boolean, `serverport` a string (empty when the server sets none).
pub(crate) fn whmcs_params(p: &ServerParams) -> Value {
    json!({
        "serverid": p.server_id,
        "serverip": p.ip,
        "serverhostname": p.hostname,
        "serverusername": p.username,
        "serverpassword": p.password.expose(),
        "serveraccesshash": p.access_hash.expose(),
        "serversecure": p.secure,
        "serverhttpprefix": p.http_prefix(),
        "serverport": p.port.map(|n| n.to_string()).unwrap_or_default(),
    })
}

/// The server's `tblservers` row as WHMCS stores it (`secure` is `on` or empty; the shim
/// stores `password` in its `encrypt()` form). The server's name is not among the server
/// parameters, so `name` stays empty.
fn server_row(p: &ServerParams, module: &str) -> Value {
    json!({
        "id": p.server_id,
        "name": "",
        "ipaddress": p.ip,
        "hostname": p.hostname,
        "type": module,
        "username": p.username,
        "password": p.password.expose(),
        "accesshash": p.access_hash.expose(),
        "secure": if p.secure { "on" } else { "" },
        "port": p.port,
        "active": 1,
        "disabled": 0,
    })
}

/// Writes `contents` to a new file readable by this user only.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(contents)?;
    f.flush()
}

/// Reads `path` (at most `cap` bytes); `Ok(None)` when it does not exist.
fn read_capped(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, u64> {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(_) => return Ok(None),
    };
    let mut buf = Vec::new();
    if f.take(cap + 1).read_to_end(&mut buf).is_err() {
        return Ok(None);
    }
    if buf.len() as u64 > cap {
        return Err(cap);
    }
    Ok(Some(buf))
}

/// Text from PHP made safe to show: secrets replaced, one line, at most `max` characters.
pub(crate) fn clean(text: &str, secrets: &[&str], max: usize) -> String {
    one_line(&process::redact(text, secrets), max, "")
}

fn parse_log(raw: &[u8], secrets: &[&str]) -> Vec<ModuleLog> {
    let text = String::from_utf8_lossy(raw);
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let f = |k: &str| {
            clean(
                v.get(k).and_then(Value::as_str).unwrap_or(""),
                secrets,
                LOG_CHARS,
            )
        };
        if v.get("truncated").is_some() {
            out.push(ModuleLog {
                action: "(log truncated at 1 MiB)".into(),
                ..ModuleLog::default()
            });
        } else if v.get("activity").is_some() {
            out.push(ModuleLog {
                module: String::new(),
                action: "logActivity".into(),
                request: f("activity"),
                ..ModuleLog::default()
            });
        } else {
            out.push(ModuleLog {
                module: f("module"),
                action: f("action"),
                request: f("request"),
                response: f("response"),
                data: f("data"),
            });
        }
    }
    out
}

/// Runs the shim once.
pub(crate) async fn run(job: Job<'_>) -> Result<ShimRun, ShimFailure> {
    let fail = |error| ShimFailure {
        error,
        log: Vec::new(),
        stderr: String::new(),
    };
    let program = job.php.to_str().ok_or_else(|| {
        fail(ModuleError::Config(format!(
            "the PHP path {} is not valid UTF-8",
            job.php.display()
        )))
    })?;
    // 0700, removed (with the scratch database and the answer files) when dropped.
    let mut builder = tempfile::Builder::new();
    builder.prefix("serversync-php-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    let tmp = builder.tempdir().map_err(|e| {
        fail(ModuleError::Process {
            what: format!("could not be prepared (temp dir: {e})"),
            stderr: String::new(),
        })
    })?;
    let path = |name: &str| -> PathBuf { tmp.path().join(name) };
    let shim = path("shim.php");
    write_private(&shim, SHIM.as_bytes()).map_err(|e| {
        fail(ModuleError::Process {
            what: format!("could not be prepared (writing the shim: {e})"),
            stderr: String::new(),
        })
    })?;
    let (outcome_file, answer_file, log_file, db_file) = (
        path("outcome.json"),
        path("answer.json"),
        path("log.jsonl"),
        path("whmcs.sqlite"),
    );
    let secrets_owned = secrets_of(job.params);
    let secrets: Vec<&str> = secrets_owned.iter().map(String::as_str).collect();
    let f = job.files;
    let input = json!({
        "module": {
            "name": f.name,
            "file": f.file,
            "dir": f.dir,
            "modules_dir": f.modules_dir,
            "root": f.root,
            "vendor_autoload": f.vendor_autoload,
        },
        "params": job.params.map(whmcs_params).unwrap_or_else(|| json!({})),
        "server_row": job.params.map(|p| server_row(p, &f.name)).unwrap_or_else(|| json!({})),
        "hosting": job.rows.hosting,
        "products": job.rows.products,
        "secrets": job.params.map(|p| vec![p.password.expose(), p.access_hash.expose()]).unwrap_or_default(),
    });
    let stdin = serde_json::to_vec(&input).map_err(|e| {
        fail(ModuleError::Process {
            what: format!("could not be given its input ({e})"),
            stderr: String::new(),
        })
    })?;
    let arg = |p: &Path| p.to_string_lossy().into_owned();
    let mut args: Vec<String> = Vec::new();
    for d in [
        "display_errors=stderr",
        "log_errors=0",
        "html_errors=0",
        "output_buffering=0",
        "date.timezone=UTC",
        MEMORY_LIMIT,
    ] {
        args.push("-d".into());
        args.push(d.into());
    }
    args.extend([
        arg(&shim),
        job.mode.as_str().into(),
        arg(&outcome_file),
        arg(&answer_file),
        arg(&log_file),
        arg(&db_file),
    ]);
    let out = process::run(
        program,
        &args,
        &f.dir,
        stdin,
        job.timeout,
        MAX_STDOUT,
        &secrets,
    )
    .await
    .map_err(fail)?;
    let log = match read_capped(&log_file, MAX_LOG) {
        Ok(Some(raw)) => parse_log(&raw, &secrets),
        _ => Vec::new(),
    };
    let stderr = out.stderr.clone();
    let failure = |error| ShimFailure {
        error,
        log: log.clone(),
        stderr: stderr.clone(),
    };
    let outcome: Outcome = match read_capped(&outcome_file, MAX_OUTCOME) {
        Ok(Some(raw)) => serde_json::from_slice(&raw).map_err(|e| {
            failure(ModuleError::Protocol(format!(
                "the PHP shim's outcome is not readable: {e}"
            )))
        })?,
        Ok(None) => {
            // No outcome: PHP itself failed (crashed, or could not read the shim).
            let error = match out.check() {
                Err(e) => e,
                Ok(_) => ModuleError::Process {
                    what: "ended without an answer".into(),
                    stderr: stderr.clone(),
                },
            };
            return Err(failure(error));
        }
        Err(cap) => {
            return Err(failure(ModuleError::TooLarge {
                what: "the PHP shim's outcome".into(),
                limit: cap,
            }))
        }
    };
    if let Some(error) = outcome_error(&outcome, &secrets) {
        return Err(failure(error));
    }
    let answer = if job.mode == Mode::List {
        match read_capped(&answer_file, job.max_answer) {
            Ok(Some(a)) => Some(a),
            Ok(None) => {
                return Err(failure(ModuleError::Protocol(
                    "the module returned no answer".into(),
                )))
            }
            Err(limit) => {
                return Err(failure(ModuleError::TooLarge {
                    what: "the module's answer".into(),
                    limit,
                }))
            }
        }
    } else {
        None
    };
    drop(tmp);
    Ok(ShimRun {
        outcome,
        answer,
        log,
        stderr,
    })
}

/// The error an outcome other than `ok` stands for.
fn outcome_error(o: &Outcome, secrets: &[&str]) -> Option<ModuleError> {
    let msg = |m: &Option<String>| clean(m.as_deref().unwrap_or(""), secrets, MESSAGE_CHARS);
    Some(match o.kind.as_str() {
        "ok" => return None,
        "php" | "load" => ModuleError::Php(msg(&o.message)),
        "unsupported" => {
            let f = clean(
                o.function.as_deref().unwrap_or("a WHMCS function"),
                secrets,
                120,
            );
            // Functions are shown with (), classes as they are named.
            ModuleError::Unsupported(if f.starts_with("the WHMCS class") {
                f
            } else {
                format!("{f}()")
            })
        }
        "exit" => {
            let tail = msg(&o.output);
            ModuleError::Php(if tail.is_empty() {
                "the module ended PHP (exit() or die()) without returning".into()
            } else {
                format!("the module ended PHP (exit() or die()) without returning; its last output: {tail}")
            })
        }
        "protocol" => ModuleError::Protocol(msg(&o.message)),
        other => ModuleError::Protocol(format!(
            "the PHP shim reported {}: {}",
            clean(other, secrets, 40),
            msg(&o.message)
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serversync_core::model::Secret;

    fn params() -> ServerParams {
        ServerParams {
            server_id: 7,
            ip: "192.0.2.7".into(),
            hostname: "panel.test".into(),
            username: "admin".into(),
            password: Secret::new("hunter22"),
            access_hash: Secret::new(""),
            secure: true,
            tls_verify: true,
            port: None,
        }
    }

    #[test]
    fn params_have_whmcs_names_and_types() {
        let v = whmcs_params(&params());
        assert_eq!(
            v,
            json!({"serverid": 7, "serverip": "192.0.2.7", "serverhostname": "panel.test",
                   "serverusername": "admin", "serverpassword": "hunter22",
                   "serveraccesshash": "", "serversecure": true, "serverhttpprefix": "https",
                   "serverport": ""})
        );
        let mut p = params();
        p.port = Some(2222);
        p.secure = false;
        let v = whmcs_params(&p);
        assert_eq!(v["serverport"], "2222");
        assert_eq!(v["serversecure"], false);
        assert_eq!(v["serverhttpprefix"], "http");
        assert_eq!(server_row(&p, "x")["secure"], "");
        assert_eq!(server_row(&p, "x")["port"], 2222);
    }

    #[test]
    fn secrets_include_the_encrypted_form() {
        // encrypt() in shim.php is `ssenc1:` + bin2hex: redacting the hex part covers it.
        assert!(SHIM.contains("const ENC_PREFIX = 'ssenc1:';"));
        assert!(SHIM.contains("return Shim::ENC_PREFIX . bin2hex((string) $string);"));
        assert_eq!(hex("hunter22"), "68756e7465723232");
        assert_eq!(
            secrets_of(Some(&params())),
            vec!["hunter22".to_string(), "68756e7465723232".to_string()]
        );
        assert!(secrets_of(None).is_empty());
    }

    #[test]
    fn outcomes_map_to_errors() {
        let o = |kind: &str| Outcome {
            kind: kind.into(),
            ..Outcome::default()
        };
        assert!(outcome_error(&o("ok"), &[]).is_none());
        let e = outcome_error(
            &Outcome {
                message: Some("Exception: bad hunter22\nmore (m/m.php:3)".into()),
                ..o("php")
            },
            &["hunter22"],
        )
        .unwrap();
        assert_eq!(
            e.to_string(),
            "PHP error: Exception: bad [redacted] more (m/m.php:3)"
        );
        let e = outcome_error(
            &Outcome {
                function: Some("localAPI".into()),
                ..o("unsupported")
            },
            &[],
        )
        .unwrap();
        assert_eq!(
            e.to_string(),
            "the module needs localAPI(), which serversync does not provide"
        );
        let e = outcome_error(
            &Outcome {
                output: Some("This file cannot be accessed directly".into()),
                ..o("exit")
            },
            &[],
        )
        .unwrap();
        assert_eq!(
            e.to_string(),
            "PHP error: the module ended PHP (exit() or die()) without returning; its last \
             output: This file cannot be accessed directly"
        );
    }

    #[test]
    fn log_lines_are_redacted_and_bounded() {
        let raw = format!(
            "{}\n{}\nnot json\n{}\n",
            json!({"module": "m", "action": "ListAccounts", "request": "pw=hunter22",
                   "response": "x".repeat(5000), "data": ""}),
            json!({"activity": "listed 3"}),
            json!({"truncated": true})
        );
        let log = parse_log(raw.as_bytes(), &["hunter22"]);
        assert_eq!(log.len(), 3);
        assert_eq!(log[0].request, "pw=[redacted]");
        assert_eq!(log[0].response.chars().count(), LOG_CHARS + 1);
        assert_eq!(
            (log[1].action.as_str(), log[1].request.as_str()),
            ("logActivity", "listed 3")
        );
        assert_eq!(log[2].action, "(log truncated at 1 MiB)");
    }
}
