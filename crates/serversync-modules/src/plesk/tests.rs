use super::convert::{parse_cr_date, primary_ip, status_of, subscription};
use super::lookup::{read_batch, request, Answer};
use super::xml::{read_results, PacketError, ResultFields, MAX_DEPTH, MAX_TEXT};
use super::*;
use proptest::prelude::*;
use serversync_core::module::RemoteStatus;

/// A documented-shape answer with two subscriptions (panel-apis.md §B.3 example, extended).
const REAL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<packet version="1.6.9.1"><webspace><get>
<result><status>ok</status><id>7</id><data>
 <gen_info><cr_date>2021-03-04</cr_date><name>alice.example</name>
  <ascii-name>alice.example</ascii-name><status>16</status><real_size>123456</real_size>
  <owner-id>3</owner-id><owner-login>alice</owner-login>
  <dns_ip_address>2001:db8::30</dns_ip_address><dns_ip_address>203.0.113.30</dns_ip_address>
  <htype>vrt_hst</htype><guid>5f1c</guid></gen_info>
 <hosting><vrt_hst><property><name>ftp_password</name><value>SECRET</value></property>
  <property><name>ftp_login</name><value>alice_web</value></property>
  <ip_address>203.0.113.30</ip_address></vrt_hst></hosting>
 <subscriptions><subscription><locked>false</locked><synchronized>true</synchronized>
  <plan><plan-guid>g-plan</plan-guid></plan><plan><plan-guid>g-addon</plan-guid></plan>
 </subscription></subscriptions></data></result>
<result><status>ok</status><id>8</id><data><gen_info><cr_date>2022-12-01</cr_date>
 <name>b&amp;b.example</name><status>0</status><owner-id>1</owner-id><owner-login>admin</owner-login>
 <htype>none</htype></gen_info><hosting><none/></hosting><subscriptions><subscription>
 <locked>false</locked></subscription></subscriptions></data></result>
</get></webspace></packet>"#;

fn results(body: &str, op: &str) -> Result<Vec<ResultFields>, PacketError> {
    let mut out = Vec::new();
    read_results(body.as_bytes(), op, |r| {
        out.push(r);
        Ok::<(), PacketError>(())
    })?;
    Ok(out)
}

#[test]
fn a_documented_answer_reads_into_subscriptions() {
    let rs = results(REAL, "webspace").unwrap();
    assert_eq!(rs.len(), 2);
    let a = subscription(&rs[0]).unwrap();
    assert_eq!(a.name, "alice.example");
    assert_eq!(a.owner_id.as_deref(), Some("3"));
    assert_eq!(a.owner_login.as_deref(), Some("alice"));
    assert_eq!(a.system_user.as_deref(), Some("alice_web"));
    assert_eq!(a.plan_guids, ["g-plan", "g-addon"]);
    // The IPv4 address is the primary IP although IPv6 comes first.
    assert_eq!(a.primary_ip, "203.0.113.30");
    assert_eq!(a.status, RemoteStatus::Suspended);
    assert_eq!(
        a.status_detail.as_deref(),
        Some("status 16: disabled by the administrator (16)")
    );
    assert_eq!(a.created, Some(time::macros::datetime!(2021-03-04 0:00)));
    let b = subscription(&rs[1]).unwrap();
    assert_eq!(b.name, "b&b.example");
    assert_eq!(b.system_user, None);
    assert!(b.plan_guids.is_empty());
    assert_eq!(b.primary_ip, "");
    // The password property is never kept as a value of the subscription.
    assert!(!format!("{a:?}").contains("SECRET"));
}

#[test]
fn status_codes_are_a_bit_set() {
    assert_eq!(status_of("0").unwrap(), (RemoteStatus::Active, None, None));
    let (s, d, n) = status_of("256").unwrap();
    assert_eq!(
        (s, d.as_deref(), n),
        (
            RemoteStatus::Suspended,
            Some("status 256: expired (256)"),
            None
        )
    );
    let (s, d, _) = status_of(" 272 ").unwrap();
    assert_eq!(s, RemoteStatus::Suspended);
    assert_eq!(
        d.as_deref(),
        Some("status 272: expired (256), disabled by the administrator (16)")
    );
    let (s, d, n) = status_of("4").unwrap();
    assert_eq!(s, RemoteStatus::Active);
    assert_eq!(d.as_deref(), Some("status 4: under backup/restore (4)"));
    assert!(n.unwrap().contains("listed as Active"));
    // Backup while disabled is still Suspended.
    assert_eq!(status_of("20").unwrap().0, RemoteStatus::Suspended);
    for code in ["1", "2", "8", "32", "64"] {
        assert_eq!(
            status_of(code).unwrap().0,
            RemoteStatus::Suspended,
            "{code}"
        );
    }
    assert_eq!(
        status_of("1040").unwrap_err(),
        "status 1040 has bits Plesk does not document (1024) besides disabled by the \
         administrator (16): neither Active nor Suspended can be known"
    );
    assert!(status_of("-1").is_err());
    assert!(status_of("active").is_err());
    assert!(status_of("").is_err());
    assert!(status_of("99999999999999999999999").is_err());
}

#[test]
fn cr_date_is_a_date_only() {
    assert_eq!(
        parse_cr_date("2024-01-31").unwrap(),
        Some(time::macros::datetime!(2024-01-31 0:00))
    );
    assert_eq!(parse_cr_date("").unwrap(), None);
    assert_eq!(parse_cr_date("0000-00-00").unwrap(), None);
    for bad in [
        "2024-02-30",
        "2024-1-31",
        "31/01/2024",
        "2024-01-31 10:00:00",
        "２０２４-01-31",
    ] {
        assert!(parse_cr_date(bad).is_err(), "{bad}");
    }
}

#[test]
fn primary_ip_prefers_ipv4() {
    assert_eq!(
        primary_ip(&["2001:db8::1", "192.0.2.1"]),
        ("192.0.2.1".to_string(), None)
    );
    let (ip, note) = primary_ip(&["2001:db8::1"]);
    assert_eq!(ip, "2001:db8::1");
    assert!(note.unwrap().contains("IPv6"));
    let (ip, note) = primary_ip(&["junk", "192.0.2.9"]);
    assert_eq!(ip, "192.0.2.9");
    assert!(note.unwrap().contains("junk"));
    assert_eq!(primary_ip(&[]), (String::new(), None));
}

#[test]
fn both_error_levels_are_seen() {
    let sys = "<packet><system><status>error</status><errcode>1001</errcode>\
               <errtext>Authentication failed - wrong password</errtext></system></packet>";
    assert_eq!(
        results(sys, "webspace").unwrap_err(),
        PacketError::System {
            code: "1001".into(),
            text: "Authentication failed - wrong password".into()
        }
    );
    assert_eq!(
        ModuleError::from(results(sys, "webspace").unwrap_err()),
        ModuleError::Remote(
            "agent.php system error 1001: Authentication failed - wrong password (the login or \
             password was refused)"
                .into()
        )
    );
    let per = "<packet><webspace><get><result><status>error</status><errcode>1013</errcode>\
               <errtext>Domain does not exist</errtext></result></get></webspace></packet>";
    let e = parse_webspaces(per.as_bytes(), "").unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote("webspace get answered error 1013: Domain does not exist".into())
    );
}

#[test]
fn an_echoed_secret_is_redacted() {
    let sys = "<packet><system><status>error</status><errcode>11003</errcode>\
               <errtext>Secret key 0d6c-SECRET-KEY validation failed</errtext></system></packet>";
    let e = parse_webspaces(sys.as_bytes(), "0d6c-SECRET-KEY").unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote(
            "agent.php system error 11003: Secret key [redacted] validation failed (the secret \
             key was refused)"
                .into()
        )
    );
}

#[test]
fn wrong_shapes_are_clean_errors() {
    let m = |b: &str| match results(b, "webspace") {
        Err(PacketError::Malformed(m)) => m,
        other => panic!("{b}: {other:?}"),
    };
    assert!(m("").contains("no <webspace><get>"));
    assert!(m("<html><body>hi</body></html>").contains("root is <html>"));
    assert!(m("<packet><customer><get></get></customer></packet>").contains("no <webspace><get>"));
    assert!(m("<packet><webspace><get><result><status>ok").contains("cut off"));
    assert!(m("<packet><webspace></get></packet>").contains("not well formed"));
    assert!(m("<packet><a>&bogus;</a></packet>").contains("cannot be read"));
    let deep = format!("<packet>{}", "<a>".repeat(MAX_DEPTH + 1));
    assert!(m(&deep).contains("deeper"));
    let long = format!(
        "<packet><webspace><get><result><status>{}</status></result></get></webspace></packet>",
        "x".repeat(MAX_TEXT + 1)
    );
    assert!(m(&long).contains("longer than"));
    // An empty listing is an answer with no result, not an error.
    assert!(
        results("<packet><webspace><get/></webspace></packet>", "webspace")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn lookup_requests_escape_and_batch() {
    assert_eq!(
        request(
            "service-plan",
            "guid",
            "<owner-all/>",
            &["a<b".into(), "c".into()]
        ),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<packet><service-plan><get><filter>\
         <guid>a&lt;b</guid><guid>c</guid></filter><owner-all/></get></service-plan></packet>"
    );
}

/// Mutations of the real answer: cut, a byte replaced, a piece repeated.
fn mutate(real: &[u8], cut: usize, at: usize, byte: u8, rep: usize) -> Vec<u8> {
    let mut v = real.to_vec();
    if !v.is_empty() {
        let i = at % v.len();
        v[i] = byte;
    }
    let start = at % real.len().max(1);
    let end = (start + rep).min(real.len());
    let piece = real[start..end].to_vec();
    v.splice(start..start, piece);
    v.truncate(cut.min(v.len()).max(v.len() / 4));
    v
}

fn check_no_panic(body: &[u8]) {
    let r = parse_webspaces(body, "");
    match r {
        Ok(subs) => {
            for (ident, sub) in subs {
                if let Some(i) = ident {
                    assert!(i.chars().count() <= 60);
                }
                if let Ok(s) = sub {
                    assert!(s.plan_guids.len() <= convert::MAX_PLAN_GUIDS);
                    assert!(s.name.len() <= MAX_TEXT);
                }
            }
        }
        Err(ModuleError::Malformed(m)) | Err(ModuleError::Remote(m)) => {
            assert!(!m.is_empty() && m.len() < 2_000, "{m}")
        }
        Err(other) => panic!("unexpected error kind {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_no_panic(&body);
    }

    #[test]
    fn mutated_real_answers_never_panic(
        cut in 0usize..4096, at in 0usize..4096, byte in any::<u8>(), rep in 0usize..64
    ) {
        check_no_panic(&mutate(REAL.as_bytes(), cut, at, byte, rep));
    }

    #[test]
    fn any_status_text_is_read_or_reported(s in "\\PC{0,12}") {
        match status_of(&s) {
            Ok((RemoteStatus::Active, d, _)) => {
                let code: u64 = s.trim().parse().unwrap_or(u64::MAX);
                prop_assert!(code == 0 || code == 4, "{s:?} Active with {d:?}");
            }
            Ok((RemoteStatus::Suspended, d, _)) => prop_assert!(d.is_some()),
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }

    #[test]
    fn every_code_with_an_unknown_bit_is_reported(code in 0u64..1_000_000) {
        let known = 1 | 2 | 4 | 8 | 16 | 32 | 64 | 256;
        let r = status_of(&code.to_string());
        if code & !known != 0 {
            prop_assert!(r.is_err());
        } else if code == 0 || code == 4 {
            prop_assert_eq!(r.map(|x| x.0), Ok(RemoteStatus::Active));
        } else {
            prop_assert_eq!(r.map(|x| x.0), Ok(RemoteStatus::Suspended));
        }
    }
}

#[test]
fn batch_answers_are_matched_to_their_values() {
    let body = "<packet><customer><get>\
        <result><status>ok</status><filter-id>5</filter-id><id>5</id><data><gen_info>\
          <login>eve</login><email>eve@mail.test</email></gen_info></data></result>\
        <result><status>error</status><errcode>1013</errcode><errtext>Client does not exist\
          </errtext><filter-id>3</filter-id></result>\
        <result><status>error</status><errcode>1006</errcode><errtext>Permission denied\
          </errtext></result>\
        </get></customer></packet>";
    let batch: Vec<String> = ["3", "5", "9"].map(String::from).to_vec();
    let got = read_batch(body.as_bytes(), "customer", "id", &batch, "").unwrap();
    let shown: Vec<String> = got
        .iter()
        .map(|a| match a {
            Answer::Found(r) => format!("found {}", r.get("data/gen_info/login").unwrap_or("")),
            Answer::NotFound => "not found".into(),
            Answer::Failed(why) => format!("failed {why}"),
        })
        .collect();
    // 3 is 1013 (try reseller), 5 found, 9 unanswered: the error naming no value is its.
    assert_eq!(
        shown,
        [
            "not found",
            "found eve",
            "failed error 1006: Permission denied"
        ]
    );
    // Without an unattributed error, an unanswered value is not found.
    let body = "<packet><customer><get></get></customer></packet>";
    let got = read_batch(body.as_bytes(), "customer", "id", &batch[..1], "").unwrap();
    assert!(matches!(got.as_slice(), [Answer::NotFound]));
}

#[test]
fn credentials_are_required_and_the_key_wins() {
    let shared = crate::Shared::new(&ModuleOptions::default());
    let m = PleskModule::new(&shared);
    let mut p = ServerParams {
        server_id: 1,
        ip: "192.0.2.12".into(),
        hostname: String::new(),
        username: "admin".into(),
        password: serversync_core::model::Secret::new(""),
        access_hash: serversync_core::model::Secret::new(""),
        secure: true,
        tls_verify: true,
        port: None,
    };
    assert!(matches!(m.context(&p), Err(ModuleError::Config(_))));
    p.password = serversync_core::model::Secret::new("pw");
    let ctx = m.context(&p).unwrap();
    assert_eq!(
        ctx.url,
        "https://192.0.2.12:8443/enterprise/control/agent.php"
    );
    assert!(matches!(
        ctx.auth,
        Auth::Login {
            login: "admin",
            password: "pw"
        }
    ));
    p.access_hash = serversync_core::model::Secret::new(" KEY-1 ");
    p.secure = false;
    let ctx = m.context(&p).unwrap();
    assert_eq!(
        ctx.url,
        "http://192.0.2.12:8880/enterprise/control/agent.php"
    );
    assert!(matches!(ctx.auth, Auth::Key("KEY-1")));
    p.access_hash = serversync_core::model::Secret::new("bad\nkey");
    assert!(matches!(m.context(&p), Err(ModuleError::Config(_))));
}
