//! Where each key may come from besides the file: its `SERVERSYNC_…` variable, a `_FILE`
//! variable for secrets, its command-line flag; and the bounded reading of files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::parser::ValueSource;
use clap::ArgMatches;

use super::*;
use crate::output;

/// Keys a plain `SERVERSYNC_…` variable may set (nested ones written with `__`).
pub(super) const ENV_KEYS: &[&str] = &[
    "database_url",
    "listen",
    "modules_dir",
    "php",
    "secret_key_file",
    "connect_timeout_secs",
    "read_timeout_secs",
    "max_listing_bytes",
    "listing_deadline_secs",
    "lease_secs",
    "scan.enabled",
    "scan.interval_secs",
    "scan.jitter_secs",
    "scan.concurrency",
    "scan.deadline_secs",
    "guards.max_terminate_percent",
    "guards.max_move_percent",
    "guards.max_shrink_percent",
    "guards.gone_after",
    "runs.keep",
    "notify.smtp.host",
    "notify.smtp.port",
    "notify.smtp.tls",
    "notify.smtp.username",
    "notify.smtp.password",
    "notify.smtp.from",
    "metrics.token",
    "notify.base_url",
    "notify.attempts",
    "notify.retry_delay_ms",
    "notify.timeout_secs",
    "notify.daily_report_at",
];

/// Secret keys a `SERVERSYNC_…_FILE` variable may read from a file (first line, trimmed).
pub(super) const SECRET_FILE_KEYS: &[&str] =
    &["database_url", "notify.smtp.password", "metrics.token"];

/// A key's variable name: `scan.concurrency` → `SERVERSYNC_SCAN__CONCURRENCY`.
pub fn env_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// The command-line option of each key that has one.
pub(super) const FLAGS: &[(&str, &str)] = &[
    ("database_url", "--database"),
    ("listen", "--listen"),
    ("modules_dir", "--modules-dir"),
    ("php", "--php"),
    ("secret_key_file", "--secret-key-file"),
    ("connect_timeout_secs", "--connect-timeout"),
    ("read_timeout_secs", "--read-timeout"),
    ("max_listing_bytes", "--max-listing-bytes"),
    ("listing_deadline_secs", "--listing-deadline-secs"),
    ("lease_secs", "--lease-secs"),
    ("scan.concurrency", "--concurrency"),
    ("scan.deadline_secs", "--deadline-secs"),
    ("guards.max_terminate_percent", "--max-terminate-percent"),
    ("guards.max_move_percent", "--max-move-percent"),
    ("guards.max_shrink_percent", "--max-shrink-percent"),
];

/// The values given on the command line itself (not clap defaults, not clap's reading of
/// the environment: those are the lower layers), as (config key, value) pairs.
/// `matches` are the top-level matches; `(arg id, key)` pairs are looked up in it and in the
/// subcommand's matches.
pub(super) fn command_line(matches: &ArgMatches) -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::Value;
    // Keys whose value is text even when it looks like a number.
    const TEXT_KEYS: &[&str] = &[
        "database_url",
        "listen",
        "modules_dir",
        "php",
        "secret_key_file",
    ];
    // (arg id, config key)
    const ARGS: &[(&str, &str)] = &[
        ("database", "database_url"),
        ("listen", "listen"),
        ("modules_dir", "modules_dir"),
        ("php", "php"),
        ("secret_key_file", "secret_key_file"),
        ("connect_timeout", "connect_timeout_secs"),
        ("read_timeout", "read_timeout_secs"),
        ("max_listing_bytes", "max_listing_bytes"),
        ("listing_deadline_secs", "listing_deadline_secs"),
        ("lease_secs", "lease_secs"),
        ("concurrency", "scan.concurrency"),
        ("deadline_secs", "scan.deadline_secs"),
        ("max_terminate_percent", "guards.max_terminate_percent"),
        ("max_move_percent", "guards.max_move_percent"),
        ("max_shrink_percent", "guards.max_shrink_percent"),
    ];
    let mut levels = vec![matches];
    let mut m = matches;
    while let Some((_, sub)) = m.subcommand() {
        levels.push(sub);
        m = sub;
    }
    let mut out = Vec::new();
    for (id, key) in ARGS {
        for level in &levels {
            let given = matches!(
                level.try_get_raw(id),
                Ok(Some(_)) if level.value_source(id) == Some(ValueSource::CommandLine)
            );
            if !given {
                continue;
            }
            // The text typed, as clap checked it: numbers as numbers, the rest as text.
            let Ok(Some(mut raw)) = level.try_get_raw(id) else {
                continue;
            };
            let Some(text) = raw.next().and_then(|v| v.to_str()) else {
                continue;
            };
            let value = if TEXT_KEYS.contains(key) {
                Value::String(text.to_string())
            } else {
                serde_json::from_str::<serde_json::Number>(text)
                    .map(Value::Number)
                    .unwrap_or_else(|_| Value::String(text.to_string()))
            };
            out.push((*key, value));
        }
    }
    out
}

/// Reads at most `max` bytes of `path` as UTF-8; errors name `what` and the file.
pub(super) fn read_bounded(path: &Path, max: u64, what: &str) -> anyhow::Result<String> {
    let shown = path.display().to_string();
    let shown = output::clean(&shown);
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {what} {shown}"))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, max + 1), &mut text)
        .with_context(|| format!("cannot read {what} {shown} (is it UTF-8?)"))?;
    if text.len() as u64 > max {
        anyhow::bail!("{what} {shown} is larger than {max} bytes");
    }
    Ok(text)
}

/// The configuration file to read: `--config` / `SERVERSYNC_CONFIG` (which must exist), else
/// `serversync.toml` when it exists.
pub(super) fn config_file(given: Option<&Path>) -> Option<PathBuf> {
    match given {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let p = PathBuf::from(DEFAULT_FILE);
            p.is_file().then_some(p)
        }
    }
}
