use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

/// The shared IPv4 address of the simulated Hestia server (documentation range).
pub const HESTIA_SHARED_IP: &str = "192.0.2.14";

/// First names the generated user names start with.
const NAMES: &[&str] = &[
    "ann", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "oscar",
    "peggy", "sybil", "trent", "victor", "walter", "alice", "bruno", "chloe", "diego", "elena",
    "felix", "gina", "hugo", "iris", "jonas", "kira", "lars", "mona", "nils", "olga", "paul",
];

const WORDS: &[&str] = &[
    "bakery", "garage", "studio", "shop", "clinic", "design", "travel", "books", "garden", "photo",
];

/// Unicode labels for IDN domains (stored in IDNA ASCII form, as Hestia keeps them).
const IDN_LABELS: &[&str] = &["bücher", "münchen", "café", "köln", "zürich", "señor"];

/// 2015-01-01T00:00:00Z .. 2024-12-31T00:00:00Z
const START_MIN: i64 = 1_420_070_400;
const START_MAX: i64 = 1_735_603_200;

/// `(DATE, TIME)` of an epoch time as Hestia writes them (`date +'%T %F'`; the simulated
/// server's local time is UTC): 1700000000 → `("2023-11-14", "22:13:20")`.
pub fn hestia_date_time(unix: i64) -> (String, String) {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    (
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()),
    )
}

/// One web domain object as the simulator keeps it (`DOMAIN` plus `web.conf` keys).
pub fn hestia_web_domain(domain: &str, ip: &str) -> Value {
    json!({
        "DOMAIN": domain, "IP": ip, "IP6": "", "U_DISK": "12", "U_BANDWIDTH": "0",
        "TPL": "default", "ALIAS": format!("www.{domain}"), "STATS": "", "STATS_USER": "",
        "SSL": "no", "SSL_HOME": "same", "LETSENCRYPT": "no", "FTP_USER": "", "FTP_PATH": "",
        "AUTH_USER": "", "BACKEND": "default", "PROXY": "default", "PROXY_EXT": "",
        "SUSPENDED": "no", "TIME": "22:13:20", "DATE": "2023-11-14"
    })
}

/// A Hestia user as the simulator serves it: `USER` (the name) plus `user.conf` keys with
/// string values, and `_web_domains` (its web domains in creation order).
///
/// An active user with package `default`, contact `<user>@mail.test`, role `user`, a reset
/// key `RKEY` and a 2FA secret `TWOFA` (secrets the module must drop), created
/// `2023-11-14 22:13:20`, with one web domain on the shared IP; edit the object for anything
/// else.
pub fn hestia_user(user: &str, domain: &str) -> Value {
    let mut m = Map::new();
    for (k, v) in [
        ("USER", user.to_string()),
        ("NAME", format!("{} Example", capitalise(user))),
        ("PACKAGE", "default".into()),
        ("CONTACT", format!("{user}@mail.test")),
        ("RKEY", format!("rk{:016x}", fnv(user))),
        ("TWOFA", format!("TF{:012X}", fnv(user) >> 8)),
        ("ROLE", "user".into()),
        ("SUSPENDED", "no".into()),
        ("TIME", "22:13:20".into()),
        ("DATE", "2023-11-14".into()),
    ] {
        m.insert(k.into(), Value::String(v));
    }
    m.insert(
        "_web_domains".into(),
        Value::Array(vec![hestia_web_domain(domain, HESTIA_SHARED_IP)]),
    );
    Value::Object(m)
}

/// Hestia's own admin user (`ROLE` admin, package `system`), listed first by Hestia.
pub fn hestia_admin() -> Value {
    let mut v = hestia_user("admin", "panel.hestia.test");
    v["NAME"] = json!("System Administrator");
    v["PACKAGE"] = json!("system");
    v["ROLE"] = json!("admin");
    v["CONTACT"] = json!("admin@hestia.test");
    v
}

/// Deterministic Hestia users: `admin` first (as `/etc/passwd` lists it), then `n`
/// generated users; the same `(n, seed)` always gives the same list, in the same order.
///
/// Mix (approximate shares, exact for a given seed):
/// - packages `default` (50%), `basic` (30%), `pro` (17%), `unlimited` (3%);
/// - ~5% `SUSPENDED` `yes`, the others `no`;
/// - `CONTACT` `<user>@mail.test`, except ~3% empty;
/// - web domains in creation order: one (~80%), two or three (~18%), none (~2%); ~2% IDN
///   domains in IDNA ASCII form; every domain ends in `.test` and is unique; user names
///   `<name><index>`, unique;
/// - shared IP [`HESTIA_SHARED_IP`]; ~2% a unique dedicated IP from 198.51.100.0/24;
/// - `DATE` + `TIME` between 2015 and 2024 ([`hestia_date_time`]);
/// - secrets `RKEY` and `TWOFA` on every user.
pub fn generate_hestia_accounts(n: usize, seed: u64) -> Vec<Value> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4e57);
    let mut dedicated = 0usize;
    let mut out = Vec::with_capacity(n + 1);
    out.push(hestia_admin());
    for i in 0..n {
        let user = format!("{}{i}", NAMES[rng.gen_range(0..NAMES.len())]);
        let domain = if rng.gen_ratio(2, 100) {
            let label = IDN_LABELS[rng.gen_range(0..IDN_LABELS.len())];
            idna::domain_to_ascii(&format!("{label}{i}.test"))
                .unwrap_or_else(|_| format!("{user}.test"))
        } else if rng.gen_bool(0.7) {
            format!("{user}.test")
        } else {
            format!("{user}-{}.test", WORDS[rng.gen_range(0..WORDS.len())])
        };
        let mut v = hestia_user(&user, &domain);
        let package = match rng.gen_range(0..100) {
            0..=2 => "unlimited",
            3..=52 => "default",
            53..=82 => "basic",
            _ => "pro",
        };
        v["PACKAGE"] = json!(package);
        if rng.gen_ratio(5, 100) {
            v["SUSPENDED"] = json!("yes");
        }
        if rng.gen_ratio(3, 100) {
            v["CONTACT"] = json!("");
        }
        let ip = if rng.gen_ratio(2, 100) && dedicated < 254 {
            dedicated += 1;
            format!("198.51.100.{dedicated}")
        } else {
            HESTIA_SHARED_IP.to_string()
        };
        let (date, time) = hestia_date_time(rng.gen_range(START_MIN..START_MAX));
        v["DATE"] = json!(date);
        v["TIME"] = json!(time);
        let extra = match rng.gen_range(0..100) {
            0..=1 => None,
            2..=19 => Some(rng.gen_range(1..=2)),
            _ => Some(0),
        };
        let domains = match extra {
            None => Vec::new(),
            Some(k) => {
                let mut d = vec![hestia_web_domain(&domain, &ip)];
                for j in 0..k {
                    d.push(hestia_web_domain(&format!("{user}-extra{j}.test"), &ip));
                }
                d
            }
        };
        v["U_WEB_DOMAINS"] = json!(domains.len().to_string());
        v["_web_domains"] = Value::Array(domains);
        out.push(v);
    }
    out
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
        v.get(k).and_then(Value::as_str)
    }

    #[test]
    fn date_and_time_as_hestia_writes_them() {
        assert_eq!(
            hestia_date_time(1_700_000_000),
            ("2023-11-14".to_string(), "22:13:20".to_string())
        );
        assert_eq!(
            hestia_date_time(1_546_477_323),
            ("2019-01-03".to_string(), "01:02:03".to_string())
        );
    }

    #[test]
    fn deterministic_mix_with_admin_first() {
        let a = generate_hestia_accounts(300, 7);
        assert_eq!(a, generate_hestia_accounts(300, 7));
        assert_ne!(a, generate_hestia_accounts(300, 8));
        assert_eq!(a.len(), 301);
        assert_eq!(s(&a[0], "USER"), Some("admin"));
        assert_eq!(s(&a[0], "ROLE"), Some("admin"));
        assert_eq!(generate_hestia_accounts(0, 1).len(), 1);

        let users = generate_hestia_accounts(10_000, 1);
        let count = |f: &dyn Fn(&Value) -> bool| users[1..].iter().filter(|u| f(u)).count();
        let n_domains = |u: &Value| u["_web_domains"].as_array().map_or(0, Vec::len);
        let suspended = count(&|u| s(u, "SUSPENDED") == Some("yes"));
        let no_domain = count(&|u| n_domains(u) == 0);
        let several = count(&|u| n_domains(u) > 1);
        let empty_mail = count(&|u| s(u, "CONTACT") == Some(""));
        assert!((400..=600).contains(&suspended), "suspended {suspended}");
        assert!((100..=300).contains(&no_domain), "no domain {no_domain}");
        assert!((1500..=2100).contains(&several), "several {several}");
        assert!((200..=400).contains(&empty_mail), "empty mail {empty_mail}");
        let (mut names, mut domains) = (HashSet::new(), HashSet::new());
        for u in &users {
            assert!(names.insert(s(u, "USER").unwrap_or_default().to_string()));
            for d in u["_web_domains"].as_array().into_iter().flatten() {
                let d = s(d, "DOMAIN").unwrap_or_default();
                assert!(d.ends_with(".test") && d.is_ascii(), "{d}");
                assert!(domains.insert(d.to_string()), "duplicate domain {d}");
            }
        }
    }
}
