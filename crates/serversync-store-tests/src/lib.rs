//! The store contract test suite, shared by every [`Store`] implementation: `tests/sqlite.rs`
//! runs it on SQLite, `tests/postgres.rs` on PostgreSQL (`scripts/pg-test.sh`).
//!
//! Each check takes a store and works on its own ids, names and e-mails (derived from a
//! `base`), so the checks can run one per fresh store or all on one store ([`run_all`]).
//! They panic on failure, like tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use serversync_core::model::{Client, Product, Secret, Server, Service, ServiceStatus};
use serversync_core::module::{RemoteAccount, RemoteStatus, SkippedRecord};
use time::macros::{date, datetime};
use time::OffsetDateTime;

#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::{
    AdminUser, ApiToken, ChangeSet, ClientRef, IdentifierFields, ImportCounts, ListingStatus,
    NewAuditEvent, NewRun, Op, Records, Role, Store, StoreError,
};

pub mod fleet;
pub use fleet::*;
pub mod deliveries;
pub use deliveries::*;
pub mod jobs;
pub use jobs::*;
pub mod misses;
pub use misses::*;
pub mod reads;
pub use reads::*;
pub mod reliability;
pub use reliability::*;
pub mod retention;
pub use retention::*;
pub mod selections;
pub use selections::*;
pub mod typed;
pub use typed::*;

/// `t` as every store keeps a timestamp: UTC, whole microseconds (PostgreSQL's
/// `timestamptz` precision; SQLite keeps the same so both read back one value).
pub fn stored_time(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .expect("microseconds are valid nanoseconds")
}

/// A stored JSON document's text as a JSON value: stores keep documents as JSON, not as
/// text (PostgreSQL's `jsonb` gives them back in its normal form, e.g. `{"a": 1}`).
pub fn json_of(text: Option<&str>) -> Option<serde_json::Value> {
    text.map(|t| serde_json::from_str(t).expect("a stored document is JSON"))
}

/// The audit event of a records import in these checks.
pub fn records_event(c: &ImportCounts) -> NewAuditEvent {
    NewAuditEvent {
        actor: "test".into(),
        action: "records_import".into(),
        note: Some(format!("{} inserted", c.inserted)),
        ..Default::default()
    }
}

/// The audit event of a created user in these checks.
pub fn user_event(u: &AdminUser) -> NewAuditEvent {
    NewAuditEvent {
        actor: "test".into(),
        action: "user_add".into(),
        note: Some(u.username.clone()),
        ..Default::default()
    }
}

/// The audit event of a created API token in these checks.
pub fn token_event(t: &ApiToken) -> NewAuditEvent {
    NewAuditEvent {
        actor: "test".into(),
        action: "token_add".into(),
        note: Some(t.name.clone()),
        ..Default::default()
    }
}

/// The audit event of a saved server in these checks.
pub fn server_event(id: &i64) -> NewAuditEvent {
    NewAuditEvent {
        actor: "test".into(),
        action: "server_edit".into(),
        server_id: Some(*id),
        ..Default::default()
    }
}

/// The audit event of a saved product in these checks.
pub fn product_event(id: &i64) -> NewAuditEvent {
    NewAuditEvent {
        actor: "test".into(),
        action: "product_edit".into(),
        note: Some(format!("product {id}")),
        ..Default::default()
    }
}

/// Runs every check on one store, in order.
pub async fn run_all(store: Arc<dyn Store>) {
    let s = &*store;
    // First: it needs a store without administrators.
    reliability::setup_token_makes_exactly_one_first_admin(s).await;
    import_keeps_ids_and_is_idempotent(s).await;
    import_changed_rows_bump_version(s).await;
    import_empty_secret_keeps_stored(s).await;
    import_refuses_bad_documents(s).await;
    server_lookup_by_name_or_id(s).await;
    live_services_of_module(s).await;
    reads::bulk_reads_return_every_column_as_written(s).await;
    reads::client_emails_are_every_clients_email(s).await;
    apply_creates_with_refs_and_audits(s).await;
    apply_refuses_bad_refs(s).await;
    apply_version_conflict_rolls_back(s).await;
    runs_round_trip(s).await;
    runs_summaries_and_latest(s).await;
    fleet::recent_runs_are_the_newest_per_server(s).await;
    retention::runs_prune_keeps_applied_and_latest_complete(s).await;
    retention::runs_prune_keeps_the_newest_complete_runs(s).await;
    retention::compact_runs_read_back_whole(s).await;
    audit_filters(s).await;
    reliability::lease_busy_expiry_renew_release(s).await;
    reliability::lease_of_a_gone_process_is_taken_over(s).await;
    reliability::change_set_under_a_lost_lease_writes_nothing(s).await;
    reliability::import_refuses_a_second_live_service_per_key(s).await;
    reliability::records_import_refuses_a_live_duplicate_it_does_not_contain(s).await;
    reliability::writes_and_their_audit_are_one_transaction(s).await;
    users_create_lookup_and_refuse_duplicates(s).await;
    sessions_live_expired_deleted(s).await;
    sign_in_failures_count_expire_and_clear(s).await;
    run_selection_per_run_and_user(s).await;
    api_tokens_create_lookup_and_refuse_duplicates(s).await;
    save_server_insert_update_keep_secrets(s).await;
    save_product_insert_update(s).await;
    audit_query_filters_pages_and_counts(s).await;
    jobs::jobs_one_running_progress_finish(s).await;
    jobs::jobs_of_a_stopped_instance_fail_and_free_the_server(s).await;
    jobs::jobs_concurrent_starts_make_one_job(s).await;
    jobs::jobs_finished_beyond_the_kept_number_are_pruned(s).await;
    misses::misses_present_absent_present_count_1_then_0(s).await;
    misses::misses_three_absent_count_3(s).await;
    misses::misses_failed_between_unchanged(s).await;
    misses::misses_of_terminated_services_drop_out(s).await;
    misses::misses_of_a_service_counted_elsewhere_start_again(s).await;
    deliveries::deliveries_log_attempts_newest_first(s).await;
    deliveries::deliveries_claims_are_won_once(s).await;
    deliveries::deliveries_stale_claims_are_taken_over_unless_delivered(s).await;
}

fn client(id: i64, email: &str, first: &str) -> Client {
    Client {
        id,
        email: email.into(),
        first_name: first.into(),
        last_name: "Lee".into(),
        company: String::new(),
        status: "Active".into(),
    }
}

/// The stored client `id`, from the full listing (the store has no lookup by id: nothing
/// else needs one).
async fn client_of(store: &dyn Store, id: i64) -> Option<Client> {
    store
        .clients()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.id == id)
}

/// Stored clients whose e-mail is `email` (case-insensitively), by id.
async fn clients_with_email(store: &dyn Store, email: &str) -> Vec<Client> {
    let mut v: Vec<Client> = store
        .clients()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.email.to_lowercase() == email.to_lowercase())
        .collect();
    v.sort_by_key(|c| c.id);
    v
}

/// Stored products of `module`, by id.
async fn products_of_module(store: &dyn Store, module: &str) -> Vec<Product> {
    let mut v: Vec<Product> = store
        .products()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.module == module)
        .collect();
    v.sort_by_key(|p| p.id);
    v
}

/// Writes one audit event as the event of an empty records import (which changes nothing
/// else): the store writes events only with the write they describe.
async fn append_audit(store: &dyn Store, e: &NewAuditEvent) {
    store.append_audit(e).await.unwrap();
}

fn module(base: i64) -> String {
    format!("cpanel_{base}")
}

#[allow(clippy::too_many_arguments)]
fn service(
    id: i64,
    client_id: i64,
    product_id: i64,
    server_id: Option<i64>,
    domain: &str,
    status: ServiceStatus,
) -> Service {
    Service {
        id,
        client_id,
        product_id,
        server_id,
        domain: domain.into(),
        username: domain.split('.').next().unwrap_or_default().into(),
        dedicated_ip: String::new(),
        regdate: Some(date!(2024 - 01 - 31)),
        status,
        billing_cycle: "Monthly".into(),
        amount: "9.99".into(),
        next_due_date: Some(date!(2024 - 12 - 31)),
        termination_date: None,
        custom_fields: BTreeMap::from([("Instance ID".to_string(), format!("i-{id}"))]),
        version: 0,
    }
}

/// A records document with ids `base+…`: clients base+1..3, product base+10, servers
/// base+100 (`web1-<base>`), base+101 (`web2-<base>`), base+102 (other module), services
/// base+1000..1005.
fn fixture(base: i64) -> Records {
    let m = module(base);
    let server = |id: i64, name: String, module: String| Server {
        id,
        name,
        module,
        hostname: "127.0.0.1".into(),
        ip_address: "192.0.2.10".into(),
        port: Some(2087),
        secure: false,
        tls_verify: true,
        username: "root".into(),
        password: Secret::new(""),
        access_hash: Secret::new(format!("TOKEN-{id}")),
        disabled: false,
    };
    let mut web2 = server(base + 101, format!("web2-{base}"), m.clone());
    web2.port = None;
    web2.secure = true;
    web2.password = Secret::new("pw");
    web2.access_hash = Secret::new("tok");
    let mut terminated = service(
        base + 1002,
        base + 1,
        base + 10,
        Some(base + 100),
        &format!("old{base}.test"),
        ServiceStatus::Terminated,
    );
    terminated.termination_date = Some(date!(2024 - 06 - 30));
    let mut no_server = service(
        base + 1003,
        base + 2,
        base + 10,
        None,
        &format!("none{base}.test"),
        ServiceStatus::Pending,
    );
    no_server.regdate = None;
    no_server.next_due_date = None;
    no_server.custom_fields.clear();
    no_server.amount = "0.00".into();
    Records {
        clients: vec![
            client(base + 1, &format!("ann.{base}@mail.test"), "Ann"),
            client(base + 2, &format!("bob.{base}@mail.test"), "Bob"),
            client(base + 3, "", "Nomail"),
        ],
        products: vec![Product {
            id: base + 10,
            name: "Basic Hosting".into(),
            module: m.clone(),
            config_options: BTreeMap::from([("configoption1".to_string(), "basic".to_string())]),
        }],
        servers: vec![
            server(base + 100, format!("web1-{base}"), m.clone()),
            web2,
            server(base + 102, format!("other-{base}"), format!("plesk_{base}")),
        ],
        services: vec![
            service(
                base + 1000,
                base + 1,
                base + 10,
                Some(base + 100),
                &format!("ann{base}.test"),
                ServiceStatus::Active,
            ),
            service(
                base + 1001,
                base + 2,
                base + 10,
                Some(base + 101),
                &format!("bob{base}.test"),
                ServiceStatus::Suspended,
            ),
            terminated,
            no_server,
            service(
                base + 1004,
                base + 2,
                base + 10,
                Some(base + 101),
                &format!("new{base}.test"),
                ServiceStatus::Pending,
            ),
            service(
                base + 1005,
                base + 1,
                base + 10,
                Some(base + 102),
                &format!("plesk{base}.test"),
                ServiceStatus::Active,
            ),
        ],
    }
}

fn fixture_len(r: &Records) -> usize {
    r.clients.len() + r.products.len() + r.servers.len() + r.services.len()
}

async fn load(store: &dyn Store, base: i64) -> Records {
    let r = fixture(base);
    let counts = store
        .import_records(&r, &IdentifierFields::new(), &records_event)
        .await
        .expect("import fixture");
    assert_eq!(
        counts,
        ImportCounts {
            inserted: fixture_len(&r),
            updated: 0,
            unchanged: 0
        }
    );
    r
}

fn with_version(s: &Service, version: i64) -> Service {
    Service {
        version,
        ..s.clone()
    }
}

fn ids(services: &[Service]) -> Vec<i64> {
    services.iter().map(|s| s.id).collect()
}

/// Import keeps the document's ids; a second import of the same document changes nothing.
pub async fn import_keeps_ids_and_is_idempotent(store: &dyn Store) {
    let base = 1_000_000;
    let r = load(store, base).await;

    assert_eq!(
        client_of(store, base + 1).await.expect("client stored"),
        r.clients[0]
    );
    assert_eq!(
        client_of(store, base + 3).await.expect("client stored"),
        r.clients[2]
    );
    assert_eq!(store.server_by_id(base + 100).await.unwrap(), r.servers[0]);
    assert_eq!(store.server_by_id(base + 101).await.unwrap(), r.servers[1]);
    for s in &r.services {
        assert_eq!(store.service(s.id).await.unwrap(), with_version(s, 1));
    }
    let products = products_of_module(store, &module(base)).await;
    assert_eq!(products, r.products);
    assert_eq!(
        ids(&store.services(Some(base + 100)).await.unwrap()),
        vec![base + 1000, base + 1002]
    );

    let again = store
        .import_records(&r, &IdentifierFields::new(), &records_event)
        .await
        .unwrap();
    assert_eq!(
        again,
        ImportCounts {
            inserted: 0,
            updated: 0,
            unchanged: fixture_len(&r)
        }
    );
    for s in &r.services {
        assert_eq!(
            store.service(s.id).await.unwrap().version,
            1,
            "service {}",
            s.id
        );
    }

    let all = store.export_records().await.unwrap();
    for c in &r.clients {
        assert!(all.clients.contains(c), "export lacks client {}", c.id);
    }
    for s in &r.servers {
        assert!(all.servers.contains(s), "export lacks server {}", s.id);
    }
    for s in &r.services {
        assert!(all.services.contains(&with_version(s, 1)));
    }
    assert!(all.products.contains(&r.products[0]));
    assert!(all.services.windows(2).all(|w| w[0].id < w[1].id));
    assert!(store.clients().await.unwrap().contains(&r.clients[1]));
    assert!(store.servers().await.unwrap().contains(&r.servers[2]));
    assert!(store.products().await.unwrap().contains(&r.products[0]));
    let everything = store.services(None).await.unwrap();
    assert!(everything.contains(&with_version(&r.services[3], 1)));
}

/// A changed service gets version + 1 (once per real change); a changed client is updated.
pub async fn import_changed_rows_bump_version(store: &dyn Store) {
    let base = 2_000_000;
    let mut r = load(store, base).await;
    r.services[0].status = ServiceStatus::Suspended;
    r.services[0].domain = format!("ann-new{base}.test");
    r.services[1]
        .custom_fields
        .insert("Extra".into(), "x".into());
    r.clients[0].company = "Ann's Bakery".into();
    let counts = store
        .import_records(&r, &IdentifierFields::new(), &records_event)
        .await
        .unwrap();
    assert_eq!(
        counts,
        ImportCounts {
            inserted: 0,
            updated: 3,
            unchanged: fixture_len(&r) - 3
        }
    );
    assert_eq!(
        store.service(base + 1000).await.unwrap(),
        with_version(&r.services[0], 2)
    );
    assert_eq!(store.service(base + 1001).await.unwrap().version, 2);
    assert_eq!(store.service(base + 1002).await.unwrap().version, 1);
    assert_eq!(
        client_of(store, base + 1)
            .await
            .expect("client stored")
            .company,
        "Ann's Bakery"
    );

    let counts = store
        .import_records(&r, &IdentifierFields::new(), &records_event)
        .await
        .unwrap();
    assert_eq!(counts.unchanged, fixture_len(&r));
    assert_eq!(store.service(base + 1000).await.unwrap().version, 2);

    // A document with new rows only: inserted, the others untouched.
    let extra = Records {
        services: vec![service(
            base + 1010,
            base + 1,
            base + 10,
            Some(base + 100),
            &format!("extra{base}.test"),
            ServiceStatus::Active,
        )],
        ..Records::default()
    };
    let counts = store
        .import_records(&extra, &IdentifierFields::new(), &records_event)
        .await
        .unwrap();
    assert_eq!(
        counts,
        ImportCounts {
            inserted: 1,
            updated: 0,
            unchanged: 0
        }
    );
    assert_eq!(store.service(base + 1010).await.unwrap().version, 1);
}

/// Empty server secrets in a document keep the stored ones.
pub async fn import_empty_secret_keeps_stored(store: &dyn Store) {
    let base = 3_000_000;
    let mut r = load(store, base).await;
    r.servers[1].password = Secret::new("");
    r.servers[1].access_hash = Secret::new("");
    let counts = store
        .import_records(&r, &IdentifierFields::new(), &records_event)
        .await
        .unwrap();
    assert_eq!(counts.unchanged, fixture_len(&r));
    let web2 = store.server_by_id(base + 101).await.unwrap();
    assert_eq!(web2.password.expose(), "pw");
    assert_eq!(web2.access_hash.expose(), "tok");

    r.servers[1].password = Secret::new("pw2");
    r.servers[1].port = Some(8443);
    let counts = store
        .import_records(&r, &IdentifierFields::new(), &records_event)
        .await
        .unwrap();
    assert_eq!(counts.updated, 1);
    let web2 = store.server_by_id(base + 101).await.unwrap();
    assert_eq!(web2.password.expose(), "pw2");
    assert_eq!(web2.access_hash.expose(), "tok");
    assert_eq!(web2.port, Some(8443));
    let by_name = store.server(&format!("web2-{base}")).await.unwrap();
    assert_eq!(by_name, web2);
}

/// Bad documents are refused whole, naming the bad value; nothing of them is written.
pub async fn import_refuses_bad_documents(store: &dyn Store) {
    let base = 4_000_000;
    let mut r = fixture(base);
    r.services[2].client_id = base + 999;
    let err = store
        .import_records(&r, &IdentifierFields::new(), &records_event)
        .await
        .unwrap_err();
    match &err {
        StoreError::Invalid(m) => assert_eq!(
            m,
            &format!(
                "services[2].client_id: client {} does not exist",
                base + 999
            )
        ),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(client_of(store, base + 1).await, None);
    assert!(matches!(
        store.server_by_id(base + 100).await,
        Err(StoreError::NotFound(_))
    ));

    let mut r = fixture(base);
    r.services[0].product_id = base + 11;
    assert!(matches!(
        store.import_records(&r, &IdentifierFields::new(), &records_event).await,
        Err(StoreError::Invalid(m)) if m.starts_with("services[0].product_id")
    ));
    let mut r = fixture(base);
    r.services[1].server_id = Some(base + 555);
    assert!(matches!(
        store.import_records(&r, &IdentifierFields::new(), &records_event).await,
        Err(StoreError::Invalid(m)) if m.starts_with("services[1].server_id")
    ));

    let mut r = fixture(base);
    r.clients[2].id = base + 1;
    assert!(matches!(
        store.import_records(&r, &IdentifierFields::new(), &records_event).await,
        Err(StoreError::Invalid(m)) if m == format!("clients[2].id: duplicate id {}", base + 1)
    ));

    let mut r = fixture(base);
    r.servers[1].name = r.servers[0].name.clone();
    assert!(matches!(
        store.import_records(&r, &IdentifierFields::new(), &records_event).await,
        Err(StoreError::Invalid(m)) if m.starts_with("servers[1].name")
    ));

    // The good document still loads, and a later one may not steal a stored server's name.
    load(store, base).await;
    let steal = Records {
        servers: vec![Server {
            id: base + 199,
            ..fixture(base).servers[0].clone()
        }],
        ..Records::default()
    };
    assert!(matches!(
        store.import_records(&steal, &IdentifierFields::new(), &records_event).await,
        Err(StoreError::Invalid(m)) if m.starts_with("servers[0].name")
    ));
    assert!(store.services(None).await.unwrap().len() >= 6);
}

/// `server(name_or_id)`: exact name first, then a numeric id; `NotFound` otherwise.
pub async fn server_lookup_by_name_or_id(store: &dyn Store) {
    let base = 6_000_000;
    let mut r = load(store, base).await;
    let web1 = store.server(&format!("web1-{base}")).await.unwrap();
    assert_eq!(web1.id, base + 100);
    assert_eq!(
        store.server(&(base + 101).to_string()).await.unwrap().id,
        base + 101
    );
    // A server named like another server's id: the name wins.
    r.servers.push(Server {
        id: base + 103,
        name: (base + 100).to_string(),
        ..r.servers[0].clone()
    });
    store
        .import_records(&r, &IdentifierFields::new(), &records_event)
        .await
        .unwrap();
    assert_eq!(
        store.server(&(base + 100).to_string()).await.unwrap().id,
        base + 103
    );
    // Names are exact (no case folding, no prefix).
    assert!(store.server(&format!("WEB1-{base}")).await.is_err());
    match store.server(&format!("web-{base}")).await {
        Err(StoreError::NotFound(what)) => {
            assert_eq!(what, format!("server \"web-{base}\""));
            assert_eq!(
                StoreError::NotFound(what).to_string(),
                format!("server \"web-{base}\" not found")
            );
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        store.server("999999999").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.server_by_id(base + 999).await,
        Err(StoreError::NotFound(w)) if w == format!("server {}", base + 999)
    ));
    assert!(matches!(
        store.service(base + 999).await,
        Err(StoreError::NotFound(w)) if w == format!("service {}", base + 999)
    ));
}

/// Live services of the other servers of a module.
pub async fn live_services_of_module(store: &dyn Store) {
    let base = 7_000_000;
    load(store, base).await;
    let m = module(base);
    // web2 (base+101) has Suspended base+1001 and Pending base+1004.
    assert_eq!(
        ids(&store.live_services_of_module(&m, base + 100).await.unwrap()),
        vec![base + 1001, base + 1004]
    );
    // web1 has Active base+1000 and Terminated base+1002 (closed: not listed).
    assert_eq!(
        ids(&store.live_services_of_module(&m, base + 101).await.unwrap()),
        vec![base + 1000]
    );
    // Services without a server and servers of other modules never count.
    assert_eq!(
        ids(&store.live_services_of_module(&m, 0).await.unwrap()),
        vec![base + 1000, base + 1001, base + 1004]
    );
    assert_eq!(
        ids(&store
            .live_services_of_module(&format!("plesk_{base}"), base + 100)
            .await
            .unwrap()),
        vec![base + 1005]
    );
    assert!(store
        .live_services_of_module("nosuchmodule", 0)
        .await
        .unwrap()
        .is_empty());
    // The same rules, counted per server in one query: web1 has one live service (its
    // Terminated one is not counted), web2 two.
    let counts = store.live_service_counts().await.unwrap();
    let of = |id: i64| counts.iter().find(|(s, _)| *s == id).map(|(_, n)| *n);
    assert_eq!(of(base + 100), Some(1), "{counts:?}");
    assert_eq!(of(base + 101), Some(2), "{counts:?}");
    assert!(counts.windows(2).all(|w| w[0].0 < w[1].0), "{counts:?}");
}

pub(crate) fn new_run(server_id: i64, accounts: Vec<RemoteAccount>) -> NewRun {
    NewRun {
        server_id,
        started_at: datetime!(2024-05-01 10:00:00.123456789 UTC),
        finished_at: datetime!(2024-05-01 10:00:02 +02:00),
        listing_status: ListingStatus::Complete,
        error: None,
        accounts,
        skipped: Vec::new(),
        analysis_json: Some(r#"{"items":[]}"#.into()),
        counts_json: r#"{"in_sync":1}"#.into(),
        service_versions: vec![(1, 1), (2, 3)],
        misses: None,
    }
}

pub(crate) fn remote(user: &str, base: i64) -> RemoteAccount {
    RemoteAccount {
        email: Some(format!("{user}.{base}@mail.test")),
        username: user.into(),
        domain: format!("{user}{base}.test"),
        unique_identifier: format!("{user}{base}.test"),
        product: "basic".into(),
        primary_ip: "192.0.2.10".into(),
        created: Some(datetime!(2024-01-31 13:15:00)),
        status: RemoteStatus::Active,
        owner: Some("root".into()),
        status_detail: None,
        notes: Vec::new(),
    }
}

pub(crate) fn event(action: &str, server_id: Option<i64>, run_id: Option<i64>) -> NewAuditEvent {
    NewAuditEvent {
        actor: "cli:test".into(),
        action: action.into(),
        server_id,
        run_id,
        ..NewAuditEvent::default()
    }
}

/// Apply creates clients, products and services with in-set references, updates with the
/// version check, writes audit events carrying the created ids and marks the run applied.
pub async fn apply_creates_with_refs_and_audits(store: &dyn Store) {
    let base = 8_000_000;
    let r = load(store, base).await;
    let server = base + 100;
    let run_id = store
        .insert_run(&new_run(server, vec![remote("cat", base)]))
        .await
        .unwrap();

    let new_client = client(0, &format!("Cat.{base}@mail.test"), "Cat");
    let new_product = Product {
        id: 0,
        name: "Gold".into(),
        module: module(base),
        config_options: BTreeMap::from([("configoption1".to_string(), "gold".to_string())]),
    };
    let mut created_service = service(
        0,
        0,
        0,
        Some(server),
        &format!("cat{base}.test"),
        ServiceStatus::Active,
    );
    created_service.version = 42; // ignored: new services start at 1
    let other_service = service(
        0,
        0,
        base + 10,
        Some(server),
        &format!("ann2{base}.test"),
        ServiceStatus::Suspended,
    );
    let mut updated = r.services[0].clone();
    updated.status = ServiceStatus::Suspended;
    updated.dedicated_ip = "192.0.2.99".into();

    let mut import_ev = event("import", Some(server), Some(run_id));
    import_ev.after = Some(r#"{"domain":"cat.test"}"#.into());
    let mut sync_ev = event("sync", Some(server), Some(run_id));
    sync_ev.before = Some(r#"{"status":"Active"}"#.into());
    sync_ev.after = Some(r#"{"status":"Suspended"}"#.into());
    let mut force_ev = event("force", Some(server), Some(run_id));
    force_ev.note = Some("termination guard overridden".into());

    let cs = ChangeSet {
        ops: vec![
            Op::CreateClient(new_client.clone()),
            Op::CreateProduct(new_product.clone()),
            Op::CreateService {
                client: ClientRef::CreatedBy(0),
                product_created_by: Some(1),
                service: created_service.clone(),
            },
            Op::CreateService {
                client: ClientRef::Existing(base + 1),
                product_created_by: None,
                service: other_service.clone(),
            },
            Op::UpdateService {
                expected_version: 1,
                service: updated.clone(),
            },
        ],
        audit: vec![
            (Some(0), event("create_client", Some(server), Some(run_id))),
            (Some(2), import_ev.clone()),
            (Some(3), event("import", Some(server), Some(run_id))),
            (Some(4), sync_ev.clone()),
            (None, force_ev.clone()),
        ],
        mark_run_applied: Some(run_id),
        ..Default::default()
    };
    let before = OffsetDateTime::now_utc();
    let applied = store.apply(&cs).await.unwrap();
    let created = &applied.created_ids;
    assert_eq!(created.len(), 5);
    assert_eq!(created[4], None);
    let (c, p, s1, s2) = (
        created[0].expect("client id"),
        created[1].expect("product id"),
        created[2].expect("service id"),
        created[3].expect("service id"),
    );
    assert_ne!(s1, s2);
    assert!(r.services.iter().all(|s| s.id != s1 && s.id != s2));
    assert!(r.clients.iter().all(|x| x.id != c));

    assert_eq!(
        client_of(store, c).await.expect("client stored"),
        Client {
            id: c,
            ..new_client
        }
    );
    let found = clients_with_email(store, &format!("cat.{base}@mail.test")).await;
    assert_eq!(ids_of_clients(&found), vec![c]);
    assert!(products_of_module(store, &module(base))
        .await
        .contains(&Product {
            id: p,
            ..new_product
        }));
    assert_eq!(
        store.service(s1).await.unwrap(),
        Service {
            id: s1,
            client_id: c,
            product_id: p,
            version: 1,
            ..created_service
        }
    );
    assert_eq!(
        store.service(s2).await.unwrap(),
        Service {
            id: s2,
            client_id: base + 1,
            version: 1,
            ..other_service
        }
    );
    assert_eq!(
        store.service(base + 1000).await.unwrap(),
        with_version(&updated, 2)
    );

    let events = store
        .audit_events(None, Some(run_id), None, 0)
        .await
        .unwrap();
    assert_eq!(events.len(), 5);
    // Newest first: reverse of insertion.
    let actions: Vec<&str> = events.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["create_client", "import", "import", "sync", "force"]
    );
    let ev: Vec<_> = events.iter().rev().collect();
    assert_eq!((ev[0].client_id, ev[0].service_id), (Some(c), None));
    assert_eq!((ev[1].client_id, ev[1].service_id), (Some(c), Some(s1)));
    assert_eq!(
        json_of(ev[1].after.as_deref()),
        json_of(import_ev.after.as_deref())
    );
    assert_eq!(
        (ev[2].client_id, ev[2].service_id),
        (Some(base + 1), Some(s2))
    );
    assert_eq!(
        (ev[3].client_id, ev[3].service_id),
        (Some(base + 1), Some(base + 1000))
    );
    assert_eq!(
        (
            json_of(ev[3].before.as_deref()),
            json_of(ev[3].after.as_deref())
        ),
        (
            json_of(sync_ev.before.as_deref()),
            json_of(sync_ev.after.as_deref())
        )
    );
    assert_eq!((ev[4].client_id, ev[4].service_id), (None, None));
    assert_eq!(ev[4].note, force_ev.note);
    assert!(events.iter().all(|e| e.actor == "cli:test"
        && e.server_id == Some(server)
        && e.at >= before - time::Duration::seconds(5)));

    let run = store.run(run_id).await.unwrap();
    let applied_at = run.applied_at.expect("run marked applied");
    assert!(applied_at >= before - time::Duration::seconds(5));

    // A run may be applied again (each apply re-checks versions); `applied_at` then records
    // the latest apply, and the new change set is written like any other.
    let again = ChangeSet {
        ops: vec![Op::CreateClient(client(
            0,
            &format!("dan.{base}@mail.test"),
            "Dan",
        ))],
        audit: vec![(Some(0), event("create_client", Some(server), Some(run_id)))],
        mark_run_applied: Some(run_id),
        ..Default::default()
    };
    store.apply(&again).await.unwrap();
    assert_eq!(
        clients_with_email(store, &format!("dan.{base}@mail.test"))
            .await
            .len(),
        1
    );
    assert_eq!(
        store
            .audit_events(None, Some(run_id), None, 0)
            .await
            .unwrap()
            .len(),
        6
    );
    let reapplied_at = store.run(run_id).await.unwrap().applied_at.unwrap();
    assert!(reapplied_at >= applied_at);
    assert!(matches!(
        store
            .apply(&ChangeSet {
                mark_run_applied: Some(base + 987_654),
                ..ChangeSet::default()
            })
            .await,
        Err(StoreError::NotFound(_))
    ));

    // An empty change set is fine and creates nothing.
    let empty = store.apply(&ChangeSet::default()).await.unwrap();
    assert!(empty.created_ids.is_empty());
}

fn ids_of_clients(v: &[Client]) -> Vec<i64> {
    v.iter().map(|c| c.id).collect()
}

/// Bad references inside a change set are refused (and nothing is written).
pub async fn apply_refuses_bad_refs(store: &dyn Store) {
    let base = 9_000_000;
    load(store, base).await;
    let email = format!("eve.{base}@mail.test");
    let svc = service(
        0,
        0,
        base + 10,
        Some(base + 100),
        &format!("eve{base}.test"),
        ServiceStatus::Active,
    );
    let create_client = Op::CreateClient(client(0, &email, "Eve"));
    let bad_sets = vec![
        // CreatedBy pointing at a product.
        vec![
            create_client.clone(),
            Op::CreateProduct(fixture(base).products[0].clone()),
            Op::CreateService {
                client: ClientRef::CreatedBy(1),
                product_created_by: None,
                service: svc.clone(),
            },
        ],
        // CreatedBy pointing forward / out of range.
        vec![
            Op::CreateService {
                client: ClientRef::CreatedBy(1),
                product_created_by: None,
                service: svc.clone(),
            },
            create_client.clone(),
        ],
        vec![
            create_client.clone(),
            Op::CreateService {
                client: ClientRef::CreatedBy(7),
                product_created_by: None,
                service: svc.clone(),
            },
        ],
        // product_created_by pointing at a client.
        vec![
            create_client.clone(),
            Op::CreateService {
                client: ClientRef::CreatedBy(0),
                product_created_by: Some(0),
                service: svc.clone(),
            },
        ],
        // Existing client / product / server that does not exist.
        vec![
            create_client.clone(),
            Op::CreateService {
                client: ClientRef::Existing(base + 999),
                product_created_by: None,
                service: svc.clone(),
            },
        ],
        vec![
            create_client.clone(),
            Op::CreateService {
                client: ClientRef::CreatedBy(0),
                product_created_by: None,
                service: Service {
                    product_id: base + 999,
                    ..svc.clone()
                },
            },
        ],
        vec![
            create_client.clone(),
            Op::CreateService {
                client: ClientRef::CreatedBy(0),
                product_created_by: None,
                service: Service {
                    server_id: Some(base + 999),
                    ..svc.clone()
                },
            },
        ],
    ];
    for (i, ops) in bad_sets.into_iter().enumerate() {
        let cs = ChangeSet {
            ops,
            audit: vec![(Some(0), event("create_client", Some(base + 100), None))],
            mark_run_applied: None,
            ..Default::default()
        };
        match store.apply(&cs).await {
            Err(StoreError::Invalid(_)) => {}
            other => panic!("bad set {i}: expected Invalid, got {other:?}"),
        }
    }
    // An audit event pointing past the ops.
    let cs = ChangeSet {
        ops: vec![create_client.clone()],
        audit: vec![(Some(1), event("import", Some(base + 100), None))],
        mark_run_applied: None,
        ..Default::default()
    };
    assert!(matches!(
        store.apply(&cs).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(clients_with_email(store, &email).await.is_empty());
    assert!(store
        .audit_events(Some(base + 100), None, None, 0)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.services(Some(base + 100)).await.unwrap().len(), 2);
}

/// A version conflict rolls back the whole change set, earlier ops included.
pub async fn apply_version_conflict_rolls_back(store: &dyn Store) {
    let base = 10_000_000;
    let r = load(store, base).await;
    let server = base + 100;
    let run_id = store
        .insert_run(&new_run(server, Vec::new()))
        .await
        .unwrap();
    let email = format!("fay.{base}@mail.test");

    let mut ok_update = r.services[1].clone();
    ok_update.status = ServiceStatus::Active;
    let mut stale_update = r.services[0].clone();
    stale_update.status = ServiceStatus::Terminated;
    let cs = ChangeSet {
        ops: vec![
            Op::CreateClient(client(0, &email, "Fay")),
            Op::CreateService {
                client: ClientRef::CreatedBy(0),
                product_created_by: None,
                service: service(
                    0,
                    0,
                    base + 10,
                    Some(server),
                    &format!("fay{base}.test"),
                    ServiceStatus::Active,
                ),
            },
            Op::UpdateService {
                expected_version: 1,
                service: ok_update.clone(),
            },
            Op::UpdateService {
                expected_version: 7,
                service: stale_update.clone(),
            },
        ],
        audit: vec![
            (Some(0), event("create_client", Some(server), Some(run_id))),
            (Some(1), event("import", Some(server), Some(run_id))),
            (Some(2), event("sync", Some(server), Some(run_id))),
            (Some(3), event("terminate", Some(server), Some(run_id))),
        ],
        mark_run_applied: Some(run_id),
        ..Default::default()
    };
    match store.apply(&cs).await {
        Err(StoreError::VersionConflict {
            service_id,
            expected,
            found,
        }) => assert_eq!((service_id, expected, found), (base + 1000, 7, 1)),
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    let assert_untouched = || async {
        assert!(clients_with_email(store, &email).await.is_empty());
        assert_eq!(
            store.service(base + 1001).await.unwrap(),
            with_version(&r.services[1], 1)
        );
        assert_eq!(
            store.service(base + 1000).await.unwrap(),
            with_version(&r.services[0], 1)
        );
        assert_eq!(
            ids(&store.services(Some(server)).await.unwrap()),
            vec![base + 1000, base + 1002]
        );
        assert!(store
            .audit_events(Some(server), None, None, 0)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.run(run_id).await.unwrap().applied_at, None);
    };
    assert_untouched().await;

    // Two updates of one service in one set: the second sees the first's version.
    let twice = ChangeSet {
        ops: vec![
            Op::UpdateService {
                expected_version: 1,
                service: ok_update.clone(),
            },
            Op::UpdateService {
                expected_version: 1,
                service: ok_update.clone(),
            },
        ],
        ..ChangeSet::default()
    };
    assert!(matches!(
        store.apply(&twice).await,
        Err(StoreError::VersionConflict { service_id, expected: 1, found: 2 }) if service_id == base + 1001
    ));
    // A service that is gone.
    let gone = ChangeSet {
        ops: vec![
            Op::CreateClient(client(0, &email, "Fay")),
            Op::UpdateService {
                expected_version: 1,
                service: Service {
                    id: base + 9999,
                    ..ok_update.clone()
                },
            },
        ],
        ..ChangeSet::default()
    };
    assert!(matches!(
        store.apply(&gone).await,
        Err(StoreError::NotFound(w)) if w == format!("service {}", base + 9999)
    ));
    assert_untouched().await;

    // With the right version the same update goes through and bumps the version.
    let good = ChangeSet {
        ops: vec![Op::UpdateService {
            expected_version: 1,
            service: ok_update.clone(),
        }],
        ..ChangeSet::default()
    };
    assert_eq!(store.apply(&good).await.unwrap().created_ids, vec![None]);
    assert_eq!(
        store.service(base + 1001).await.unwrap(),
        with_version(&ok_update, 2)
    );
    // Replaying it now conflicts.
    assert!(matches!(
        store.apply(&good).await,
        Err(StoreError::VersionConflict {
            expected: 1,
            found: 2,
            ..
        })
    ));
    // Two updates of one service in order: both apply, the last values win, version + 2.
    let mut first = ok_update.clone();
    first.domain = format!("first{base}.test");
    let mut second = ok_update.clone();
    second.username = "second".into();
    let chained = ChangeSet {
        ops: vec![
            Op::UpdateService {
                expected_version: 2,
                service: first,
            },
            Op::UpdateService {
                expected_version: 3,
                service: second.clone(),
            },
        ],
        ..ChangeSet::default()
    };
    store.apply(&chained).await.unwrap();
    assert_eq!(
        store.service(base + 1001).await.unwrap(),
        with_version(&second, 4)
    );
}

/// A run comes back as stored: accounts, skipped records, versions, counts, times.
pub async fn runs_round_trip(store: &dyn Store) {
    let base = 11_000_000;
    load(store, base).await;
    let server = base + 100;
    let mut no_date = remote("dan", base);
    no_date.created = None;
    no_date.email = None;
    no_date.status = RemoteStatus::Suspended;
    no_date.owner = None;
    no_date.status_detail = Some("billing".into());
    let mut run = new_run(server, vec![remote("ann", base), no_date]);
    run.listing_status = ListingStatus::Incomplete;
    run.skipped = vec![SkippedRecord {
        index: 2,
        identifier: Some("eve".into()),
        reason: "status \"active\" is not Active or Suspended".into(),
    }];
    run.service_versions = vec![(base + 1000, 1), (base + 1002, 4)];
    let id = store.insert_run(&run).await.unwrap();
    let got = store.run(id).await.unwrap();
    assert_eq!(got.id, id);
    assert_eq!(got.server_id, server);
    // Kept to the microsecond (the run started at .123456789).
    assert_eq!(got.started_at, datetime!(2024-05-01 10:00:00.123456 UTC));
    assert_eq!(got.finished_at, run.finished_at);
    assert_eq!(got.listing_status, ListingStatus::Incomplete);
    assert_eq!(got.error, None);
    assert_eq!(got.accounts, run.accounts);
    assert_eq!(got.skipped, run.skipped);
    assert_eq!(
        json_of(got.analysis_json.as_deref()),
        json_of(run.analysis_json.as_deref())
    );
    assert_eq!(
        json_of(Some(&got.counts_json)),
        json_of(Some(&run.counts_json))
    );
    assert_eq!(got.service_versions, run.service_versions);
    assert_eq!(got.applied_at, None);

    // The same run with its remote list prepared ahead reads back the same.
    let prepared = serversync_store::PreparedAccounts::of(&run.accounts).unwrap();
    assert_eq!((prepared.len(), prepared.is_empty()), (2, false));
    let bare = NewRun {
        accounts: Vec::new(),
        ..run.clone()
    };
    let pid = store
        .insert_run_prepared(&bare, prepared.clone(), None)
        .await
        .unwrap();
    let again = store.run(pid).await.unwrap();
    assert_eq!(again.accounts, run.accounts);
    assert_eq!(again.skipped, run.skipped);
    assert_eq!(again.analysis_json, got.analysis_json);
    assert_eq!(again.service_versions, run.service_versions);
    assert_eq!(again.listing_status, ListingStatus::Incomplete);
    let summary = store.runs(server, 1).await.unwrap();
    assert_eq!((summary[0].id, summary[0].accounts), (pid, 2));
    // Its analysis document prepared ahead too: the same text reads back.
    let text = run.analysis_json.clone().expect("a document");
    let analysis = serversync_store::PreparedAnalysis::of(text).unwrap();
    assert!(analysis.compressed_len() > 0);
    let bare_doc = NewRun {
        analysis_json: None,
        ..bare.clone()
    };
    let did = store
        .insert_run_prepared(&bare_doc, prepared.clone(), Some(analysis.clone()))
        .await
        .unwrap();
    let doc_again = store.run(did).await.unwrap();
    assert_eq!(doc_again.analysis_json, got.analysis_json);
    assert_eq!(doc_again.accounts, run.accounts);
    assert_eq!(doc_again.skipped, run.skipped);
    assert_eq!(doc_again.counts_json, got.counts_json);
    // Not JSON: refused ahead, as `insert_run` refuses it.
    fn not_json<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
        match r {
            Err(StoreError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
    let own = not_json(
        store
            .insert_run(&NewRun {
                analysis_json: Some("{\"items\":".into()),
                ..run.clone()
            })
            .await,
    );
    let ahead = not_json(serversync_store::PreparedAnalysis::of("{\"items\":".into()));
    assert!(own.starts_with("run analysis_json is not JSON: "), "{own}");
    assert_eq!(own, ahead);
    // The run's own document beside a prepared remote list is checked as `insert_run`
    // checks it, and nothing is stored.
    let before = store.runs(server, 100).await.unwrap().len();
    let own_beside = not_json(
        store
            .insert_run_prepared(
                &NewRun {
                    analysis_json: Some("{\"items\":".into()),
                    ..bare.clone()
                },
                prepared.clone(),
                None,
            )
            .await,
    );
    assert_eq!(own_beside, own);
    assert_eq!(store.runs(server, 100).await.unwrap().len(), before);
    // A run holds one list and one document: its own and a prepared one together are
    // refused.
    assert!(matches!(
        store.insert_run_prepared(&run, prepared.clone(), None).await,
        Err(StoreError::Invalid(m)) if m.contains("prepared accounts")
    ));
    assert!(matches!(
        store.insert_run_prepared(&bare, prepared, Some(analysis)).await,
        Err(StoreError::Invalid(m)) if m.contains("prepared analysis")
    ));

    let failed = NewRun {
        listing_status: ListingStatus::Failed,
        error: Some("Authentication failed".into()),
        analysis_json: None,
        counts_json: "{}".into(),
        service_versions: Vec::new(),
        ..new_run(server, Vec::new())
    };
    let fid = store.insert_run(&failed).await.unwrap();
    let got = store.run(fid).await.unwrap();
    assert_eq!(got.listing_status, ListingStatus::Failed);
    assert_eq!(got.error.as_deref(), Some("Authentication failed"));
    assert!(got.accounts.is_empty() && got.skipped.is_empty());
    assert_eq!(got.analysis_json, None);

    assert!(matches!(
        store.run(base + 424_242).await,
        Err(StoreError::NotFound(w)) if w == format!("run {}", base + 424_242)
    ));
    assert!(matches!(
        store.insert_run(&new_run(base + 999, Vec::new())).await,
        Err(StoreError::NotFound(_))
    ));
}

/// `latest_run` is the newest stored run; `runs` lists summaries newest first.
pub async fn runs_summaries_and_latest(store: &dyn Store) {
    let base = 12_000_000;
    load(store, base).await;
    let server = base + 100;
    assert!(store.latest_run(server).await.unwrap().is_none());
    assert!(store.runs(server, 10).await.unwrap().is_empty());

    let first = store
        .insert_run(&new_run(
            server,
            vec![remote("a", base), remote("b", base), remote("c", base)],
        ))
        .await
        .unwrap();
    let other = store
        .insert_run(&new_run(base + 101, vec![remote("z", base)]))
        .await
        .unwrap();
    let failed = NewRun {
        listing_status: ListingStatus::Failed,
        error: Some("timeout".into()),
        analysis_json: None,
        counts_json: "{}".into(),
        started_at: datetime!(2024-05-02 10:00:00 UTC),
        finished_at: datetime!(2024-05-02 10:00:30 UTC),
        ..new_run(server, Vec::new())
    };
    let second = store.insert_run(&failed).await.unwrap();
    assert!(second > first);

    let latest = store.latest_run(server).await.unwrap().expect("a run");
    assert_eq!(latest.id, second);
    assert_eq!(latest.error.as_deref(), Some("timeout"));
    assert_eq!(
        store.latest_run(base + 101).await.unwrap().map(|r| r.id),
        Some(other)
    );

    let sums = store.runs(server, 10).await.unwrap();
    assert_eq!(
        sums.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![second, first]
    );
    assert_eq!(sums[0].accounts, 0);
    assert_eq!(sums[0].listing_status, ListingStatus::Failed);
    assert_eq!(sums[0].error.as_deref(), Some("timeout"));
    assert_eq!(sums[0].started_at, stored_time(failed.started_at));
    assert_eq!(sums[0].finished_at, failed.finished_at);
    assert_eq!(sums[1].accounts, 3);
    assert_eq!(sums[1].listing_status, ListingStatus::Complete);
    assert_eq!(
        json_of(Some(&sums[1].counts_json)),
        Some(serde_json::json!({"in_sync": 1}))
    );
    assert_eq!(sums[1].server_id, server);
    assert!(sums.iter().all(|s| s.applied_at.is_none()));
    assert_eq!(
        store
            .runs(server, 1)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        vec![second]
    );
    assert_eq!(store.runs(server, 0).await.unwrap().len(), 2);

    store
        .apply(&ChangeSet {
            mark_run_applied: Some(first),
            ..ChangeSet::default()
        })
        .await
        .unwrap();
    let sums = store.runs(server, 10).await.unwrap();
    assert!(sums[1].applied_at.is_some() && sums[0].applied_at.is_none());
}

/// Audit events: appended with a time, newest first, filters combine, limit applies.
pub async fn audit_filters(store: &dyn Store) {
    let base = 13_000_000;
    load(store, base).await;
    let (s1, s2) = (base + 100, base + 101);
    let before = OffsetDateTime::now_utc();
    let mut evs = vec![
        event("records_import", None, None),
        event("import", Some(s1), Some(base + 1)),
        event("sync", Some(s1), Some(base + 1)),
        event("terminate", Some(s1), Some(base + 2)),
        event("move", Some(s2), Some(base + 3)),
    ];
    evs[2].service_id = Some(base + 1000);
    evs[2].client_id = Some(base + 1);
    evs[2].before = Some(r#"{"status":"Active"}"#.into());
    evs[2].after = Some(r#"{"status":"Suspended"}"#.into());
    evs[3].service_id = Some(base + 1000);
    evs[3].note = Some("forced".into());
    evs[4].service_id = Some(base + 1001);
    for e in &evs {
        append_audit(store, e).await;
    }
    let actions =
        |v: Vec<serversync_store::AuditEvent>| v.into_iter().map(|e| e.action).collect::<Vec<_>>();

    assert_eq!(
        actions(store.audit_events(Some(s1), None, None, 0).await.unwrap()),
        vec!["terminate", "sync", "import"]
    );
    assert_eq!(
        actions(
            store
                .audit_events(Some(s1), Some(base + 1), None, 10)
                .await
                .unwrap()
        ),
        vec!["sync", "import"]
    );
    assert_eq!(
        actions(
            store
                .audit_events(None, None, Some(base + 1000), 10)
                .await
                .unwrap()
        ),
        vec!["terminate", "sync"]
    );
    assert_eq!(
        actions(
            store
                .audit_events(Some(s2), None, Some(base + 1000), 10)
                .await
                .unwrap()
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        actions(store.audit_events(Some(s1), None, None, 1).await.unwrap()),
        vec!["terminate"]
    );
    let all = store.audit_events(None, None, None, 0).await.unwrap();
    assert!(all.len() >= 5);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    let newest = &all[0];
    assert_eq!(newest.action, "move");
    assert_eq!(
        (newest.server_id, newest.run_id, newest.service_id),
        (Some(s2), Some(base + 3), Some(base + 1001))
    );
    let sync = store
        .audit_events(None, None, Some(base + 1000), 0)
        .await
        .unwrap()
        .pop()
        .expect("sync event");
    let expected = &evs[2];
    assert_eq!(
        (
            &sync.actor,
            &sync.action,
            sync.server_id,
            sync.run_id,
            sync.service_id,
            sync.client_id,
            json_of(sync.before.as_deref()),
            json_of(sync.after.as_deref()),
            &sync.note
        ),
        (
            &expected.actor,
            &expected.action,
            expected.server_id,
            expected.run_id,
            expected.service_id,
            expected.client_id,
            json_of(expected.before.as_deref()),
            json_of(expected.after.as_deref()),
            &expected.note
        )
    );
    let after = OffsetDateTime::now_utc();
    assert!(
        sync.at >= before - time::Duration::seconds(1)
            && sync.at <= after + time::Duration::seconds(1)
    );
}

const HASH_A: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$YWFhYWFhYWFhYWFhYWFhYWFhYWE";
const HASH_B: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$YmJiYmJiYmJiYmJiYmJiYmJiYmI";

/// `now` ± a second, for store-assigned times.
fn assert_recent(t: OffsetDateTime, before: OffsetDateTime) {
    let after = OffsetDateTime::now_utc();
    assert!(
        t >= before - time::Duration::seconds(1) && t <= after + time::Duration::seconds(1),
        "{t} not within [{before}, {after}]"
    );
}

/// Administrators: create, look up (hash and role kept), duplicates refused, password change,
/// listing by username, `Debug` without the hash.
pub async fn users_create_lookup_and_refuse_duplicates(store: &dyn Store) {
    let base = 15_000_000;
    let (alice, bob) = (format!("alice-{base}"), format!("bob-{base}"));
    let before = OffsetDateTime::now_utc();
    let a = store
        .create_user(&alice, HASH_A, Role::Admin, &user_event)
        .await
        .unwrap();
    assert!(a.id > 0);
    assert_eq!(
        (
            a.username.as_str(),
            a.password_hash.as_str(),
            a.role,
            a.disabled
        ),
        (alice.as_str(), HASH_A, Role::Admin, false)
    );
    assert_recent(a.created_at, before);
    assert_eq!(store.user_by_name(&alice).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.user_by_name(&format!("nobody-{base}")).await.unwrap(),
        None
    );
    // Exact match only.
    assert_eq!(
        store.user_by_name(&alice.to_uppercase()).await.unwrap(),
        None
    );

    match store
        .create_user(&alice, HASH_B, Role::ReadOnly, &user_event)
        .await
    {
        Err(StoreError::Invalid(m)) => {
            assert_eq!(m, format!("username {alice:?} is already taken"))
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(store.user_by_name(&alice).await.unwrap(), Some(a.clone()));
    assert!(matches!(
        store.create_user(" ", HASH_A, Role::Admin, &user_event).await,
        Err(StoreError::Invalid(m)) if m == "username is empty"
    ));

    // Created after alice but listed before her? No: listing is by username.
    let b = store
        .create_user(&bob, HASH_B, Role::ReadOnly, &user_event)
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(b.role, Role::ReadOnly);
    let mine: Vec<_> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.username.ends_with(&format!("-{base}")))
        .collect();
    assert_eq!(mine, vec![a.clone(), b.clone()]);

    let a2 = store.user_by_name(&alice).await.unwrap().unwrap();
    assert_eq!(a2, a);

    let dbg = format!("{a2:?}");
    assert!(!dbg.contains(HASH_A) && !dbg.contains("argon2"), "{dbg}");
    assert!(dbg.contains(&alice) && dbg.contains("[redacted]"), "{dbg}");
}

/// Sessions: found with their user and CSRF token while live; unknown, expired and deleted
/// ones are `None`.
/// Failed sign-ins are counted per key in the database (every instance's together), forgotten
/// after the throttle's memory, and cleared by a success.
pub async fn sign_in_failures_count_expire_and_clear(store: &dyn Store) {
    use std::time::Duration;
    let hour = Duration::from_secs(3600);
    let (a, b) = ("admin|192.0.2.1", "admin|192.0.2.2");
    assert_eq!(store.sign_in_failures(a, hour).await.unwrap(), 0);
    for n in 1..=3 {
        assert_eq!(store.record_sign_in_failure(a, hour).await.unwrap(), n);
    }
    assert_eq!(store.record_sign_in_failure(b, hour).await.unwrap(), 1);
    assert_eq!(store.sign_in_failures(a, hour).await.unwrap(), 3);
    // Concurrent failures (as from several instances) each count.
    let (x, y) = tokio::join!(
        store.record_sign_in_failure(a, hour),
        store.record_sign_in_failure(a, hour)
    );
    let mut got = [x.unwrap(), y.unwrap()];
    got.sort_unstable();
    assert_eq!(got, [4, 5]);
    assert_eq!(store.sign_in_failures(a, hour).await.unwrap(), 5);
    // A run older than the memory does not count, and the next failure starts again at 1.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let short = Duration::from_millis(10);
    assert_eq!(store.sign_in_failures(a, short).await.unwrap(), 0);
    assert_eq!(store.record_sign_in_failure(a, short).await.unwrap(), 1);
    // ... and dropped b's stale row on the way.
    assert_eq!(store.sign_in_failures(b, hour).await.unwrap(), 0);
    assert_eq!(store.record_sign_in_failure(a, hour).await.unwrap(), 2);
    store.clear_sign_in_failures(a).await.unwrap();
    assert_eq!(store.sign_in_failures(a, hour).await.unwrap(), 0);
    store.clear_sign_in_failures("never|failed").await.unwrap();
}

pub async fn sessions_live_expired_deleted(store: &dyn Store) {
    let base = 16_000_000;
    let user = store
        .create_user(
            &format!("carol-{base}"),
            HASH_A,
            Role::ReadOnly,
            &user_event,
        )
        .await
        .unwrap();
    let live = format!("{:064x}", base + 1);
    let expired = format!("{:064x}", base + 2);
    let expires_at = OffsetDateTime::now_utc() + time::Duration::hours(12);
    store
        .create_session(&live, user.id, "csrf-live", expires_at)
        .await
        .unwrap();
    let s = store.session(&live).await.unwrap().expect("live session");
    assert_eq!(
        s,
        serversync_store::Session {
            token_hash: live.clone(),
            user: user.clone(),
            csrf_token: "csrf-live".into(),
            expires_at: stored_time(expires_at),
        }
    );
    assert_eq!(
        store.session(&format!("{:064x}", base + 3)).await.unwrap(),
        None
    );

    store
        .create_session(
            &expired,
            user.id,
            "csrf-old",
            OffsetDateTime::now_utc() - time::Duration::seconds(1),
        )
        .await
        .unwrap();
    assert_eq!(store.session(&expired).await.unwrap(), None);
    // Still none on a second look (the expired row may have been dropped meanwhile).
    assert_eq!(store.session(&expired).await.unwrap(), None);

    assert!(matches!(
        store
            .create_session(&format!("{:064x}", base + 4), base + 999_999, "x", expires_at)
            .await,
        Err(StoreError::NotFound(m)) if m == format!("admin user {}", base + 999_999)
    ));

    store.delete_session(&live).await.unwrap();
    assert_eq!(store.session(&live).await.unwrap(), None);
    // Deleting twice (or an unknown session) is fine.
    store.delete_session(&live).await.unwrap();
}

/// API tokens: create, look up by hash (recording the use), list; names and hashes unique.
pub async fn api_tokens_create_lookup_and_refuse_duplicates(store: &dyn Store) {
    let base = 17_000_000;
    let name = format!("deploy-{base}");
    let hash = format!("{:064x}", base + 1);
    let before = OffsetDateTime::now_utc();
    let t = store
        .create_api_token(&name, &hash, Role::Admin, &token_event)
        .await
        .unwrap();
    assert!(t.id > 0);
    assert_eq!(
        (
            t.name.as_str(),
            t.token_hash.as_str(),
            t.role,
            t.last_used_at
        ),
        (name.as_str(), hash.as_str(), Role::Admin, None)
    );
    assert_recent(t.created_at, before);
    let listed = |v: Vec<serversync_store::ApiToken>| {
        v.into_iter()
            .filter(|t| t.name.ends_with(&format!("-{base}")))
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(store.api_tokens().await.unwrap()), vec![t.clone()]);

    let used = store.api_token(&hash).await.unwrap().expect("token");
    assert_eq!(
        (used.id, &used.name, used.role),
        (t.id, &t.name, Role::Admin)
    );
    assert_recent(used.last_used_at.expect("last_used_at set"), before);
    assert_eq!(
        listed(store.api_tokens().await.unwrap()),
        vec![used.clone()]
    );
    assert_eq!(
        store
            .api_token(&format!("{:064x}", base + 9))
            .await
            .unwrap(),
        None
    );

    match store
        .create_api_token(
            &name,
            &format!("{:064x}", base + 2),
            Role::ReadOnly,
            &token_event,
        )
        .await
    {
        Err(StoreError::Invalid(m)) => {
            assert_eq!(m, format!("API token name {name:?} is already taken"))
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    match store
        .create_api_token(
            &format!("other-{base}"),
            &hash,
            Role::ReadOnly,
            &token_event,
        )
        .await
    {
        Err(StoreError::Invalid(m)) => assert!(!m.contains(&hash), "{m}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let ro = store
        .create_api_token(
            &format!("audit-{base}"),
            &format!("{:064x}", base + 3),
            Role::ReadOnly,
            &token_event,
        )
        .await
        .unwrap();
    assert_eq!(ro.role, Role::ReadOnly);
    // Listed by name.
    assert_eq!(listed(store.api_tokens().await.unwrap()), vec![ro, used]);
}

/// `save_server`: insert (id 0), update, empty secrets keep the stored ones, names unique,
/// unknown ids refused.
pub async fn save_server_insert_update_keep_secrets(store: &dyn Store) {
    let base = 18_000_000;
    let r = load(store, base).await;
    let existing: Vec<i64> = store
        .servers()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    let mut new = Server {
        id: 0,
        name: format!("web9-{base}"),
        password: Secret::new("s3cret"),
        access_hash: Secret::new("HASH-9"),
        ..r.servers[0].clone()
    };
    let id = store.save_server(&new, &server_event).await.unwrap();
    assert!(!existing.contains(&id) && id > 0, "{id}");
    new.id = id;
    assert_eq!(store.server_by_id(id).await.unwrap(), new);
    assert_eq!(store.server(&new.name).await.unwrap(), new);

    // Update every field; empty secrets keep the stored ones.
    let mut changed = Server {
        id,
        name: format!("web9b-{base}"),
        module: "directadmin".into(),
        hostname: "da.example.test".into(),
        ip_address: "198.51.100.9".into(),
        port: Some(2222),
        secure: true,
        tls_verify: false,
        username: "admin".into(),
        password: Secret::new(""),
        access_hash: Secret::new(""),
        disabled: true,
    };
    assert_eq!(
        store.save_server(&changed, &server_event).await.unwrap(),
        id
    );
    let got = store.server_by_id(id).await.unwrap();
    assert_eq!(got.password.expose(), "s3cret");
    assert_eq!(got.access_hash.expose(), "HASH-9");
    changed.password = Secret::new("s3cret");
    changed.access_hash = Secret::new("HASH-9");
    assert_eq!(got, changed);

    // A given secret replaces the stored one (the other stays).
    changed.password = Secret::new("n3w");
    changed.access_hash = Secret::new("");
    store.save_server(&changed, &server_event).await.unwrap();
    let got = store.server_by_id(id).await.unwrap();
    assert_eq!(
        (got.password.expose(), got.access_hash.expose()),
        ("n3w", "HASH-9")
    );
    // Saving under its own name is not a clash.
    store.save_server(&got, &server_event).await.unwrap();

    // Names are unique across servers, on update and insert.
    let web1 = format!("web1-{base}");
    for (sid, msg_id) in [(id, base + 100), (0, base + 100)] {
        let clash = Server {
            id: sid,
            name: web1.clone(),
            ..changed.clone()
        };
        match store.save_server(&clash, &server_event).await {
            Err(StoreError::Invalid(m)) => assert_eq!(
                m,
                format!("server name {web1:?} is already used by server {msg_id}")
            ),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
    assert_eq!(store.server_by_id(id).await.unwrap().name, changed.name);
    assert_eq!(store.servers().await.unwrap().len(), existing.len() + 1);

    let unknown = Server {
        id: base + 999,
        name: format!("ghost-{base}"),
        ..changed.clone()
    };
    match store.save_server(&unknown, &server_event).await {
        Err(StoreError::NotFound(m)) => assert_eq!(m, format!("server {}", base + 999)),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        store.server(&format!("ghost-{base}")).await,
        Err(StoreError::NotFound(_))
    ));
    // The error messages never carry secrets.
    let err = store
        .save_server(
            &Server {
                id: 0,
                name: web1,
                password: Secret::new("leak-me"),
                ..changed
            },
            &server_event,
        )
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("leak-me"));
}

/// `save_product`: insert (id 0) with a new id, update in place, unknown ids refused.
pub async fn save_product_insert_update(store: &dyn Store) {
    let base = 19_000_000;
    load(store, base).await;
    let before: Vec<i64> = store
        .products()
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    let mut p = Product {
        id: 0,
        name: "Pro Hosting".into(),
        module: module(base),
        config_options: BTreeMap::from([
            ("configoption1".to_string(), "pro".to_string()),
            ("configoption2".to_string(), "10 GB".to_string()),
        ]),
    };
    let id = store.save_product(&p, &product_event).await.unwrap();
    assert!(id > 0 && !before.contains(&id), "{id}");
    p.id = id;
    let by_module = products_of_module(store, &module(base)).await;
    assert_eq!(by_module.iter().find(|x| x.id == id), Some(&p));

    p.name = "Pro Hosting 2".into();
    p.module = format!("plesk_{base}");
    p.config_options = BTreeMap::from([("configoption1".to_string(), "pro2".to_string())]);
    assert_eq!(store.save_product(&p, &product_event).await.unwrap(), id);
    assert_eq!(
        products_of_module(store, &format!("plesk_{base}")).await,
        vec![p.clone()]
    );
    assert!(products_of_module(store, &module(base))
        .await
        .iter()
        .all(|x| x.id != id));
    assert_eq!(store.products().await.unwrap().len(), before.len() + 1);

    match store
        .save_product(
            &Product {
                id: base + 999,
                ..p
            },
            &product_event,
        )
        .await
    {
        Err(StoreError::NotFound(m)) => assert_eq!(m, format!("product {}", base + 999)),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// `audit_query` / `audit_count`: each filter (incl. actor), AND, newest first, paging.
pub async fn audit_query_filters_pages_and_counts(store: &dyn Store) {
    let base = 20_000_000;
    let (s1, s2) = (base + 100, base + 101);
    let web = format!("web:admin-{base}");
    let api = format!("api:deploy-{base}");
    let ev =
        |actor: &str, action: &str, server: Option<i64>, run: Option<i64>, svc: Option<i64>| {
            NewAuditEvent {
                actor: actor.to_string(),
                action: action.into(),
                server_id: server,
                run_id: run,
                service_id: svc,
                ..NewAuditEvent::default()
            }
        };
    let evs = [
        ev(&web, "a0", Some(s1), Some(base + 1), Some(base + 1000)),
        ev(&api, "a1", Some(s1), Some(base + 1), None),
        ev(&web, "a2", Some(s2), Some(base + 2), Some(base + 1001)),
        ev(&web, "a3", Some(s1), Some(base + 3), Some(base + 1000)),
        ev(&api, "a4", Some(s2), None, Some(base + 1001)),
        ev(&web, "a5", Some(s1), None, None),
        ev(&web, "a6", None, None, Some(base + 1000)),
    ];
    for e in &evs {
        append_audit(store, e).await;
    }
    let f = |server_id, run_id, service_id, actor: Option<&str>| serversync_store::AuditFilter {
        server_id,
        run_id,
        service_id,
        actor: actor.map(str::to_string),
        limit: 0,
        offset: 0,
    };
    let cases: Vec<(serversync_store::AuditFilter, Vec<&str>)> = vec![
        (f(Some(s1), None, None, None), vec!["a5", "a3", "a1", "a0"]),
        (f(None, Some(base + 1), None, None), vec!["a1", "a0"]),
        (f(None, None, Some(base + 1001), None), vec!["a4", "a2"]),
        (f(None, None, None, Some(&api)), vec!["a4", "a1"]),
        (
            f(None, None, None, Some(&web)),
            vec!["a6", "a5", "a3", "a2", "a0"],
        ),
        (f(Some(s1), None, None, Some(&web)), vec!["a5", "a3", "a0"]),
        (
            f(Some(s1), None, Some(base + 1000), Some(&web)),
            vec!["a3", "a0"],
        ),
        (
            f(Some(s1), Some(base + 3), Some(base + 1000), Some(&web)),
            vec!["a3"],
        ),
        (f(Some(s2), Some(base + 1), None, None), vec![]),
        (
            f(None, None, None, Some(&format!("web:nobody-{base}"))),
            vec![],
        ),
    ];
    for (filter, want) in &cases {
        let got = store.audit_query(filter).await.unwrap();
        let actions: Vec<&str> = got.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(&actions, want, "{filter:?}");
        assert!(got.windows(2).all(|w| w[0].id > w[1].id));
        // Limit and offset do not change the count.
        let paged = serversync_store::AuditFilter {
            limit: 1,
            offset: 1,
            ..filter.clone()
        };
        assert_eq!(store.audit_count(filter).await.unwrap(), want.len() as i64);
        assert_eq!(store.audit_count(&paged).await.unwrap(), want.len() as i64);
    }
    // Rows come back whole (the mapping of `audit_events`).
    let one = store.audit_query(&cases[7].0).await.unwrap().remove(0);
    assert_eq!(
        (
            one.actor.as_str(),
            one.server_id,
            one.run_id,
            one.service_id
        ),
        (web.as_str(), Some(s1), Some(base + 3), Some(base + 1000))
    );
    assert_eq!(
        store.audit_events(Some(s1), None, None, 0).await.unwrap(),
        store.audit_query(&cases[0].0).await.unwrap()
    );

    // Paging: disjoint pages, newest first, together the whole list.
    let all = store.audit_query(&cases[4].0).await.unwrap();
    let mut pages = Vec::new();
    for offset in [0, 2, 4, 6] {
        let page = store
            .audit_query(&serversync_store::AuditFilter {
                limit: 2,
                offset,
                ..cases[4].0.clone()
            })
            .await
            .unwrap();
        pages.push(page.iter().map(|e| e.action.clone()).collect::<Vec<_>>());
    }
    assert_eq!(
        pages,
        vec![
            vec!["a6".to_string(), "a5".into()],
            vec!["a3".into(), "a2".into()],
            vec!["a0".into()],
            vec![],
        ]
    );
    let joined: Vec<String> = pages.concat();
    assert_eq!(
        joined,
        all.iter().map(|e| e.action.clone()).collect::<Vec<_>>()
    );
    // limit ≤ 0 means all (from the offset); a negative offset counts as 0.
    let rest = store
        .audit_query(&serversync_store::AuditFilter {
            limit: -1,
            offset: 3,
            ..cases[4].0.clone()
        })
        .await
        .unwrap();
    assert_eq!(rest, all[3..].to_vec());
    let neg = store
        .audit_query(&serversync_store::AuditFilter {
            limit: 1,
            offset: -5,
            ..cases[4].0.clone()
        })
        .await
        .unwrap();
    assert_eq!(neg, all[..1].to_vec());
    // No filter: everything, and the count agrees.
    let everything = store
        .audit_query(&serversync_store::AuditFilter::default())
        .await
        .unwrap();
    assert!(everything.len() >= evs.len());
    assert_eq!(
        store
            .audit_count(&serversync_store::AuditFilter::default())
            .await
            .unwrap(),
        everything.len() as i64
    );
}
