use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// The shared IPv4 address of the simulated Plesk server (documentation range).
pub const PLESK_SHARED_IP: &str = "192.0.2.12";
/// Its IPv6 address (listed beside the IPv4 one on part of the subscriptions).
pub const PLESK_SHARED_IPV6: &str = "2001:db8::12";

const NAMES: &[&str] = &[
    "ann", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "oscar",
    "peggy", "sybil", "trent", "victor", "walter", "alice", "bruno", "chloe", "diego",
];

const IDN_LABELS: &[&str] = &["bücher", "münchen", "café", "köln", "zürich"];

/// A deterministic GUID-shaped text (`8-4-4-4-12` hex) for `seed` (FNV-1a of the text): the
/// simulator's plan and add-on GUIDs.
pub fn plesk_guid(seed: &str) -> String {
    let h = |salt: u64| {
        let mut x: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
        for b in seed.bytes() {
            x ^= u64::from(b);
            x = x.wrapping_mul(0x0100_0000_01b3);
        }
        x
    };
    let (a, b) = (h(1), h(2));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// A Plesk subscription as the simulator serves it.
///
/// Active (status 0), owned by customer `owner` (id 2), service plan `Basic` of the
/// administrator, system user `owner`, created `2023-11-14`, on the shared IPv4 address;
/// edit the object for anything else. Keys:
/// `id`, `name`, `status` (served as given: a number or a string), `cr_date`, `owner_id`,
/// `owner_login`, `owner_type` (`customer`, `reseller` or `admin`), `owner_email`, `plan`
/// (service plan name or `null` for a custom subscription), `plan_owner` (`admin` or the
/// reseller login owning the plan), `addons` (add-on plan names), `ips` (served as
/// `dns_ip_address`, in order), `ftp_login` (the system user; absent for no hosting),
/// `htype`. Directives (never served): `_error` `[code, text]` (this subscription's result is
/// that error), `_owner_error` `[code, text]` (lookups of its owner answer that error),
/// `_plan_guids` (served instead of the GUIDs of `plan` and `addons`).
pub fn plesk_subscription(id: u64, name: &str, owner: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "status": 0,
        "cr_date": "2023-11-14",
        "owner_id": 2,
        "owner_login": owner,
        "owner_type": "customer",
        "owner_email": format!("{owner}@mail.test"),
        "plan": "Basic",
        "plan_owner": "admin",
        "addons": [],
        "ips": [PLESK_SHARED_IP],
        "ftp_login": owner,
        "htype": "vrt_hst",
    })
}

/// Deterministic Plesk subscriptions: the same `(n, seed)` always gives the same list.
///
/// Mix (approximate shares, exact for a given seed):
/// - customers own one to three subscriptions each (ids from 3; the administrator is id 1);
///   the first subscription's system user is the customer's login, later ones `login_K`;
/// - resellers `res1`..`res5` (`min(5, n / 20)`, ids 1001..): ~15% of the subscriptions
///   belong to their customers, with the reseller's own plans `Reseller Starter` / `Reseller
///   Pro` (found only with `owner-all`); ~3% are the resellers' own subscriptions
///   (`owner_type` reseller: `customer get` answers 1013 for them);
/// - ~2% are the administrator's own (`owner_type` admin: both lookups answer 1013);
/// - admin plans `Basic` (50%), `Silver` (30%), `Gold` (15%), none (5%, custom); ~10% carry
///   the add-on `Extra Storage` too (several plan GUIDs);
/// - status 0, except ~3% 16, ~2% 256, ~1% 272 (= 256 + 16), ~1% 4 (backup/restore), ~1% 64;
/// - ~30% list the IPv6 address too (half of them before the IPv4 one);
/// - owner e-mail `<login>@mail.test`, ~3% empty; ~2% IDN names (Unicode, as Plesk's
///   `name`); ~1% without hosting (`htype` none, no system user);
/// - `cr_date` between 2015 and 2024.
pub fn generate_plesk_accounts(n: usize, seed: u64) -> Vec<Value> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x91e5);
    let resellers = (n / 20).min(5) as u64;
    let mut out = Vec::with_capacity(n);
    let mut customer_id = 2u64;
    let mut left_for_customer = 0u32;
    let mut sub_of_customer = 0u32;
    let (mut login, mut email, mut reseller_of) = (String::new(), String::new(), None);
    for i in 0..n {
        let id = (i + 1) as u64;
        let roll = rng.gen_range(0..100);
        let (owner_id, owner_login, owner_type, owner_email, ftp, reseller) =
            if resellers > 0 && roll < 3 {
                let r = rng.gen_range(1..=resellers);
                let l = format!("res{r}");
                (
                    1000 + r,
                    l.clone(),
                    "reseller",
                    format!("{l}@mail.test"),
                    format!("{l}_{id}"),
                    Some(l),
                )
            } else if roll < 5 {
                (
                    1,
                    "admin".to_string(),
                    "admin",
                    String::new(),
                    format!("adm{id}"),
                    None,
                )
            } else {
                if left_for_customer == 0 {
                    customer_id += 1;
                    left_for_customer = rng.gen_range(1..=3);
                    sub_of_customer = 0;
                    login = format!("{}{customer_id}", NAMES[rng.gen_range(0..NAMES.len())]);
                    email = if rng.gen_ratio(3, 100) {
                        String::new()
                    } else {
                        format!("{login}@mail.test")
                    };
                    reseller_of = (resellers > 0 && rng.gen_ratio(15, 100))
                        .then(|| format!("res{}", rng.gen_range(1..=resellers)));
                }
                left_for_customer -= 1;
                sub_of_customer += 1;
                let ftp = if sub_of_customer == 1 {
                    login.clone()
                } else {
                    format!("{login}_{sub_of_customer}")
                };
                (
                    customer_id,
                    login.clone(),
                    "customer",
                    email.clone(),
                    ftp,
                    reseller_of.clone(),
                )
            };
        let name = if rng.gen_ratio(2, 100) {
            format!(
                "{}{id}.test",
                IDN_LABELS[rng.gen_range(0..IDN_LABELS.len())]
            )
        } else {
            format!("{ftp}-site{id}.test").replace('_', "-")
        };
        let mut v = plesk_subscription(id, &name, &owner_login);
        v["owner_id"] = json!(owner_id);
        v["owner_type"] = json!(owner_type);
        v["owner_email"] = json!(owner_email);
        v["ftp_login"] = json!(ftp);
        match &reseller {
            Some(r) if owner_type == "customer" => {
                v["plan"] = json!(if rng.gen_bool(0.5) {
                    "Reseller Starter"
                } else {
                    "Reseller Pro"
                });
                v["plan_owner"] = json!(r);
            }
            _ => {
                v["plan"] = match rng.gen_range(0..100) {
                    0..=49 => json!("Basic"),
                    50..=79 => json!("Silver"),
                    80..=94 => json!("Gold"),
                    _ => Value::Null,
                };
            }
        }
        if !v["plan"].is_null() && rng.gen_ratio(10, 100) {
            v["addons"] = json!(["Extra Storage"]);
        }
        v["status"] = json!(match rng.gen_range(0..100) {
            0..=2 => 16,
            3..=4 => 256,
            5 => 272,
            6 => 4,
            7 => 64,
            _ => 0,
        });
        match rng.gen_range(0..100) {
            0..=14 => v["ips"] = json!([PLESK_SHARED_IP, PLESK_SHARED_IPV6]),
            15..=29 => v["ips"] = json!([PLESK_SHARED_IPV6, PLESK_SHARED_IP]),
            _ => {}
        }
        if rng.gen_ratio(1, 100) {
            v["htype"] = json!("none");
            if let Value::Object(m) = &mut v {
                m.remove("ftp_login");
            }
        }
        let day = rng.gen_range(0..3650);
        v["cr_date"] = json!(date_of(day));
        out.push(v);
    }
    out
}

/// `2015-01-01` plus `days`, as `YYYY-MM-DD`.
fn date_of(days: i64) -> String {
    let start = time::macros::date!(2015 - 01 - 01);
    let d = start
        .checked_add(time::Duration::days(days))
        .unwrap_or(start);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn guids_are_stable_and_shaped() {
        let g = plesk_guid("plan:admin:Basic");
        assert_eq!(g, plesk_guid("plan:admin:Basic"));
        assert_ne!(g, plesk_guid("plan:admin:Silver"));
        let parts: Vec<usize> = g.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
    }

    #[test]
    fn deterministic_with_the_documented_mix() {
        let a = generate_plesk_accounts(10_000, 1);
        assert_eq!(a, generate_plesk_accounts(10_000, 1));
        assert_ne!(a, generate_plesk_accounts(10_000, 2));
        let count = |f: &dyn Fn(&Value) -> bool| a.iter().filter(|v| f(v)).count();
        let st = |v: &Value| v["status"].as_u64().unwrap_or(0);
        assert!((200..=400).contains(&count(&|v| st(v) == 16)));
        assert!((50..=150).contains(&count(&|v| st(v) == 272)));
        assert!((50..=150).contains(&count(&|v| st(v) == 4)));
        assert!(count(&|v| v["owner_type"] == "reseller") > 100);
        assert!(count(&|v| v["owner_type"] == "admin") > 100);
        assert!(count(&|v| v["plan_owner"] != "admin") > 1000);
        assert!(count(&|v| v["plan"].is_null()) > 200);
        assert!(count(&|v| v["addons"].as_array().is_some_and(|a| !a.is_empty())) > 500);
        assert!(count(&|v| v["ips"][0] == PLESK_SHARED_IPV6) > 1000);
        assert!(count(&|v| v.get("ftp_login").is_none()) > 50);
        let mut names = HashSet::new();
        let mut ftp = HashSet::new();
        for v in &a {
            assert!(names.insert(v["name"].as_str().unwrap_or("").to_string()));
            if let Some(f) = v["ftp_login"].as_str() {
                assert!(ftp.insert(f.to_string()), "duplicate system user {f}");
            }
            let d = v["cr_date"].as_str().unwrap_or("");
            assert_eq!(d.len(), 10, "{d}");
        }
    }
}
