use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::account::CpanelAccount;

/// First names the generated usernames start with (letters only, ≤ 8 chars; never `res`).
const NAMES: &[&str] = &[
    "ann", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar", "peggy", "rupert", "sybil", "trent", "victor", "walter", "alice", "bruno", "chloe",
    "diego", "elena", "felix", "gina", "hugo", "iris", "jonas", "kira", "lars", "mona", "nils",
    "olga", "paul", "quinn", "rosa", "sven", "tina", "uwe", "vera", "wim", "xena", "yann", "zoe",
];

/// Words for `<user>-<word>.test` domains.
const WORDS: &[&str] = &[
    "bakery", "garage", "studio", "shop", "clinic", "design", "travel", "books", "garden", "photo",
    "music", "law", "dental", "yoga", "pets",
];

/// Unicode labels for IDN domains; with the account number appended and converted to
/// IDNA ASCII they give valid, unique `xn--` labels (e.g. `bücher7.test`).
const IDN_LABELS: &[&str] = &[
    "bücher",
    "münchen",
    "café",
    "köln",
    "zürich",
    "señor",
    "mañana",
    "ærø",
    "пример",
    "δοκιμή",
];

const SUSPEND_REASONS: &[&str] = &[
    "Suspended for nonpayment.",
    "Abuse: outgoing spam",
    "Exceeded resource limits",
    "Requested by customer",
];

/// 2015-01-01T00:00:00Z .. 2024-12-31T00:00:00Z
const START_MIN: i64 = 1_420_070_400;
const START_MAX: i64 = 1_735_603_200;
/// Latest suspension time generated.
const NOW: i64 = 1_735_689_600;

/// Deterministic WHM `listaccts` account objects: the same `(n, seed)` always gives the
/// same list, in the same order.
///
/// Mix (approximate shares, exact for a given seed):
/// - resellers `res1`..`res5` (`min(5, n / 10)` of them) are the first accounts; each owns
///   itself, package `gold`;
/// - ~15% of the others are owned by a reseller, with package `<reseller>_starter` or
///   `<reseller>_pro` (1 in 20 of those keeps the root package `basic`); the rest are owned by
///   `root` with `basic` (50%), `silver` (30%), `gold` (17%) or `default` (3%);
/// - ~5% suspended (`suspendreason`, `suspendtime` set); ~10% of all accounts carry
///   `suspended` as the string `"1"`/`"0"` instead of the number;
/// - e-mail `<user>@mail.test`, except ~3% `*unknown*` and ~1% empty;
/// - ~2% IDN domains in IDNA ASCII (`xn--…`) form; all domains end in `.test` and are unique;
/// - usernames `<name><index>` (lowercase, ≤ 16 chars, start with a letter), unique;
/// - shared IP `192.0.2.10`; ~2% get a unique dedicated IP from 198.51.100.0/24 then
///   203.0.113.0/24 while those last; ~1% have an IPv6 address in 2001:db8::/32, others `[]`;
/// - `unix_startdate` between 2015 and 2024, ~1% `0`, ~5% served as a string;
///   `startdate` always matches it (`YY Mon DD HH:MM`, UTC); active accounts have
///   `suspendtime` null (or 0 for ~20% of them).
///
/// 100,000 accounts generate in well under a second (release build).
pub fn generate_cpanel_accounts(n: usize, seed: u64) -> Vec<Value> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let resellers = (n / 10).min(5);
    let mut dedicated = DedicatedPool::default();
    let mut out = Vec::with_capacity(n);

    for i in 0..n {
        let (user, owner, plan) = if i < resellers {
            let r = format!("res{}", i + 1);
            (r.clone(), r, "gold".to_string())
        } else {
            let name = NAMES[rng.gen_range(0..NAMES.len())];
            let user = format!("{name}{i}");
            if resellers > 0 && rng.gen_bool(0.15) {
                let owner = format!("res{}", rng.gen_range(1..=resellers));
                let plan = if rng.gen_ratio(1, 20) {
                    "basic".to_string()
                } else if rng.gen_bool(0.5) {
                    format!("{owner}_starter")
                } else {
                    format!("{owner}_pro")
                };
                (user, owner, plan)
            } else {
                let plan = match rng.gen_range(0..100) {
                    0..=2 => "default",
                    3..=52 => "basic",
                    53..=82 => "silver",
                    _ => "gold",
                };
                (user, "root".to_string(), plan.to_string())
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

        let mut acct = CpanelAccount::new(&user, &domain);
        acct.owner = owner;
        acct.email = match rng.gen_range(0..1000) {
            0..=29 => "*unknown*".to_string(),
            30..=39 => String::new(),
            _ => format!("{user}@mail.test"),
        };
        if rng.gen_ratio(2, 100) {
            if let Some(ip) = dedicated.next() {
                acct.ip = ip;
            }
        }
        if rng.gen_ratio(1, 100) {
            acct.ipv6 = vec![format!("2001:db8::{:x}", i + 1)];
        }
        let start = if rng.gen_ratio(1, 100) {
            0
        } else {
            rng.gen_range(START_MIN..START_MAX)
        };
        acct = acct.created(start);
        if rng.gen_ratio(5, 100) {
            let reason = SUSPEND_REASONS[rng.gen_range(0..SUSPEND_REASONS.len())];
            let at = rng.gen_range(start.max(START_MIN)..NOW);
            acct = acct.suspended(reason, at);
            acct.is_locked = u8::from(rng.gen_ratio(1, 4));
        } else if rng.gen_ratio(1, 5) {
            acct.suspendtime = Some(0);
        }
        let disklimit = match plan.as_str() {
            "basic" => "1000M",
            "silver" => "5000M",
            p if p.ends_with("_starter") => "2000M",
            p if p.ends_with("_pro") => "10000M",
            _ => "unlimited",
        };
        acct.disklimit = disklimit.to_string();
        acct.diskused = format!("{}M", rng.gen_range(0..900));
        acct.plan = plan;

        let suspended_as_string = rng.gen_ratio(1, 10);
        let startdate_as_string = rng.gen_ratio(5, 100);
        let suspended = acct.suspended;
        let mut v = acct.into_value();
        if let Value::Object(map) = &mut v {
            if suspended_as_string {
                map.insert("suspended".into(), Value::String(suspended.to_string()));
            }
            if startdate_as_string {
                map.insert("unix_startdate".into(), Value::String(start.to_string()));
            }
        }
        out.push(v);
    }
    out
}

/// Unique dedicated addresses: 198.51.100.1-254, then 203.0.113.1-254.
#[derive(Default)]
struct DedicatedPool {
    used: usize,
}

impl DedicatedPool {
    fn next(&mut self) -> Option<String> {
        let k = self.used;
        let ip = match k {
            0..=253 => format!("198.51.100.{}", k + 1),
            254..=507 => format!("203.0.113.{}", k - 253),
            _ => return None,
        };
        self.used += 1;
        Some(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::super::SHARED_IP;
    use super::*;
    use std::collections::HashSet;

    fn is_suspended(v: &Value) -> bool {
        v["suspended"] == 1 || v["suspended"] == "1"
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = generate_cpanel_accounts(500, 7);
        let b = generate_cpanel_accounts(500, 7);
        let c = generate_cpanel_accounts(500, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 500);
    }

    #[test]
    fn mix_for_ten_thousand() {
        let accts = generate_cpanel_accounts(10_000, 1);
        let unknown = accts.iter().filter(|a| a["email"] == "*unknown*").count();
        let empty = accts.iter().filter(|a| a["email"] == "").count();
        let suspended = accts.iter().filter(|a| is_suspended(a)).count();
        let idn = accts
            .iter()
            .filter(|a| a["domain"].as_str().is_some_and(|d| d.starts_with("xn--")))
            .count();
        let zero_start = accts.iter().filter(|a| a["unix_startdate"] == 0).count();
        let string_start = accts
            .iter()
            .filter(|a| a["unix_startdate"].is_string())
            .count();
        let string_susp = accts.iter().filter(|a| a["suspended"].is_string()).count();
        let reseller_owned = accts
            .iter()
            .filter(|a| a["owner"] != "root" && a["owner"] != a["user"])
            .count();
        let default_plan = accts.iter().filter(|a| a["plan"] == "default").count();
        let dedicated = accts.iter().filter(|a| a["ip"] != SHARED_IP).count();
        let with_v6 = accts
            .iter()
            .filter(|a| a["ipv6"].as_array().is_some_and(|v| !v.is_empty()))
            .count();
        assert!((200..=400).contains(&unknown), "unknown e-mails {unknown}");
        assert!((50..=150).contains(&empty), "empty e-mails {empty}");
        assert!((400..=600).contains(&suspended), "suspended {suspended}");
        assert!((120..=280).contains(&idn), "IDN {idn}");
        assert!((50..=150).contains(&zero_start), "zero start {zero_start}");
        assert!(string_start > 300, "string unix_startdate {string_start}");
        assert!(string_susp > 700, "string suspended {string_susp}");
        assert!(reseller_owned > 1000, "reseller-owned {reseller_owned}");
        assert!(default_plan > 100, "default plan {default_plan}");
        assert!((100..=300).contains(&dedicated), "dedicated {dedicated}");
        assert!(with_v6 > 50, "ipv6 {with_v6}");

        for r in 1..=5 {
            let name = format!("res{r}");
            let own = accts.iter().find(|a| a["user"] == name.as_str());
            assert_eq!(
                own.map(|a| a["owner"].clone()),
                Some(Value::from(name.clone()))
            );
        }
    }

    #[test]
    fn keys_are_unique_and_well_formed() {
        let accts = generate_cpanel_accounts(20_000, 3);
        let mut users = HashSet::new();
        let mut domains = HashSet::new();
        let mut ips = HashSet::new();
        for a in &accts {
            let user = a["user"].as_str().unwrap_or_default();
            let domain = a["domain"].as_str().unwrap_or_default();
            assert!(users.insert(user.to_string()), "duplicate user {user}");
            assert!(
                domains.insert(domain.to_string()),
                "duplicate domain {domain}"
            );
            assert!(!user.is_empty() && user.len() <= 16, "{user}");
            assert!(user.starts_with(|c: char| c.is_ascii_lowercase()), "{user}");
            assert!(user
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
            assert!(domain.ends_with(".test") && domain.is_ascii(), "{domain}");
            // IDN domains are valid IDNA: they survive a round trip through Unicode.
            if domain.starts_with("xn--") {
                let (unicode, res) = idna::domain_to_unicode(domain);
                assert!(res.is_ok(), "{domain}");
                assert_eq!(
                    idna::domain_to_ascii(&unicode).ok().as_deref(),
                    Some(domain)
                );
            }
            let ip = a["ip"].as_str().unwrap_or_default();
            assert!(
                ip.starts_with("192.0.2.")
                    || ip.starts_with("198.51.100.")
                    || ip.starts_with("203.0.113."),
                "{ip}"
            );
            if ip != SHARED_IP {
                assert!(ips.insert(ip.to_string()), "dedicated IP reused: {ip}");
            }
            // startdate matches unix_startdate, whichever type the latter has.
            let start = match &a["unix_startdate"] {
                Value::String(s) => s.parse::<i64>().unwrap_or(-1),
                v => v.as_i64().unwrap_or(-1),
            };
            assert_eq!(
                a["startdate"].as_str(),
                Some(super::super::whm_startdate(start).as_str())
            );
            let plan = a["plan"].as_str().unwrap_or_default();
            let owner = a["owner"].as_str().unwrap_or_default();
            if owner != "root" && owner != user {
                assert!(
                    plan.starts_with(&format!("{owner}_")) || plan == "basic",
                    "{plan}"
                );
            }
        }
    }

    #[test]
    fn small_lists_have_no_resellers() {
        let accts = generate_cpanel_accounts(5, 1);
        assert!(accts.iter().all(|a| a["owner"] == "root"));
        assert!(generate_cpanel_accounts(0, 1).is_empty());
    }
}
