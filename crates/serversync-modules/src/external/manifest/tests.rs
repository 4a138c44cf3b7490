use super::*;

const T: Duration = Duration::from_secs(300);

fn dir_with(files: &[(&str, &str, bool)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, text, exec) in files {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        #[cfg(unix)]
        if *exec {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let _ = exec;
    }
    d
}

fn parse_in(dir: &Path, text: &str) -> Result<Manifest, String> {
    parse(text, dir, "mypanel", T)
}

fn err(text: &str) -> String {
    let d = tempfile::tempdir().unwrap();
    parse_in(d.path(), text).unwrap_err()
}

#[test]
fn a_minimal_command_manifest_takes_the_defaults() {
    let d = dir_with(&[("list.sh", "#!/bin/sh\n", true)]);
    let m = parse_in(d.path(), "command = [\"./list.sh\", \"--all\"]\n").unwrap();
    assert_eq!(
        m.target,
        Target::Command {
            program: d.path().join("./list.sh").to_str().unwrap().to_string(),
            args: vec!["--all".into()],
        }
    );
    assert_eq!(m.timeout, T);
    assert_eq!(
        m.meta,
        MetaData {
            display_name: "mypanel".into(),
            unique_identifier_display_name: "Domain".into(),
            unique_identifier_field: UniqueIdField::Domain,
            product_field: "configoption1".into(),
            default_secure_port: 443,
            default_plain_port: 80,
        }
    );
}

#[test]
fn a_full_manifest_is_read() {
    let m = err_free(
        r#"
url = "https://panel.example.net/serversync/list"
timeout_seconds = 45
[meta_data]
DisplayName = "My Panel"
ListAccountsUniqueIdentifierDisplayName = "Instance"
ListAccountsUniqueIdentifierField = "customfield.Instance ID"
ListAccountsProductField = "configoption3"
DefaultSSLPort = 8443
DefaultNonSSLPort = 8080
"#,
    );
    assert_eq!(
        m.target,
        Target::Url(reqwest::Url::parse("https://panel.example.net/serversync/list").unwrap())
    );
    assert_eq!(m.timeout, Duration::from_secs(45));
    assert_eq!(
        m.meta,
        MetaData {
            display_name: "My Panel".into(),
            unique_identifier_display_name: "Instance".into(),
            unique_identifier_field: UniqueIdField::CustomField("Instance ID".into()),
            product_field: "configoption3".into(),
            default_secure_port: 8443,
            default_plain_port: 8080,
        }
    );
    // The heading follows the field when none is given.
    let m = err_free(
        "url = \"https://p.test/\"\n[meta_data]\nListAccountsUniqueIdentifierField = \"username\"\n",
    );
    assert_eq!(m.meta.unique_identifier_display_name, "Username");
}

fn err_free(text: &str) -> Manifest {
    let d = tempfile::tempdir().unwrap();
    parse_in(d.path(), text).unwrap()
}

#[test]
fn unknown_keys_are_named() {
    assert_eq!(
        err("url = \"https://p.test/\"\ntimeout = 5\nretries = 2\n"),
        "unknown keys `retries`, `timeout` (allowed: command, url, timeout_seconds, meta_data)"
    );
    assert_eq!(
        err("url = \"https://p.test/\"\n[meta_data]\nDisplayname = \"x\"\n"),
        "unknown key `meta_data.Displayname` (allowed: meta_data.DisplayName, \
         meta_data.ListAccountsUniqueIdentifierDisplayName, \
         meta_data.ListAccountsUniqueIdentifierField, meta_data.ListAccountsProductField, \
         meta_data.DefaultSSLPort, meta_data.DefaultNonSSLPort)"
    );
}

#[test]
fn exactly_one_of_command_and_url() {
    assert_eq!(
        err("command = [\"sh\"]\nurl = \"https://p.test/\"\n"),
        "set either `command` or `url`, not both"
    );
    assert_eq!(
        err("timeout_seconds = 5\n"),
        "needs `command = [program, args…]` or `url = \"https://…\"`"
    );
    assert_eq!(
        err("command = \"python3 list.py\"\n"),
        "command is string, expected a list: command = [program, args…]"
    );
    assert_eq!(
        err("command = []\n"),
        "command is empty: command = [program, args…]"
    );
    assert_eq!(
        err("command = [\"sh\", 5]\n"),
        "command[1] is integer, expected a string"
    );
}

#[test]
fn timeouts_are_bounded() {
    assert_eq!(
        err("url = \"https://p.test/\"\ntimeout_seconds = 0\n"),
        "timeout_seconds = 0 is out of range (1 to 3600 seconds)"
    );
    assert_eq!(
        err("url = \"https://p.test/\"\ntimeout_seconds = 3601\n"),
        "timeout_seconds = 3601 is out of range (1 to 3600 seconds)"
    );
    assert_eq!(
        err("url = \"https://p.test/\"\ntimeout_seconds = \"60\"\n"),
        "timeout_seconds is string, expected a whole number of seconds (1 to 3600)"
    );
    assert_eq!(
        err_free("url = \"https://p.test/\"\ntimeout_seconds = 3600\n").timeout,
        Duration::from_secs(3600)
    );
}

#[test]
fn meta_data_is_validated_naming_the_key() {
    assert_eq!(
        err("url = \"https://p.test/\"\n[meta_data]\nListAccountsUniqueIdentifierField = \"email\"\n"),
        "meta_data.ListAccountsUniqueIdentifierField \"email\" is not domain, username or customfield.<Name>"
    );
    assert_eq!(
        err("url = \"https://p.test/\"\n[meta_data]\nListAccountsProductField = \"configoption25\"\n"),
        "meta_data.ListAccountsProductField \"configoption25\" is not configoption1..configoption24"
    );
    assert_eq!(
        err("url = \"https://p.test/\"\n[meta_data]\nDefaultSSLPort = 70000\n"),
        "meta_data.DefaultSSLPort = 70000 is not a port (1 to 65535)"
    );
    assert_eq!(
        err("url = \"https://p.test/\"\n[meta_data]\nDisplayName = \"  \"\n"),
        "meta_data.DisplayName is empty"
    );
    assert_eq!(
        err("url = \"https://p.test/\"\n[meta_data]\nDisplayName = 5\n"),
        "meta_data.DisplayName is integer, expected a string"
    );
    assert_eq!(
        err("url = \"https://p.test/\"\nmeta_data = 1\n"),
        "meta_data is integer, expected a table ([meta_data])"
    );
}

#[test]
fn programs_are_resolved_in_the_folder_or_on_the_path() {
    let d = dir_with(&[
        ("list.py", "print()\n", false),
        ("run.sh", "#!/bin/sh\n", true),
    ]);
    let e = parse_in(d.path(), "command = [\"./missing.sh\"]\n").unwrap_err();
    assert_eq!(
        e,
        format!(
            "command: program \"./missing.sh\" not found (looked for {})",
            d.path().join("./missing.sh").display()
        )
    );
    let e = parse_in(d.path(), "command = [\"./list.py\"]\n").unwrap_err();
    assert_eq!(
        e,
        "command: program \"./list.py\" is not executable (chmod +x it, or name its \
         interpreter: command = [\"python3\", \"./list.py\"])"
    );
    let e = parse_in(d.path(), "command = [\"no-such-program-xyz\"]\n").unwrap_err();
    assert_eq!(
        e,
        "command: program \"no-such-program-xyz\" is not on the PATH (give a path such as \
         \"./no-such-program-xyz\" for a program in the module's folder)"
    );
    let Target::Command { program, .. } =
        parse_in(d.path(), "command = [\"sh\", \"-c\", \"true\"]\n")
            .unwrap()
            .target
    else {
        panic!("a command");
    };
    assert!(Path::new(&program).is_absolute(), "{program}");
    assert!(program.ends_with("/sh"), "{program}");
}

#[test]
fn urls_need_https_except_to_loopback_and_never_show_credentials() {
    let e = err("url = \"http://admin:hunter22@panel.example.net/list?key=SECRETKEY\"\n");
    assert_eq!(
        e,
        "url http://panel.example.net/list uses plain HTTP: the server's credentials are sent \
         in the request, so only https:// is allowed (http:// only to a loopback address)"
    );
    for ok in [
        "http://127.0.0.1:8080/list",
        "http://localhost/list",
        "http://[::1]:9/x",
        "https://panel.example.net/",
    ] {
        assert!(
            matches!(
                err_free(&format!("url = \"{ok}\"\n")).target,
                Target::Url(_)
            ),
            "{ok}"
        );
    }
    assert_eq!(
        err("url = \"ftp://p.test/\"\n"),
        "url scheme \"ftp\" is not https"
    );
    let e = err("url = \"not a url hunter22\"\n");
    assert!(e.starts_with("url is not a valid URL ("), "{e}");
    assert!(!e.contains("hunter22"), "{e}");
}

#[test]
fn read_names_the_file_and_reports_toml_errors_on_one_line() {
    let d = dir_with(&[(
        "module.toml",
        "command = [\"sh\"]\ntimeout_seconds = = 3\n",
        false,
    )]);
    let e = read(d.path(), "mypanel", T).unwrap_err();
    let file = d.path().join("module.toml").display().to_string();
    assert!(
        e.starts_with(&format!("{file}: invalid TOML at line 2 column ")),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    let d = dir_with(&[("module.toml", &"#".repeat(70_000), false)]);
    assert_eq!(
        read(d.path(), "mypanel", T).unwrap_err(),
        format!(
            "{file_big} is larger than 65536 bytes",
            file_big = d.path().join("module.toml").display()
        )
    );
    let d = dir_with(&[(
        "module.toml",
        "url = \"https://p.test/\"\ntimeout_seconds = 0\n",
        false,
    )]);
    assert_eq!(
        read(d.path(), "mypanel", T).unwrap_err(),
        format!(
            "{}: timeout_seconds = 0 is out of range (1 to 3600 seconds)",
            d.path().join("module.toml").display()
        )
    );
    assert!(names_url(d.path()));
}
