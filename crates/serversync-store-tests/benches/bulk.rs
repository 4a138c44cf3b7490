//! Bulk writes on both stores, one run: records import of 100,000 clients + 100,000 services,
//! the same import again (all unchanged), one apply of 100,000 CreateClient + 100,000
//! CreateService + 100,000 audit events, one apply of 100,000 UpdateService, and reading the
//! 200,000 services back; after the first import, one server's 100,000 services and the
//! 100,000 clients are read too (`benches/reads.rs` measures those two reads alone). SQLite on a temporary file always; PostgreSQL on a fresh database
//! of SERVERSYNC_TEST_POSTGRES_URL when set (`scripts/pg-test.sh cargo bench -p
//! serversync-store-tests --bench bulk`). Prints each step's time and the PostgreSQL/SQLite
//! ratio. Targets (DESIGN.md §6, issue 10): apply of 100,000 imports ≤ 5 s on SQLite, ≤ 10 s
//! on PostgreSQL.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serversync_core::model::{Client, Product, Secret, Server, Service, ServiceStatus};
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::secrets::SecretKey;
use serversync_store::{ChangeSet, ClientRef, IdentifierFields, NewAuditEvent, Op, Records, Store};
use serversync_store_tests::records_event;

const N: i64 = 100_000;

/// Runs the workload on `store`; each step's name and time.
async fn workload(store: &dyn Store) -> Vec<(&'static str, Duration)> {
    let mut times = Vec::new();
    let mut report: Vec<String> = Vec::new();
    let server = Server {
        id: 1,
        name: "web1".into(),
        module: "cpanel".into(),
        hostname: "h".into(),
        ip_address: "192.0.2.1".into(),
        port: None,
        secure: true,
        tls_verify: true,
        username: "root".into(),
        password: Secret::new(""),
        access_hash: Secret::new("t"),
        disabled: false,
    };
    let svc = |id: i64, client_id: i64| Service {
        id,
        client_id,
        product_id: 1,
        server_id: Some(1),
        domain: format!("site{id}.test"),
        username: format!("u{id}"),
        dedicated_ip: String::new(),
        regdate: Some(time::macros::date!(2024 - 01 - 31)),
        status: ServiceStatus::Active,
        billing_cycle: "Monthly".into(),
        amount: "9.99".into(),
        next_due_date: None,
        termination_date: None,
        custom_fields: BTreeMap::new(),
        version: 0,
    };
    let client = |id: i64| Client {
        id,
        email: format!("c{id}@mail.test"),
        first_name: "F".into(),
        last_name: "L".into(),
        company: String::new(),
        status: "Active".into(),
    };
    let records = Records {
        clients: (1..=N).map(client).collect(),
        products: vec![Product {
            id: 1,
            name: "Basic".into(),
            module: "cpanel".into(),
            config_options: BTreeMap::from([("configoption1".into(), "basic".into())]),
        }],
        servers: vec![server],
        services: (1..=N).map(|i| svc(i, i)).collect(),
    };
    let t = Instant::now();
    let counts = store
        .import_records(&records, &IdentifierFields::new(), &records_event)
        .await
        .unwrap();
    let took = t.elapsed();
    report.push(format!(
        "import {N} clients + {N} services: {:?} ({counts:?})",
        took
    ));
    times.push(("records import (new)", took));
    let t = Instant::now();
    let one_server = store.services(Some(1)).await.unwrap();
    let took = t.elapsed();
    report.push(format!(
        "read one server's {} services: {took:?}",
        one_server.len()
    ));
    times.push(("read one server's services", took));
    let t = Instant::now();
    let clients = store.clients().await.unwrap();
    let took = t.elapsed();
    report.push(format!("read {} clients: {took:?}", clients.len()));
    times.push(("read all clients", took));
    let t = Instant::now();
    let counts = store
        .import_records(&records, &IdentifierFields::new(), &records_event)
        .await
        .unwrap();
    let took = t.elapsed();
    report.push(format!("re-import, all unchanged: {:?} ({counts:?})", took));
    times.push(("records import (unchanged)", took));

    let t = Instant::now();
    let mut cs = ChangeSet::default();
    for i in 0..N {
        let op = cs.ops.len();
        cs.ops.push(Op::CreateClient(client(0)));
        cs.ops.push(Op::CreateService {
            client: ClientRef::CreatedBy(op),
            product_created_by: None,
            service: svc(0, 0),
        });
        cs.audit.push((
            Some(op + 1),
            NewAuditEvent {
                actor: "cli:bench".into(),
                action: "import".into(),
                server_id: Some(1),
                after: Some(format!("{{\"domain\":\"new{i}.test\"}}")),
                ..Default::default()
            },
        ));
    }
    let applied = store.apply(&cs).await.unwrap();
    let took = t.elapsed();
    report.push(format!(
        "apply {N} CreateClient + {N} CreateService + {N} audit events: {:?} ({} ids)",
        took,
        applied.created_ids.len()
    ));
    times.push(("apply 100k creates + audit", took));

    let services = store.services(Some(1)).await.unwrap();
    let t = Instant::now();
    let cs = ChangeSet {
        ops: services
            .iter()
            .take(N as usize)
            .map(|s| Op::UpdateService {
                expected_version: s.version,
                service: Service {
                    status: ServiceStatus::Suspended,
                    ..s.clone()
                },
            })
            .collect(),
        ..Default::default()
    };
    store.apply(&cs).await.unwrap();
    let took = t.elapsed();
    report.push(format!("apply {N} UpdateService: {:?}", took));
    times.push(("apply 100k updates", took));
    let t = Instant::now();
    let all = store.services(Some(1)).await.unwrap();
    let took = t.elapsed();
    report.push(format!("read {} services: {took:?}", all.len()));
    times.push(("read all services", took));
    for line in report {
        println!("  {line}");
    }
    times
}

async fn postgres_url() -> Option<String> {
    use sqlx::Connection;
    let server = std::env::var("SERVERSYNC_TEST_POSTGRES_URL").ok()?;
    let name = format!("bench_{:016x}", rand::random::<u64>());
    let mut admin = sqlx::PgConnection::connect(&server).await.expect("connect");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let mut url = url::Url::parse(&server).expect("URL");
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let sqlite = serversync_store::open(&url, SecretKey::ephemeral())
            .await
            .expect("open SQLite");
        println!("SQLite ({url}):");
        let s = workload(&*sqlite).await;
        let Some(pg_url) = postgres_url().await else {
            println!("SERVERSYNC_TEST_POSTGRES_URL not set: PostgreSQL not measured");
            return;
        };
        let pg = serversync_store::open(&pg_url, SecretKey::ephemeral())
            .await
            .expect("open PostgreSQL");
        println!("PostgreSQL ({}):", serversync_store::redact_url(&pg_url));
        let p = workload(&*pg).await;
        println!("step | SQLite | PostgreSQL | PostgreSQL / SQLite");
        for ((name, a), (_, b)) in s.iter().zip(&p) {
            println!(
                "{name} | {:.2} s | {:.2} s | {:.2} x",
                a.as_secs_f64(),
                b.as_secs_f64(),
                b.as_secs_f64() / a.as_secs_f64()
            );
        }
    });
}
