//! Plans: which analysis items an administrator selected, which are refused and why, the
//! guards of DESIGN.md §4, and the pure record changes each action makes.

use std::collections::HashMap;

use time::Date;

use crate::analysis::{
    identifier_key, package_matches, Action, Analysis, AnalysisInput, Category, Field, Item,
};
use crate::model::{Client, ClientId, Product, Server, Service, ServiceId, ServiceStatus};
use crate::module::{RemoteAccount, RemoteStatus, UniqueIdField};

/// What to select for one action: everything that offers it, or the given targets
/// (unique identifiers for `import`/`sync`, service ids for `terminate`/`move`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    All,
    Only(Vec<String>),
}

impl Selector {
    /// `["all"]` → `All`, anything else → `Only`.
    pub fn from_args(args: &[String]) -> Selector {
        if args.len() == 1 && args[0].eq_ignore_ascii_case("all") {
            Selector::All
        } else {
            Selector::Only(args.to_vec())
        }
    }
}

/// The administrator's selection from one analysis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub import: Option<Selector>,
    pub sync: Option<Selector>,
    pub terminate: Option<Selector>,
    pub moves: Option<Selector>,
    /// `terminated_in_billing` services to make live again (unique identifiers).
    pub reactivate: Option<Selector>,
}

impl Selection {
    /// The selector of `action`.
    pub fn slot(&mut self, action: Action) -> &mut Option<Selector> {
        match action {
            Action::Import => &mut self.import,
            Action::Sync => &mut self.sync,
            Action::Terminate => &mut self.terminate,
            Action::Move => &mut self.moves,
            Action::Reactivate => &mut self.reactivate,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.import.is_none()
            && self.sync.is_none()
            && self.terminate.is_none()
            && self.moves.is_none()
            && self.reactivate.is_none()
    }
}

/// A selected action on an item (index into [`Analysis::items`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    pub action: Action,
    pub item: usize,
}

/// A selected target that cannot be applied, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub action: Action,
    /// The unique identifier or service id as given (or of the item).
    pub target: String,
    pub reason: String,
}

/// Selected actions and refusals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Planned>,
    pub refused: Vec<Refusal>,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.actions.iter().filter(|p| p.action == action).count()
    }
}

/// Resolves a selection against an analysis. Targets that match no item, or an item that does
/// not offer the action, are refused with the reason (e.g. `ann.test is in_sync: nothing to
/// sync`). Each item is planned at most once per action.
pub fn select(analysis: &Analysis, input: &AnalysisInput<'_>, selection: &Selection) -> Plan {
    let mut plan = Plan::default();
    let field = &input.meta.unique_identifier_field;
    let mut by_key: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_service: HashMap<ServiceId, Vec<usize>> = HashMap::new();
    for (i, it) in analysis.items.iter().enumerate() {
        by_key.entry(it.key.as_ref()).or_default().push(i);
        if let Some(id) = it.service_id(input) {
            by_service.entry(id).or_default().push(i);
        }
    }
    let parts: [(Action, &Option<Selector>); 5] = [
        (Action::Import, &selection.import),
        (Action::Sync, &selection.sync),
        (Action::Reactivate, &selection.reactivate),
        (Action::Terminate, &selection.terminate),
        (Action::Move, &selection.moves),
    ];
    for (action, sel) in parts {
        let Some(sel) = sel else { continue };
        match sel {
            Selector::All => {
                for (i, it) in analysis.items.iter().enumerate() {
                    if it.actions.contains(&action) {
                        plan.actions.push(Planned { action, item: i });
                    }
                }
            }
            Selector::Only(targets) => {
                let mut seen = std::collections::HashSet::new();
                for t in targets {
                    let found: Vec<usize> = match action {
                        Action::Import | Action::Sync | Action::Reactivate => {
                            identifier_key(field, t)
                                .and_then(|k| by_key.get(k.as_str()))
                                .cloned()
                                .unwrap_or_default()
                        }
                        Action::Terminate | Action::Move => match t.trim().parse::<ServiceId>() {
                            Ok(id) => by_service.get(&id).cloned().unwrap_or_default(),
                            Err(_) => {
                                plan.refused.push(Refusal {
                                    action,
                                    target: t.clone(),
                                    reason: format!("{t:?} is not a service id"),
                                });
                                continue;
                            }
                        },
                    };
                    let offering: Vec<usize> = found
                        .iter()
                        .copied()
                        .filter(|&i| analysis.items[i].actions.contains(&action))
                        .collect();
                    if offering.is_empty() {
                        let what = match action {
                            Action::Import | Action::Sync | Action::Reactivate => format!(
                                "{} {t}",
                                input.meta.unique_identifier_display_name.to_lowercase()
                            ),
                            _ => format!("service {t}"),
                        };
                        let reason = match found.first() {
                            None => format!("no item for {what} in this run"),
                            Some(&i) => {
                                let it = &analysis.items[i];
                                let why = if it.category == Category::NotOnServer
                                    && action == Action::Terminate
                                {
                                    "the listing was incomplete".to_string()
                                } else if it.category == Category::TerminatedInBilling
                                    && action == Action::Sync
                                {
                                    "reactivating it is its own action (reactivate)".to_string()
                                } else {
                                    format!("nothing to {}", action.as_str())
                                };
                                format!("{what} is {}: {why}", it.category.as_str())
                            }
                        };
                        plan.refused.push(Refusal {
                            action,
                            target: t.clone(),
                            reason,
                        });
                    }
                    for i in offering {
                        if seen.insert(i) {
                            plan.actions.push(Planned { action, item: i });
                        }
                    }
                }
            }
        }
    }
    plan
}

/// Limits applied before a plan runs (DESIGN.md §4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Guards {
    /// Largest share of the server's live services one apply may terminate (default 0.25).
    pub max_termination_share: f64,
    /// Largest share of the target server's live services one apply may move onto it
    /// (default 0.25).
    pub max_move_share: f64,
    /// Largest share of the previous complete listing's accounts that may be missing at
    /// once before a listing counts as shrunken ([`crate::shrink::shrinkage`]; default 0.5).
    pub max_shrink_share: f64,
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            max_termination_share: 0.25,
            max_move_share: 0.25,
            max_shrink_share: 0.5,
        }
    }
}

/// The guard a plan's moves break, as one sentence; `None` when none is. The target server is
/// the analysed one; its live services are [`Analysis::live_services`]. Blocks the plan's
/// moves unless forced.
pub fn move_guard_violation(analysis: &Analysis, plan: &Plan, guards: &Guards) -> Option<String> {
    let moves = plan.count(Action::Move);
    if moves == 0 {
        return None;
    }
    let live = analysis.live_services.max(1) as f64;
    let share = moves as f64 / live;
    (share > guards.max_move_share).then(|| {
        format!(
            "{moves} moves are {:.0}% of the target server's {} live services, above the {:.0}% limit",
            share * 100.0,
            analysis.live_services,
            guards.max_move_share * 100.0
        )
    })
}

/// The guards a plan's terminations break, each as one sentence. Empty when none is broken.
/// These block the plan's terminations unless forced.
pub fn termination_guard_violations(
    analysis: &Analysis,
    accounts_listed: usize,
    plan: &Plan,
    guards: &Guards,
) -> Vec<String> {
    let terminations = plan.count(Action::Terminate);
    let mut v = Vec::new();
    if terminations == 0 {
        return v;
    }
    if accounts_listed == 0 && analysis.live_services > 0 {
        v.push(format!(
            "the server listed 0 accounts while billing has {} live services on it",
            analysis.live_services
        ));
    }
    let live = analysis.live_services.max(1) as f64;
    let share = terminations as f64 / live;
    if share > guards.max_termination_share {
        v.push(format!(
            "{terminations} terminations are {:.0}% of the server's {} live services, above the {:.0}% limit",
            share * 100.0,
            analysis.live_services,
            guards.max_termination_share * 100.0
        ));
    }
    v
}

/// Clients by lower-cased, trimmed e-mail, for exact case-insensitive matching.
pub struct ClientIndex<'a> {
    by_email: HashMap<String, Vec<&'a Client>>,
    by_id: HashMap<ClientId, &'a Client>,
}

impl<'a> ClientIndex<'a> {
    pub fn new(clients: &'a [Client]) -> Self {
        let mut by_email: HashMap<String, Vec<&Client>> = HashMap::with_capacity(clients.len());
        let by_id = clients.iter().map(|c| (c.id, c)).collect();
        for c in clients {
            let k = c.email.trim().to_lowercase();
            if !k.is_empty() {
                by_email.entry(k).or_default().push(c);
            }
        }
        ClientIndex { by_email, by_id }
    }

    /// The e-mail of client `id`, if it exists.
    pub fn email_of(&self, id: ClientId) -> Option<String> {
        self.by_id.get(&id).map(|c| c.email.clone())
    }

    /// Clients whose e-mail equals `email` (case-insensitive, exact; never a partial match).
    pub fn lookup(&self, email: &str) -> &[&'a Client] {
        self.by_email
            .get(&email.trim().to_lowercase())
            .map_or(&[], |v| v.as_slice())
    }
}

/// Products of the module whose product-field value matches a remote package (with the
/// reseller prefix rule of [`package_matches`]).
pub fn matching_products<'p>(
    products: &'p [Product],
    product_field: &str,
    package: &str,
    owner: Option<&str>,
) -> Vec<&'p Product> {
    if package.trim().is_empty() {
        return Vec::new();
    }
    products
        .iter()
        .filter(|p| {
            p.config_option(product_field)
                .is_some_and(|v| package_matches(package, owner, v))
        })
        .collect()
}

/// How a remote account's package maps to the module's products.
#[derive(Debug, PartialEq, Eq)]
pub enum ProductMatch<'p> {
    One(&'p Product),
    None,
    /// Several products map to the package (their ids): an ambiguity, never a pick.
    Several(Vec<i64>),
}

/// The product a remote account's package maps to (see [`matching_products`]).
pub fn product_for<'p>(
    products: &'p [Product],
    product_field: &str,
    remote: &RemoteAccount,
) -> ProductMatch<'p> {
    match matching_products(
        products,
        product_field,
        &remote.product,
        remote.owner.as_deref(),
    )
    .as_slice()
    {
        [one] => ProductMatch::One(one),
        [] => ProductMatch::None,
        several => ProductMatch::Several(several.iter().map(|p| p.id).collect()),
    }
}

/// The billing status for a remote status.
pub fn billing_status(remote: RemoteStatus) -> ServiceStatus {
    match remote {
        RemoteStatus::Active => ServiceStatus::Active,
        RemoteStatus::Suspended => ServiceStatus::Suspended,
    }
}

/// The dedicated IP to record for a remote primary IP: empty when it is the server's own IP.
pub fn dedicated_ip_for(remote_ip: &str, server: &Server) -> String {
    let ip = remote_ip.trim();
    if ip.is_empty() || ip == server.ip_address.trim() {
        String::new()
    } else {
        ip.to_string()
    }
}

/// The billing cycles a service may have (WHMCS `tblhosting.billingcycle`).
pub const BILLING_CYCLES: [&str; 8] = [
    "Free Account",
    "One Time",
    "Monthly",
    "Quarterly",
    "Semi-Annually",
    "Annually",
    "Biennially",
    "Triennially",
];

/// Longest integer part of an amount: WHMCS keeps amounts as `decimal(16,2)`.
pub const MAX_AMOUNT_DIGITS: usize = 14;

/// Whether `a` is a money amount: 1 to [`MAX_AMOUNT_DIGITS`] digits, optionally `.` and one
/// or two digits (`9.99`). No sign, exponent, `NaN` or `inf`.
pub fn is_amount(a: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let (i, f) = a.split_once('.').unwrap_or((a, "0"));
    digits(i) && i.len() <= MAX_AMOUNT_DIGITS && digits(f) && f.len() <= 2
}

/// Billing defaults for imported services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportDefaults {
    /// Client for accounts without a usable e-mail; `None` refuses such items.
    pub unassigned_client: Option<ClientId>,
    /// Default `Free Account`.
    pub billing_cycle: String,
    /// Default `0.00`.
    pub amount: String,
    pub next_due_date: Option<Date>,
    /// Create a product for a package no product maps to.
    pub create_missing_products: bool,
}

impl ImportDefaults {
    /// Checks the billing cycle is one of [`BILLING_CYCLES`] and the amount [`is_amount`];
    /// the error names the field.
    pub fn validate(&self) -> Result<(), crate::CoreError> {
        if !BILLING_CYCLES.contains(&self.billing_cycle.as_str()) {
            return Err(crate::CoreError::Invalid(format!(
                "billing cycle {:?} is not one of {}",
                self.billing_cycle,
                BILLING_CYCLES.join(", ")
            )));
        }
        if !is_amount(&self.amount) {
            return Err(crate::CoreError::Invalid(format!(
                "amount {:?} is not an amount like 9.99",
                self.amount
            )));
        }
        Ok(())
    }
}

impl Default for ImportDefaults {
    fn default() -> Self {
        ImportDefaults {
            unassigned_client: None,
            billing_cycle: "Free Account".into(),
            amount: "0.00".into(),
            next_due_date: None,
            create_missing_products: false,
        }
    }
}

/// The service an import creates (ids are assigned by the store; `client_id`/`product_id`
/// are placeholders the caller fills). The second value is a warning when the remote account
/// had no creation date and today was used.
pub fn imported_service(
    remote: &RemoteAccount,
    server: &Server,
    field: &UniqueIdField,
    defaults: &ImportDefaults,
    today: Date,
) -> (Service, Option<String>) {
    let (regdate, warning) = match remote.created {
        Some(c) => (c.date(), None),
        None => (
            today,
            Some("the server gave no creation date: registration date set to today".to_string()),
        ),
    };
    let mut custom_fields = std::collections::BTreeMap::new();
    if let UniqueIdField::CustomField(name) = field {
        custom_fields.insert(name.clone(), remote.unique_identifier.clone());
    }
    (
        Service {
            id: 0,
            client_id: 0,
            product_id: 0,
            server_id: Some(server.id),
            domain: remote.domain.trim().to_string(),
            username: remote.username.trim().to_string(),
            dedicated_ip: dedicated_ip_for(&remote.primary_ip, server),
            regdate: Some(regdate),
            status: billing_status(remote.status),
            billing_cycle: defaults.billing_cycle.clone(),
            amount: defaults.amount.clone(),
            next_due_date: defaults.next_due_date,
            termination_date: None,
            custom_fields,
            version: 0,
        },
        warning,
    )
}

/// The service after a sync: the remote values of the item's differing fields written
/// (never the e-mail). `product` is the product the remote package maps to, if exactly one
/// does; otherwise the product is left and a note says why. Returns the new service and notes.
pub fn synced_service(
    item: &Item,
    current: &Service,
    remote: &RemoteAccount,
    server: &Server,
    field: &UniqueIdField,
    product: Result<&Product, String>,
) -> (Service, Vec<String>) {
    let mut s = current.clone();
    let mut notes = Vec::new();
    for d in &item.diffs {
        match d.field {
            Field::UniqueIdentifier => {
                if let UniqueIdField::CustomField(name) = field {
                    s.custom_fields
                        .insert(name.clone(), remote.unique_identifier.clone());
                }
            }
            Field::Domain => s.domain = remote.domain.trim().to_string(),
            Field::Username => s.username = remote.username.trim().to_string(),
            Field::PrimaryIp => s.dedicated_ip = dedicated_ip_for(&remote.primary_ip, server),
            Field::Status => s.status = billing_status(remote.status),
            Field::Created => {
                if let Some(c) = remote.created {
                    s.regdate = Some(c.date());
                }
            }
            Field::Product => match &product {
                Ok(p) => s.product_id = p.id,
                Err(why) => notes.push(format!("product not changed: {why}")),
            },
            Field::Email => {}
        }
    }
    if item.category == Category::TerminatedInBilling {
        // Reactivate (its own action): the account is live on the server.
        s.status = billing_status(remote.status);
        s.termination_date = None;
    }
    (s, notes)
}

/// The service after a termination: `Terminated`, terminated `today`.
pub fn terminated_service(current: &Service, today: Date) -> Service {
    let mut s = current.clone();
    s.status = ServiceStatus::Terminated;
    s.termination_date = Some(today);
    s
}

/// The service after a move to `server`.
pub fn moved_service(current: &Service, server: &Server) -> Service {
    let mut s = current.clone();
    s.server_id = Some(server.id);
    s
}

#[cfg(test)]
mod tests;
