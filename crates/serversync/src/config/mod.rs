//! The configuration of the binary (issue 11): a TOML file, `SERVERSYNC_…` environment
//! variables (with `_FILE` variants for secrets) and the command line, merged with figment
//! in that order over the defaults — command line > environment > file > default, as lldap
//! does.
//!
//! The file is `--config PATH`, else `SERVERSYNC_CONFIG`, else `serversync.toml` in the
//! working directory when it exists. Keys are the long option names in snake case
//! (`connect_timeout_secs`, `max_listing_bytes`, …) and the tables `[scan]`, `[guards]`,
//! `[notify]` (see [`Config`]); a nested key's variable joins its parts with `__`
//! (`SERVERSYNC_SCAN__CONCURRENCY`). A key the file does not know is an error naming the key
//! and the file; a `SERVERSYNC_…` variable that names no key is ignored (SERVERSYNC_LOG and
//! friends are not configuration).
//!
//! Files: [`settings`] (the keys, their defaults and types), `sources` (the environment
//! variables, `_FILE` secrets and command-line flags each key may come from), this file (the
//! layering and where each value came from), `validate` (values that parse but make no
//! sense), [`check`] (`config check`'s lines) and [`policies`] (the miss counter's and
//! `auto_apply`'s part).

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::{value::Dict, value::Map, Figment, Metadata, Profile, Provider};

use crate::output;

pub mod check;
pub mod policies;
pub mod settings;
mod sources;
mod validate;

pub use settings::*;
use sources::*;

/// The file read when neither `--config` nor `SERVERSYNC_CONFIG` names one.
pub const DEFAULT_FILE: &str = "serversync.toml";
/// The most bytes of a configuration file (a settings file, not a document).
const MAX_FILE: u64 = 1024 * 1024;
/// The most bytes read from a `_FILE` secret (a URL or a password).
const MAX_SECRET_FILE: u64 = 8 * 1024;
/// The prefix of every configuration variable.
const ENV_PREFIX: &str = "SERVERSYNC_";

/// Where one setting came from, for `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    /// The variable's name, and the file a `_FILE` variable named.
    Env(String, Option<PathBuf>),
    /// The option, e.g. `--concurrency`.
    CommandLine(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "file {}", output::clean(&p.display().to_string())),
            Origin::Env(name, None) => write!(f, "env {name}"),
            Origin::Env(name, Some(p)) => write!(
                f,
                "env {name} (file {})",
                output::clean(&p.display().to_string())
            ),
            Origin::CommandLine(flag) => write!(f, "command line {flag}"),
        }
    }
}

/// The merged configuration and the figment it came from (which knows each value's source).
pub struct Loaded {
    pub config: Config,
    figment: Figment,
    /// The file read, if any.
    pub file: Option<PathBuf>,
}

/// A provider under a name of ours, so that each value's metadata says which layer set it.
struct Named<P> {
    inner: P,
    meta: Metadata,
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        self.meta.clone()
    }
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.inner.data()
    }
}

/// Metadata names of the layers.
const DEFAULTS: &str = "default";
const FILE: &str = "file";
const ENV: &str = "env";
const ENV_FILE: &str = "env-file";
const CLI: &str = "command line";

/// Merges defaults, the file, the environment and the command line. `config` is
/// `--config`/`SERVERSYNC_CONFIG`; `matches` the parsed command line.
pub fn load(config: Option<&Path>, matches: &ArgMatches) -> anyhow::Result<Loaded> {
    let mut figment = Figment::new().merge(Named {
        inner: Serialized::defaults(Config::default()),
        meta: Metadata::named(DEFAULTS),
    });
    let file = config_file(config);
    if let Some(path) = &file {
        let text = read_bounded(path, MAX_FILE, "the configuration file")?;
        figment = figment.merge(Named {
            inner: Toml::string(&text),
            meta: Metadata::named(FILE).source(figment::Source::File(path.clone())),
        });
    }
    // `_FILE` secrets first: a plain variable of the same key wins over them (as
    // SERVERSYNC_DATABASE_URL always won over SERVERSYNC_DATABASE_URL_FILE).
    for key in SECRET_FILE_KEYS {
        let var = format!("{}_FILE", env_name(key));
        let Some(path) = std::env::var_os(&var).filter(|p| !p.is_empty()) else {
            continue;
        };
        let path = PathBuf::from(path);
        let shown = path.display().to_string();
        let shown = output::clean(&shown);
        let text = read_bounded(&path, MAX_SECRET_FILE, &var)?;
        let value = text.lines().next().unwrap_or_default().trim().to_string();
        if value.is_empty() {
            anyhow::bail!("{var} {shown} is empty: it must hold the value on its first line");
        }
        figment = figment.merge(Named {
            inner: Serialized::default(key, value),
            meta: Metadata::named(ENV_FILE).source(figment::Source::File(path)),
        });
    }
    figment = figment.merge(Named {
        inner: Env::prefixed(ENV_PREFIX)
            .split("__")
            // Keys are still in the variable's case here (figment lowercases later).
            .filter(|k| ENV_KEYS.iter().any(|e| k.as_str().eq_ignore_ascii_case(e))),
        meta: Metadata::named(ENV),
    });
    for (key, value) in command_line(matches) {
        figment = figment.merge(Named {
            inner: Serialized::default(key, value),
            meta: Metadata::named(CLI),
        });
    }
    let config: Config = figment.extract().map_err(|e| explain(&figment, e))?;
    let loaded = Loaded {
        config,
        figment,
        file,
    };
    loaded.validate()?;
    Ok(loaded)
}

/// One line for a figment error: the key, what is wrong and where the value came from.
fn explain(figment: &Figment, e: figment::Error) -> anyhow::Error {
    let mut lines = Vec::new();
    for e in e {
        let mut path = e.path.clone();
        let unknown = match &e.kind {
            figment::error::Kind::UnknownField(field, _) => {
                if path.last() != Some(field) {
                    path.push(field.clone());
                }
                true
            }
            _ => false,
        };
        let key = path.join(".");
        let origin = if key.is_empty() {
            e.metadata.as_ref().map(|m| origin_of(m, &key))
        } else {
            figment
                .find_metadata(&key)
                .or(e.metadata.as_ref())
                .map(|m| origin_of(m, &key))
        };
        let at = origin.map(|o| format!(" ({o})")).unwrap_or_default();
        let key = output::clean(&key);
        lines.push(if unknown {
            format!("configuration: unknown key `{key}`{at}")
        } else {
            format!("configuration: `{key}`{at}: {}", e.kind)
        });
    }
    anyhow::anyhow!(lines.join("; "))
}

/// The file a layer read.
fn file_of(meta: &Metadata) -> Option<PathBuf> {
    match &meta.source {
        Some(figment::Source::File(p)) => Some(p.clone()),
        _ => None,
    }
}

/// The [`Origin`] of `key`, set by the layer of `meta`.
fn origin_of(meta: &Metadata, key: &str) -> Origin {
    match meta.name.as_ref() {
        FILE => Origin::File(file_of(meta).unwrap_or_default()),
        ENV => Origin::Env(env_name(key), None),
        ENV_FILE => Origin::Env(format!("{}_FILE", env_name(key)), file_of(meta)),
        CLI => Origin::CommandLine(
            FLAGS
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, f)| (*f).to_string())
                .unwrap_or_else(|| key.to_string()),
        ),
        _ => Origin::Default,
    }
}

impl Loaded {
    /// Where `key` (dotted) got its value.
    pub fn origin(&self, key: &str) -> Origin {
        self.figment
            .find_metadata(key)
            .map(|m| origin_of(m, key))
            .unwrap_or(Origin::Default)
    }
}
