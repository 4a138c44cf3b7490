//! The analysis of one server (DESIGN.md §3): remote accounts against the server's services.
//!
//! [`analyse`] is a pure function: no IO, deterministic output order (items sorted by
//! category, identifier key, service id), and linear in accounts + services (hash indexes on
//! the normalised identifier keys).

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Serialize, Serializer};

use crate::model::{format_date, ServerId, Service, ServiceId, ServiceStatus};
use crate::module::{MetaData, RemoteAccount, RemoteStatus, UniqueIdField};
use crate::normalize::{
    domain_key, domain_key_cow, fast_trim as t, strip_www, text_key, text_key_cow,
};

/// A service as the analysis sees it: the service itself, the product-field value of its
/// product (the remote package name it should have, e.g. `configoption1`), and its client's
/// e-mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingRecord {
    pub service: Service,
    /// `None` when the product has no value in the module's product field (an unmapped product).
    pub package: Option<String>,
    pub client_email: Option<String>,
}

/// The note of a `moved` item: where billing has the service. Core knows servers by id
/// only; a caller that knows the name passes it (`billing has this service on web2 (server
/// 2)`), and can find the note written without it as `moved_note(from, None)`.
pub fn moved_note(from: Option<ServerId>, name: Option<&str>) -> String {
    match (from, name) {
        (Some(id), Some(name)) => format!("billing has this service on {name} (server {id})"),
        (Some(id), None) => format!("billing has this service on server {id}"),
        (None, _) => "billing has this service on another server".into(),
    }
}

/// Everything the analysis of one server needs.
#[derive(Clone, Copy, Debug)]
pub struct AnalysisInput<'a> {
    pub meta: &'a MetaData,
    /// The server's own IP: the primary IP of services without a dedicated IP.
    pub server_ip: &'a str,
    /// The remote accounts listed.
    pub accounts: &'a [RemoteAccount],
    /// Whether the listing was complete (no skipped record). An incomplete listing never
    /// offers a termination.
    pub listing_complete: bool,
    /// Every service of this server, any status.
    pub services: &'a [BillingRecord],
    /// The live services of the other servers of the same module (for `moved`).
    pub other_live: &'a [BillingRecord],
}

/// Item categories, in display order.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    InSync,
    OutOfSync,
    Duplicate,
    TerminatedInBilling,
    Moved,
    NotInBilling,
    Conflict,
    NotOnServer,
    PendingNotOnServer,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::InSync,
        Category::OutOfSync,
        Category::Duplicate,
        Category::TerminatedInBilling,
        Category::Moved,
        Category::NotInBilling,
        Category::Conflict,
        Category::NotOnServer,
        Category::PendingNotOnServer,
    ];

    /// The snake_case name used in the analysis document.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::InSync => "in_sync",
            Category::OutOfSync => "out_of_sync",
            Category::Duplicate => "duplicate",
            Category::TerminatedInBilling => "terminated_in_billing",
            Category::Moved => "moved",
            Category::NotInBilling => "not_in_billing",
            Category::Conflict => "conflict",
            Category::NotOnServer => "not_on_server",
            Category::PendingNotOnServer => "pending_not_on_server",
        }
    }

    /// The category from its snake_case name ([`Category::as_str`]); `None` for any other
    /// text (an analysis document of a newer version, a hand-edited query string).
    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.iter().copied().find(|c| c.as_str() == name)
    }

    /// The label shown to people on the pages ("Out of sync"); scripts keep
    /// [`Category::as_str`] (JSON, `--json`, CSV, query strings, element ids).
    pub fn label(self) -> &'static str {
        match self {
            Category::InSync => "In sync",
            Category::OutOfSync => "Out of sync",
            Category::Duplicate => "Duplicate in billing",
            Category::TerminatedInBilling => "Terminated in billing but live",
            Category::Moved => "Moved from another server",
            Category::NotInBilling => "Not in billing",
            Category::Conflict => "Conflict",
            Category::NotOnServer => "Not on the server",
            Category::PendingNotOnServer => "Pending, not on the server",
        }
    }

    /// Whether items of this category are drift (everything but `in_sync`).
    pub fn is_drift(self) -> bool {
        self != Category::InSync
    }

    /// Whether this category is the one item of a remote account (all but `duplicate`,
    /// `not_on_server` and `pending_not_on_server`).
    pub fn is_primary(self) -> bool {
        !matches!(
            self,
            Category::Duplicate | Category::NotOnServer | Category::PendingNotOnServer
        )
    }
}

/// An action an administrator may select for an item.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Sync,
    Import,
    Terminate,
    Move,
    /// A `terminated_in_billing` service made live again: its own action, never part of
    /// `sync` (a reactivation is a billing decision, not a field correction).
    Reactivate,
}

impl std::str::FromStr for Action {
    type Err = crate::CoreError;
    /// `sync`, `import`, `terminate`, `move` or `reactivate`; anything else names itself.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Action::Sync,
            Action::Import,
            Action::Terminate,
            Action::Move,
            Action::Reactivate,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
        .ok_or_else(|| crate::CoreError::Invalid(format!("unknown action {s:?}")))
    }
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Sync => "sync",
            Action::Import => "import",
            Action::Terminate => "terminate",
            Action::Move => "move",
            Action::Reactivate => "reactivate",
        }
    }
}

/// A compared field (`diffs[].field` of the analysis document).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    UniqueIdentifier,
    Domain,
    Username,
    Product,
    PrimaryIp,
    Status,
    Created,
    /// Informational: shown, never synced, never makes an item `out_of_sync` on its own.
    Email,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::UniqueIdentifier => "unique_identifier",
            Field::Domain => "domain",
            Field::Username => "username",
            Field::Product => "product",
            Field::PrimaryIp => "primary_ip",
            Field::Status => "status",
            Field::Created => "created",
            Field::Email => "email",
        }
    }
}

/// One differing field: the remote value and the billing value, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub field: Field,
    pub remote: String,
    pub billing: String,
}

/// One line of the analysis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub category: Category,
    /// The normalised identifier key (remote side, else billing side); empty when none.
    pub key: String,
    /// Index into [`AnalysisInput::accounts`]; `None` for `not_on_server` and
    /// `pending_not_on_server`.
    pub remote: Option<usize>,
    /// The billing record concerned (`None` for `not_in_billing` and `conflict`).
    pub billing: Option<BillingRef>,
    pub diffs: Vec<Diff>,
    /// The actions offered (a constant list: no allocation per item).
    pub actions: &'static [Action],
    pub notes: Vec<String>,
    /// For `conflict`: the services of this server that carry the conflicting key; they are
    /// accounted for by this item and offered for nothing.
    pub related_service_ids: Vec<ServiceId>,
}

/// Where an item's billing record comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BillingRef {
    /// Index into [`AnalysisInput::services`].
    ThisServer(usize),
    /// Index into [`AnalysisInput::other_live`] (for `moved`).
    OtherServer(usize),
}

/// Item counts per category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    pub in_sync: usize,
    pub out_of_sync: usize,
    pub duplicate: usize,
    pub terminated_in_billing: usize,
    pub moved: usize,
    pub not_in_billing: usize,
    pub conflict: usize,
    pub not_on_server: usize,
    pub pending_not_on_server: usize,
}

impl Counts {
    /// The count of one category.
    pub fn get(&self, c: Category) -> usize {
        match c {
            Category::InSync => self.in_sync,
            Category::OutOfSync => self.out_of_sync,
            Category::Duplicate => self.duplicate,
            Category::TerminatedInBilling => self.terminated_in_billing,
            Category::Moved => self.moved,
            Category::NotInBilling => self.not_in_billing,
            Category::Conflict => self.conflict,
            Category::NotOnServer => self.not_on_server,
            Category::PendingNotOnServer => self.pending_not_on_server,
        }
    }

    fn bump(&mut self, c: Category) {
        let slot = match c {
            Category::InSync => &mut self.in_sync,
            Category::OutOfSync => &mut self.out_of_sync,
            Category::Duplicate => &mut self.duplicate,
            Category::TerminatedInBilling => &mut self.terminated_in_billing,
            Category::Moved => &mut self.moved,
            Category::NotInBilling => &mut self.not_in_billing,
            Category::Conflict => &mut self.conflict,
            Category::NotOnServer => &mut self.not_on_server,
            Category::PendingNotOnServer => &mut self.pending_not_on_server,
        };
        *slot += 1;
    }

    /// Items that are drift (everything but `in_sync`).
    pub fn drift(&self) -> usize {
        Category::ALL
            .iter()
            .filter(|c| c.is_drift())
            .map(|c| self.get(*c))
            .sum()
    }
}

/// The result of [`analyse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    pub items: Vec<Item>,
    pub counts: Counts,
    /// Live (`Active`/`Suspended`/`Pending`) services of this server in billing.
    pub live_services: usize,
    /// Server-level warnings (e.g. zero accounts listed while billing has live services).
    pub warnings: Vec<String>,
}

/// The billing side's unique identifier of a service for `field`.
pub fn billing_identifier<'s>(field: &UniqueIdField, s: &'s Service) -> &'s str {
    match field {
        UniqueIdField::Domain => &s.domain,
        UniqueIdField::Username => &s.username,
        UniqueIdField::CustomField(name) => s.custom_fields.get(name).map_or("", |v| v.as_str()),
    }
}

/// The comparison key of a unique identifier for `field` (domain rules or case-insensitive
/// text); `None` when unusable.
pub fn identifier_key(field: &UniqueIdField, raw: &str) -> Option<String> {
    match field {
        UniqueIdField::Domain => domain_key(raw),
        _ => text_key(raw),
    }
}

/// Whether a remote package equals a billing package value: case-insensitive, after removing
/// a `<owner>_` reseller prefix only when it is exactly the account's owner.
pub fn package_matches(remote: &str, owner: Option<&str>, billing: &str) -> bool {
    let r = t(remote);
    let b = t(billing);
    if eq_text(r, b) {
        return true;
    }
    match owner.map(str::trim).filter(|o| !o.is_empty()) {
        Some(o) => r
            .strip_prefix(o)
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|rest| eq_text(rest, b)),
        None => false,
    }
}

/// Case-insensitive equality of trimmed text, without allocating for ASCII.
fn eq_text(a: &str, b: &str) -> bool {
    let (a, b) = (t(a), t(b));
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

fn ip_eq(a: &str, b: &str) -> bool {
    let (a, b) = (t(a), t(b));
    if a == b {
        return true;
    }
    match (a.parse::<std::net::IpAddr>(), b.parse::<std::net::IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

fn service_status_matches(remote: RemoteStatus, billing: ServiceStatus) -> bool {
    matches!(
        (remote, billing),
        (RemoteStatus::Active, ServiceStatus::Active)
            | (RemoteStatus::Suspended, ServiceStatus::Suspended)
    )
}

/// Compares a remote account with a billing record on every compared field; returns the diffs
/// and how many compared fields were equal (for ranking candidates).
pub fn compare(
    meta: &MetaData,
    server_ip: &str,
    acc: &RemoteAccount,
    rec: &BillingRecord,
) -> (Vec<Diff>, usize) {
    compare_keyed(meta, server_ip, acc, rec, None)
}

/// [`compare`] with the domain keys of both sides already computed (the analysis has them
/// for the `domain` identifier field; recomputing them per pair doubled its cost).
fn compare_keyed(
    meta: &MetaData,
    server_ip: &str,
    acc: &RemoteAccount,
    rec: &BillingRecord,
    domain_keys: Option<(&str, Option<&str>)>,
) -> (Vec<Diff>, usize) {
    let s = &rec.service;
    let mut diffs = Vec::new();
    let mut equal = 0usize;
    // Values are turned into strings only for fields that differ.
    macro_rules! check {
        ($field:expr, $same:expr, $remote:expr, $billing:expr) => {
            if $same {
                equal += 1;
            } else {
                diffs.push(Diff {
                    field: $field,
                    remote: $remote.to_string(),
                    billing: $billing.to_string(),
                });
            }
        };
    }
    if let UniqueIdField::CustomField(_) = meta.unique_identifier_field {
        let b = billing_identifier(&meta.unique_identifier_field, s);
        check!(
            Field::UniqueIdentifier,
            eq_text(&acc.unique_identifier, b),
            &acc.unique_identifier,
            b
        );
    }
    if !t(&acc.domain).is_empty() {
        let same = match domain_keys {
            Some((r, b)) => Some(r) == b,
            None => domain_key_cow(&acc.domain) == domain_key_cow(&s.domain),
        };
        check!(Field::Domain, same, &acc.domain, &s.domain);
    }
    if !t(&acc.username).is_empty() {
        check!(
            Field::Username,
            eq_text(&acc.username, &s.username),
            &acc.username,
            &s.username
        );
    }
    if !t(&acc.product).is_empty() {
        let pkg = rec.package.as_deref().unwrap_or("");
        check!(
            Field::Product,
            !pkg.is_empty() && package_matches(&acc.product, acc.owner.as_deref(), pkg),
            &acc.product,
            pkg
        );
    }
    if !t(&acc.primary_ip).is_empty() {
        let ip = if t(&s.dedicated_ip).is_empty() {
            server_ip
        } else {
            s.dedicated_ip.as_str()
        };
        check!(
            Field::PrimaryIp,
            ip_eq(&acc.primary_ip, ip),
            &acc.primary_ip,
            ip
        );
    }
    check!(
        Field::Status,
        service_status_matches(acc.status, s.status),
        acc.status.as_str(),
        s.status.as_str()
    );
    if let Some(created) = acc.created {
        let same = Some(created.date()) == s.regdate;
        check!(
            Field::Created,
            same,
            format_date(created.date()),
            s.regdate.map(format_date).unwrap_or_default()
        );
    }
    if let Some(email) = acc.email.as_deref() {
        let billing = rec.client_email.as_deref().unwrap_or("");
        check!(Field::Email, eq_text(email, billing), email, billing);
    }
    (diffs, equal)
}

fn has_sync_diff(diffs: &[Diff]) -> bool {
    diffs.iter().any(|d| d.field != Field::Email)
}

/// FxHash (rustc's hasher): the analysis hashes millions of short keys, where SipHash's
/// flooding resistance buys nothing (keys come from our own panels and billing) and costs
/// most of the index time.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(i)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // FxHash leaves the low bits weak, and hashbrown picks buckets with them: mix once
        // (splitmix64's finaliser) so that similar keys do not pile into one probe chain.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

fn fx_map<K, V>(cap: usize) -> FxMap<K, V> {
    HashMap::with_capacity_and_hasher(cap, Default::default())
}

/// The comparison key of an identifier, borrowed when the input already is one.
fn key_cow<'a>(field: &UniqueIdField, raw: &'a str) -> Option<Cow<'a, str>> {
    match field {
        UniqueIdField::Domain => domain_key_cow(raw),
        _ => text_key_cow(raw),
    }
}

const NONE: u32 = u32::MAX;

/// Per key: the newest service with it (chained to older ones through `next`, so there is
/// no vector per key) and how many remote accounts carry it. One map serves both sides.
#[derive(Clone, Copy)]
struct Slot {
    first: u32,
    remote: u32,
}

struct KeyIndex<'a> {
    slots: FxMap<&'a str, Slot>,
    next: Vec<u32>,
}

impl<'a> KeyIndex<'a> {
    fn new(services: usize, keys: usize) -> Self {
        KeyIndex {
            slots: fx_map(keys),
            next: vec![NONE; services],
        }
    }
    fn insert_service(&mut self, key: &'a str, i: usize) {
        let slot = self.slots.entry(key).or_insert(Slot {
            first: NONE,
            remote: 0,
        });
        self.next[i] = slot.first;
        slot.first = i as u32;
    }
    fn count_remote(&mut self, key: &'a str) {
        self.slots
            .entry(key)
            .or_insert(Slot {
                first: NONE,
                remote: 0,
            })
            .remote += 1;
    }
    fn remote_count(&self, key: &str) -> u32 {
        self.slots.get(key).map_or(0, |s| s.remote)
    }
    /// The services with `key` in input order, and how many remote accounts carry it.
    fn get(&self, key: &str, out: &mut Vec<usize>) -> u32 {
        out.clear();
        let Some(slot) = self.slots.get(key) else {
            return 0;
        };
        let mut i = slot.first;
        while i != NONE {
            out.push(i as usize);
            i = self.next[i as usize];
        }
        out.reverse();
        slot.remote
    }
}

/// Computes keys on two threads for large inputs (the analysis has two cores to use).
fn keys_of<'a, T: Sync>(
    items: &'a [T],
    f: impl Fn(&'a T) -> Option<Cow<'a, str>> + Sync,
) -> Vec<Option<Cow<'a, str>>> {
    const PARALLEL_FROM: usize = 20_000;
    if items.len() < PARALLEL_FROM {
        return items.iter().map(&f).collect();
    }
    let mid = items.len() / 2;
    let (a, b) = items.split_at(mid);
    std::thread::scope(|sc| {
        let h = sc.spawn(|| b.iter().map(&f).collect::<Vec<_>>());
        let mut out: Vec<_> = a.iter().map(&f).collect();
        out.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        out
    })
}

/// Analyses one server. See the module docs and DESIGN.md §3 for the rules.
pub fn analyse(input: &AnalysisInput<'_>) -> Analysis {
    let field = &input.meta.unique_identifier_field;
    let is_domain = *field == UniqueIdField::Domain;

    // Each side is keyed on two threads (the machine's two cores).
    let remote_keys = keys_of(input.accounts, |a| key_cow(field, &a.unique_identifier));
    let service_keys = keys_of(input.services, |r| {
        key_cow(field, billing_identifier(field, &r.service))
    });

    let mut by_key = KeyIndex::new(
        service_keys.len(),
        service_keys.len() + service_keys.len() / 8,
    );
    for (i, k) in service_keys.iter().enumerate() {
        if let Some(k) = k {
            by_key.insert_service(k.as_ref(), i);
        }
    }
    for k in remote_keys.iter().flatten() {
        by_key.count_remote(k.as_ref());
    }
    let mut by_www = KeyIndex::new(service_keys.len(), 0);
    if is_domain {
        for (i, k) in service_keys.iter().enumerate() {
            // The `www.` fallback may only pick a service no remote account matches exactly.
            if let Some(stripped) = k.as_deref().and_then(strip_www) {
                if by_key.remote_count(k.as_deref().unwrap_or("")) == 0 {
                    by_www.insert_service(stripped, i);
                }
            }
        }
    }
    let mut other_by_key: FxMap<String, Vec<usize>> = fx_map(0);
    for (i, r) in input.other_live.iter().enumerate() {
        if let Some(k) = identifier_key(field, billing_identifier(field, &r.service)) {
            if by_key.remote_count(&k) > 0 {
                other_by_key.entry(k).or_default().push(i);
            }
        }
    }

    let ctx = Ctx {
        input,
        is_domain,
        remote_keys: &remote_keys,
        service_keys: &service_keys,
        by_key: &by_key,
        by_www: &by_www,
        other_by_key: &other_by_key,
    };
    // The accounts are independent of each other: two halves on two threads.
    let n = input.accounts.len();
    let (mut items, accounted_lists) = if n >= 20_000 {
        let mid = n / 2;
        std::thread::scope(|sc| {
            let h = sc.spawn(|| ctx.accounts(mid..n));
            let (mut items, acc_a) = ctx.accounts(0..mid);
            let (items_b, acc_b) = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            items.extend(items_b);
            (items, [acc_a, acc_b])
        })
    } else {
        let (items, acc) = ctx.accounts(0..n);
        (items, [acc, Vec::new()])
    };
    let mut accounted = vec![false; input.services.len()];
    for list in &accounted_lists {
        for &i in list {
            accounted[i as usize] = true;
        }
    }
    drop(accounted_lists);

    let mut live_services = 0usize;
    for (si, rec) in input.services.iter().enumerate() {
        let status = rec.service.status;
        if status.is_live() {
            live_services += 1;
        }
        if accounted[si] {
            continue;
        }
        let category = match status {
            ServiceStatus::Active | ServiceStatus::Suspended => Category::NotOnServer,
            ServiceStatus::Pending => Category::PendingNotOnServer,
            _ => continue,
        };
        let mut notes = Vec::new();
        let mut actions: &'static [Action] = &[];
        if category == Category::NotOnServer {
            if input.listing_complete {
                actions = &[Action::Terminate];
            } else {
                notes.push("the listing was incomplete: termination is not offered".into());
            }
        }
        if service_keys[si].is_none() {
            notes.push(format!(
                "the service has no usable {} in billing",
                input.meta.unique_identifier_display_name.to_lowercase()
            ));
        }
        items.push(Item {
            category,
            key: service_keys[si].as_deref().unwrap_or("").to_string(),
            remote: None,
            billing: Some(BillingRef::ThisServer(si)),
            diffs: Vec::new(),
            actions,
            notes,
            related_service_ids: Vec::new(),
        });
    }

    // What a module's record was read leniently with is shown on the account's own item.
    for it in &mut items {
        let Some(ai) = it.remote.filter(|_| it.category.is_primary()) else {
            continue;
        };
        let lenient = &input.accounts[ai].notes;
        if !lenient.is_empty() {
            it.notes.splice(0..0, lenient.iter().cloned());
        }
    }

    sort_items(input, &mut items);

    let mut counts = Counts::default();
    for it in &items {
        counts.bump(it.category);
    }
    let mut warnings = Vec::new();
    if input.accounts.is_empty() && live_services > 0 {
        warnings.push(format!(
            "the server listed 0 accounts while billing has {live_services} live services on it: terminations are blocked unless forced"
        ));
    }
    if !input.listing_complete {
        warnings.push(
            "the listing was incomplete (records were skipped): no termination is offered".into(),
        );
    }
    Analysis {
        items,
        counts,
        live_services,
        warnings,
    }
}

/// Deterministic order whatever the input order: category, key, service id, then the remote
/// account's own fields. Sorts a compact array and moves each item once.
fn sort_items(input: &AnalysisInput<'_>, items: &mut Vec<Item>) {
    let service_id = |it: &Item| -> Option<ServiceId> {
        it.billing.map(|b| match b {
            BillingRef::ThisServer(i) => input.services[i].service.id,
            BillingRef::OtherServer(i) => input.other_live[i].service.id,
        })
    };
    let mut order: Vec<(Category, &str, Option<ServiceId>, u32)> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.category, it.key.as_ref(), service_id(it), i as u32))
        .collect();
    order.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.cmp(b.1))
            .then_with(|| a.2.cmp(&b.2))
            .then_with(|| {
                let ra = items[a.3 as usize].remote.map(|i| &input.accounts[i]);
                let rb = items[b.3 as usize].remote.map(|i| &input.accounts[i]);
                remote_order(ra).cmp(&remote_order(rb))
            })
    });
    let perm: Vec<u32> = order.into_iter().map(|o| o.3).collect();
    let mut slots: Vec<Option<Item>> = std::mem::take(items).into_iter().map(Some).collect();
    items.extend(perm.into_iter().filter_map(|i| slots[i as usize].take()));
}

/// What every account's analysis shares.
struct Ctx<'c, 'a> {
    input: &'c AnalysisInput<'a>,
    is_domain: bool,
    remote_keys: &'c [Option<Cow<'a, str>>],
    service_keys: &'c [Option<Cow<'a, str>>],
    by_key: &'c KeyIndex<'c>,
    by_www: &'c KeyIndex<'c>,
    other_by_key: &'c FxMap<String, Vec<usize>>,
}

impl Ctx<'_, '_> {
    /// The items of the accounts `range`, and the services they account for.
    fn accounts(&self, range: std::ops::Range<usize>) -> (Vec<Item>, Vec<u32>) {
        let input = self.input;
        let mut items: Vec<Item> = Vec::with_capacity(range.len() + range.len() / 16);
        let mut accounted: Vec<u32> = Vec::with_capacity(range.len());
        let mut candidates: Vec<usize> = Vec::new();
        let uid_name = || input.meta.unique_identifier_display_name.to_lowercase();
        for ai in range {
            let acc = &input.accounts[ai];
            let Some(key_cow) = self.remote_keys[ai].as_ref() else {
                items.push(Item::conflict(
                    String::new(),
                    ai,
                    format!(
                        "the account has no usable {} ({:?})",
                        uid_name(),
                        acc.unique_identifier
                    ),
                    Vec::new(),
                ));
                continue;
            };
            let key: &str = key_cow.as_ref();
            let shared = self.by_key.get(key, &mut candidates);
            if shared > 1 && candidates.is_empty() && self.is_domain {
                // A billing `www.` form of the shared key belongs to the conflict as well: it
                // must not be offered for termination while the accounts exist.
                self.by_www.get(key, &mut candidates);
            }
            if shared > 1 {
                let related: Vec<ServiceId> = candidates
                    .iter()
                    .map(|&i| {
                        accounted.push(i as u32);
                        input.services[i].service.id
                    })
                    .collect();
                items.push(Item::conflict(
                    key.to_string(),
                    ai,
                    format!(
                        "{shared} accounts on the server share the {} {key:?}",
                        uid_name()
                    ),
                    related,
                ));
                continue;
            }

            let mut notes = Vec::new();
            if candidates.is_empty() && self.is_domain {
                self.by_www.get(key, &mut candidates);
                if candidates.len() == 1 {
                    notes.push(
                        "matched by removing a leading \"www.\" from the billing domain".into(),
                    );
                } else {
                    candidates.clear();
                }
            }

            if !candidates.is_empty() {
                let compare_with = |si: usize| {
                    let keys = if self.is_domain {
                        Some((key, self.service_keys[si].as_deref()))
                    } else {
                        None
                    };
                    compare_keyed(input.meta, input.server_ip, acc, &input.services[si], keys)
                };
                let (best, diffs, rest) = if candidates.len() == 1 {
                    let (d, _) = compare_with(candidates[0]);
                    (candidates[0], d, Vec::new())
                } else {
                    // Rank: live above closed, then more equal fields, then the lower service id.
                    let mut ranked: Vec<(usize, Vec<Diff>, usize)> = candidates
                        .iter()
                        .map(|&si| {
                            let (d, eq) = compare_with(si);
                            (si, d, eq)
                        })
                        .collect();
                    ranked.sort_by(|a, b| {
                        let sa = &input.services[a.0].service;
                        let sb = &input.services[b.0].service;
                        sb.status
                            .is_live()
                            .cmp(&sa.status.is_live())
                            .then(b.2.cmp(&a.2))
                            .then(sa.id.cmp(&sb.id))
                    });
                    let mut it = ranked.into_iter();
                    let Some((best, d, _)) = it.next() else {
                        continue;
                    };
                    (best, d, it.map(|(si, d, _)| (si, d)).collect())
                };
                accounted.push(best as u32);
                let best_live = input.services[best].service.status.is_live();
                let (category, actions): (Category, &'static [Action]) = if !best_live {
                    (Category::TerminatedInBilling, &[Action::Reactivate])
                } else if has_sync_diff(&diffs) {
                    (Category::OutOfSync, &[Action::Sync])
                } else {
                    (Category::InSync, &[])
                };
                let mut dup_items = Vec::new();
                for (si, d) in rest {
                    accounted.push(si as u32);
                    let svc = &input.services[si].service;
                    if svc.status.is_live() {
                        dup_items.push(Item {
                            category: Category::Duplicate,
                            key: key.to_string(),
                            remote: Some(ai),
                            billing: Some(BillingRef::ThisServer(si)),
                            diffs: d,
                            actions: &[Action::Terminate],
                            notes: vec![format!(
                                "service {} also matches; service {} is the better match",
                                svc.id, input.services[best].service.id
                            )],
                            related_service_ids: Vec::new(),
                        });
                    } else {
                        notes.push(format!(
                            "also matches {} service {}",
                            svc.status.as_str(),
                            svc.id
                        ));
                    }
                }
                items.push(Item {
                    category,
                    key: key.to_string(),
                    remote: Some(ai),
                    billing: Some(BillingRef::ThisServer(best)),
                    diffs,
                    actions,
                    notes,
                    related_service_ids: Vec::new(),
                });
                items.extend(dup_items);
                continue;
            }

            match self.other_by_key.get(key).map(|v| v.as_slice()) {
                Some([oi]) => {
                    let (diffs, _) =
                        compare(input.meta, input.server_ip, acc, &input.other_live[*oi]);
                    let from = input.other_live[*oi].service.server_id;
                    items.push(Item {
                        category: Category::Moved,
                        key: key.to_string(),
                        remote: Some(ai),
                        billing: Some(BillingRef::OtherServer(*oi)),
                        diffs,
                        actions: &[Action::Move],
                        notes: vec![moved_note(from, None)],
                        related_service_ids: Vec::new(),
                    });
                }
                Some(several) if several.len() > 1 => {
                    let mut ids: Vec<ServiceId> = several
                        .iter()
                        .map(|&i| input.other_live[i].service.id)
                        .collect();
                    ids.sort_unstable();
                    items.push(Item::conflict(key.to_string(), ai, format!(
                            "not in billing on this server, but live on several other servers (services {ids:?})"
                        ), Vec::new()));
                }
                _ => items.push(Item {
                    category: Category::NotInBilling,
                    key: key.to_string(),
                    remote: Some(ai),
                    billing: None,
                    diffs: Vec::new(),
                    actions: &[Action::Import],
                    notes: Vec::new(),
                    related_service_ids: Vec::new(),
                }),
            }
        }
        (items, accounted)
    }
}

/// A total order on remote accounts by content, so that ties sort the same whatever the
/// input order.
fn remote_order(a: Option<&RemoteAccount>) -> impl Ord + '_ {
    a.map(|a| {
        (
            (
                a.unique_identifier.as_str(),
                a.username.as_str(),
                a.domain.as_str(),
                a.product.as_str(),
            ),
            (
                a.primary_ip.as_str(),
                a.status.as_str(),
                a.created,
                a.email.as_deref(),
                a.owner.as_deref(),
                a.status_detail.as_deref(),
            ),
        )
    })
}

impl Item {
    /// A `conflict` item for account `ai`: no billing record, no action, explained by `note`.
    fn conflict(key: String, ai: usize, note: String, related_service_ids: Vec<ServiceId>) -> Item {
        Item {
            category: Category::Conflict,
            key,
            remote: Some(ai),
            billing: None,
            diffs: Vec::new(),
            actions: &[],
            notes: vec![note],
            related_service_ids,
        }
    }

    /// The service id of the item's billing record, if any.
    pub fn service_id(&self, input: &AnalysisInput<'_>) -> Option<ServiceId> {
        self.billing_record(input).map(|r| r.service.id)
    }

    /// The item's billing record, if any.
    pub fn billing_record<'a>(&self, input: &AnalysisInput<'a>) -> Option<&'a BillingRecord> {
        self.billing.map(|b| match b {
            BillingRef::ThisServer(i) => &input.services[i],
            BillingRef::OtherServer(i) => &input.other_live[i],
        })
    }

    /// The item's remote account, if any.
    pub fn remote_account<'a>(&self, input: &AnalysisInput<'a>) -> Option<&'a RemoteAccount> {
        self.remote.map(|i| &input.accounts[i])
    }
}

/// The billing side of an item in the analysis document.
#[derive(Serialize)]
struct BillingDoc<'a> {
    service_id: ServiceId,
    client_id: i64,
    product_id: i64,
    domain: &'a str,
    username: &'a str,
    dedicated_ip: &'a str,
    #[serde(serialize_with = "ser_opt_date")]
    regdate: Option<time::Date>,
    status: &'static str,
    server_id: Option<i64>,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_email: Option<&'a str>,
}

fn ser_opt_date<S: Serializer>(d: &Option<time::Date>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&format_date(*d)),
        None => s.serialize_none(),
    }
}

#[derive(Serialize)]
struct ItemDoc<'a> {
    category: Category,
    unique_identifier: Option<&'a str>,
    service_id: Option<ServiceId>,
    remote: Option<&'a RemoteAccount>,
    billing: Option<BillingDoc<'a>>,
    diffs: &'a [Diff],
    actions: &'a [Action],
    notes: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    related_service_ids: &'a [ServiceId],
}

/// A borrowed view of one item in the analysis document's shape (CONTRACT.md): serialises to
/// `{"category", "unique_identifier", "service_id", "remote", "billing", "diffs", "actions",
/// "notes"}` (+ `related_service_ids` for conflicts that hide services).
pub struct ItemView<'a> {
    pub item: &'a Item,
    pub input: &'a AnalysisInput<'a>,
}

impl Serialize for ItemView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let it = self.item;
        let input = self.input;
        let remote = it.remote_account(input);
        let rec = it.billing_record(input);
        let uid = match (remote, rec) {
            (Some(r), _) => Some(r.unique_identifier.as_str()),
            (None, Some(b)) => Some(billing_identifier(
                &input.meta.unique_identifier_field,
                &b.service,
            )),
            _ => None,
        };
        ItemDoc {
            category: it.category,
            unique_identifier: uid,
            service_id: rec.map(|r| r.service.id),
            remote,
            billing: rec.map(|r| BillingDoc {
                service_id: r.service.id,
                client_id: r.service.client_id,
                product_id: r.service.product_id,
                domain: &r.service.domain,
                username: &r.service.username,
                dedicated_ip: &r.service.dedicated_ip,
                regdate: r.service.regdate,
                status: r.service.status.as_str(),
                server_id: r.service.server_id,
                version: r.service.version,
                client_email: r.client_email.as_deref(),
            }),
            diffs: &it.diffs,
            actions: it.actions,
            notes: &it.notes,
            related_service_ids: &it.related_service_ids,
        }
        .serialize(s)
    }
}

#[cfg(test)]
pub(crate) mod tests;
