//! Reading Hestia's answers and converting users: exact values, the unescaped-JSON recovery,
//! reasons; and fuzz-style tests of the parsers.

use proptest::prelude::*;
use serversync_core::module::{format_created, RemoteStatus};

use super::convert::{convert_user, created, is_left_out};
use super::parse::{parse_users, parse_web_domains, UserEntry, UserFields, WebDomains};
use crate::lenient::Scalar;

/// One user object as Hestia's template writes it; `name` goes into `NAME` unescaped.
pub(super) fn user_object(user: &str, name: &str, suspended: &str) -> String {
    format!(
        "    \"{user}\": {{\n        \"NAME\": \"{name}\",\n        \"PACKAGE\": \"basic\",\n        \
         \"CONTACT\": \"{user}@mail.test\",\n        \"RKEY\": \"RESETKEY-{user}\",\n        \
         \"ROLE\": \"user\",\n        \"SUSPENDED\": \"{suspended}\",\n        \
         \"TIME\": \"10:11:12\",\n        \"DATE\": \"2023-05-01\"\n        }}"
    )
}

/// A `v-list-users json` document of these objects, ending `}}` as Hestia HEAD does.
pub(super) fn users_doc(objects: &[String]) -> String {
    format!("{{\n{}}}", objects.join(",\n"))
}

pub(super) fn domains_doc(domains: &[(&str, &str)]) -> String {
    let objects: Vec<String> = domains
        .iter()
        .map(|(d, ip)| {
            format!(
                "    \"{d}\": {{\n        \"IP\": \"{ip}\",\n        \"IP6\": \"\",\n        \
                 \"SUSPENDED\": \"no\"\n    }}"
            )
        })
        .collect();
    format!("{{\n{}\n}}", objects.join(",\n"))
}

fn names(entries: &[UserEntry]) -> Vec<(Option<&str>, bool)> {
    entries
        .iter()
        .map(|e| match e {
            UserEntry::User { name, .. } => (Some(name.as_str()), true),
            UserEntry::Broken { name, .. } => (name.as_deref(), false),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The user list

#[test]
fn a_valid_document_is_read_in_order_without_its_secrets() {
    let doc = users_doc(&[
        user_object("zed", "Zed Example", "no"),
        user_object("ann", "Ann Example", "yes"),
    ]);
    let entries = parse_users(doc.as_bytes()).unwrap();
    assert_eq!(names(&entries), [(Some("zed"), true), (Some("ann"), true)]);
    let UserEntry::User { fields, .. } = &entries[1] else {
        panic!("ann is readable")
    };
    assert_eq!(fields.suspended, Scalar::Str("yes".into()));
    assert_eq!(fields.package, Scalar::Str("basic".into()));
    assert_eq!(fields.date, Scalar::Str("2023-05-01".into()));
    // RKEY is skipped unread: it is nowhere in what was kept.
    assert!(!format!("{entries:?}").contains("RESETKEY"));
    // `}` on its own line (Hestia 1.8) reads the same.
    let old = format!("{{\n{}\n}}", user_object("ann", "Ann", "no"));
    assert_eq!(
        names(&parse_users(old.as_bytes()).unwrap()),
        [(Some("ann"), true)]
    );
    assert!(parse_users(b"{\n}").unwrap().is_empty());
}

#[test]
fn hestia_name_with_a_quote_skips_that_record_and_keeps_the_others() {
    let doc = users_doc(&[
        user_object("ann", "Ann Example", "no"),
        user_object("bob", "Bob \"the builder\" Example", "no"),
        user_object("cid", "Cid Example", "yes"),
    ]);
    assert!(serde_json::from_str::<serde_json::Value>(&doc).is_err());
    let entries = parse_users(doc.as_bytes()).unwrap();
    assert_eq!(
        names(&entries),
        [
            (Some("ann"), true),
            (Some("bob"), false),
            (Some("cid"), true)
        ]
    );
    let UserEntry::Broken { reason, .. } = &entries[1] else {
        panic!("bob is broken")
    };
    assert_eq!(
        reason,
        "the v-list-users object of this user is not valid JSON (line 2, column 23 of the \
         object; a `\"` inside a value, which Hestia does not escape?)"
    );
    // The reason never quotes the object (it may hold RKEY).
    assert!(!reason.contains("builder"));
}

#[test]
fn a_value_that_injects_a_user_is_read_per_user() {
    // Valid JSON as a whole, but the template's lines name three users, not four.
    let doc = users_doc(&[
        user_object("ann", "Ann", "no"),
        user_object("bob", "\"}, \"evil\": {\"PACKAGE\": \"gold", "no"),
        user_object("cid", "Cid", "no"),
    ]);
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert!(v.get("evil").is_some());
    let entries = parse_users(doc.as_bytes()).unwrap();
    assert_eq!(
        names(&entries),
        [
            (Some("ann"), true),
            (Some("bob"), false),
            (Some("cid"), true)
        ]
    );
}

#[test]
fn a_backslash_is_never_read_as_an_escape() {
    // `\t` would be a valid JSON escape: a strict reader would turn it into a tab.
    let doc = users_doc(&[
        user_object("ann", "Ann Example", "no"),
        user_object("bob", "C:\\temp Bob", "no"),
    ]);
    let entries = parse_users(doc.as_bytes()).unwrap();
    assert_eq!(names(&entries), [(Some("ann"), true), (Some("bob"), false)]);
    let UserEntry::Broken { reason, .. } = &entries[1] else {
        panic!("bob is broken")
    };
    assert!(
        reason.contains("holds a `\\` (line 2 of the object)"),
        "{reason}"
    );
}

#[test]
fn broken_documents_fail_as_a_whole() {
    let full = users_doc(&[
        user_object("ann", "Ann", "no"),
        user_object("bob", "B\"ob", "no"),
    ]);
    // Cut short: never a shorter list.
    let cut = &full[..full.len() - 40];
    assert_eq!(
        parse_users(cut.as_bytes()).unwrap_err().0,
        "v-list-users answered a JSON object that ends before its closing `}`"
    );
    for bad in [&b""[..], b"OK", b"[]", b"Error: nope", b"{\"a\" \"b\"}"] {
        assert!(
            parse_users(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // Text before the first user object.
    let junk = format!("{{\n  garbage\n{}}}", user_object("ann", "A\"", "no"));
    assert!(parse_users(junk.as_bytes()).is_err());
}

// ---------------------------------------------------------------------------------------
// Web domains and conversion

#[test]
fn web_domains_keep_creation_order() {
    let d = parse_web_domains(
        domains_doc(&[
            ("zz.test", "192.0.2.14"),
            ("aa.test", "198.51.100.1"),
            ("mm.test", "192.0.2.14"),
        ])
        .as_bytes(),
    )
    .unwrap();
    let (first, f) = d.first.as_ref().unwrap();
    assert_eq!(first, "zz.test");
    assert_eq!(f.ip, Scalar::Str("192.0.2.14".into()));
    assert_eq!(d.others, ["aa.test", "mm.test"]);
    assert_eq!(d.other_count, 2);
    assert_eq!(parse_web_domains(b"{\n}").unwrap(), WebDomains::default());
    assert!(parse_web_domains(b"Error: x").is_err());
    assert!(parse_web_domains(b"{\"a.test\": {\"IP\": \"1\\2\"}}").is_err());
}

fn fields(suspended: &str, date: &str, time: &str) -> UserFields {
    UserFields {
        package: Scalar::Str("basic".into()),
        contact: Scalar::Str("ann@mail.test".into()),
        suspended: Scalar::Str(suspended.into()),
        role: Scalar::Str("user".into()),
        date: Scalar::Str(date.into()),
        time: Scalar::Str(time.into()),
    }
}

#[test]
fn a_user_converts_with_exact_values() {
    let d = parse_web_domains(
        domains_doc(&[("ann.test", "192.0.2.14"), ("ann-shop.test", "192.0.2.14")]).as_bytes(),
    )
    .unwrap();
    let a = convert_user("ann", &fields("yes", "2023-05-01", "10:11:12"), &d).unwrap();
    assert_eq!(a.username, "ann");
    assert_eq!(a.domain, "ann.test");
    assert_eq!(a.unique_identifier, "ann.test");
    assert_eq!(a.product, "basic");
    assert_eq!(a.primary_ip, "192.0.2.14");
    assert_eq!(a.email.as_deref(), Some("ann@mail.test"));
    assert_eq!(a.status, RemoteStatus::Suspended);
    assert_eq!(a.owner, None);
    assert_eq!(format_created(a.created.unwrap()), "2023-05-01 10:11:12");
    assert_eq!(
        a.notes,
        [
            "the first web domain in creation order is the account's domain; the user also has \
          ann-shop.test"
        ]
    );

    // No web domain: an empty domain, passed on (a conflict in the analysis).
    let a = convert_user(
        "bob",
        &fields("no", "2023-05-01", ""),
        &WebDomains::default(),
    )
    .unwrap();
    assert_eq!((a.domain.as_str(), a.unique_identifier.as_str()), ("", ""));
    assert_eq!(a.status, RemoteStatus::Active);
    assert_eq!(format_created(a.created.unwrap()), "2023-05-01 00:00:00");
    assert_eq!(a.notes, ["the user has no web domain"]);
}

#[test]
fn problems_are_reasons_never_guesses() {
    let none = WebDomains::default();
    for (f, want) in [
        (
            fields("frozen", "2023-05-01", ""),
            "SUSPENDED value \"frozen\" is not yes or no",
        ),
        (
            fields("no", "01/05/2023", ""),
            "DATE \"01/05/2023\" is not a date like \"2023-05-01\"",
        ),
        (
            fields("no", "2023-02-30", ""),
            "DATE \"2023-02-30\" is not a date like \"2023-05-01\"",
        ),
        (
            fields("no", "2023-05-01", "25:00:00"),
            "TIME \"25:00:00\" is not a time like \"10:11:12\"",
        ),
        (fields("no", "", "10:11:12"), "TIME is given without a DATE"),
    ] {
        assert_eq!(convert_user("ann", &f, &none).unwrap_err(), want);
    }
    let mut f = fields("no", "", "");
    f.suspended = Scalar::Missing;
    assert_eq!(
        convert_user("ann", &f, &none).unwrap_err(),
        "SUSPENDED is missing"
    );
    assert_eq!(created(&Scalar::Missing, &Scalar::Missing), Ok(None));
}

#[test]
fn admin_and_system_users_are_left_out() {
    let mut f = fields("no", "", "");
    assert!(is_left_out("admin", "", Some(&f)));
    assert!(is_left_out("root2", "root2", Some(&f)));
    assert!(!is_left_out("ann", "admin", Some(&f)));
    f.role = Scalar::Str("admin".into());
    assert!(is_left_out("ann", "", Some(&f)));
    f.role = Scalar::Str("user".into());
    f.package = Scalar::Str("system".into());
    assert!(is_left_out("ann", "", Some(&f)));
    assert!(!is_left_out("ann", "", None));
}

// ---------------------------------------------------------------------------------------
// Fuzz-style: no input panics; every outcome is a value, a clean error or a reason.

fn real_users() -> String {
    users_doc(&[
        user_object("admin", "System Administrator", "no"),
        user_object("ann", "Ann Example", "yes"),
        user_object("bob", "Bob", "no"),
    ])
}

fn mutate(base: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = base.as_bytes().to_vec();
    for &(pos, op, byte) in edits {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let p = pos % b.len();
        match op % 4 {
            0 => b[p] = byte,
            1 => b.insert(p, byte),
            2 => {
                b.remove(p);
            }
            _ => b.truncate(p),
        }
    }
    b
}

fn check_everything(body: &[u8]) {
    match parse_users(body) {
        Ok(entries) => {
            // Never more users than boundary lines (or `"` pairs) the body has.
            assert!(entries.len() <= body.iter().filter(|b| **b == b'"').count() / 2);
            for e in &entries {
                match e {
                    UserEntry::User { name, fields } => {
                        let _ = convert_user(name, fields, &WebDomains::default());
                    }
                    UserEntry::Broken { reason, .. } => {
                        assert!(!reason.is_empty());
                        assert!(!reason.contains("RESETKEY"));
                    }
                }
            }
        }
        Err(e) => assert!(!e.0.is_empty()),
    }
    match parse_web_domains(body) {
        Ok(d) => assert!(d.others.len() <= super::parse::MAX_OTHER_DOMAINS),
        Err(reason) => assert!(!reason.is_empty()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_everything(&body);
    }

    #[test]
    fn json_alphabet_never_panics(body in "[{}\":, \\n\\\\a-zA-Z0-9]{0,300}") {
        check_everything(body.as_bytes());
    }

    #[test]
    fn mutated_real_answers_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8),
        which in 0..2u8,
    ) {
        let base = if which == 0 {
            real_users()
        } else {
            domains_doc(&[("ann.test", "192.0.2.14"), ("b.test", "192.0.2.15")])
        };
        check_everything(&mutate(&base, &edits));
    }

    #[test]
    fn one_quote_in_any_name_loses_only_that_user(name in "[ -~]{0,30}", at in 0..3usize) {
        let mut objects = vec![
            user_object("ann", "Ann", "no"),
            user_object("bob", "Bob", "no"),
            user_object("cid", "Cid", "no"),
        ];
        let user = ["ann", "bob", "cid"][at];
        objects[at] = user_object(user, &name, "no");
        let entries = parse_users(users_doc(&objects).as_bytes()).unwrap();
        let got = names(&entries);
        prop_assert_eq!(got.len(), 3);
        for (i, (n, ok)) in got.iter().enumerate() {
            prop_assert_eq!(*n, Some(["ann", "bob", "cid"][i]));
            if i != at {
                prop_assert!(*ok);
            }
        }
        // A clean name reads; one with `\` is the skipped record (one with `"` may still
        // be valid JSON of the same user, e.g. `a", "X": "b`).
        if !name.contains('"') && !name.contains('\\') {
            prop_assert!(got[at].1);
        }
        if name.contains('\\') {
            prop_assert!(!got[at].1);
        }
    }
}
