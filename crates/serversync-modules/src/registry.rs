//! The module registry: the built-in modules plus the modules directory, loaded once per
//! process, each with its meta data validated at registration (CONTRACT.md "Modules").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::{
    cpanel, directadmin, external, hestiacp, php, plesk, virtualmin, Listing, ListingProgress,
    MetaData, Module, ModuleError, ModuleOptions, ServerParams, Shared,
};

/// Where a module comes from (`modules list` prints these names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleKind {
    /// Compiled into serversync.
    Builtin,
    /// A WHMCS server module (`NAME/NAME.php`), run through the PHP shim.
    Php,
    /// An external command (`module.toml` with `command`).
    Command,
    /// An external HTTP endpoint (`module.toml` with `url`).
    Http,
}

impl ModuleKind {
    /// `builtin`, `php`, `command` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleKind::Builtin => "builtin",
            ModuleKind::Php => "php",
            ModuleKind::Command => "command",
            ModuleKind::Http => "http",
        }
    }
}

impl std::fmt::Display for ModuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the registry is built.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// Settings shared by every module.
    pub options: ModuleOptions,
    /// The modules directory (`--modules-dir`); `None` for built-in modules only.
    pub modules_dir: Option<PathBuf>,
    /// The PHP binary for WHMCS modules (`--php`, default `php` on the PATH).
    pub php: PathBuf,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            options: ModuleOptions::default(),
            modules_dir: None,
            php: PathBuf::from("php"),
        }
    }
}

/// One registered module as `modules list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ModuleInfo {
    pub name: String,
    pub kind: ModuleKind,
    /// The module's folder, for modules of the modules directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `None` when the module is unusable (see `error`).
    #[serde(serialize_with = "meta_json")]
    pub meta_data: Option<MetaData>,
    /// Why the module is unusable; `None` when it is usable.
    pub error: Option<String>,
}

fn meta_json<S: serde::Serializer>(m: &Option<MetaData>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        None => s.serialize_none(),
        Some(m) => serde_json::json!({
            "DisplayName": m.display_name,
            "ListAccountsUniqueIdentifierDisplayName": m.unique_identifier_display_name,
            "ListAccountsUniqueIdentifierField": m.unique_identifier_field.as_meta(),
            "ListAccountsProductField": m.product_field,
            "DefaultSSLPort": m.default_secure_port,
            "DefaultNonSSLPort": m.default_plain_port,
        })
        .serialize(s),
    }
}

/// Why a module cannot be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No built-in module and no folder of the modules directory has this name.
    #[error("unknown module {name:?} (known: {known})")]
    Unknown { name: String, known: String },
    /// The module exists but could not be loaded or its meta data is invalid.
    #[error("module {name:?} is unusable: {reason}")]
    Unusable { name: String, reason: String },
    /// The modules directory itself cannot be read.
    #[error("modules directory {path}: {cause}")]
    Directory { path: String, cause: String },
}

enum Entry {
    Ready(Arc<dyn Module>, Option<PathBuf>),
    Unusable {
        kind: ModuleKind,
        path: PathBuf,
        reason: String,
    },
}

/// The modules of this process: built in first, then the modules directory by name.
pub struct ModuleRegistry {
    shared: Shared,
    entries: BTreeMap<String, Entry>,
    /// Names in the order they are offered (built in, then directory modules).
    order: Vec<String>,
}

impl std::fmt::Debug for ModuleRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleRegistry")
            .field("modules", &self.order)
            .finish()
    }
}

/// The built-in modules, in the order they are offered.
fn builtins(shared: &Shared) -> Vec<Arc<dyn Module>> {
    vec![
        Arc::new(cpanel::CpanelModule::new(shared)),
        Arc::new(directadmin::DirectAdminModule::new(shared)),
        Arc::new(virtualmin::VirtualminModule::new(shared)),
        Arc::new(plesk::PleskModule::new(shared)),
        Arc::new(hestiacp::HestiaModule::new(shared)),
    ]
}

/// Whether `name` is a built-in module's name.
pub fn is_builtin(name: &str) -> bool {
    BUILTIN_NAMES.contains(&name)
}

/// Names of the built-in modules.
pub const BUILTIN_NAMES: &[&str] = &["cpanel", "directadmin", "virtualmin", "plesk", "hestiacp"];

impl ModuleRegistry {
    /// The built-in modules only.
    pub fn builtin(options: ModuleOptions) -> Self {
        let shared = Shared::new(&options);
        let mut reg = ModuleRegistry {
            shared,
            entries: BTreeMap::new(),
            order: Vec::new(),
        };
        for m in builtins(&reg.shared) {
            reg.insert_ready(m, None);
        }
        reg
    }

    /// The built-in modules plus every module of `config.modules_dir`. A module that cannot
    /// be loaded is registered as unusable with its reason; only an unreadable directory is
    /// an error.
    pub async fn load(config: RegistryConfig) -> Result<Self, RegistryError> {
        let mut reg = Self::builtin(config.options.clone());
        let Some(dir) = config.modules_dir.as_deref() else {
            return Ok(reg);
        };
        let dir_err = |e: std::io::Error| RegistryError::Directory {
            path: dir.display().to_string(),
            cause: e.to_string(),
        };
        let mut folders: Vec<(String, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(dir_err)? {
            let entry = entry.map_err(dir_err)?;
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            folders.push((name, path));
        }
        folders.sort();
        for (name, path) in folders {
            if is_builtin(&name) {
                // A WHMCS `modules/servers` folder ships its own `cpanel`; the built-in one
                // stands (CONTRACT.md: a built-in name cannot be shadowed).
                tracing::debug!(module = %name, "modules directory entry shadowed by a built-in module");
                continue;
            }
            let php_file = path.join(format!("{name}.php"));
            let manifest = path.join("module.toml");
            let (kind, loaded) = if manifest.is_file() {
                let loaded = external::load(&name, &path, &reg.shared);
                let kind = loaded
                    .as_ref()
                    .map_or_else(|_| external::declared_kind(&path), |m| m.kind());
                (kind, loaded)
            } else if php_file.is_file() {
                (
                    ModuleKind::Php,
                    php::load(&name, &path, &config.php, &reg.shared).await,
                )
            } else {
                // Not a module folder (WHMCS keeps other folders here too): not offered.
                continue;
            };
            let loaded = loaded.and_then(|m| {
                if !valid_name(&name) {
                    return Err(format!(
                        "the folder name {name:?} is not a module name (lower-case letters, \
                         digits and _ only)"
                    ));
                }
                m.meta().validate().map_err(|e| e.to_string())?;
                Ok(m)
            });
            match loaded {
                Ok(m) => reg.insert_ready(m, Some(path)),
                Err(reason) => {
                    // Info, not a warning: every command loads the registry, and a WHMCS
                    // modules folder may hold many modules that are not for us; the reason
                    // is shown by `modules list` / `modules check` and when a server uses it.
                    tracing::info!(module = %name, %reason, "module unusable");
                    reg.order.push(name.clone());
                    reg.entries
                        .insert(name, Entry::Unusable { kind, path, reason });
                }
            }
        }
        Ok(reg)
    }

    /// Registers a module the embedding program built itself (its own Rust [`Module`]),
    /// after the checks a modules-directory module gets: a module name (lower-case letters,
    /// digits and `_`, at most 64), not taken (a built-in name cannot be shadowed), and valid
    /// meta data. Errors: [`RegistryError::Unusable`] naming the module and the rule broken.
    pub fn register(&mut self, m: Arc<dyn Module>) -> Result<(), RegistryError> {
        let name = m.name().to_string();
        let unusable = |reason: String| RegistryError::Unusable {
            name: name.clone(),
            reason,
        };
        if !valid_name(&name) {
            return Err(unusable(
                "not a module name (lower-case letters, digits and _ only)".into(),
            ));
        }
        if self.entries.contains_key(&name) {
            return Err(unusable(
                "a module of this name is registered already".into(),
            ));
        }
        m.meta().validate().map_err(|e| unusable(e.to_string()))?;
        self.insert_ready(m, None);
        Ok(())
    }

    fn insert_ready(&mut self, m: Arc<dyn Module>, path: Option<PathBuf>) {
        let name = m.name().to_string();
        self.order.push(name.clone());
        self.entries.insert(name, Entry::Ready(m, path));
    }

    /// The settings and HTTP clients every module of this registry shares.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The usable module called `name`.
    pub fn get(&self, name: &str) -> Result<Arc<dyn Module>, RegistryError> {
        match self.entries.get(name) {
            Some(Entry::Ready(m, _)) => Ok(m.clone()),
            Some(Entry::Unusable { reason, .. }) => Err(RegistryError::Unusable {
                name: name.to_string(),
                reason: reason.clone(),
            }),
            None => Err(RegistryError::Unknown {
                name: name.to_string(),
                known: self.names().join(", "),
            }),
        }
    }

    /// Names of the usable modules, in the order they are offered.
    pub fn names(&self) -> Vec<String> {
        self.order
            .iter()
            .filter(|n| matches!(self.entries.get(*n), Some(Entry::Ready(..))))
            .cloned()
            .collect()
    }

    /// Every registered module, usable or not, in the order they are offered.
    pub fn modules(&self) -> Vec<ModuleInfo> {
        self.order
            .iter()
            .filter_map(|n| {
                Some(match self.entries.get(n)? {
                    Entry::Ready(m, path) => ModuleInfo {
                        name: n.clone(),
                        kind: m.kind(),
                        path: path.clone(),
                        meta_data: Some(m.meta().clone()),
                        error: None,
                    },
                    Entry::Unusable { kind, path, reason } => ModuleInfo {
                        name: n.clone(),
                        kind: *kind,
                        path: Some(path.clone()),
                        meta_data: None,
                        error: Some(reason.clone()),
                    },
                })
            })
            .collect()
    }

    /// Lists a server with `module`, within the listing deadline
    /// ([`ModuleOptions::listing_deadline`]) and the listing's byte budget
    /// ([`ModuleOptions::max_listing_bytes`], shared by all its responses), and skips every
    /// account whose fields are longer than the contract allows
    /// ([`Listing::enforce_field_limits`]).
    pub async fn list_accounts(
        &self,
        module: &dyn Module,
        params: &ServerParams,
        progress: &dyn ListingProgress,
    ) -> Result<Listing, ModuleError> {
        self.list_accounts_within(module, params, progress, None)
            .await
    }

    /// [`ModuleRegistry::list_accounts`] within `deadline` as well, when it is shorter than
    /// the listing deadline (a scan's per-server deadline): running past it is
    /// [`ModuleError::Deadline`] naming the shorter one, a failed listing like any other.
    pub async fn list_accounts_within(
        &self,
        module: &dyn Module,
        params: &ServerParams,
        progress: &dyn ListingProgress,
        deadline: Option<Duration>,
    ) -> Result<Listing, ModuleError> {
        let deadline = deadline.map_or(self.shared.opts.listing_deadline, |d| {
            d.min(self.shared.opts.listing_deadline)
        });
        let budget = Arc::new(crate::http::ListingBudget::new(
            self.shared.opts.max_listing_bytes,
        ));
        // The deadline wraps the whole listing (every page and call); when it runs out the
        // module's future is dropped, which closes its connections.
        let mut listing = crate::http::with_listing_budget(
            budget,
            tokio::time::timeout(deadline, module.list_accounts(params, progress)),
        )
        .await
        .map_err(|_| ModuleError::Deadline { after: deadline })?
        .map_err(ModuleError::bounded)?;
        listing.enforce_field_limits();
        Ok(listing)
    }
}

/// WHMCS module names: lower-case ASCII letters, digits and `_`, starting with a letter.
fn valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 64
}

/// Reads a file of at most `cap` bytes (manifests and similar small files).
#[allow(dead_code)] // used by the external and PHP modules
pub(crate) fn read_small(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if buf.len() as u64 > cap {
        return Err(format!("{} is larger than {cap} bytes", path.display()));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registry_has_cpanel() {
        let r = ModuleRegistry::builtin(ModuleOptions::default());
        assert_eq!(r.names(), BUILTIN_NAMES);
        let m = r.get("cpanel").unwrap();
        assert_eq!(m.name(), "cpanel");
        assert_eq!(m.kind(), ModuleKind::Builtin);
        assert_eq!(m.meta().display_name, "cPanel");
        assert_eq!(
            r.get("plesk9")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            format!(
                "unknown module \"plesk9\" (known: {})",
                BUILTIN_NAMES.join(", ")
            )
        );
        let da = r.get("directadmin").unwrap();
        assert_eq!(da.meta().display_name, "DirectAdmin");
        assert_eq!(da.meta().default_secure_port, 2222);
        let v = r.get("virtualmin").unwrap();
        assert_eq!(v.meta().display_name, "Virtualmin");
        assert_eq!(v.meta().product_field, "configoption2");
        assert!(v.meta().validate().is_ok());
        let p = r.get("plesk").unwrap();
        assert_eq!(p.meta().display_name, "Plesk");
        assert_eq!(
            (p.meta().default_secure_port, p.meta().default_plain_port),
            (8443, 8880)
        );
        assert_eq!(p.meta().product_field, "configoption1");
        assert!(p.meta().validate().is_ok());
        let h = r.get("hestiacp").unwrap();
        assert_eq!(h.meta().display_name, "HestiaCP");
        assert_eq!(
            (h.meta().default_secure_port, h.meta().default_plain_port),
            (8083, 8083)
        );
    }

    #[test]
    fn module_names_are_checked() {
        assert!(valid_name("my_panel2"));
        assert!(!valid_name("MyPanel"));
        assert!(!valid_name("2panel"));
        assert!(!valid_name("a-b"));
    }

    struct Own(&'static str, MetaData);

    #[async_trait::async_trait]
    impl Module for Own {
        fn name(&self) -> &str {
            self.0
        }
        fn meta(&self) -> &MetaData {
            &self.1
        }
        async fn list_accounts(
            &self,
            _params: &ServerParams,
            _progress: &dyn crate::ListingProgress,
        ) -> Result<Listing, crate::ModuleError> {
            Ok(Listing::default())
        }
    }

    #[test]
    fn an_embedding_program_registers_its_own_module_after_the_same_checks() {
        let mut r = ModuleRegistry::builtin(ModuleOptions::default());
        let meta = crate::cpanel::CpanelModule::meta_data();
        r.register(Arc::new(Own("my_panel", meta.clone()))).unwrap();
        assert_eq!(r.get("my_panel").unwrap().meta(), &meta);
        assert_eq!(r.names().last().map(String::as_str), Some("my_panel"));
        let mut err = |m: Own| r.register(Arc::new(m)).unwrap_err().to_string();
        assert_eq!(
            err(Own("cpanel", meta.clone())),
            "module \"cpanel\" is unusable: a module of this name is registered already"
        );
        let mut bad = meta.clone();
        bad.product_field = "configoption25".into();
        assert!(
            err(Own("other", bad)).starts_with("module \"other\" is unusable: "),
            "bad meta data refused"
        );
        assert_eq!(
            err(Own("My-Panel", meta)),
            "module \"My-Panel\" is unusable: not a module name (lower-case letters, digits and _ only)"
        );
        assert!(r.get("other").is_err());
    }

    #[tokio::test]
    async fn unreadable_directory_is_an_error_and_other_folders_are_ignored() {
        let e = ModuleRegistry::load(RegistryConfig {
            modules_dir: Some("/nonexistent/modules".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("modules directory /nonexistent/modules: "),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("notamodule")).unwrap();
        std::fs::create_dir_all(dir.path().join("cpanel")).unwrap();
        std::fs::write(dir.path().join("cpanel/cpanel.php"), "<?php").unwrap();
        let r = ModuleRegistry::load(RegistryConfig {
            modules_dir: Some(dir.path().into()),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(r.names(), BUILTIN_NAMES);
        assert_eq!(r.modules().len(), BUILTIN_NAMES.len());
        assert_eq!(r.get("cpanel").unwrap().kind(), ModuleKind::Builtin);
    }
}
