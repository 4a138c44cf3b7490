//! The bulk reads of billing records (`services`, `live_services_of_module`, `clients`,
//! `client_emails`): every
//! column comes back as it was written — NULLs, empty text, custom fields, Unicode and the
//! characters JSON escapes — in id order, and agrees with the one-row read (`service`) and
//! the export, whatever path the backend reads them by.

use std::collections::{BTreeMap, HashMap};

use serversync_core::model::{Client, Product, Secret, Server, Service, ServiceStatus};
use time::macros::date;

#[allow(unused_imports)]
use serversync_store::prelude::*;
use serversync_store::{IdentifierFields, Records, Store};

use crate::{ids, records_event, with_version};

/// Clients base+1..2, product base+10, servers base+100 (`full-<base>`) and base+101,
/// services base+1000..1003: base+1000 with every column set, base+1001 with every nullable
/// column NULL, base+1002 terminated, base+1003 on the other server.
fn read_fixture(base: i64) -> Records {
    let m = format!("cpanel_reads_{base}");
    let server = |id: i64, name: String| Server {
        id,
        name,
        module: m.clone(),
        hostname: "127.0.0.1".into(),
        ip_address: "192.0.2.10".into(),
        port: Some(2087),
        secure: true,
        tls_verify: true,
        username: "root".into(),
        password: Secret::new(""),
        access_hash: Secret::new("tok"),
        disabled: false,
    };
    let full = Service {
        id: base + 1000,
        client_id: base + 1,
        product_id: base + 10,
        server_id: Some(base + 100),
        domain: format!("bücher-{base}.例え.test"),
        username: "üser".into(),
        dedicated_ip: "2001:db8::1".into(),
        regdate: Some(date!(2024 - 02 - 29)),
        status: ServiceStatus::Suspended,
        billing_cycle: "Annually".into(),
        amount: "1234.50".into(),
        next_due_date: Some(date!(2025 - 02 - 28)),
        termination_date: Some(date!(2026 - 12 - 31)),
        custom_fields: BTreeMap::from([
            ("Instance ID".to_string(), "i-1".to_string()),
            ("Ключ".to_string(), "значение 🚀".to_string()),
            (
                "quote\"back\\slash".to_string(),
                "line\nbreak\ttab\u{1}end".to_string(),
            ),
            ("empty".to_string(), String::new()),
        ]),
        version: 0,
    };
    let nulls = Service {
        id: base + 1001,
        client_id: base + 2,
        product_id: base + 10,
        server_id: None,
        domain: format!("nulls{base}.test"),
        username: String::new(),
        dedicated_ip: String::new(),
        regdate: None,
        status: ServiceStatus::Pending,
        billing_cycle: String::new(),
        amount: String::new(),
        next_due_date: None,
        termination_date: None,
        custom_fields: BTreeMap::new(),
        version: 0,
    };
    let terminated = Service {
        id: base + 1002,
        server_id: Some(base + 100),
        domain: format!("gone{base}.test"),
        status: ServiceStatus::Terminated,
        custom_fields: BTreeMap::from([("Instance ID".to_string(), "i-2".to_string())]),
        ..nulls.clone()
    };
    let other = Service {
        id: base + 1003,
        server_id: Some(base + 101),
        domain: format!("other{base}.test"),
        status: ServiceStatus::Active,
        ..full.clone()
    };
    Records {
        clients: vec![
            Client {
                id: base + 1,
                email: format!("zoë.{base}@exämple.test"),
                first_name: "Zoë 🚀".into(),
                last_name: "Ørsted-Łukasz 日本".into(),
                company: "Ünïcødé \"quoted\" \\ back\nline\ttab".into(),
                status: "Active".into(),
            },
            Client {
                id: base + 2,
                email: String::new(),
                first_name: String::new(),
                last_name: String::new(),
                company: String::new(),
                status: "Inactive".into(),
            },
        ],
        products: vec![Product {
            id: base + 10,
            name: "Reads".into(),
            module: m.clone(),
            config_options: BTreeMap::new(),
        }],
        servers: vec![
            server(base + 100, format!("full-{base}")),
            server(base + 101, format!("other-{base}")),
        ],
        services: vec![full, nulls, terminated, other],
    }
}

/// One server's services, every service, the live services of a module and the clients
/// read back whole and in id order, equal to what was written (version 1 after an import)
/// and to the one-row read and the export.
pub async fn bulk_reads_return_every_column_as_written(store: &dyn Store) {
    let base = 40_000_000;
    let r = read_fixture(base);
    store
        .import_records(&r, &IdentifierFields::new(), &records_event)
        .await
        .expect("import");
    let stored: Vec<Service> = r.services.iter().map(|s| with_version(s, 1)).collect();

    let web = store.services(Some(base + 100)).await.unwrap();
    assert_eq!(web, vec![stored[0].clone(), stored[2].clone()]);
    assert_eq!(
        store.services(Some(base + 101)).await.unwrap(),
        vec![stored[3].clone()]
    );
    assert!(store.services(Some(base + 999)).await.unwrap().is_empty());

    let all = store.services(None).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let mine: Vec<Service> = all
        .iter()
        .filter(|s| (base + 1000..base + 2000).contains(&s.id))
        .cloned()
        .collect();
    assert_eq!(mine, stored);
    for s in &stored {
        assert_eq!(&store.service(s.id).await.unwrap(), s, "service {}", s.id);
    }
    let export = store.export_records().await.unwrap();
    let exported: Vec<Service> = export
        .services
        .into_iter()
        .filter(|s| (base + 1000..base + 2000).contains(&s.id))
        .collect();
    assert_eq!(exported, stored);

    // Live (Pending, Active, Suspended) services of the module on servers other than
    // base+101: base+1000 only (base+1001 has no server, base+1002 is terminated).
    let live = store
        .live_services_of_module(&format!("cpanel_reads_{base}"), base + 101)
        .await
        .unwrap();
    assert_eq!(live, vec![stored[0].clone()]);
    assert_eq!(
        ids(&store
            .live_services_of_module(&format!("cpanel_reads_{base}"), 0)
            .await
            .unwrap()),
        vec![base + 1000, base + 1003]
    );

    let clients = store.clients().await.unwrap();
    assert!(clients.windows(2).all(|w| w[0].id < w[1].id));
    let mine: Vec<Client> = clients
        .into_iter()
        .filter(|c| (base..base + 10).contains(&c.id))
        .collect();
    assert_eq!(mine, r.clients);
}

/// `client_emails` is every client's `(id, e-mail)` as written — Unicode, characters JSON
/// escapes, an empty e-mail, one e-mail shared by two clients — and exactly the pairs of
/// `clients`, whatever path the backend reads them by.
pub async fn client_emails_are_every_clients_email(store: &dyn Store) {
    let base = 41_000_000;
    let client = |id: i64, email: &str| Client {
        id: base + id,
        email: email.into(),
        first_name: format!("First {id}"),
        last_name: "Last".into(),
        company: String::new(),
        status: "Active".into(),
    };
    let clients = vec![
        client(1, &format!("zoë.{base}@exämple.test")),
        client(2, ""),
        client(3, &format!("quote\"back\\slash.{base}@x.test")),
        client(4, &format!("shared.{base}@x.test")),
        client(5, &format!("shared.{base}@x.test")),
    ];
    let before = store.client_emails().await.expect("emails");
    assert!(before.keys().all(|id| !(base..base + 10).contains(id)));
    store
        .import_records(
            &Records {
                clients: clients.clone(),
                ..Records::default()
            },
            &IdentifierFields::new(),
            &records_event,
        )
        .await
        .expect("import");
    let emails = store.client_emails().await.expect("emails");
    let mine: HashMap<i64, String> = emails
        .iter()
        .filter(|(id, _)| (base..base + 10).contains(*id))
        .map(|(id, e)| (*id, e.clone()))
        .collect();
    let expected: HashMap<i64, String> = clients.iter().map(|c| (c.id, c.email.clone())).collect();
    assert_eq!(mine, expected);
    let all: HashMap<i64, String> = store
        .clients()
        .await
        .expect("clients")
        .into_iter()
        .map(|c| (c.id, c.email))
        .collect();
    assert_eq!(emails, all);
}
