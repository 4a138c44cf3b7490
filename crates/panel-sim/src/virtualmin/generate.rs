use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::domain::{DomainKind, DomainPassword, VirtualminDomain, VIRTUALMIN_SHARED_IP};

/// First names the generated usernames start with.
const NAMES: &[&str] = &[
    "ann", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar", "peggy", "rupert", "sybil", "trent", "victor", "walter", "alice", "bruno", "chloe",
    "diego", "elena", "felix", "gina", "hugo", "iris", "jonas", "kira", "lars", "mona", "nils",
];

/// Words for `<user>-<word>.test` domains and sub-server names.
const WORDS: &[&str] = &[
    "bakery", "garage", "studio", "shop", "clinic", "design", "travel", "books", "garden", "photo",
    "music", "blog",
];

/// Unicode labels for IDN domains (with the index appended they give unique `xn--` labels).
const IDN_LABELS: &[&str] = &[
    "bücher", "münchen", "café", "köln", "zürich", "señor", "ærø",
];

/// The reason texts list-domains.pl prints for a disabled server.
const DISABLED_REASONS: &[&str] = &[
    "Manually (non-payment)",
    "Manually (Abuse: outgoing spam)",
    "Manually",
    "For exceeding bandwidth limit",
    "Transferred to another system",
    "Manually configured schedule",
];

/// Plans as `(Plan ID, Plan)`.
pub(crate) const PLANS: &[(&str, &str)] = &[
    ("1600000001", "Basic"),
    ("1600000002", "Silver"),
    ("1600000003", "Gold"),
    ("0", "Default Plan"),
];

/// 2015-01-01T00:00:00Z .. 2024-12-31T00:00:00Z
const START_MIN: i64 = 1_420_070_400;
const START_MAX: i64 = 1_735_603_200;
/// Latest disabling time generated.
const NOW: i64 = 1_735_689_600;

/// Deterministic `list-domains --multiline` entries (see [`VirtualminDomain`]) with exactly
/// `n` top-level servers, plus sub-servers and aliases of some of them; the same
/// `(n, seed)` always gives the same list. Sorted as list-domains sorts: by username, then by
/// creation time (so a top-level server's sub-servers and aliases follow it).
///
/// Mix (approximate shares of the top-level servers, exact for a given seed):
/// - plan `Basic` (50%), `Silver` (30%), `Gold` (14%), `Default Plan` (3%), no plan (3%);
/// - ~15% owned by a reseller `res1`..`res5` (`min(5, n / 10)` of them; none for small `n`),
///   1 in 20 of those by two (`res1 res2`);
/// - ~5% disabled, with the reason texts list-domains prints (`Manually (non-payment)`,
///   `For exceeding bandwidth limit`, …) and `disabled_at`;
/// - contact e-mail `<user>@mail.test`, except ~3% empty and ~1% `<user>@localhost`;
/// - ~2% IDN domains in `xn--` form with `international_domain_name`; domains end in
///   `.test` and are unique; usernames `<name><index>` are unique;
/// - IP `192.0.2.20 (Shared)`; ~2% a dedicated `198.51.100.x (On eth0)` then
///   `203.0.113.x (On eth0)` while those last; ~2% also an IPv6 address (a quarter of them
///   IPv6 only, without `ip_address`; unique addresses in 2001:db8::/32); ~1% an
///   `external_ip_address`;
/// - created between 2015 and 2024; ~1% without `created_unix_time` (`created_on` only);
/// - secrets as the master admin sees them: `password` (60%) or `hashed_password` (`$6$…`),
///   and `password_for_mysql` for the ~half with the mysql feature;
/// - ~10% have a sub-server (`<word><i>.test`, `Sub-server`, `parent_domain`), ~8% an alias
///   (`<user>.example`, `Alias` or `Alias with own email`, `real_domain`, no
///   `parent_domain`); both carry the parent's username.
///
/// 100,000 servers generate in about a second (release build).
pub fn generate_virtualmin_accounts(n: usize, seed: u64) -> Vec<Value> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let resellers = (n / 10).min(5);
    let mut dedicated = 0usize;
    let mut out: Vec<(String, i64, Value)> = Vec::with_capacity(n + n / 5);

    for i in 0..n {
        let user = format!("{}{i}", NAMES[rng.gen_range(0..NAMES.len())]);
        let (name, idn) = if rng.gen_ratio(2, 100) {
            let label = IDN_LABELS[rng.gen_range(0..IDN_LABELS.len())];
            let unicode = format!("{label}{i}.test");
            match idna::domain_to_ascii(&unicode) {
                Ok(ascii) => (ascii, Some(unicode)),
                Err(_) => (format!("{user}.test"), None),
            }
        } else if rng.gen_bool(0.7) {
            (format!("{user}.test"), None)
        } else {
            (
                format!("{user}-{}.test", WORDS[rng.gen_range(0..WORDS.len())]),
                None,
            )
        };
        let created = rng.gen_range(START_MIN..START_MAX);
        let mut d = VirtualminDomain::new(&name, &user).created(created);
        d.international_name = idn;
        d.id = format!("{}", 160_000_000_000_000u64 + (i as u64) * 10);
        d.description = format!("Site of {user}");
        d.plan = match rng.gen_range(0..100) {
            0..=49 => Some(PLANS[0]),
            50..=79 => Some(PLANS[1]),
            80..=93 => Some(PLANS[2]),
            94..=96 => Some(PLANS[3]),
            _ => None,
        }
        .map(|(id, p)| (id.to_string(), p.to_string()));
        if resellers > 0 && rng.gen_bool(0.15) {
            let r = rng.gen_range(1..=resellers);
            d.reseller = Some(if rng.gen_ratio(1, 20) && resellers > 1 {
                format!("res{r} res{}", r % resellers + 1)
            } else {
                format!("res{r}")
            });
        }
        if rng.gen_ratio(5, 100) {
            let reason = DISABLED_REASONS[rng.gen_range(0..DISABLED_REASONS.len())];
            let at = rng.gen_range(created..NOW);
            d = d.disabled(reason, at);
        }
        d.contact_email = match rng.gen_range(0..100) {
            0..=2 => String::new(),
            3 => format!("{user}@localhost"),
            _ => format!("{user}@mail.test"),
        };
        if rng.gen_ratio(2, 100) {
            if let Some(ip) = dedicated_ip(dedicated) {
                dedicated += 1;
                d.ip_address = Some(format!("{ip} (On eth0)"));
            }
        }
        if rng.gen_ratio(2, 100) {
            let v6 = format!("2001:db8::{:x}:{:x}", (i + 1) >> 16, (i + 1) & 0xffff);
            if rng.gen_ratio(1, 4) {
                d.ip_address = None;
                d.ipv6_address = Some(format!("{v6} (On eth0)"));
            } else {
                d.ipv6_address = Some(v6);
            }
        }
        if rng.gen_ratio(1, 100) {
            d.external_ip_address = Some(format!("203.0.113.{}", 200 + i % 50));
        }
        d.created_unix_time = !rng.gen_ratio(1, 100);
        let secret: u64 = rng.gen();
        d.password = if rng.gen_bool(0.6) {
            DomainPassword::Plain(format!("pw-{secret:016x}"))
        } else {
            DomainPassword::Hashed(format!("$6${:08x}${secret:032x}", secret >> 32))
        };
        if rng.gen_bool(0.5) {
            d.mysql = Some((user.clone(), format!("db-{:012x}", secret >> 16)));
            d.features = "unix dir mail dns web ssl mysql".to_string();
        }

        if rng.gen_ratio(10, 100) {
            let mut s = d.clone();
            s.name = format!("{}{i}.test", WORDS[rng.gen_range(0..WORDS.len())]);
            s.international_name = None;
            s.id = format!("{}", 160_000_000_000_000u64 + (i as u64) * 10 + 1);
            s.kind = DomainKind::SubServer {
                parent: name.clone(),
            };
            s.created = created + rng.gen_range(60..86_400);
            s.ip_address = Some(format!("{VIRTUALMIN_SHARED_IP} (Shared)"));
            s.ipv6_address = None;
            s.external_ip_address = None;
            s.plan = None;
            s.contact_email = format!("{user}@mail.test");
            out.push((user.clone(), s.created, s.into_value()));
        }
        if rng.gen_ratio(8, 100) {
            let mut a = d.clone();
            a.name = format!("{user}.example");
            a.international_name = None;
            a.id = format!("{}", 160_000_000_000_000u64 + (i as u64) * 10 + 2);
            a.kind = if rng.gen_ratio(1, 4) {
                DomainKind::AliasWithOwnEmail { real: name.clone() }
            } else {
                DomainKind::Alias { real: name.clone() }
            };
            a.created = created + rng.gen_range(60..86_400);
            a.plan = None;
            a.mysql = None;
            a.disabled = None;
            out.push((user.clone(), a.created, a.into_value()));
        }
        out.push((user, created, d.into_value()));
    }
    // list-domains.pl: `sort { $a->{'user'} cmp $b->{'user'} || $a->{'created'} <=> …}`.
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    out.into_iter().map(|(_, _, v)| v).collect()
}

/// Unique dedicated addresses: 198.51.100.1-254, then 203.0.113.1-199.
fn dedicated_ip(k: usize) -> Option<String> {
    match k {
        0..=253 => Some(format!("198.51.100.{}", k + 1)),
        254..=452 => Some(format!("203.0.113.{}", k - 253)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn first<'a>(v: &'a Value, k: &str) -> &'a str {
        v["values"][k][0].as_str().unwrap_or("")
    }

    fn top_level(v: &[Value]) -> Vec<&Value> {
        v.iter()
            .filter(|d| first(d, "type") == "Top-level server")
            .collect()
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = generate_virtualmin_accounts(300, 7);
        assert_eq!(a, generate_virtualmin_accounts(300, 7));
        assert_ne!(a, generate_virtualmin_accounts(300, 8));
        assert_eq!(top_level(&a).len(), 300);
        assert!(generate_virtualmin_accounts(0, 1).is_empty());
    }

    #[test]
    fn mix_for_ten_thousand() {
        let all = generate_virtualmin_accounts(10_000, 1);
        let top = top_level(&all);
        assert_eq!(top.len(), 10_000);
        let count = |f: &dyn Fn(&Value) -> bool| top.iter().filter(|d| f(d)).count();
        let subs = all
            .iter()
            .filter(|d| first(d, "type") == "Sub-server")
            .count();
        let aliases = all
            .iter()
            .filter(|d| first(d, "type").starts_with("Alias"))
            .count();
        let disabled = count(&|d| d["values"].get("disabled").is_some());
        let no_plan = count(&|d| d["values"].get("plan").is_none());
        let resold = count(&|d| d["values"].get("reseller").is_some());
        let two_resellers = count(&|d| first(d, "reseller").contains(' '));
        let empty_mail = count(&|d| first(d, "contact_email").is_empty());
        let idn = count(&|d| d["name"].as_str().is_some_and(|n| n.starts_with("xn--")));
        let dedicated = count(&|d| first(d, "ip_address").ends_with("(On eth0)"));
        let v6_only = count(&|d| {
            d["values"].get("ip_address").is_none() && d["values"].get("ipv6_address").is_some()
        });
        let no_unix = count(&|d| d["values"].get("created_unix_time").is_none());
        let hashed = count(&|d| first(d, "hashed_password").starts_with("$6$"));
        assert!((800..=1200).contains(&subs), "sub-servers {subs}");
        assert!((600..=1000).contains(&aliases), "aliases {aliases}");
        assert!((400..=600).contains(&disabled), "disabled {disabled}");
        assert!((200..=400).contains(&no_plan), "no plan {no_plan}");
        assert!(
            resold > 1000 && two_resellers > 30,
            "{resold} {two_resellers}"
        );
        assert!(
            (200..=400).contains(&empty_mail),
            "empty e-mail {empty_mail}"
        );
        assert!((120..=280).contains(&idn), "IDN {idn}");
        assert!((100..=300).contains(&dedicated), "dedicated {dedicated}");
        assert!(v6_only > 20, "IPv6 only {v6_only}");
        assert!(
            (50..=150).contains(&no_unix),
            "no created_unix_time {no_unix}"
        );
        assert!(hashed > 3000, "hashed {hashed}");
    }

    #[test]
    fn names_unique_children_follow_parents_sorted_by_user() {
        let all = generate_virtualmin_accounts(5_000, 3);
        let mut names = HashSet::new();
        let mut users = HashSet::new();
        let mut seen_top: HashSet<&str> = HashSet::new();
        let mut prev_user = String::new();
        for d in &all {
            let name = d["name"].as_str().unwrap_or_default();
            assert!(names.insert(name), "duplicate domain {name}");
            assert!(name.is_ascii() && name.ends_with(".test") || name.ends_with(".example"));
            let user = first(d, "username");
            assert!(user >= prev_user.as_str(), "not sorted by user: {user}");
            prev_user = user.to_string();
            match first(d, "type") {
                "Top-level server" => {
                    assert!(users.insert(user.to_string()), "username reused: {user}");
                    seen_top.insert(name);
                    assert!(d["values"].get("parent_domain").is_none());
                    assert!(d["values"].get("real_domain").is_none());
                }
                "Sub-server" => {
                    assert!(seen_top.contains(first(d, "parent_domain")), "{name}");
                    assert!(d["values"].get("real_domain").is_none());
                }
                _ => {
                    assert!(seen_top.contains(first(d, "real_domain")), "{name}");
                    assert!(d["values"].get("parent_domain").is_none());
                }
            }
        }
    }

    #[test]
    fn every_address_is_valid_past_sixty_five_thousand() {
        let all = generate_virtualmin_accounts(70_000, 1);
        for d in &all {
            for k in ["ip_address", "ipv6_address", "external_ip_address"] {
                if let Some(v) = d["values"][k][0].as_str() {
                    let addr = v.split(' ').next().unwrap_or_default();
                    assert!(addr.parse::<std::net::IpAddr>().is_ok(), "{k} {v}");
                }
            }
        }
    }

    #[test]
    fn small_lists_have_no_resellers() {
        let all = generate_virtualmin_accounts(5, 1);
        assert!(all.iter().all(|d| d["values"].get("reseller").is_none()));
    }
}
