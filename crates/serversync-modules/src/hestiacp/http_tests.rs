//! The HestiaCP module against a mock panel (wiremock): both login modes, their HTTP status
//! rules, failures of one user and of every call.

use std::time::Duration;

use serversync_core::model::Secret;
use serversync_core::module::ServerParams;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::tests::{domains_doc, user_object, users_doc};
use super::*;
use crate::{ModuleError, ModuleOptions, NoProgress, Shared};

/// An access key pair in Hestia's form (20 + 40 characters).
const KEY: &str = "ABCDEFGHIJ0123456789:s3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr";
const SECRET: &str = "s3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr";
const PASSWORD: &str = "Admin-Pass-9ZQ";

fn params_for(server: &MockServer, access_hash: &str) -> ServerParams {
    let addr = server.address();
    ServerParams {
        server_id: 14,
        ip: "192.0.2.14".into(),
        hostname: addr.ip().to_string(),
        username: "admin".into(),
        password: Secret::new(PASSWORD),
        access_hash: Secret::new(access_hash),
        secure: false,
        tls_verify: true,
        port: Some(addr.port()),
    }
}

fn module() -> HestiaModule {
    HestiaModule::new(&Shared::new(&ModuleOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        ..ModuleOptions::default()
    }))
}

async fn serve(server: &MockServer, needle: &str, resp: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/api/"))
        .and(body_string_contains(needle))
        .respond_with(resp)
        .mount(server)
        .await;
}

async fn serve_users(server: &MockServer, doc: &str) {
    serve(
        server,
        "cmd=v-list-users&arg1=json",
        ResponseTemplate::new(200).set_body_string(doc.to_string()),
    )
    .await;
}

async fn serve_domains(server: &MockServer, user: &str, resp: ResponseTemplate) {
    serve(
        server,
        &format!("cmd=v-list-web-domains&arg1={user}&arg2=json"),
        resp,
    )
    .await;
}

#[tokio::test]
async fn access_key_mode_posts_the_hash_in_the_form_body() {
    let server = MockServer::start().await;
    serve_users(
        &server,
        &users_doc(&[
            user_object("admin", "System Administrator", "no"),
            user_object("zed", "Zed", "no"),
            user_object("ann", "Ann", "no"),
        ]),
    )
    .await;
    serve_domains(
        &server,
        "zed",
        ResponseTemplate::new(200).set_body_string(domains_doc(&[("zed.test", "192.0.2.14")])),
    )
    .await;
    serve_domains(
        &server,
        "ann",
        ResponseTemplate::new(200).set_body_string(domains_doc(&[("ann.test", "192.0.2.15")])),
    )
    .await;
    let l = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap();
    assert!(l.skipped.is_empty(), "{:?}", l.skipped);
    let got: Vec<_> = l
        .accounts
        .iter()
        .map(|a| {
            (
                a.username.as_str(),
                a.domain.as_str(),
                a.primary_ip.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("zed", "zed.test", "192.0.2.14"),
            ("ann", "ann.test", "192.0.2.15")
        ]
    );
    let reqs = server.received_requests().await.unwrap();
    // The user list and one call per listed user (admin is left out without a call).
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            body.starts_with("hash=ABCDEFGHIJ0123456789%3As3cr3t"),
            "{body}"
        );
        assert!(body.contains("&returncode=no&cmd="), "{body}");
        assert!(!body.contains("password"));
        assert!(!r.url.as_str().contains(SECRET));
        assert_eq!(r.url.path(), "/api/");
    }
}

#[tokio::test]
async fn user_password_mode_error_in_200_skips_that_user() {
    let server = MockServer::start().await;
    serve_users(
        &server,
        &users_doc(&[
            user_object("u1", "U1", "no"),
            user_object("u2", "U2", "no"),
            user_object("u3", "U3", "no"),
        ]),
    )
    .await;
    for u in ["u1", "u3"] {
        serve_domains(
            &server,
            u,
            ResponseTemplate::new(200)
                .set_body_string(domains_doc(&[(&format!("{u}.test"), "192.0.2.14")])),
        )
        .await;
    }
    // With user/password a failing command still answers 200 with its `Error:` text.
    serve_domains(
        &server,
        "u2",
        ResponseTemplate::new(200).set_body_string("Error: user u2 doesn't exist\n"),
    )
    .await;
    let l = module()
        .list_accounts(&params_for(&server, ""), &NoProgress)
        .await
        .unwrap();
    let users: Vec<_> = l.accounts.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(users, ["u1", "u3"]);
    assert_eq!(
        l.skipped,
        vec![SkippedRecord {
            index: 1,
            identifier: Some("u2".into()),
            reason: "v-list-web-domains failed: user u2 doesn't exist".into(),
        }]
    );
    assert!(!l.is_complete());
    let reqs = server.received_requests().await.unwrap();
    let body = String::from_utf8_lossy(&reqs[0].body);
    assert!(
        body.starts_with("user=admin&password=Admin-Pass-9ZQ&returncode=no&cmd=v-list-users"),
        "{body}"
    );
}

#[tokio::test]
async fn access_key_mode_exit_codes_are_http_statuses() {
    let server = MockServer::start().await;
    serve_users(
        &server,
        &users_doc(&[user_object("u1", "U1", "no"), user_object("u2", "U2", "no")]),
    )
    .await;
    serve_domains(
        &server,
        "u1",
        ResponseTemplate::new(200).set_body_string(domains_doc(&[("u1.test", "192.0.2.14")])),
    )
    .await;
    serve_domains(
        &server,
        "u2",
        ResponseTemplate::new(400)
            .insert_header("hestia-exit-code", "3")
            .set_body_string("Error: user u2 doesn't exist"),
    )
    .await;
    let l = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap();
    assert_eq!(l.accounts.len(), 1);
    assert_eq!(
        l.skipped[0].reason,
        "v-list-web-domains failed: user u2 doesn't exist (exit code 3, E_NOTEXIST)"
    );
}

#[tokio::test]
async fn systemic_failures_fail_the_listing() {
    // v-list-users failing in 200 (legacy mode).
    let server = MockServer::start().await;
    serve_users(&server, "Error: can't read users\n").await;
    let e = module()
        .list_accounts(&params_for(&server, ""), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ModuleError::Remote("v-list-users: can't read users".into())
    );

    // A refused key: 401 with Hestia's text.
    let server = MockServer::start().await;
    serve(
        &server,
        "cmd=v-list-users",
        ResponseTemplate::new(401)
            .insert_header("hestia-exit-code", "9")
            .set_body_string("Error: key ABCDEFGHIJ0123456789 doesn't exist"),
    )
    .await;
    let e = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(e, ModuleError::AuthRefused { status: 401 });

    // An HTML page (a proxy, the login page) and an empty answer.
    let server = MockServer::start().await;
    serve_users(
        &server,
        "<!doctype html><title>Hestia Control Panel</title>",
    )
    .await;
    let e = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ModuleError::Malformed(m) if m.contains("HTML page")),
        "{e:?}"
    );
    let server = MockServer::start().await;
    serve(&server, "cmd=v-list-users", ResponseTemplate::new(204)).await;
    let e = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ModuleError::Malformed("v-list-users answered with no output".into())
    );

    // A 500 with the secret echoed back: redacted.
    let server = MockServer::start().await;
    serve(
        &server,
        "cmd=v-list-users",
        ResponseTemplate::new(500).set_body_string(format!("boom {SECRET}")),
    )
    .await;
    let e = module()
        .list_accounts(&params_for(&server, KEY), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ModuleError::Http {
            status: 500,
            snippet: "boom [redacted]".into()
        }
    );
}

#[tokio::test]
async fn missing_credentials_are_configuration_errors() {
    let server = MockServer::start().await;
    let mut p = params_for(&server, "");
    p.password = Secret::new("");
    assert!(matches!(
        module().list_accounts(&p, &NoProgress).await,
        Err(ModuleError::Config(m)) if m.contains("ACCESS_KEY:SECRET_KEY")
    ));
    let p = params_for(&server, "no-colon-here");
    assert!(matches!(
        module().list_accounts(&p, &NoProgress).await,
        Err(ModuleError::Config(_))
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[test]
fn concurrency_defaults_and_meta() {
    let m = module();
    assert_eq!(m.user_concurrency(), 16);
    assert_eq!(m.with_user_concurrency(0).user_concurrency(), 1);
    let meta = HestiaModule::meta_data();
    assert_eq!(meta.display_name, "HestiaCP");
    assert_eq!(meta.unique_identifier_field, UniqueIdField::Domain);
    assert_eq!(meta.product_field, "configoption1");
    assert_eq!(
        (meta.default_secure_port, meta.default_plain_port),
        (8083, 8083)
    );
    assert!(meta.validate().is_ok());
    assert_eq!(
        command_message("Error: x\ny", Some(12), ""),
        "x y (exit code 12, E_PARSING)"
    );
}
