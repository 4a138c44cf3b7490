use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use time::macros::format_description;
use time::OffsetDateTime;

/// The shared IPv4 address of the simulated DirectAdmin server (documentation range).
pub const DA_SHARED_IP: &str = "192.0.2.11";

/// First names the generated usernames start with (letters only; never `res`).
const NAMES: &[&str] = &[
    "ann", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "oscar",
    "peggy", "sybil", "trent", "victor", "walter", "alice", "bruno", "chloe", "diego", "elena",
    "felix", "gina", "hugo", "iris", "jonas", "kira", "lars", "mona", "nils", "olga", "paul",
];

const WORDS: &[&str] = &[
    "bakery", "garage", "studio", "shop", "clinic", "design", "travel", "books", "garden", "photo",
];

/// Unicode labels for IDN domains (served in IDNA ASCII form, as DirectAdmin stores them).
const IDN_LABELS: &[&str] = &[
    "bücher",
    "münchen",
    "café",
    "köln",
    "zürich",
    "señor",
    "пример",
];

/// 2015-01-01T00:00:00Z .. 2024-12-31T00:00:00Z
const START_MIN: i64 = 1_420_070_400;
const START_MAX: i64 = 1_735_603_200;

/// DirectAdmin's `date_created` form of an epoch time: `%a %b %d %H:%M:%S %Y`, e.g.
/// 1700000000 → `"Tue Nov 14 22:13:20 2023"` (the simulated server's local time is UTC).
pub fn da_date_created(unix: i64) -> String {
    let fmt = format_description!(
        "[weekday repr:short] [month repr:short] [day] [hour]:[minute]:[second] [year]"
    );
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// A DirectAdmin user as the simulator serves it: `user.conf` keys with string values.
///
/// An active user of `admin` on the shared IP, package `default`, e-mail `<user>@mail.test`,
/// created `Tue Nov 14 22:13:20 2023`; edit the object for anything else.
pub fn directadmin_user(user: &str, domain: &str) -> Value {
    let mut m = Map::new();
    for (k, v) in [
        ("username", user.to_string()),
        ("usertype", "user".into()),
        ("creator", "admin".into()),
        ("domain", domain.to_string()),
        ("email", format!("{user}@mail.test")),
        ("package", "default".into()),
        ("ip", DA_SHARED_IP.into()),
        ("suspended", "no".into()),
        ("date_created", da_date_created(1_700_000_000)),
    ] {
        m.insert(k.into(), Value::String(v));
    }
    Value::Object(m)
}

/// Deterministic DirectAdmin users: the same `(n, seed)` always gives the same list, in the
/// same order.
///
/// Mix (approximate shares, exact for a given seed):
/// - resellers `res1`..`res5` (`min(5, n / 10)` of them) first: `usertype=reseller`,
///   `creator=admin`, package `gold`;
/// - ~15% of the others are created by a reseller (package `starter` or `pro`, the
///   reseller's own packages); the rest by `admin` with `basic` (50%), `silver` (30%),
///   `gold` (17%) or `custom` (3%, DirectAdmin's name for hand-edited limits);
/// - ~5% `suspended=yes`, the others `no`;
/// - e-mail `<user>@mail.test`, except ~3% empty and ~1% without the `email` key;
/// - how `@` (and `<>"'`) is written (`_entities`): ~80% DirectAdmin's bare `&#64`, ~10%
///   `&#64;`, ~10% percent-encoded;
/// - ~2% IDN domains in IDNA ASCII form; all domains end in `.test` and are unique;
///   usernames `<name><index>`, unique;
/// - shared IP [`DA_SHARED_IP`]; ~2% a unique dedicated IP from 198.51.100.0/24;
/// - `date_created` between 2015 and 2024 ([`da_date_created`]), ~1% without the key;
/// - `name`, `bandwidth`, `quota`, `vdomains` as DirectAdmin has them.
pub fn generate_directadmin_accounts(n: usize, seed: u64) -> Vec<Value> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xda);
    let resellers = (n / 10).min(5);
    let mut dedicated = 0usize;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (user, usertype, creator, package) = if i < resellers {
            (
                format!("res{}", i + 1),
                "reseller",
                "admin".to_string(),
                "gold",
            )
        } else {
            let user = format!("{}{i}", NAMES[rng.gen_range(0..NAMES.len())]);
            if resellers > 0 && rng.gen_bool(0.15) {
                let creator = format!("res{}", rng.gen_range(1..=resellers));
                let package = if rng.gen_bool(0.5) { "starter" } else { "pro" };
                (user, "user", creator, package)
            } else {
                let package = match rng.gen_range(0..100) {
                    0..=2 => "custom",
                    3..=52 => "basic",
                    53..=82 => "silver",
                    _ => "gold",
                };
                (user, "user", "admin".to_string(), package)
            }
        };
        let domain = if rng.gen_ratio(2, 100) {
            let label = IDN_LABELS[rng.gen_range(0..IDN_LABELS.len())];
            idna::domain_to_ascii(&format!("{label}{i}.test"))
                .unwrap_or_else(|_| format!("{user}.test"))
        } else if rng.gen_bool(0.7) {
            format!("{user}.test")
        } else {
            format!("{user}-{}.test", WORDS[rng.gen_range(0..WORDS.len())])
        };
        let mut v = directadmin_user(&user, &domain);
        let Value::Object(m) = &mut v else {
            continue;
        };
        let mut set = |k: &str, val: String| {
            m.insert(k.into(), Value::String(val));
        };
        set("usertype", usertype.into());
        set("creator", creator);
        set("package", package.into());
        set("name", format!("{} {}", capitalise(&user), "Example"));
        set(
            "bandwidth",
            if package == "gold" {
                "unlimited".into()
            } else {
                "10000".into()
            },
        );
        set(
            "quota",
            if package == "basic" {
                "1000".into()
            } else {
                "5000".into()
            },
        );
        set(
            "vdomains",
            if package == "basic" {
                "1".into()
            } else {
                "unlimited".into()
            },
        );
        if rng.gen_ratio(5, 100) {
            set("suspended", "yes".into());
        }
        match rng.gen_range(0..100) {
            0..=2 => set("email", String::new()),
            3 => {
                m.remove("email");
            }
            _ => {}
        }
        let mut set = |k: &str, val: String| {
            m.insert(k.into(), Value::String(val));
        };
        match rng.gen_range(0..10) {
            0 => set("_entities", "semicolon".into()),
            1 => set("_entities", "none".into()),
            _ => {}
        }
        if rng.gen_ratio(2, 100) && dedicated < 254 {
            dedicated += 1;
            set("ip", format!("198.51.100.{dedicated}"));
        }
        if rng.gen_ratio(1, 100) {
            m.remove("date_created");
        } else {
            let start = rng.gen_range(START_MIN..START_MAX);
            m.insert("date_created".into(), Value::String(da_date_created(start)));
        }
        out.push(v);
    }
    out
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
    fn date_created_is_ctime_like() {
        assert_eq!(da_date_created(1_700_000_000), "Tue Nov 14 22:13:20 2023");
        assert_eq!(da_date_created(1_580_381_429), "Thu Jan 30 10:50:29 2020");
        assert_eq!(da_date_created(1_546_477_323), "Thu Jan 03 01:02:03 2019");
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = generate_directadmin_accounts(300, 7);
        assert_eq!(a, generate_directadmin_accounts(300, 7));
        assert_ne!(a, generate_directadmin_accounts(300, 8));
        assert_eq!(a.len(), 300);
        assert!(generate_directadmin_accounts(0, 1).is_empty());
        let small = generate_directadmin_accounts(5, 1);
        assert!(small.iter().all(|u| s(u, "creator") == Some("admin")));
    }

    #[test]
    fn mix_for_ten_thousand() {
        let users = generate_directadmin_accounts(10_000, 1);
        let count = |f: &dyn Fn(&Value) -> bool| users.iter().filter(|u| f(u)).count();
        let suspended = count(&|u| s(u, "suspended") == Some("yes"));
        let empty_mail = count(&|u| s(u, "email") == Some(""));
        let no_mail = count(&|u| u.get("email").is_none());
        let no_date = count(&|u| u.get("date_created").is_none());
        let idn = count(&|u| s(u, "domain").is_some_and(|d| d.starts_with("xn--")));
        let by_reseller = count(&|u| s(u, "creator").is_some_and(|c| c.starts_with("res")));
        let semicolon = count(&|u| s(u, "_entities") == Some("semicolon"));
        let none = count(&|u| s(u, "_entities") == Some("none"));
        let custom = count(&|u| s(u, "package") == Some("custom"));
        let dedicated = count(&|u| s(u, "ip") != Some(DA_SHARED_IP));
        assert!((400..=600).contains(&suspended), "suspended {suspended}");
        assert!(
            (200..=400).contains(&empty_mail),
            "empty e-mail {empty_mail}"
        );
        assert!((50..=150).contains(&no_mail), "no e-mail {no_mail}");
        assert!((50..=150).contains(&no_date), "no date {no_date}");
        assert!((120..=280).contains(&idn), "IDN {idn}");
        assert!(by_reseller > 1000, "by reseller {by_reseller}");
        assert!((800..=1200).contains(&semicolon), "semicolon {semicolon}");
        assert!((800..=1200).contains(&none), "none {none}");
        assert!(custom > 100, "custom {custom}");
        assert!((100..=254).contains(&dedicated), "dedicated {dedicated}");
        for r in 1..=5 {
            let name = format!("res{r}");
            let own = users
                .iter()
                .find(|u| s(u, "username") == Some(name.as_str()));
            assert_eq!(own.and_then(|u| s(u, "usertype")), Some("reseller"));
        }
    }

    #[test]
    fn keys_are_unique_and_well_formed() {
        let users = generate_directadmin_accounts(20_000, 3);
        let (mut names, mut domains) = (HashSet::new(), HashSet::new());
        for u in &users {
            let name = s(u, "username").unwrap_or_default();
            let domain = s(u, "domain").unwrap_or_default();
            assert!(names.insert(name.to_string()), "duplicate user {name}");
            assert!(
                domains.insert(domain.to_string()),
                "duplicate domain {domain}"
            );
            assert!(name.starts_with(|c: char| c.is_ascii_lowercase()) && name.len() <= 16);
            assert!(domain.ends_with(".test") && domain.is_ascii(), "{domain}");
            assert!(matches!(s(u, "suspended"), Some("yes" | "no")));
            if let Some(d) = s(u, "date_created") {
                assert_eq!(d.split(' ').count(), 5, "{d}");
            }
        }
    }
}
