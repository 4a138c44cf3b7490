//! `module.toml`: the manifest of an external module (CONTRACT.md "Modules").
//!
//! ```toml
//! command = ["python3", "list_accounts.py"]   # or: url = "https://…"
//! timeout_seconds = 300                        # optional, 1..=3600
//! [meta_data]                                  # optional, every key optional
//! DisplayName = "My Panel"
//! ListAccountsUniqueIdentifierDisplayName = "Domain"
//! ListAccountsUniqueIdentifierField = "domain"
//! ListAccountsProductField = "configoption1"
//! DefaultSSLPort = 443
//! DefaultNonSSLPort = 80
//! ```
//!
//! Every error names the file and the key; unknown keys are errors (a misspelt key would
//! otherwise silently fall back to a default).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serversync_core::module::{MetaData, UniqueIdField};

/// Largest manifest read (bytes): a manifest is a few lines.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// `timeout_seconds` bounds.
const TIMEOUT_RANGE: std::ops::RangeInclusive<i64> = 1..=3600;
/// Longest display name (characters).
const MAX_NAME_CHARS: usize = 100;

const TOP_KEYS: [&str; 4] = ["command", "url", "timeout_seconds", "meta_data"];
const META_KEYS: [&str; 6] = [
    "DisplayName",
    "ListAccountsUniqueIdentifierDisplayName",
    "ListAccountsUniqueIdentifierField",
    "ListAccountsProductField",
    "DefaultSSLPort",
    "DefaultNonSSLPort",
];

/// What the module runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A program (resolved: absolute path) and its arguments, run in the module's folder.
    Command { program: String, args: Vec<String> },
    /// An endpoint the server parameters are POSTed to.
    Url(reqwest::Url),
}

/// A read and checked manifest.
#[derive(Clone, Debug)]
pub(crate) struct Manifest {
    pub target: Target,
    pub timeout: Duration,
    pub meta: MetaData,
}

/// Reads `dir/module.toml` of module `name`; `default_timeout` applies when it sets none.
/// The error names the file and the key.
pub(crate) fn read(dir: &Path, name: &str, default_timeout: Duration) -> Result<Manifest, String> {
    let path = dir.join("module.toml");
    let bytes = crate::registry::read_small(&path, MAX_MANIFEST_BYTES)?;
    let file = path.display().to_string();
    let text = std::str::from_utf8(&bytes).map_err(|_| format!("{file}: is not UTF-8 text"))?;
    parse(text, dir, name, default_timeout).map_err(|e| format!("{file}: {e}"))
}

/// Whether `dir/module.toml` names a URL (for the kind shown of a module that failed to
/// load); `false` when it cannot tell.
pub(crate) fn names_url(dir: &Path) -> bool {
    crate::registry::read_small(&dir.join("module.toml"), MAX_MANIFEST_BYTES)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| t.contains_key("url") && !t.contains_key("command"))
}

fn parse(
    text: &str,
    dir: &Path,
    name: &str,
    default_timeout: Duration,
) -> Result<Manifest, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!(" at line {line} column {col}")
            })
            .unwrap_or_default();
        format!(
            "invalid TOML{at}: {}",
            crate::http::one_line(e.message(), 200, "")
        )
    })?;
    unknown_keys(&table, &TOP_KEYS, "")?;

    let target = match (table.get("command"), table.get("url")) {
        (Some(_), Some(_)) => return Err("set either `command` or `url`, not both".into()),
        (None, None) => {
            return Err("needs `command = [program, args…]` or `url = \"https://…\"`".into())
        }
        (Some(c), None) => command(c, dir)?,
        (None, Some(u)) => Target::Url(url(u)?),
    };

    let timeout = match table.get("timeout_seconds") {
        None => default_timeout,
        Some(toml::Value::Integer(n)) if TIMEOUT_RANGE.contains(n) => {
            Duration::from_secs(*n as u64)
        }
        Some(toml::Value::Integer(n)) => {
            return Err(format!(
                "timeout_seconds = {n} is out of range (1 to 3600 seconds)"
            ))
        }
        Some(other) => {
            return Err(format!(
                "timeout_seconds is {}, expected a whole number of seconds (1 to 3600)",
                other.type_str()
            ))
        }
    };

    let empty = toml::Table::new();
    let meta_table = match table.get("meta_data") {
        None => &empty,
        Some(toml::Value::Table(t)) => t,
        Some(other) => {
            return Err(format!(
                "meta_data is {}, expected a table ([meta_data])",
                other.type_str()
            ))
        }
    };
    let meta = meta_data(meta_table, name)?;
    Ok(Manifest {
        target,
        timeout,
        meta,
    })
}

fn unknown_keys(table: &toml::Table, known: &[&str], prefix: &str) -> Result<(), String> {
    let unknown: Vec<String> = table
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| format!("`{prefix}{}`", crate::http::one_line(k, 60, "")))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let allowed: Vec<String> = known.iter().map(|k| format!("{prefix}{k}")).collect();
    Err(format!(
        "unknown key{} {} (allowed: {})",
        if unknown.len() > 1 { "s" } else { "" },
        unknown.join(", "),
        allowed.join(", ")
    ))
}

/// `command = [program, args…]`: a relative program path (`./list.sh`, `bin/list`) is
/// resolved against the module's folder, a bare name (`python3`) on the PATH. No shell.
fn command(v: &toml::Value, dir: &Path) -> Result<Target, String> {
    let toml::Value::Array(items) = v else {
        return Err(format!(
            "command is {}, expected a list: command = [program, args…]",
            v.type_str()
        ));
    };
    let mut words = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            toml::Value::String(s) if s.contains('\0') => {
                return Err(format!("command[{i}] contains a NUL character"))
            }
            toml::Value::String(s) => words.push(s.clone()),
            other => {
                return Err(format!(
                    "command[{i}] is {}, expected a string",
                    other.type_str()
                ))
            }
        }
    }
    let Some((program, args)) = words.split_first() else {
        return Err("command is empty: command = [program, args…]".into());
    };
    if program.trim().is_empty() {
        return Err("command[0] (the program) is empty".into());
    }
    let resolved = resolve_program(program, dir)?;
    let program = resolved
        .to_str()
        .ok_or_else(|| format!("command: the path of {program:?} is not UTF-8"))?
        .to_string();
    Ok(Target::Command {
        program,
        args: args.to_vec(),
    })
}

fn resolve_program(program: &str, dir: &Path) -> Result<PathBuf, String> {
    let given = Path::new(program);
    if program.contains('/') {
        let path = if given.is_absolute() {
            given.to_path_buf()
        } else {
            dir.join(given)
        };
        if !path.is_file() {
            return Err(format!(
                "command: program {program:?} not found (looked for {})",
                path.display()
            ));
        }
        if !is_executable(&path) {
            return Err(format!(
                "command: program {program:?} is not executable (chmod +x it, or name its \
                 interpreter: command = [\"python3\", {program:?}])"
            ));
        }
        return Ok(path);
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|d| d.join(given))
        .find(|p| p.is_file() && is_executable(p))
        .ok_or_else(|| {
            format!(
                "command: program {program:?} is not on the PATH (give a path such as \
                 \"./{program}\" for a program in the module's folder)"
            )
        })
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// `url = "https://…"`: HTTPS, or plain HTTP to a loopback address only (the server's
/// credentials travel in the body). Never echoed with credentials or a query.
fn url(v: &toml::Value) -> Result<reqwest::Url, String> {
    let toml::Value::String(s) = v else {
        return Err(format!("url is {}, expected a string", v.type_str()));
    };
    // The parse error never repeats the input (which may carry credentials).
    let u = reqwest::Url::parse(s.trim()).map_err(|e| format!("url is not a valid URL ({e})"))?;
    let Some(host) = u.host_str() else {
        return Err("url has no host".into());
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        "http" => Err(format!(
            "url {} uses plain HTTP: the server's credentials are sent in the request, so \
             only https:// is allowed (http:// only to a loopback address)",
            super::shown_url(&u)
        )),
        other => Err(format!("url scheme {other:?} is not https")),
    }
}

fn meta_data(t: &toml::Table, name: &str) -> Result<MetaData, String> {
    unknown_keys(t, &META_KEYS, "meta_data.")?;
    let text = |key: &str| -> Result<Option<String>, String> {
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!(
                "meta_data.{key} is {}, expected a string",
                other.type_str()
            )),
        }
    };
    let label = |key: &str, v: String| -> Result<String, String> {
        let v = v.trim().to_string();
        if v.is_empty() {
            return Err(format!("meta_data.{key} is empty"));
        }
        if v.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "meta_data.{key} is longer than {MAX_NAME_CHARS} characters"
            ));
        }
        if v.chars().any(char::is_control) {
            return Err(format!("meta_data.{key} contains control characters"));
        }
        Ok(v)
    };
    let port = |key: &str, default: u16| -> Result<u16, String> {
        match t.get(key) {
            None => Ok(default),
            Some(toml::Value::Integer(n)) => u16::try_from(*n)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("meta_data.{key} = {n} is not a port (1 to 65535)")),
            Some(other) => Err(format!(
                "meta_data.{key} is {}, expected a port number",
                other.type_str()
            )),
        }
    };
    let field = match text("ListAccountsUniqueIdentifierField")? {
        None => UniqueIdField::Domain,
        Some(f) => f
            .trim()
            .parse::<UniqueIdField>()
            .map_err(|e| format!("meta_data.{e}"))?,
    };
    let display_name = match text("DisplayName")? {
        Some(v) => label("DisplayName", v)?,
        None => name.to_string(),
    };
    let uid_display = match text("ListAccountsUniqueIdentifierDisplayName")? {
        Some(v) => label("ListAccountsUniqueIdentifierDisplayName", v)?,
        // The heading follows the field when the manifest names none (DESIGN.md §2: `Domain`
        // for the default field).
        None => match &field {
            UniqueIdField::Domain => "Domain".into(),
            UniqueIdField::Username => "Username".into(),
            UniqueIdField::CustomField(n) => n.clone(),
        },
    };
    let product_field = text("ListAccountsProductField")?
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| "configoption1".into());
    let meta = MetaData {
        display_name,
        unique_identifier_display_name: uid_display,
        unique_identifier_field: field,
        product_field,
        default_secure_port: port("DefaultSSLPort", 443)?,
        default_plain_port: port("DefaultNonSSLPort", 80)?,
    };
    meta.validate().map_err(|e| format!("meta_data.{e}"))?;
    Ok(meta)
}

#[cfg(test)]
mod tests;
