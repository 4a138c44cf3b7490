//! The two billing reads of analysing one big server, on SQLite (a temporary file): one
//! server's 100,000 services (`services(Some(id))`, in a database that also holds another
//! server's 50,000) and the 100,000 clients (`clients()`). Each read runs READS times
//! (default 5); prints the fastest wall time and the process's CPU time per read (all
//! threads). `READS=0` only builds the database: the difference of `perf stat -e
//! instructions` between `READS=0` and `READS=N`, divided by N, is the reads' own
//! instruction count, whatever the machine's load (`cargo bench -p serversync-store-tests
//! --bench reads`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serversync_core::model::{Client, Product, Secret, Server, Service, ServiceStatus};
#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::secrets::SecretKey;
use serversync_store::{IdentifierFields, Records, Store};
use serversync_store_tests::records_event;

const N: i64 = 100_000;
const OTHER: i64 = 50_000;

/// The CPU time this process has used (user + system, all threads), from `/proc/self/stat`
/// in clock ticks of 10 ms (Linux's USER_HZ); zero where there is no such file.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The fields after the command name (which may hold spaces) closed by ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn server(id: i64, name: &str) -> Server {
    Server {
        id,
        name: name.into(),
        module: "cpanel".into(),
        hostname: format!("{name}.test"),
        ip_address: "192.0.2.1".into(),
        port: None,
        secure: true,
        tls_verify: true,
        username: "root".into(),
        password: Secret::new(""),
        access_hash: Secret::new("t"),
        disabled: false,
    }
}

fn records() -> Records {
    let svc = |id: i64, server_id: i64, client_id: i64| Service {
        id,
        client_id,
        product_id: 1,
        server_id: Some(server_id),
        domain: format!("site{id}.test"),
        username: format!("u{id}"),
        dedicated_ip: if id % 10 == 0 {
            "198.51.100.7".into()
        } else {
            String::new()
        },
        regdate: Some(time::macros::date!(2024 - 01 - 31)),
        status: if id % 7 == 0 {
            ServiceStatus::Suspended
        } else {
            ServiceStatus::Active
        },
        billing_cycle: "Monthly".into(),
        amount: "9.99".into(),
        next_due_date: Some(time::macros::date!(2027 - 01 - 31)),
        termination_date: None,
        custom_fields: if id % 3 == 0 {
            BTreeMap::from([("Instance ID".into(), format!("i-{id}"))])
        } else {
            BTreeMap::new()
        },
        version: 0,
    };
    let client = |id: i64| Client {
        id,
        email: format!("c{id}@mail.test"),
        first_name: "Firstname".into(),
        last_name: "Lastname".into(),
        company: if id % 4 == 0 {
            "Company Ltd".into()
        } else {
            String::new()
        },
        status: "Active".into(),
    };
    Records {
        clients: (1..=N).map(client).collect(),
        products: vec![Product {
            id: 1,
            name: "Basic".into(),
            module: "cpanel".into(),
            config_options: BTreeMap::new(),
        }],
        servers: vec![server(1, "web1"), server(2, "web2")],
        // Interleaved, as a real database's ids are: every third service is web2's, so web1
        // holds N.
        services: (1..=N + OTHER)
            .map(|i| svc(i, if i % 3 == 0 { 2 } else { 1 }, (i - 1) % N + 1))
            .collect(),
    }
}

/// Runs `read` `reads` times: the fastest wall time, the CPU time per read and the number
/// of rows of the last read.
async fn measure<F, Fut>(reads: u32, mut read: F) -> (Duration, Duration, usize)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut fastest = Duration::MAX;
    let mut rows = 0;
    let cpu = cpu_time();
    for _ in 0..reads {
        let t = Instant::now();
        rows = read().await;
        fastest = fastest.min(t.elapsed());
    }
    let per_read = (cpu_time() - cpu) / reads.max(1);
    (fastest, per_read, rows)
}

fn main() {
    let reads: u32 = std::env::var("READS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("reads.db").display());
        let store = serversync_store::open(&url, SecretKey::ephemeral())
            .await
            .expect("open SQLite");
        let records = records();
        store
            .import_records(&records, &IdentifierFields::new(), &records_event)
            .await
            .expect("import");
        println!("SQLite ({url}), {reads} reads each:");
        if reads == 0 {
            return;
        }
        let store: &dyn Store = &*store;
        let (wall, cpu, rows) = measure(reads, || async {
            store.services(Some(1)).await.expect("services").len()
        })
        .await;
        println!("  read one server's {rows} services: {wall:?} (CPU {cpu:?} per read)");
        let (wall, cpu, rows) = measure(reads, || async {
            store.clients().await.expect("clients").len()
        })
        .await;
        println!("  read {rows} clients: {wall:?} (CPU {cpu:?} per read)");
    });
}
