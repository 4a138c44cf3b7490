//! Application functions the admin pages need beyond the CLI's: saving a server or a
//! product with an audit event, turning a page's checkbox fields into a plan selection (fast
//! for 100,000 items), and the CSV export of a run's items (guarded against spreadsheet
//! formula injection).

use std::collections::{BTreeMap, HashSet};

use serversync_core::analysis::{Action, Category};
use serversync_core::model::{ProductId, Secret, Server, ServerId};
use serversync_core::module::format_created;
use serversync_core::plan::{Selection, Selector};
use serversync_store::NewAuditEvent;

use crate::items::{ItemQuery, RunView};
use crate::records::{product_json, server_json};
use crate::{App, AppError, Result};

/// A server as an administrator entered it. Empty `password` / `access_hash` keep the
/// stored secrets (secrets are write-only). `Debug` shows whether a secret was given, never
/// the secret.
#[derive(Clone, Default)]
pub struct ServerInput {
    /// `None` creates a server.
    pub id: Option<ServerId>,
    pub name: String,
    pub module: String,
    pub hostname: String,
    pub ip_address: String,
    pub port: Option<u16>,
    pub secure: bool,
    pub tls_verify: bool,
    pub username: String,
    pub password: String,
    pub access_hash: String,
    pub disabled: bool,
}

impl std::fmt::Debug for ServerInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given = |s: &str| if s.is_empty() { "(keep)" } else { "(redacted)" };
        f.debug_struct("ServerInput")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("module", &self.module)
            .field("hostname", &self.hostname)
            .field("ip_address", &self.ip_address)
            .field("port", &self.port)
            .field("secure", &self.secure)
            .field("tls_verify", &self.tls_verify)
            .field("username", &self.username)
            .field("password", &given(&self.password))
            .field("access_hash", &given(&self.access_hash))
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// A product's module settings as an administrator entered them.
#[derive(Clone, Debug, Default)]
pub struct ProductInput {
    pub id: ProductId,
    pub name: String,
    pub module: String,
    /// `configoption1..24`; blank values are removed.
    pub config_options: BTreeMap<String, String>,
}

fn known_module(app: &App, module: &str) -> Result<()> {
    let names = app.module_names();
    if names.iter().any(|n| n == module) {
        Ok(())
    } else {
        Err(AppError::Invalid(format!(
            "module: unknown module {module:?} (known: {})",
            names.join(", ")
        )))
    }
}

impl App {
    /// Creates or updates a server from an administrator's input, with an audit event
    /// (`server_add` / `server_edit`, before/after without secrets; the note says which
    /// secrets were replaced). Returns the server's id.
    pub async fn save_server_input(&self, input: &ServerInput) -> Result<ServerId> {
        let name = input.name.trim();
        if name.is_empty() {
            return Err(AppError::Invalid("name: a server needs a name".into()));
        }
        known_module(self, &input.module)?;
        if input.hostname.trim().is_empty() {
            return Err(AppError::Invalid(
                "hostname: a server needs a hostname".into(),
            ));
        }
        // The records document's rules, for a server entered by hand.
        let problems = [
            ("name", crate::records::control_problem(name)),
            (
                "hostname",
                crate::records::hostname_problem(input.hostname.trim()),
            ),
            ("username", crate::records::control_problem(&input.username)),
            (
                "port",
                (input.port == Some(0)).then(|| "0 is not a port number (1 to 65535)".into()),
            ),
        ];
        if let Some((field, Some(m))) = problems.into_iter().find(|(_, m)| m.is_some()) {
            return Err(AppError::Invalid(format!("{field}: {m}")));
        }
        let before = match input.id {
            Some(id) => Some(self.store.server_by_id(id).await?),
            None => None,
        };
        let server = Server {
            id: input.id.unwrap_or(0),
            name: name.to_string(),
            module: input.module.clone(),
            hostname: input.hostname.trim().to_string(),
            ip_address: input.ip_address.trim().to_string(),
            port: input.port,
            secure: input.secure,
            tls_verify: input.tls_verify,
            username: input.username.trim().to_string(),
            password: Secret::new(input.password.clone()),
            access_hash: Secret::new(input.access_hash.clone()),
            disabled: input.disabled,
        };
        let mut replaced = Vec::new();
        if !input.password.is_empty() {
            replaced.push("password");
        }
        if !input.access_hash.is_empty() {
            replaced.push("access hash");
        }
        // The event is written in the save's transaction, with the id the save assigned.
        let audit = |id: &ServerId| {
            let mut after = server_json(&server);
            after["id"] = (*id).into();
            NewAuditEvent {
                actor: self.actor.clone(),
                action: if before.is_some() {
                    "server_edit"
                } else {
                    "server_add"
                }
                .into(),
                server_id: Some(*id),
                before: before.as_ref().map(|s| server_json(s).to_string()),
                after: Some(after.to_string()),
                note: (!replaced.is_empty())
                    .then(|| format!("{} replaced", replaced.join(" and "))),
                ..Default::default()
            }
        };
        let id = self.store.save_server(&server, &audit).await?;
        Ok(id)
    }

    /// Updates a product's name, module and module settings (`configoption1..24`: this is
    /// where an unmapped package gets mapped), with a `product_edit` audit event.
    pub async fn save_product_input(&self, input: &ProductInput) -> Result<ProductId> {
        let name = input.name.trim();
        if name.is_empty() {
            return Err(AppError::Invalid("name: a product needs a name".into()));
        }
        known_module(self, &input.module)?;
        for k in input.config_options.keys() {
            let ok = k
                .strip_prefix("configoption")
                .and_then(|n| n.parse::<u8>().ok())
                .is_some_and(|n| (1..=24).contains(&n));
            if !ok {
                return Err(AppError::Invalid(format!(
                    "{k}: not a module setting (configoption1..24)"
                )));
            }
        }
        let before = self
            .store
            .products()
            .await?
            .into_iter()
            .find(|p| p.id == input.id)
            .ok_or_else(|| {
                AppError::Store(serversync_store::StoreError::NotFound(format!(
                    "product {}",
                    input.id
                )))
            })?;
        let mut product = before.clone();
        product.name = name.to_string();
        product.module = input.module.clone();
        product.config_options = input
            .config_options
            .iter()
            .map(|(k, v)| (k.clone(), v.trim().to_string()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let audit = |_: &ProductId| NewAuditEvent {
            actor: self.actor.clone(),
            action: "product_edit".into(),
            before: Some(product_json(&before).to_string()),
            after: Some(product_json(&product).to_string()),
            ..Default::default()
        };
        let id = self.store.save_product(&product, &audit).await?;
        Ok(id)
    }
}

/// Turns a page's selection fields into a plan selection: `choices` are `"{index}:{action}"`
/// (one item), `all` are `"{category}:{action}"` (every item of the category offering the
/// action, across all pages). Duplicates are ignored. An unknown item, an item that does not
/// offer the action, or a malformed value is an error naming it. Linear in the selection.
/// Returns the selection and the number of selected (item, action) pairs.
///
/// `states` (by item index) rule out items already applied or stale: a choice of one is an
/// error, a whole category skips them.
pub fn selection_from_form(
    view: &RunView,
    choices: &[String],
    all: &[String],
    states: &[crate::states::ItemStatus],
) -> Result<(Selection, usize)> {
    let action_of = |a: &str, whole: &str| {
        a.trim()
            .parse::<Action>()
            .map_err(|e| AppError::Invalid(format!("selection {whole:?}: {e}")))
    };
    let mut picked: Vec<(usize, Action)> = Vec::new();
    for c in choices {
        let (i, action) = c
            .split_once(':')
            .and_then(|(i, a)| i.trim().parse::<usize>().ok().map(|i| (i, a)))
            .ok_or_else(|| AppError::Invalid(format!("selection {c:?} is not INDEX:ACTION")))?;
        picked.push((i, action_of(action, c)?));
    }
    for a in all {
        let (category, action) = a
            .split_once(':')
            .ok_or_else(|| AppError::Invalid(format!("selection {a:?} is not CATEGORY:ACTION")))?;
        let category = Category::ALL
            .into_iter()
            .find(|k| k.as_str() == category.trim())
            .ok_or_else(|| {
                AppError::Invalid(format!("selection {a:?}: unknown category {category:?}"))
            })?;
        let action = action_of(action, a)?;
        picked.extend(
            view.offering(category, action)
                .into_iter()
                .filter(|i| states.get(*i).is_none_or(|s| s.state.selectable()))
                .map(|i| (i, action)),
        );
    }
    let mut seen: HashSet<(usize, Action)> = HashSet::new();
    let mut selection = Selection::default();
    let mut n = 0;
    for &(i, action) in &picked {
        if !seen.insert((i, action)) {
            continue;
        }
        let it = view
            .items
            .get(i)
            .ok_or_else(|| AppError::Invalid(format!("run {} has no item {i}", view.run_id)))?;
        crate::states::check_selectable(view, i, states)?;
        if !it.actions.contains(&action) {
            return Err(AppError::Invalid(format!(
                "item {i} ({} {}) does not offer {}",
                it.category.as_str(),
                it.unique_identifier.as_deref().unwrap_or(""),
                action.as_str()
            )));
        }
        let target = it.target(action).ok_or_else(|| {
            AppError::Invalid(format!("item {i} has no target for {}", action.as_str()))
        })?;
        match selection.slot(action) {
            Some(Selector::Only(v)) => {
                // Several items may share a target (duplicates): the target once.
                if !v.contains(&target) {
                    v.push(target);
                }
            }
            slot => *slot = Some(Selector::Only(vec![target])),
        }
        n += 1;
    }
    Ok((selection, n))
}

/// A CSV cell: quoted when needed, and prefixed with `'` when it starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return (spreadsheet formula injection).
pub fn csv_cell(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The items of a run matching `q` (category and search; paging ignored) as CSV, one row
/// per item, with a header row.
pub fn items_csv(view: &RunView, q: &ItemQuery) -> String {
    let header = [
        "category",
        "unique_identifier",
        "remote_username",
        "remote_domain",
        "remote_product",
        "remote_primary_ip",
        "remote_status",
        "remote_created",
        "remote_email",
        "remote_owner",
        "service_id",
        "billing_domain",
        "billing_username",
        "billing_dedicated_ip",
        "billing_status",
        "billing_regdate",
        "billing_client_email",
        "differing_fields",
        "actions",
        "notes",
    ];
    let mut out = header.join(",");
    out.push_str("\r\n");
    // `query` clamps per_page; walk the pages.
    let mut page = 1;
    loop {
        let p = view.query(&ItemQuery {
            page,
            per_page: 1000,
            ..q.clone()
        });
        for (_, it) in &p.items {
            let r = it.remote.as_ref();
            let b = it.billing.as_ref();
            let cells = [
                it.category.as_str().to_string(),
                it.unique_identifier.clone().unwrap_or_default(),
                r.map(|r| r.username.clone()).unwrap_or_default(),
                r.map(|r| r.domain.clone()).unwrap_or_default(),
                r.map(|r| r.product.clone()).unwrap_or_default(),
                r.map(|r| r.primary_ip.clone()).unwrap_or_default(),
                r.map(|r| r.status.as_str().to_string()).unwrap_or_default(),
                r.and_then(|r| r.created)
                    .map(format_created)
                    .unwrap_or_default(),
                r.and_then(|r| r.email.clone()).unwrap_or_default(),
                r.and_then(|r| r.owner.clone()).unwrap_or_default(),
                it.service_id.map(|i| i.to_string()).unwrap_or_default(),
                b.map(|b| b.domain.clone()).unwrap_or_default(),
                b.map(|b| b.username.clone()).unwrap_or_default(),
                b.map(|b| b.dedicated_ip.clone()).unwrap_or_default(),
                b.map(|b| b.status.as_str().to_string()).unwrap_or_default(),
                b.and_then(|b| b.regdate.clone()).unwrap_or_default(),
                b.and_then(|b| b.client_email.clone()).unwrap_or_default(),
                it.diffs
                    .iter()
                    .map(|d| d.field.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                it.actions
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                it.notes.join("; "),
            ];
            let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&row.join(","));
            out.push_str("\r\n");
        }
        if page >= p.pages() {
            break;
        }
        page += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_guarded_and_quoted() {
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("ann.test"), "ann.test");
    }
}
