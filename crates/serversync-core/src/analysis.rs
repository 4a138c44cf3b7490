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
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use index::{map_split, touch, HKey, Halves, KeyIndex, Keyed, Rank, BATCH, NONE};
use order::sort_entries;
use split::{Built, Entry, SplitIndex};

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

    fn set(&mut self, c: Category, n: usize) {
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
        *slot = n;
    }

    /// Counts one more item of `c` (the test oracle counts item by item).
    #[cfg(test)]
    fn bump(&mut self, c: Category) {
        self.set(c, self.get(c) + 1);
    }

    /// Items of every category.
    fn total(&self) -> usize {
        Category::ALL.iter().map(|c| self.get(*c)).sum()
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

/// `a == b`, inline for short texts (the compared fields are a few bytes to a few dozen):
/// eight bytes at a time, the last word overlapping, instead of a call to `memcmp` each.
#[inline]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let word = |s: &[u8], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// Case-insensitive equality of trimmed text, without allocating for ASCII.
#[inline]
fn eq_text(a: &str, b: &str) -> bool {
    // Equal as given (the common case: both sides from the same source) is equal trimmed
    // and case-insensitively: one comparison instead of two trims and a folded comparison,
    // inline (the rest is a call).
    same(a, b) || eq_text_folded(a, b)
}

/// [`eq_text`] of texts that differ as given.
#[cold]
#[inline(never)]
fn eq_text_folded(a: &str, b: &str) -> bool {
    let (a, b) = (t(a), t(b));
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

fn ip_eq(a: &str, b: &str) -> bool {
    let (a, b) = (t(a), t(b));
    if same(a, b) {
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
            Some((r, b)) => b.is_some_and(|b| same(r, b)),
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
            // Equal as given is a match (`package_matches` would find it so after trimming).
            !pkg.is_empty()
                && (same(&acc.product, pkg)
                    || package_matches(&acc.product, acc.owner.as_deref(), pkg)),
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

/// The comparison key of an identifier, borrowed when the input already is one.
fn key_cow<'a>(field: &UniqueIdField, raw: &'a str) -> Option<Cow<'a, str>> {
    match field {
        UniqueIdField::Domain => domain_key_cow(raw),
        _ => text_key_cow(raw),
    }
}

/// Inputs from this many accounts on are analysed on two threads by [`analyse`] (below it,
/// starting a thread costs more than it saves).
const PARALLEL_FROM: usize = 20_000;

/// Analyses one server. See the module docs and DESIGN.md §3 for the rules.
///
/// Inputs of 20,000 accounts or more use two threads (the result is the same).
pub fn analyse(input: &AnalysisInput<'_>) -> Analysis {
    let threads = if input.accounts.len() >= PARALLEL_FROM {
        2
    } else {
        1
    };
    analyse_threads(input, threads)
}

/// [`analyse`] on `threads` threads: 1 runs on the calling thread; 2 or more split every
/// phase into two halves (the key normalisation, the index parts, the accounts — by key, at
/// the median — and the services; more threads are not used). The result does not depend on
/// `threads` (benchmarks compare the single-thread figure with the default).
pub fn analyse_threads(input: &AnalysisInput<'_>, threads: usize) -> Analysis {
    analyse_observed(input, threads, &mut |_| {})
}

/// A step of the analysis, as reported to [`analyse_observed`]'s observer when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Normalising and hashing the identifier keys of both sides.
    Keys,
    /// Building the key index (both sides, the `www.` fallback, other servers' services).
    Index,
    /// Sorting the accounts by key, matching every account, comparing it with its
    /// candidates, building its items (with its lenient-read notes) in key order.
    Accounts,
    /// The services no account accounts for (`not_on_server`, `pending_not_on_server`).
    Services,
    /// Putting the items in order: joining the per-category lists of both threads.
    Sort,
}

impl Phase {
    /// Every phase, in the order they run.
    pub const ALL: [Phase; 5] = [
        Phase::Keys,
        Phase::Index,
        Phase::Accounts,
        Phase::Services,
        Phase::Sort,
    ];

    /// A short name for printouts.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Keys => "normalise + hash keys",
            Phase::Index => "key index",
            Phase::Accounts => "match + compare + account items",
            Phase::Services => "services not on the server + notes",
            Phase::Sort => "sort items",
        }
    }
}

/// [`analyse_threads`], calling `observe` at the end of each [`Phase`] (the benchmark times
/// the phases of the real function with it; the analysis itself does no timing or IO).
pub fn analyse_observed(
    input: &AnalysisInput<'_>,
    threads: usize,
    observe: &mut dyn FnMut(Phase),
) -> Analysis {
    let field = &input.meta.unique_identifier_field;
    let is_domain = *field == UniqueIdField::Domain;
    let two = threads >= 2;

    // Each key is normalised, hashed and ranked once, in one pass over its record.
    let remote_keys = map_split(
        input.accounts,
        threads,
        |a| touch(&a.unique_identifier),
        |a| Keyed::new(key_cow(field, &a.unique_identifier)),
    );
    let service_keys = map_split(
        input.services,
        threads,
        |r| touch(billing_identifier(field, &r.service)),
        |r| Keyed::new(key_cow(field, billing_identifier(field, &r.service))),
    );
    observe(Phase::Keys);

    // Both halves of the index at once (see `split`), with the `www.` candidates and the
    // accounts' entries in two key-ordered groups.
    let Built {
        index: by_key,
        groups,
        www,
    } = SplitIndex::build(&remote_keys, &service_keys, threads, is_domain);
    let mut by_www = KeyIndex::new(if is_domain { service_keys.len() } else { 0 }, www.len());
    for &i in &www {
        let i = i as usize;
        if let Some(stripped) = service_keys[i].key.as_deref().and_then(strip_www) {
            by_www.add_service(HKey::of(stripped), i);
        }
    }
    drop(www);
    let mut other_by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in input.other_live.iter().enumerate() {
        if let Some(k) = identifier_key(field, billing_identifier(field, &r.service)) {
            if by_key.remote_count(HKey::of(&k)) > 0 {
                other_by_key.entry(k).or_default().push(i);
            }
        }
    }

    observe(Phase::Index);

    // Per service: whether an account's item accounts for it (set by either thread).
    let accounted: Vec<AtomicBool> = (0..input.services.len())
        .map(|_| AtomicBool::new(false))
        .collect();
    let ctx = Ctx {
        input,
        is_domain,
        remote_keys: &remote_keys,
        service_keys: &service_keys,
        by_key: &by_key,
        by_www: &by_www,
        other_by_key: &other_by_key,
        accounted: &accounted,
    };
    // Each group: its entries from every building thread, sorted, then its items.
    let group = |g: usize, out: &mut Out| {
        let sources: Vec<&[Entry]> = groups.iter().map(|gs| gs[g].as_slice()).collect();
        let sorted = sort_entries(&sources, &remote_keys, input.accounts);
        ctx.accounts(&sorted, out);
    };
    // The first group's lists take every item (it is first in each category): room for
    // all of them in the first category, so that joining moves no in-sync item twice.
    let first_out = || Out::new(input.accounts.len() + input.services.len());
    let (mut out_a, out_b) = if two {
        std::thread::scope(|sc| {
            let h = sc.spawn(|| {
                let mut out = Out::new(groups.iter().map(|gs| gs[1].len()).sum());
                group(1, &mut out);
                out
            });
            let mut out = first_out();
            group(0, &mut out);
            (
                out,
                Some(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
            )
        })
    } else {
        let mut out = first_out();
        group(0, &mut out);
        group(1, &mut out);
        (out, None)
    };
    observe(Phase::Accounts);

    // The services no account accounts for, in two halves; meanwhile the other thread
    // frees the index (its pages are returned while the first thread works).
    let field_name = input.meta.unique_identifier_display_name.to_lowercase();
    let n_services = input.services.len();
    let absent = |r: std::ops::Range<usize>| absent_services(input, &service_keys, &accounted, r);
    let (mut absent_a, absent_b) = if two && n_services >= PARALLEL_FROM {
        let mid = n_services / 2;
        let garbage = (by_key, by_www, other_by_key, groups);
        std::thread::scope(|sc| {
            let h = sc.spawn(|| {
                let b = absent(mid..n_services);
                drop(garbage);
                b
            });
            let a = absent(0..mid);
            (
                a,
                Some(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
            )
        })
    } else {
        drop((by_key, by_www, other_by_key, groups));
        (absent(0..n_services), None)
    };
    if let Some(b) = absent_b {
        absent_a.live += b.live;
        absent_a.not_on_server.extend(b.not_on_server);
        absent_a.pending.extend(b.pending);
    }
    let live_services = absent_a.live;
    let key_of = |si: usize| service_keys[si].key.as_deref();
    let by_order = |a: &(Rank, usize), b: &(Rank, usize)| {
        a.0.cmp(&b.0)
            .then_with(|| key_of(a.1).cmp(&key_of(b.1)))
            .then_with(|| {
                input.services[a.1]
                    .service
                    .id
                    .cmp(&input.services[b.1].service.id)
            })
            .then(a.1.cmp(&b.1))
    };
    absent_a.not_on_server.sort_unstable_by(by_order);
    absent_a.pending.sort_unstable_by(by_order);
    let service_item = |category: Category, &(_, si): &(Rank, usize)| {
        let mut notes = Vec::new();
        let mut actions: &'static [Action] = &[];
        if category == Category::NotOnServer {
            if input.listing_complete {
                actions = &[Action::Terminate];
            } else {
                notes.push("the listing was incomplete: termination is not offered".into());
            }
        }
        if key_of(si).is_none() {
            notes.push(format!("the service has no usable {field_name} in billing"));
        }
        Item {
            category,
            key: key_of(si).unwrap_or("").to_string(),
            remote: None,
            billing: Some(BillingRef::ThisServer(si)),
            diffs: Vec::new(),
            actions,
            notes,
            related_service_ids: Vec::new(),
        }
    };
    out_a.cats[Category::NotOnServer as usize] = absent_a
        .not_on_server
        .iter()
        .map(|s| service_item(Category::NotOnServer, s))
        .collect();
    out_a.cats[Category::PendingNotOnServer as usize] = absent_a
        .pending
        .iter()
        .map(|s| service_item(Category::PendingNotOnServer, s))
        .collect();
    observe(Phase::Services);

    // The lists joined in category order: the first group's before the second's. The
    // second thread frees what is left of the intermediate data meanwhile.
    let join = || {
        let mut counts = Counts::default();
        let mut lists = std::mem::take(&mut out_a.cats).into_iter();
        let mut items = lists.next().unwrap_or_default();
        let mut b_lists = out_b.map(|b| b.cats.into_iter());
        let firsts = std::iter::once(Vec::new()).chain(lists);
        for (c, a_list) in Category::ALL.into_iter().zip(firsts) {
            items.extend(a_list);
            if let Some(mut b) = b_lists.as_mut().and_then(|l| l.next()) {
                items.append(&mut b);
            }
            counts.set(c, items.len() - counts.total());
        }
        // The first list was reserved for every item an input could give: return the
        // untouched rest (a remap of the allocation, no copy for a large one).
        items.shrink_to_fit();
        (items, counts)
    };
    let garbage = (remote_keys, service_keys, accounted);
    let (items, counts) = if two {
        std::thread::scope(|sc| {
            sc.spawn(move || drop(garbage));
            join()
        })
    } else {
        drop(garbage);
        join()
    };
    observe(Phase::Sort);

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

/// One thread's items, one list per category (in [`Category`] order), each in item order.
struct Out {
    cats: [Vec<Item>; 9],
}

impl Out {
    /// Room for `first` items in the first category (`in_sync`: most items).
    fn new(first: usize) -> Out {
        let mut cats: [Vec<Item>; 9] = Default::default();
        cats[0] = Vec::with_capacity(first);
        Out { cats }
    }

    fn push(&mut self, it: Item) {
        self.cats[it.category as usize].push(it);
    }
}

/// The services of `range` that no account accounts for, with their ranks, by category;
/// and how many of `range` are live.
struct Absent {
    live: usize,
    not_on_server: Vec<(Rank, usize)>,
    pending: Vec<(Rank, usize)>,
}

fn absent_services(
    input: &AnalysisInput<'_>,
    service_keys: &Halves<Keyed<'_>>,
    accounted: &[AtomicBool],
    range: std::ops::Range<usize>,
) -> Absent {
    let mut out = Absent {
        live: 0,
        not_on_server: Vec::new(),
        pending: Vec::new(),
    };
    for si in range {
        let status = input.services[si].service.status;
        if status.is_live() {
            out.live += 1;
        }
        if accounted[si].load(AtomicOrdering::Relaxed) {
            continue;
        }
        let list = match status {
            ServiceStatus::Active | ServiceStatus::Suspended => &mut out.not_on_server,
            ServiceStatus::Pending => &mut out.pending,
            _ => continue,
        };
        list.push((service_keys[si].rank, si));
    }
    out
}

/// The primary item's notes: what the account's record was read leniently with, first.
fn with_lenient(acc: &RemoteAccount, notes: Vec<String>) -> Vec<String> {
    if acc.notes.is_empty() {
        notes
    } else {
        let mut all = acc.notes.clone();
        all.extend(notes);
        all
    }
}

/// What every account's analysis shares.
struct Ctx<'c, 'a> {
    input: &'c AnalysisInput<'a>,
    is_domain: bool,
    remote_keys: &'c Halves<Keyed<'a>>,
    service_keys: &'c Halves<Keyed<'a>>,
    by_key: &'c SplitIndex<'c>,
    by_www: &'c KeyIndex<'c>,
    other_by_key: &'c HashMap<String, Vec<usize>>,
    /// Per service: whether an item accounts for it.
    accounted: &'c [AtomicBool],
}

impl Ctx<'_, '_> {
    fn account_for(&self, si: usize) {
        self.accounted[si].store(true, AtomicOrdering::Relaxed);
    }

    /// Touches (see [`touch`]) what the comparison of the accounts `batch` (at most
    /// [`BATCH`]) with their first exact candidate reads, so that the cache misses overlap:
    /// first the accounts' strings and the candidates' records (in one loop: independent
    /// loads), then the strings those records point to.
    fn warm(&self, batch: &[Entry]) {
        let input = self.input;
        let mut acc = 0u8;
        let mut recs: [Option<&BillingRecord>; BATCH] = [None; BATCH];
        for (slot_of_batch, e) in recs.iter_mut().zip(batch) {
            let a = &input.accounts[e.ai as usize];
            acc ^= touch(&a.domain)
                ^ touch(&a.unique_identifier)
                ^ touch(&a.username)
                ^ touch(&a.product)
                ^ touch(&a.primary_ip)
                ^ touch(a.email.as_deref().unwrap_or(""))
                ^ touch(a.owner.as_deref().unwrap_or(""))
                ^ (self.remote_keys[e.ai as usize].hash as u8);
            if e.slot == NONE {
                continue;
            }
            let Some(first) = self.by_key.first_service(e.slot) else {
                continue;
            };
            let rec = &input.services[first];
            // The record's lines (its string headers), not yet the strings.
            acc ^= (rec.service.username.len()
                ^ rec.service.dedicated_ip.len()
                ^ rec.client_email.as_ref().map_or(0, String::len)) as u8;
            *slot_of_batch = Some(rec);
        }
        for rec in recs.iter().flatten() {
            acc ^= touch(&rec.service.username)
                ^ touch(&rec.service.dedicated_ip)
                ^ touch(rec.package.as_deref().unwrap_or(""))
                ^ touch(rec.client_email.as_deref().unwrap_or(""));
        }
        std::hint::black_box(acc);
    }

    /// The items of the accounts `entries` (in key order), into `out`; marks the services
    /// they account for.
    fn accounts(&self, entries: &[Entry], out: &mut Out) {
        let input = self.input;
        let mut candidates: Vec<usize> = Vec::new();
        let uid_name = || input.meta.unique_identifier_display_name.to_lowercase();
        for batch in entries.chunks(BATCH) {
            self.warm(batch);
            for e in batch {
                self.account(e, &mut candidates, &uid_name, out);
            }
        }
    }

    /// The items of one account.
    fn account(
        &self,
        e: &Entry,
        candidates: &mut Vec<usize>,
        uid_name: &dyn Fn() -> String,
        out: &mut Out,
    ) {
        let input = self.input;
        let ai = e.ai as usize;
        let slot = e.slot;
        let acc = &input.accounts[ai];
        let keyed = &self.remote_keys[ai];
        let Some(hkey) = keyed.get().filter(|_| slot != NONE) else {
            out.push(Item::conflict(
                String::new(),
                ai,
                with_lenient(
                    acc,
                    vec![format!(
                        "the account has no usable {} ({:?})",
                        uid_name(),
                        acc.unique_identifier
                    )],
                ),
                Vec::new(),
            ));
            return;
        };
        let key: &str = hkey.s;
        let shared = self.by_key.services(slot, candidates);
        if shared > 1 && candidates.is_empty() && self.is_domain {
            // A billing `www.` form of the shared key belongs to the conflict as well: it
            // must not be offered for termination while the accounts exist.
            self.by_www.get(hkey, candidates);
        }
        if shared > 1 {
            let related: Vec<ServiceId> = candidates
                .iter()
                .map(|&i| {
                    self.account_for(i);
                    input.services[i].service.id
                })
                .collect();
            out.push(Item::conflict(
                key.to_string(),
                ai,
                with_lenient(
                    acc,
                    vec![format!(
                        "{shared} accounts on the server share the {} {key:?}",
                        uid_name()
                    )],
                ),
                related,
            ));
            return;
        }

        let mut notes = Vec::new();
        // Exact candidates carry the account's own key; `www.` ones their own.
        let exact = !candidates.is_empty();
        if candidates.is_empty() && self.is_domain {
            self.by_www.get(hkey, candidates);
            if candidates.len() == 1 {
                notes.push("matched by removing a leading \"www.\" from the billing domain".into());
            } else {
                candidates.clear();
            }
        }

        if !candidates.is_empty() {
            let compare_with = |si: usize| {
                let keys = if self.is_domain && exact {
                    Some((key, Some(key)))
                } else if self.is_domain {
                    Some((key, self.service_keys[si].key.as_deref()))
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
                    return;
                };
                (best, d, it.map(|(si, d, _)| (si, d)).collect())
            };
            self.account_for(best);
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
                self.account_for(si);
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
            out.push(Item {
                category,
                key: key.to_string(),
                remote: Some(ai),
                billing: Some(BillingRef::ThisServer(best)),
                diffs,
                actions,
                notes: with_lenient(acc, notes),
                related_service_ids: Vec::new(),
            });
            // One account's duplicates share its key: the item order wants them by service id.
            let sid = |it: &Item| it.service_id(input);
            dup_items.sort_by_key(sid);
            for it in dup_items {
                out.push(it);
            }
            return;
        }

        let item = match self.other_by_key.get(key).map(|v| v.as_slice()) {
            Some([oi]) => {
                let (diffs, _) = compare(input.meta, input.server_ip, acc, &input.other_live[*oi]);
                let from = input.other_live[*oi].service.server_id;
                Item {
                    category: Category::Moved,
                    key: key.to_string(),
                    remote: Some(ai),
                    billing: Some(BillingRef::OtherServer(*oi)),
                    diffs,
                    actions: &[Action::Move],
                    notes: with_lenient(acc, vec![moved_note(from, None)]),
                    related_service_ids: Vec::new(),
                }
            }
            Some(several) if several.len() > 1 => {
                let mut ids: Vec<ServiceId> = several
                    .iter()
                    .map(|&i| input.other_live[i].service.id)
                    .collect();
                ids.sort_unstable();
                Item::conflict(
                    key.to_string(),
                    ai,
                    with_lenient(acc, vec![format!(
                        "not in billing on this server, but live on several other servers (services {ids:?})"
                    )]),
                    Vec::new(),
                )
            }
            _ => Item {
                category: Category::NotInBilling,
                key: key.to_string(),
                remote: Some(ai),
                billing: None,
                diffs: Vec::new(),
                actions: &[Action::Import],
                notes: with_lenient(acc, Vec::new()),
                related_service_ids: Vec::new(),
            },
        };
        out.push(item);
    }
}

impl Item {
    /// A `conflict` item for account `ai`: no billing record, no action, explained by `notes`.
    fn conflict(
        key: String,
        ai: usize,
        notes: Vec<String>,
        related_service_ids: Vec<ServiceId>,
    ) -> Item {
        Item {
            category: Category::Conflict,
            key,
            remote: Some(ai),
            billing: None,
            diffs: Vec::new(),
            actions: &[],
            notes,
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
    /// `not_on_server` only: complete listings in a row without the account, the server's
    /// threshold, and whether the service counts as gone ([`crate::misses`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    misses: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gone_after: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gone: Option<bool>,
}

/// A borrowed view of one item in the analysis document's shape (CONTRACT.md): serialises to
/// `{"category", "unique_identifier", "service_id", "remote", "billing", "diffs", "actions",
/// "notes"}` (+ `related_service_ids` for conflicts that hide services; + `misses`,
/// `gone_after` and `gone` when [`ItemView::misses`] is set, for `not_on_server` items).
pub struct ItemView<'a> {
    pub item: &'a Item,
    pub input: &'a AnalysisInput<'a>,
    /// The item's miss count ([`crate::misses::MissCount`]); `None` leaves the fields out.
    pub misses: Option<crate::misses::MissCount>,
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
            misses: self.misses.map(|m| m.misses),
            gone_after: self.misses.map(|m| m.gone_after),
            gone: self.misses.map(|m| m.is_gone()),
        }
        .serialize(s)
    }
}

mod index;
mod order;
#[cfg(test)]
mod reference;
mod split;
#[cfg(test)]
pub(crate) mod tests;
