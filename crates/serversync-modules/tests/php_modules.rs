//! WHMCS server modules through the PHP shim (issue 7 §3): a module in the style of the WHMCS
//! SDK's sample provisioning module using Capsule, Carbon, Guzzle and logModuleCall, and the
//! issue's small inputs.
//!
//! Needs `php` (Debian: php-cli php-curl php-xml php-sqlite3 php-mbstring
//! php-guzzlehttp-guzzle php-nesbot-carbon php-illuminate-database; `.ci/run` installs them).
//! Without it every test here is skipped with a notice, except under `CI`, where they fail.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use serversync_core::model::Secret;
use serversync_core::module::{format_created, RemoteStatus, ServerParams, UniqueIdField};
use serversync_modules::php::{PhpModule, WhmcsRows};
use serversync_modules::{
    ModuleError, ModuleKind, ModuleOptions, ModuleRegistry, NoProgress, RegistryConfig, Shared,
};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASSWORD: &str = "hunter22-Secret";
const TOKEN: &str = "TOKEN-abcdef123456";

/// Whether PHP (with the libraries) can run here; prints a notice, or panics under `CI`.
fn php_ready() -> bool {
    let ok = std::process::Command::new("php")
        .args([
            "-r",
            "exit(stream_resolve_include_path('GuzzleHttp/autoload.php') && \
             stream_resolve_include_path('Carbon/autoload.php') && \
             stream_resolve_include_path('Illuminate/Database/autoload.php') && \
             extension_loaded('pdo_sqlite') ? 0 : 3);",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "php with Guzzle, Carbon, Illuminate Database and pdo_sqlite is required under CI"
        );
        eprintln!(
            "skipped: php (with php-guzzlehttp-guzzle, php-nesbot-carbon, \
             php-illuminate-database, php-sqlite3) is not installed"
        );
    }
    ok
}

fn params(port: Option<u16>) -> ServerParams {
    ServerParams {
        server_id: 16,
        ip: "192.0.2.16".into(),
        hostname: "127.0.0.1".into(),
        username: "admin".into(),
        password: Secret::new(PASSWORD),
        access_hash: Secret::new(TOKEN),
        secure: false,
        tls_verify: true,
        port,
    }
}

fn shared(timeout: Duration) -> Shared {
    Shared::new(&ModuleOptions {
        external_timeout: timeout,
        ..ModuleOptions::default()
    })
}

/// Writes module `name` into `modules_dir/name/` (`files`: relative path, contents).
fn install(modules_dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = modules_dir.join(name);
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    dir
}

/// A one-file module `name` whose whole body (after `<?php`) is `body`.
async fn one_file(body: &str) -> (tempfile::TempDir, PhpModule) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(
        tmp.path(),
        "testmod",
        &[("testmod.php", &format!("<?php\n{body}\n"))],
    );
    let m = PhpModule::load(
        "testmod",
        &dir,
        Path::new("php"),
        &shared(Duration::from_secs(60)),
    )
    .await
    .unwrap_or_else(|e| panic!("load: {e}"));
    (tmp, m)
}

async fn list(m: &PhpModule) -> serversync_modules::php::PhpListing {
    m.list_with_rows(&params(Some(2222)), &WhmcsRows::default())
        .await
}

const SAMPLE_PHP: &str = include_str!("php/provisioningmodule/provisioningmodule.php");
const SAMPLE_LIB: &str = include_str!("php/provisioningmodule/lib/ApiClient.php");

#[tokio::test]
async fn sample_module_lists_through_capsule_carbon_guzzle_and_logs() {
    if !php_ready() {
        return;
    }
    let panel = MockServer::start().await;
    // Basic auth with the password the module decrypted from its tblservers row.
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts"))
        .and(header(
            "authorization",
            "Basic YWRtaW46aHVudGVyMjItU2VjcmV0", // admin:hunter22-Secret
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"accounts": [
                {"user": "ann", "domain": "ann.test", "email": "ann@mail.test", "plan": "basic",
                 "ip": "192.0.2.16", "created": 1_706_706_900, "suspended": false},
                {"user": "bob", "domain": "bob.test", "email": "*unknown*", "plan": "gold",
                 "ip": "192.0.2.17", "created": 1_529_997_060, "suspended": true}
            ]})),
        )
        .expect(2)
        .mount(&panel)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(
        tmp.path(),
        "provisioningmodule",
        &[
            ("provisioningmodule.php", SAMPLE_PHP),
            ("lib/ApiClient.php", SAMPLE_LIB),
        ],
    );
    let m = PhpModule::load(
        "provisioningmodule",
        &dir,
        Path::new("php"),
        &shared(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    use serversync_modules::Module;
    assert_eq!(m.kind(), ModuleKind::Php);
    let meta = m.meta();
    assert_eq!(meta.display_name, "Demo Provisioning Module");
    assert_eq!(meta.unique_identifier_display_name, "Domain");
    assert_eq!(meta.unique_identifier_field, UniqueIdField::Domain);
    assert_eq!(meta.product_field, "configoption1");
    assert_eq!(
        (meta.default_secure_port, meta.default_plain_port),
        (1112, 1111)
    );

    let out = m
        .list_with_rows(&params(Some(panel.address().port())), &WhmcsRows::default())
        .await;
    let listing = out.result.unwrap();
    assert!(listing.is_complete(), "{:?}", listing.skipped);
    let got: Vec<_> = listing
        .accounts
        .iter()
        .map(|a| {
            (
                a.username.as_str(),
                a.domain.as_str(),
                a.unique_identifier.as_str(),
                a.email.as_deref(),
                a.product.as_str(),
                a.primary_ip.as_str(),
                a.created.map(format_created),
                a.status,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "ann",
                "ann.test",
                "ann.test",
                Some("ann@mail.test"),
                "basic",
                "192.0.2.16",
                Some("2024-01-31 13:15:00".to_string()),
                RemoteStatus::Active
            ),
            (
                "bob",
                "bob.test",
                "bob.test",
                None,
                "gold",
                "192.0.2.17",
                Some("2018-06-26 07:11:00".to_string()),
                RemoteStatus::Suspended
            ),
        ]
    );
    // logModuleCall with 6 arguments: the masked username and the server's secrets replaced.
    assert_eq!(out.log.len(), 1, "{:?}", out.log);
    let l = &out.log[0];
    assert_eq!(
        (l.module.as_str(), l.action.as_str()),
        ("provisioningmodule", "provisioningmodule_ListAccounts")
    );
    assert_eq!(l.response, "2 accounts for ******** on 127.0.0.1");
    assert!(
        l.request.contains("\"serverpassword\":\"[redacted]\""),
        "{}",
        l.request
    );
    assert!(
        l.request.contains("\"serveraccesshash\":\"[redacted]\""),
        "{}",
        l.request
    );
    assert!(
        l.request.contains("\"serversecure\":false"),
        "{}",
        l.request
    );
    assert!(l.data.contains("bob.test"), "{}", l.data);
    for text in [&l.request, &l.response, &l.data, &out.stderr] {
        assert!(!text.contains(PASSWORD) && !text.contains(TOKEN), "{text}");
    }
    // Through the trait, as the registry calls it.
    let listing = m
        .list_accounts(&params(Some(panel.address().port())), &NoProgress)
        .await;
    assert!(listing.is_ok());
}

#[tokio::test]
async fn sample_module_reports_the_panels_failure() {
    if !php_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(
        tmp.path(),
        "provisioningmodule",
        &[
            ("provisioningmodule.php", SAMPLE_PHP),
            ("lib/ApiClient.php", SAMPLE_LIB),
        ],
    );
    let m = PhpModule::load(
        "provisioningmodule",
        &dir,
        Path::new("php"),
        &shared(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    // Nothing listens on port 9 of loopback: Guzzle's ConnectException, caught by the module.
    let out = m
        .list_with_rows(&params(Some(9)), &WhmcsRows::default())
        .await;
    let e = out.result.unwrap_err();
    assert!(
        matches!(&e, ModuleError::Remote(m) if m.contains("cURL error 7")),
        "{e}"
    );
    assert_eq!(out.log.len(), 1);
    assert!(out.log[0].response.contains("cURL error 7"));
}

#[tokio::test]
async fn undefined_function_is_a_php_error_with_phps_message() {
    if !php_ready() {
        return;
    }
    let (_t, m) = one_file(
        "function testmod_ListAccounts(array $params) {\n    return no_such_function($params);\n}",
    )
    .await;
    let e = list(&m).await.result.unwrap_err();
    assert_eq!(
        e,
        ModuleError::Php(
            "Error: Call to undefined function no_such_function() (testmod/testmod.php:3)".into()
        )
    );
}

#[tokio::test]
async fn html_echoed_before_returning_does_not_corrupt_the_answer() {
    if !php_ready() {
        return;
    }
    let (_t, m) = one_file(
        r#"function testmod_ListAccounts(array $params) {
    echo "<html><body><h1>Debug</h1>", str_repeat("<p>noise</p>", 2000);
    trigger_error("a warning on the way", E_USER_WARNING);
    print_r($params);
    return array('success' => true, 'accounts' => array(
        'ann' => array('email' => 'ann@mail.test', 'username' => 'ann', 'domain' => 'ann.test',
            'uniqueIdentifier' => 'ann.test', 'product' => 'basic', 'primaryip' => '192.0.2.1',
            'created' => '2024-01-31 13:15:00', 'status' => 'Active')));
}"#,
    )
    .await;
    let out = list(&m).await;
    let listing = out.result.unwrap();
    assert_eq!(listing.accounts.len(), 1);
    assert_eq!(listing.accounts[0].unique_identifier, "ann.test");
    assert!(
        out.stderr.contains("a warning on the way"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn the_password_never_appears_when_the_module_prints_it() {
    if !php_ready() {
        return;
    }
    let body = r#"function testmod_ListAccounts(array $params) {
    $pw = $params['serverpassword'];
    fwrite(STDERR, "connecting with password " . $pw . " and token " . $params['serveraccesshash'] . "\n");
    echo "password: $pw";
    error_log("pw again " . $pw);
    logModuleCall('testmod', 'ListAccounts', 'login ' . $pw, 'hash ' . $params['serveraccesshash']);
    $row = WHMCS\Database\Capsule::table('tblservers')->first();
    fwrite(STDERR, "stored as " . $row->password . "\n");
    if (!empty($GLOBALS['fail'])) {
        throw new RuntimeException("login failed for password $pw / stored " . $row->password);
    }
    return array('success' => false, 'error' => "Invalid password $pw");
}"#;
    let (_t, m) = one_file(body).await;
    let out = list(&m).await;
    let e = out.result.unwrap_err();
    assert_eq!(e, ModuleError::Remote("Invalid password [redacted]".into()));
    assert!(
        out.stderr
            .contains("connecting with password [redacted] and token [redacted]"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("stored as ssenc1:[redacted]"),
        "{}",
        out.stderr
    );
    assert_eq!(out.log.len(), 1);
    assert_eq!(out.log[0].request, "login [redacted]");
    assert_eq!(out.log[0].response, "hash [redacted]");
    let hex_pw: String = PASSWORD.bytes().map(|b| format!("{b:02x}")).collect();
    for text in [&e.to_string(), &out.stderr, &format!("{:?}", out.log)] {
        assert!(
            !text.contains(PASSWORD) && !text.contains(TOKEN) && !text.contains(&hex_pw),
            "{text}"
        );
    }
    // An uncaught exception carrying it, and a process that fails.
    let (_t, m) = one_file(&format!("$GLOBALS['fail'] = true;\n{body}")).await;
    let out = list(&m).await;
    let e = out.result.unwrap_err().to_string();
    assert!(
        e.starts_with("PHP error: RuntimeException: login failed for password [redacted] / stored ssenc1:[redacted]"),
        "{e}"
    );
    assert!(!e.contains(PASSWORD) && !e.contains(&hex_pw), "{e}");
    let (_t, m) = one_file(
        "function testmod_ListAccounts(array $p) { fwrite(STDERR, 'bye ' . $p['serverpassword']); posix_kill(posix_getpid(), 9); }",
    )
    .await;
    let e = list(&m).await.result.unwrap_err().to_string();
    assert_eq!(
        e,
        "the module's process was killed by signal 9: bye [redacted]"
    );
}

#[tokio::test]
async fn local_api_is_not_provided_even_when_caught() {
    if !php_ready() {
        return;
    }
    let (_t, m) = one_file(
        "function testmod_ListAccounts(array $p) { $r = localAPI('GetClientsProducts', array('serverid' => $p['serverid'])); return $r; }",
    )
    .await;
    let e = list(&m).await.result.unwrap_err();
    assert_eq!(e, ModuleError::Unsupported("localAPI()".into()));
    assert_eq!(
        e.to_string(),
        "the module needs localAPI(), which serversync does not provide"
    );
    // The module catches it and answers as if nothing happened: still not a listing.
    let (_t, m) = one_file(
        r#"function testmod_ListAccounts(array $p) {
    try { localAPI('GetClients'); } catch (Exception $e) { logModuleCall('testmod', 'x', '', $e->getMessage()); }
    return array('success' => true, 'accounts' => array());
}"#,
    )
    .await;
    let out = list(&m).await;
    assert_eq!(
        out.result.unwrap_err(),
        ModuleError::Unsupported("localAPI()".into())
    );
    assert_eq!(
        out.log[0].response,
        "localAPI is not provided by serversync"
    );
    // A WHMCS class the shim does not have.
    let (_t, m) =
        one_file("function testmod_ListAccounts(array $p) { return WHMCS\\User\\Client::all(); }")
            .await;
    assert_eq!(
        list(&m).await.result.unwrap_err(),
        ModuleError::Unsupported("the WHMCS class WHMCS\\User\\Client".into())
    );
}

#[tokio::test]
async fn exit_and_bare_answers_are_failed_listings() {
    if !php_ready() {
        return;
    }
    let (_t, m) = one_file(
        "function testmod_ListAccounts(array $p) { echo 'partial'; exit('Fatal: no licence'); }",
    )
    .await;
    assert_eq!(
        list(&m).await.result.unwrap_err(),
        ModuleError::Php(
            "the module ended PHP (exit() or die()) without returning; its last output: \
             partialFatal: no licence"
                .into()
        )
    );
    const WIRE: &str = "the module's answer is not the ListAccounts wire form: ";
    for (ret, expect) in [
        ("array()", format!("{WIRE}the answer is a list, not an object {{\"success\": …, \"accounts\": […]}} (a bare list is never taken as the account list)")),
        ("array('success' => true)", format!("{WIRE}\"success\" is true but \"accounts\" is missing (a server without accounts answers \"accounts\": [])")),
        ("array('success' => false, 'error' => 'Invalid API key')", "the panel reported an error: Invalid API key".to_string()),
    ] {
        let (_t, m) = one_file(&format!("function testmod_ListAccounts(array $p) {{ return {ret}; }}")).await;
        assert_eq!(list(&m).await.result.unwrap_err().to_string(), expect, "{ret}");
    }
    // `null` is no answer at all: never an empty listing.
    let (_t, m) = one_file("function testmod_ListAccounts(array $p) { return null; }").await;
    let e = list(&m).await.result.unwrap_err().to_string();
    assert!(e.starts_with(WIRE) && e.contains("null"), "{e}");
}

#[tokio::test]
async fn scratch_database_has_the_servers_row_and_given_rows_and_is_per_listing() {
    if !php_ready() {
        return;
    }
    // Creates a table on include (some vendor modules do), updates tblhosting while listing.
    let (_t, m) = one_file(
        r#"use WHMCS\Database\Capsule;
if (!Capsule::schema()->hasTable('mod_testmod')) {
    Capsule::schema()->create('mod_testmod', function ($t) { $t->increments('id'); $t->string('note'); });
}
function testmod_ListAccounts(array $params) {
    $s = Capsule::table('tblservers')->where('id', $params['serverid'])->first();
    $before = Capsule::table('tblhosting')->where('domainstatus', 'Terminated')->count();
    Capsule::table('tblhosting')->where('server', $params['serverid'])->update(array('domainstatus' => 'Terminated'));
    Capsule::table('mod_testmod')->insert(array('note' => 'x'));
    $accounts = array();
    foreach (Capsule::table('tblhosting')->join('tblproducts', 'tblproducts.id', '=', 'tblhosting.packageid')->orderBy('tblhosting.id')->get() as $h) {
        $accounts[] = array('username' => $h->username, 'domain' => $h->domain,
            'uniqueIdentifier' => $h->domain, 'product' => $h->configoption1, 'status' => 'Active',
            'primaryip' => $s->ipaddress, 'email' => $s->type . '@' . $s->hostname . '.test',
            'created' => $h->regdate . ' 00:00:00');
    }
    $accounts[] = array('username' => 'meta', 'uniqueIdentifier' => 'meta', 'status' => 'Active',
        'domain' => implode('|', array($s->id, $s->secure === '' ? 'plain' : 'tls', (string) $s->port,
            $s->username, decrypt($s->password) === $params['serverpassword'] ? 'pw-ok' : 'pw-bad',
            $s->accesshash === $params['serveraccesshash'] ? 'hash-ok' : 'hash-bad',
            strpos($s->password, 'ssenc1:') === 0 ? 'encrypted' : 'plain', $before,
            Capsule::table('mod_testmod')->count(), date_default_timezone_get(),
            WHMCS\Carbon::parse('2024-01-31 13:15:00')->timestamp, ROOTDIR !== '' ? 'rootdir' : '',
            $GLOBALS['CONFIG']['Charset'], $_SERVER['SERVER_NAME'], is_array($GLOBALS['_LANG']) ? 'lang' : '')));
    return array('success' => true, 'accounts' => $accounts);
}"#,
    )
    .await;
    let mut rows = WhmcsRows::default();
    rows.products.push(
        json!({"id": 10, "name": "Basic", "servertype": "testmod", "configoption1": "basic", "bogus": 1})
            .as_object()
            .unwrap()
            .clone(),
    );
    rows.hosting.push(
        json!({"id": 1000, "userid": 1, "packageid": 10, "server": 16, "domain": "ann.test",
               "username": "ann", "domainstatus": "Active", "regdate": "2024-01-31",
               "password": "svc-pw"})
        .as_object()
        .unwrap()
        .clone(),
    );
    for _ in 0..2 {
        let listing = m
            .list_with_rows(&params(Some(2222)), &rows)
            .await
            .result
            .unwrap();
        let got: Vec<_> = listing
            .accounts
            .iter()
            .map(|a| {
                (
                    a.username.as_str(),
                    a.domain.as_str(),
                    a.product.as_str(),
                    a.email.as_deref(),
                    a.primary_ip.as_str(),
                )
            })
            .collect();
        // The same each time: nothing the module wrote survives its listing.
        assert_eq!(
            got,
            vec![
                ("ann", "ann.test", "basic", Some("testmod@127.0.0.1.test"), "192.0.2.16"),
                (
                    "meta",
                    "16|plain|2222|admin|pw-ok|hash-ok|encrypted|0|1|UTC|1706706900|rootdir|utf-8|localhost|lang",
                    "",
                    None,
                    ""
                ),
            ]
        );
    }
}

#[tokio::test]
async fn shim_runs_from_a_private_temp_dir_removed_afterwards() {
    if !php_ready() {
        return;
    }
    let (_t, m) = one_file(
        r#"function testmod_ListAccounts(array $p) {
    $shim = get_included_files()[0];
    $dir = dirname($shim);
    $modes = substr(sprintf('%o', fileperms($dir)), -4) . ' ' . substr(sprintf('%o', fileperms($shim)), -4);
    return array('success' => true, 'accounts' => array(array('username' => 'x',
        'uniqueIdentifier' => $dir, 'domain' => $modes, 'status' => 'Active')));
}"#,
    )
    .await;
    let listing = list(&m).await.result.unwrap();
    let a = &listing.accounts[0];
    assert_eq!(a.domain, "0700 0600");
    assert!(
        a.unique_identifier.contains("serversync-php-"),
        "{}",
        a.unique_identifier
    );
    assert!(
        !Path::new(&a.unique_identifier).exists(),
        "temp dir left behind"
    );
}

#[tokio::test]
async fn a_module_past_its_time_out_fails() {
    if !php_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(
        tmp.path(),
        "testmod",
        &[(
            "testmod.php",
            "<?php function testmod_ListAccounts(array $p) { sleep(60); }",
        )],
    );
    let m = PhpModule::load(
        "testmod",
        &dir,
        Path::new("php"),
        &shared(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    assert_eq!(
        list(&m).await.result.unwrap_err(),
        ModuleError::ModuleTimeout {
            after: Duration::from_secs(2)
        }
    );
}

#[tokio::test]
async fn whmcs_root_vendor_autoload_is_used_when_there_is_one() {
    if !php_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("whmcs");
    std::fs::create_dir_all(root.join("vendor")).unwrap();
    // The installation's vendor/ brings its own libraries (here: only Carbon from Debian's,
    // plus a class of its own).
    std::fs::write(
        root.join("vendor/autoload.php"),
        "<?php require_once stream_resolve_include_path('Carbon/autoload.php');\n\
         spl_autoload_register(function ($c) { if ($c === 'Vendor\\\\Marker') { \
         eval('namespace Vendor; class Marker { const WHERE = \"whmcs vendor\"; }'); } });",
    )
    .unwrap();
    let servers = root.join("modules/servers");
    let dir = install(
        &servers,
        "vendored",
        &[(
            "vendored.php",
            "<?php function vendored_ListAccounts(array $p) { return array('success' => true, \
             'accounts' => array(array('username' => Vendor\\Marker::WHERE, 'uniqueIdentifier' => ROOTDIR, \
             'domain' => class_exists('GuzzleHttp\\\\Client') ? 'guzzle' : 'no guzzle', 'status' => 'Active'))); }",
        )],
    );
    let m = PhpModule::load(
        "vendored",
        &dir,
        Path::new("php"),
        &shared(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert_eq!(
        m.files().vendor_autoload.as_deref(),
        Some(
            root.canonicalize()
                .unwrap()
                .join("vendor/autoload.php")
                .as_path()
        )
    );
    let listing = m
        .list_with_rows(&params(None), &WhmcsRows::default())
        .await
        .result
        .unwrap();
    let a = &listing.accounts[0];
    assert_eq!(a.username, "whmcs vendor");
    assert_eq!(
        Path::new(&a.unique_identifier),
        root.canonicalize().unwrap()
    );
    // Debian's Guzzle is not loaded beside the installation's own vendor/.
    assert_eq!(a.domain, "no guzzle");
}

#[tokio::test]
async fn registry_refuses_modules_that_cannot_be_used_with_the_reason() {
    if !php_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    install(
        tmp.path(),
        "nolist",
        &[(
            "nolist.php",
            "<?php function nolist_MetaData() { return array('DisplayName' => 'No List'); }",
        )],
    );
    install(
        tmp.path(),
        "broken",
        &[(
            "broken.php",
            "<?php function broken_ListAccounts(array $p) { return array(; }",
        )],
    );
    install(
        tmp.path(),
        "badmeta",
        &[(
            "badmeta.php",
            "<?php function badmeta_MetaData() { return array('ListAccountsUniqueIdentifierField' => 'email'); }\n\
             function badmeta_ListAccounts(array $p) { return array('success' => true, 'accounts' => array()); }",
        )],
    );
    install(
        tmp.path(),
        "good",
        &[(
            "good.php",
            "<?php if (!defined('WHMCS')) { die('This file cannot be accessed directly'); }\n\
             function good_ListAccounts(array $p) { return array('success' => true, 'accounts' => array()); }",
        )],
    );
    let reg = ModuleRegistry::load(RegistryConfig {
        modules_dir: Some(tmp.path().into()),
        ..RegistryConfig::default()
    })
    .await
    .unwrap();
    let reasons: Vec<(String, ModuleKind, Option<String>)> = reg
        .modules()
        .into_iter()
        .filter(|m| m.kind != ModuleKind::Builtin)
        .map(|m| (m.name, m.kind, m.error))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                "badmeta".into(),
                ModuleKind::Php,
                Some("badmeta_MetaData(): ListAccountsUniqueIdentifierField \"email\" is not domain, username or customfield.<Name>".into())
            ),
            (
                "broken".into(),
                ModuleKind::Php,
                Some("broken.php does not load: PHP error: ParseError: syntax error, unexpected token \";\", expecting \")\" (broken/broken.php:1)".into())
            ),
            ("good".into(), ModuleKind::Php, None),
            (
                "nolist".into(),
                ModuleKind::Php,
                Some("nolist.php defines no nolist_ListAccounts function (WHMCS Server Sync needs it)".into())
            ),
        ]
    );
    let good = reg.get("good").unwrap();
    assert_eq!(good.meta().display_name, "good");
    let listing = reg
        .list_accounts(good.as_ref(), &params(None), &NoProgress)
        .await
        .unwrap();
    assert!(listing.accounts.is_empty() && listing.is_complete());
    assert!(reg.get("nolist").is_err());
}

/// Runs without PHP too: a missing PHP binary is a clear reason, not a crash.
#[tokio::test]
async fn missing_php_makes_the_module_unusable_with_a_clear_reason() {
    let tmp = tempfile::tempdir().unwrap();
    install(
        tmp.path(),
        "anymod",
        &[(
            "anymod.php",
            "<?php function anymod_ListAccounts(array $p) {}",
        )],
    );
    let reg = ModuleRegistry::load(RegistryConfig {
        modules_dir: Some(tmp.path().into()),
        php: "/nonexistent/bin/php".into(),
        ..RegistryConfig::default()
    })
    .await
    .unwrap();
    let e = reg.get("anymod").err().unwrap().to_string();
    assert_eq!(
        e,
        "module \"anymod\" is unusable: cannot run PHP (/nonexistent/bin/php: No such file or \
         directory (os error 2)): install php-cli or give --php PATH"
    );
}

#[tokio::test]
async fn log_module_call_masks_what_its_last_argument_lists() {
    if !php_ready() {
        return;
    }
    let (_t, m) = one_file(
        r#"function testmod_ListAccounts(array $params) {
    $u = $params['serverusername'];
    logModuleCall('testmod', 'four', "req $u", "resp $u");
    logModuleCall('testmod', 'five-mask', "req $u", "resp $u", array($u));
    logModuleCall('testmod', 'five-data', 'req', 'resp', "processed $u");
    logModuleCall('testmod', 'six', "req $u", array('user' => $u), "data $u", array($u));
    logModuleCall('testmod', 'types', gettype($params['serverid']) . ' ' . gettype($params['serversecure'])
        . ' ' . gettype($params['serverport']) . ' ' . $params['serverhttpprefix'], '');
    logActivity("listed for $u");
    return array('success' => true, 'accounts' => array());
}"#,
    )
    .await;
    let out = list(&m).await;
    assert!(out.result.unwrap().accounts.is_empty());
    let got: Vec<[&str; 4]> = out
        .log
        .iter()
        .map(|l| {
            [
                l.action.as_str(),
                l.request.as_str(),
                l.response.as_str(),
                l.data.as_str(),
            ]
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ["four", "req admin", "resp admin", ""],
            ["five-mask", "req ********", "resp ********", ""],
            ["five-data", "req", "resp", "processed admin"],
            [
                "six",
                "req ********",
                "{\"user\":\"********\"}",
                "data ********"
            ],
            ["types", "integer boolean string http", "", ""],
            ["logActivity", "listed for admin", "", ""],
        ]
    );
}
