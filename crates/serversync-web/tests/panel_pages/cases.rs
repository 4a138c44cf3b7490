//! The panels of `panel_pages.rs`: for each built-in module a simulator with three accounts
//! (in sync, suspended on the panel while Active in billing, not in billing) and the records
//! document of its billing side.

use panel_sim::virtualmin::DomainPassword;
use panel_sim::{
    da_date_created, directadmin_user, hestia_admin, hestia_date_time, hestia_user,
    plesk_subscription, spawn_directadmin, spawn_hestiacp, spawn_plesk, spawn_virtualmin,
    DirectAdminSimConfig, HestiaSimConfig, PleskSimConfig, SimHandle, VirtualminDomain,
    VirtualminSimConfig, HESTIA_SHARED_IP, HESTIA_TEST_ACCESS_KEY,
};
use serde_json::{json, Value};

/// 2024-01-31 13:15:00 UTC: every account's creation time, matching the services' regdate.
const CREATED: i64 = 1_706_706_900;
/// The e-mail of client 1, given to every account so the import finds its client.
const EMAIL: &str = "ann@mail.test";

/// One panel's case: the simulator, the records document and the names the flow checks.
pub struct Case {
    pub module: &'static str,
    pub sim: SimHandle,
    pub server_id: i64,
    pub server_name: &'static str,
    pub doc: Value,
    /// The service Active in billing whose account (`bob.test`) is suspended on the panel.
    pub suspended_service: i64,
    /// The product the imported account's package maps to.
    pub import_product: i64,
}

/// In sync (`ann.test`), suspended on the panel (`bob.test`), not in billing (`ed.test`).
pub const IN_SYNC: &str = "ann.test";
pub const SUSPENDED: &str = "bob.test";
pub const NOT_IN_BILLING: &str = "ed.test";

/// An Active service of client 1, registered on the accounts' creation day.
fn service(id: i64, product: i64, server: i64, domain: &str, user: &str) -> Value {
    json!({"id": id, "client_id": 1, "product_id": product, "server_id": server,
           "domain": domain, "username": user, "dedicated_ip": "", "regdate": "2024-01-31",
           "status": "Active", "billing_cycle": "Monthly", "amount": "9.99",
           "next_due_date": "2026-12-31"})
}

/// The records document: client 1, `products`, `server`, and services 0 (`ann.test`) and 1
/// (`bob.test`) counted from `first_service`, both on `product`.
fn doc(products: Value, server: Value, first_service: i64, product: i64) -> Value {
    let sid = server["id"].as_i64().expect("the server has an id");
    json!({
        "clients": [{"id": 1, "email": EMAIL, "first_name": "Ann", "last_name": "Lee",
                     "company": "", "status": "Active"}],
        "products": products,
        "servers": [server],
        "services": [service(first_service, product, sid, IN_SYNC, "ann"),
                     service(first_service + 1, product, sid, SUSPENDED, "bob")],
    })
}

/// DirectAdmin: server 11 `da1` (admin/PASSWORD), package `basic` → product 10; bob `suspended=yes`.
pub async fn directadmin_case() -> Case {
    let user = |name: &str, domain: &str| {
        let mut v = directadmin_user(name, domain);
        v["package"] = json!("basic");
        v["email"] = json!(EMAIL);
        v["date_created"] = json!(da_date_created(CREATED));
        v
    };
    let mut bob = user("bob", SUSPENDED);
    bob["suspended"] = json!("yes");
    let users = vec![user("ann", IN_SYNC), bob, user("ed", NOT_IN_BILLING)];
    let sim = spawn_directadmin(
        "127.0.0.1:0".parse().unwrap(),
        DirectAdminSimConfig::with_accounts(users),
    )
    .await
    .expect("spawn the DirectAdmin simulator");
    let server = json!({"id": 11, "name": "da1", "module": "directadmin",
        "hostname": "127.0.0.1", "ip_address": panel_sim::directadmin::DA_SHARED_IP,
        "port": sim.addr.port(), "secure": false, "tls_verify": true,
        "username": "admin", "password": "PASSWORD", "access_hash": ""});
    let products = json!([{"id": 10, "name": "DA Basic", "module": "directadmin",
                           "config_options": {"configoption1": "basic"}}]);
    Case {
        module: "directadmin",
        sim,
        server_id: 11,
        server_name: "da1",
        doc: doc(products, server, 1100, 10),
        suspended_service: 1101,
        import_product: 10,
    }
}

/// Plesk: server 12 `plesk1` (secret key), plan `Basic` → product 120; bob status 16.
pub async fn plesk_case() -> Case {
    let sub = |id: u64, user: &str, domain: &str| {
        let mut v = plesk_subscription(id, domain, user);
        v["owner_id"] = json!(100 + id);
        v["owner_email"] = json!(EMAIL);
        v["cr_date"] = json!("2024-01-31");
        v
    };
    let mut bob = sub(2, "bob", SUSPENDED);
    // Plesk's status 16: disabled by the administrator.
    bob["status"] = json!(16);
    let subs = vec![sub(1, "ann", IN_SYNC), bob, sub(3, "ed", NOT_IN_BILLING)];
    let sim = spawn_plesk(
        "127.0.0.1:0".parse().unwrap(),
        PleskSimConfig::with_accounts(subs),
    )
    .await
    .expect("spawn the Plesk simulator");
    let server = json!({"id": 12, "name": "plesk1", "module": "plesk",
        "hostname": "127.0.0.1", "ip_address": panel_sim::plesk::PLESK_SHARED_IP,
        "port": sim.addr.port(), "secure": false, "tls_verify": true,
        "username": "admin", "password": "", "access_hash": "TOKEN"});
    let products = json!([{"id": 120, "name": "Plesk Basic", "module": "plesk",
                           "config_options": {"configoption1": "Basic"}}]);
    Case {
        module: "plesk",
        sim,
        server_id: 12,
        server_name: "plesk1",
        doc: doc(products, server, 1200, 120),
        suspended_service: 1201,
        import_product: 120,
    }
}

/// Virtualmin: server 130 `vmin1` (root/PASSWORD), plan `Basic` in configoption2 → product 131; bob disabled.
pub async fn virtualmin_case() -> Case {
    let domain = |name: &str, user: &str| {
        let mut d = VirtualminDomain::new(name, user)
            .plan("1600000001", "Basic")
            .created(CREATED);
        d.contact_email = EMAIL.into();
        d.password = DomainPassword::Plain(format!("pw-secret-{user}"));
        d
    };
    let domains = vec![
        domain(IN_SYNC, "ann").into_value(),
        domain(SUSPENDED, "bob")
            .disabled("Manually (non-payment)", CREATED + 3600)
            .into_value(),
        domain(NOT_IN_BILLING, "ed").into_value(),
    ];
    let sim = spawn_virtualmin(
        "127.0.0.1:0".parse().unwrap(),
        VirtualminSimConfig::with_accounts(domains),
    )
    .await
    .expect("spawn the Virtualmin simulator");
    let server = json!({"id": 130, "name": "vmin1", "module": "virtualmin",
        "hostname": "127.0.0.1", "ip_address": panel_sim::virtualmin::VIRTUALMIN_SHARED_IP,
        "port": sim.addr.port(), "secure": false, "tls_verify": true,
        "username": "root", "password": "PASSWORD", "access_hash": ""});
    // WHMCS's Virtualmin module keeps the plan name in configoption2.
    let products = json!([{"id": 131, "name": "Virtualmin Basic", "module": "virtualmin",
        "config_options": {"configoption1": "Default Settings", "configoption2": "Basic"}}]);
    Case {
        module: "virtualmin",
        sim,
        server_id: 130,
        server_name: "vmin1",
        doc: doc(products, server, 1300, 131),
        suspended_service: 1301,
        import_product: 131,
    }
}

/// HestiaCP: server 14 `hestia1` (access key), package `basic` → product 140; bob `SUSPENDED=yes`.
pub async fn hestiacp_case() -> Case {
    let user = |name: &str, domain: &str| {
        let mut v = hestia_user(name, domain);
        let (date, time) = hestia_date_time(CREATED);
        v["PACKAGE"] = json!("basic");
        v["CONTACT"] = json!(EMAIL);
        v["DATE"] = json!(date);
        v["TIME"] = json!(time);
        v
    };
    let mut bob = user("bob", SUSPENDED);
    bob["SUSPENDED"] = json!("yes");
    // Hestia's own admin is listed first and left out by the module.
    let users = vec![
        hestia_admin(),
        user("ann", IN_SYNC),
        bob,
        user("ed", NOT_IN_BILLING),
    ];
    let sim = spawn_hestiacp(
        "127.0.0.1:0".parse().unwrap(),
        HestiaSimConfig::with_accounts(users),
    )
    .await
    .expect("spawn the HestiaCP simulator");
    let server = json!({"id": 14, "name": "hestia1", "module": "hestiacp",
        "hostname": "127.0.0.1", "ip_address": HESTIA_SHARED_IP,
        "port": sim.addr.port(), "secure": false, "tls_verify": true,
        "username": "admin", "password": "", "access_hash": HESTIA_TEST_ACCESS_KEY});
    let products = json!([{"id": 140, "name": "Hestia Basic", "module": "hestiacp",
                           "config_options": {"configoption1": "basic"}}]);
    Case {
        module: "hestiacp",
        sim,
        server_id: 14,
        server_name: "hestia1",
        doc: doc(products, server, 1400, 140),
        suspended_service: 1401,
        import_product: 140,
    }
}
