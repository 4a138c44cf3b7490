//! Shared by both backends (compiled into `sqlite` and `postgres`, see `src/lib.rs`): the
//! rows of each table — column lists, the values written, the decoding of what is read back,
//! naming table, row and column in every error.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serversync_core::model::{
    parse_date, Client, ClientId, Product, Secret, Server, Service, ServiceId, ServiceStatus,
};
use sqlx::Row;
use time::{Date, OffsetDateTime};

use super::{Db, DbRow, Doc, Ts};
use crate::secrets::SecretKey;
use crate::{
    AdminUser, ApiToken, AuditEvent, ListingStatus, NewAuditEvent, Result, Role, Run, RunSummary,
    StoreError,
};

pub(super) use super::values::{
    doc, fmt_ts, json, now_ts, opt_date, opt_doc, storable_prepared, V,
};

/// The key e-mails are compared by: trimmed and lower-cased (Unicode).
pub(super) fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Reads the columns of one row, naming table, row id and column in every error.
pub(super) struct Cols<'r> {
    pub(super) row: &'r DbRow,
    pub(super) table: &'static str,
    pub(super) id: i64,
}

impl<'r> Cols<'r> {
    pub(super) fn new(row: &'r DbRow, table: &'static str) -> Result<Self> {
        let id = row
            .try_get::<i64, _>("id")
            .map_err(|e| StoreError::Corrupt(format!("{table}.id: {e}")))?;
        Ok(Cols { row, table, id })
    }

    pub(super) fn bad(&self, col: &str, e: impl Display) -> StoreError {
        StoreError::Corrupt(format!("{}.id={} {col}: {e}", self.table, self.id))
    }

    pub(super) fn get<T>(&self, col: &str) -> Result<T>
    where
        T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
    {
        self.row.try_get(col).map_err(|e| self.bad(col, e))
    }

    pub(super) fn date(&self, col: &str) -> Result<Option<Date>> {
        let s: Option<String> = self.get(col)?;
        s.map(|s| parse_date(&s).map_err(|e| self.bad(col, e)))
            .transpose()
    }

    /// A timestamp column ([`Ts`]).
    pub(super) fn ts(&self, col: &str) -> Result<OffsetDateTime> {
        Ok(self.get::<Ts>(col)?.0)
    }

    /// A nullable timestamp column.
    pub(super) fn opt_ts(&self, col: &str) -> Result<Option<OffsetDateTime>> {
        Ok(self.get::<Option<Ts>>(col)?.map(|t| t.0))
    }

    /// A JSON document column decoded into `T`.
    pub(super) fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
        let text = self.doc(col)?;
        serde_json::from_str(&text).map_err(|e| self.bad(col, format!("invalid JSON: {e}")))
    }

    /// A JSON document column's text (on PostgreSQL in `jsonb`'s normal form).
    pub(super) fn doc(&self, col: &str) -> Result<String> {
        Ok(self.get::<Doc>(col)?.0)
    }

    /// A nullable JSON document column's text.
    pub(super) fn opt_doc(&self, col: &str) -> Result<Option<String>> {
        Ok(self.get::<Option<Doc>>(col)?.map(|d| d.0))
    }

    /// The text of a nullable compressed column (`crate::compact`).
    pub(super) fn zstd(&self, col: &str) -> Result<Option<String>> {
        self.get::<Option<Vec<u8>>>(col)?
            .map(|b| crate::compact::decompress(&b).map_err(|e| self.bad(col, e)))
            .transpose()
    }
}

pub(super) const CLIENT_COLS: &[&str] = &[
    "id",
    "email",
    "email_key",
    "first_name",
    "last_name",
    "company",
    "status",
];
pub(super) const CLIENT_SELECT: &str =
    "SELECT id, email, first_name, last_name, company, status FROM clients";

pub(super) fn client_values(c: &Client, id: ClientId) -> Vec<V> {
    vec![
        V::I(id),
        V::T(c.email.clone()),
        V::T(email_key(&c.email)),
        V::T(c.first_name.clone()),
        V::T(c.last_name.clone()),
        V::T(c.company.clone()),
        V::T(c.status.clone()),
    ]
}

pub(super) fn client_from_row(row: &DbRow) -> Result<Client> {
    let c = Cols::new(row, "clients")?;
    Ok(Client {
        id: c.id,
        email: c.get("email")?,
        first_name: c.get("first_name")?,
        last_name: c.get("last_name")?,
        company: c.get("company")?,
        status: c.get("status")?,
    })
}

pub(super) const PRODUCT_COLS: &[&str] = &["id", "name", "module", "config_options"];
pub(super) const PRODUCT_SELECT: &str = "SELECT id, name, module, config_options FROM products";

pub(super) fn product_values(p: &Product, id: i64) -> Result<Vec<V>> {
    Ok(vec![
        V::I(id),
        V::T(p.name.clone()),
        V::T(p.module.clone()),
        V::J(json("product config_options", &p.config_options)?),
    ])
}

pub(super) fn product_from_row(row: &DbRow) -> Result<Product> {
    let c = Cols::new(row, "products")?;
    Ok(Product {
        id: c.id,
        name: c.get("name")?,
        module: c.get("module")?,
        config_options: c.json("config_options")?,
    })
}

pub(super) const SERVER_COLS: &[&str] = &[
    "id",
    "name",
    "module",
    "hostname",
    "ip_address",
    "port",
    "secure",
    "tls_verify",
    "username",
    "password",
    "access_hash",
    "disabled",
    "secrets_sealed",
];
pub(super) const SERVER_SELECT: &str =
    "SELECT id, name, module, hostname, ip_address, port, secure, \
     tls_verify, username, password, access_hash, disabled, secrets_sealed FROM servers";

/// A server's row, its secrets sealed with `key` (the plain text is never bound).
pub(super) fn server_values(s: &Server, key: &SecretKey) -> Result<Vec<V>> {
    Ok(vec![
        V::I(s.id),
        V::T(s.name.clone()),
        V::T(s.module.clone()),
        V::T(s.hostname.clone()),
        V::T(s.ip_address.clone()),
        V::NI(s.port.map(i64::from)),
        V::B(s.secure),
        V::B(s.tls_verify),
        V::T(s.username.clone()),
        V::T(key.seal(s.id, "password", s.password.expose())?),
        V::T(key.seal(s.id, "access_hash", s.access_hash.expose())?),
        V::B(s.disabled),
        V::B(true),
    ])
}

/// A server from its row, its secrets opened with `key` (a row not sealed yet holds them in
/// plain text: only between the migration to schema 4 and the end of the next open).
pub(super) fn server_from_row(row: &DbRow, key: &SecretKey) -> Result<Server> {
    let c = Cols::new(row, "servers")?;
    let port: Option<i64> = c.get("port")?;
    let port = port
        .map(|p| u16::try_from(p).map_err(|_| c.bad("port", format!("{p} is not a port number"))))
        .transpose()?;
    let name: String = c.get("name")?;
    let sealed: bool = c.get("secrets_sealed")?;
    let open = |field: &str| -> Result<String> {
        let stored: String = c.get(field)?;
        if sealed {
            key.open(c.id, &name, field, &stored)
        } else {
            Ok(stored)
        }
    };
    Ok(Server {
        id: c.id,
        module: c.get("module")?,
        hostname: c.get("hostname")?,
        ip_address: c.get("ip_address")?,
        port,
        secure: c.get("secure")?,
        tls_verify: c.get("tls_verify")?,
        username: c.get("username")?,
        password: Secret::new(open("password")?),
        access_hash: Secret::new(open("access_hash")?),
        disabled: c.get("disabled")?,
        name,
    })
}

pub(super) const SERVICE_COLS: &[&str] = &[
    "id",
    "client_id",
    "product_id",
    "server_id",
    "domain",
    "username",
    "dedicated_ip",
    "regdate",
    "status",
    "billing_cycle",
    "amount",
    "next_due_date",
    "termination_date",
    "custom_fields",
    "version",
];
pub(super) const SERVICE_SELECT: &str =
    "SELECT s.id, s.client_id, s.product_id, s.server_id, s.domain, \
     s.username, s.dedicated_ip, s.regdate, s.status, s.billing_cycle, s.amount, \
     s.next_due_date, s.termination_date, s.custom_fields, s.version FROM services s";

/// Values of a service row in [`SERVICE_COLS`] order, with the given id, client, product and
/// version (the service's own are ignored).
pub(super) fn service_values(
    s: &Service,
    id: ServiceId,
    client_id: ClientId,
    product_id: i64,
    version: i64,
) -> Result<Vec<V>> {
    Ok(vec![
        V::I(id),
        V::I(client_id),
        V::I(product_id),
        V::NI(s.server_id),
        V::T(s.domain.clone()),
        V::T(s.username.clone()),
        V::T(s.dedicated_ip.clone()),
        V::NT(opt_date(s.regdate)),
        V::T(s.status.as_str().to_string()),
        V::T(s.billing_cycle.clone()),
        V::T(s.amount.clone()),
        V::NT(opt_date(s.next_due_date)),
        V::NT(opt_date(s.termination_date)),
        V::J(json("service custom_fields", &s.custom_fields)?),
        V::I(version),
    ])
}

/// In [`super::json_rows`]: every column of a service (alias `s`), in [`ServiceTuple`]
/// order, `custom_fields` embedded as a JSON object ([`super::json_doc`]).
pub(super) fn service_json_cols() -> String {
    format!(
        "s.id, s.client_id, s.product_id, s.server_id, s.domain, s.username, s.dedicated_ip, \
         s.regdate, s.status, s.billing_cycle, s.amount, s.next_due_date, s.termination_date, \
         {}, s.version",
        super::json_doc("s.custom_fields")
    )
}

/// One service as [`service_json_cols`] gives it.
#[derive(serde::Deserialize)]
struct ServiceTuple(
    i64,
    i64,
    i64,
    Option<i64>,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    BTreeMap<String, String>,
    i64,
);

pub(super) fn services_from_json(text: &str) -> Result<Vec<Service>> {
    let mut rows: Vec<ServiceTuple> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("services: unreadable row values: {e}")))?;
    // SQLite aggregates in the subquery's order in practice; sorting makes it a guarantee.
    rows.sort_by_key(|r| r.0);
    let bad = |id: i64, col: &str, e: &dyn Display| {
        StoreError::Corrupt(format!("services.id={id} {col}: {e}"))
    };
    let date = |id: i64, col: &str, v: Option<String>| -> Result<Option<Date>> {
        v.map(|s| parse_date(&s).map_err(|e| bad(id, col, &e)))
            .transpose()
    };
    rows.into_iter()
        .map(|r| {
            let id = r.0;
            Ok(Service {
                id,
                client_id: r.1,
                product_id: r.2,
                server_id: r.3,
                domain: r.4,
                username: r.5,
                dedicated_ip: r.6,
                regdate: date(id, "regdate", r.7)?,
                status: ServiceStatus::from_str(&r.8).map_err(|e| bad(id, "status", &e))?,
                billing_cycle: r.9,
                amount: r.10,
                next_due_date: date(id, "next_due_date", r.11)?,
                termination_date: date(id, "termination_date", r.12)?,
                custom_fields: r.13,
                version: r.14,
            })
        })
        .collect()
}

pub(super) fn service_from_row(row: &DbRow) -> Result<Service> {
    let c = Cols::new(row, "services")?;
    let status: String = c.get("status")?;
    Ok(Service {
        id: c.id,
        client_id: c.get("client_id")?,
        product_id: c.get("product_id")?,
        server_id: c.get("server_id")?,
        domain: c.get("domain")?,
        username: c.get("username")?,
        dedicated_ip: c.get("dedicated_ip")?,
        regdate: c.date("regdate")?,
        status: ServiceStatus::from_str(&status).map_err(|e| c.bad("status", e))?,
        billing_cycle: c.get("billing_cycle")?,
        amount: c.get("amount")?,
        next_due_date: c.date("next_due_date")?,
        termination_date: c.date("termination_date")?,
        custom_fields: c.json("custom_fields")?,
        version: c.get("version")?,
    })
}

pub(super) const AUDIT_COLS: &[&str] = &[
    "at",
    "actor",
    "action",
    "server_id",
    "run_id",
    "service_id",
    "client_id",
    "before_json",
    "after_json",
    "note",
];

/// An audit event's row, written at `at`; refused unless its `before`/`after` are JSON.
pub(super) fn audit_values(e: &NewAuditEvent, at: Ts) -> Result<Vec<V>> {
    Ok(vec![
        V::Ts(at),
        V::T(e.actor.clone()),
        V::T(e.action.clone()),
        V::NI(e.server_id),
        V::NI(e.run_id),
        V::NI(e.service_id),
        V::NI(e.client_id),
        V::NJ(opt_doc("audit before", e.before.as_deref())?),
        V::NJ(opt_doc("audit after", e.after.as_deref())?),
        V::NT(e.note.clone()),
    ])
}

pub(super) fn audit_from_row(row: &DbRow) -> Result<AuditEvent> {
    let c = Cols::new(row, "audit_events")?;
    Ok(AuditEvent {
        id: c.id,
        at: c.ts("at")?,
        actor: c.get("actor")?,
        action: c.get("action")?,
        server_id: c.get("server_id")?,
        run_id: c.get("run_id")?,
        service_id: c.get("service_id")?,
        client_id: c.get("client_id")?,
        before: c.opt_doc("before_json")?,
        after: c.opt_doc("after_json")?,
        note: c.get("note")?,
    })
}

pub(super) fn listing_status(c: &Cols<'_>) -> Result<ListingStatus> {
    let s: String = c.get("listing_status")?;
    match s.as_str() {
        "complete" => Ok(ListingStatus::Complete),
        "incomplete" => Ok(ListingStatus::Incomplete),
        "failed" => Ok(ListingStatus::Failed),
        other => Err(c.bad(
            "listing_status",
            format!("unknown listing status {other:?}"),
        )),
    }
}

pub(super) const RUN_SELECT: &str =
    "SELECT id, server_id, started_at, finished_at, listing_status, error, accounts, \
     accounts_zstd, skipped, analysis_json, analysis_zstd, counts_json, service_versions, \
     applied_at FROM sync_runs";
pub(super) const RUN_SUMMARY_SELECT: &str = "SELECT id, server_id, started_at, finished_at, \
     listing_status, error, accounts_count, counts_json, applied_at FROM sync_runs";

pub(super) fn run_from_row(row: &DbRow) -> Result<Run> {
    let c = Cols::new(row, "sync_runs")?;
    Ok(Run {
        id: c.id,
        server_id: c.get("server_id")?,
        started_at: c.ts("started_at")?,
        finished_at: c.ts("finished_at")?,
        listing_status: listing_status(&c)?,
        error: c.get("error")?,
        accounts: match c.zstd("accounts_zstd")? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| c.bad("accounts_zstd", format!("invalid JSON: {e}")))?,
            // Stored before the runs were compact (schema 10 / 9).
            None => c.json("accounts")?,
        },
        skipped: c.json("skipped")?,
        analysis_json: match c.zstd("analysis_zstd")? {
            Some(text) => Some(text),
            None => c.opt_doc("analysis_json")?,
        },
        counts_json: c.doc("counts_json")?,
        service_versions: c.json("service_versions")?,
        applied_at: c.opt_ts("applied_at")?,
    })
}

pub(super) fn run_summary_from_row(row: &DbRow) -> Result<RunSummary> {
    let c = Cols::new(row, "sync_runs")?;
    Ok(RunSummary {
        id: c.id,
        server_id: c.get("server_id")?,
        started_at: c.ts("started_at")?,
        finished_at: c.ts("finished_at")?,
        listing_status: listing_status(&c)?,
        error: c.get("error")?,
        accounts: c.get("accounts_count")?,
        counts_json: c.doc("counts_json")?,
        applied_at: c.opt_ts("applied_at")?,
    })
}

pub(super) const USER_SELECT: &str =
    "SELECT id, username, password_hash, role, disabled, created_at FROM admin_users";

pub(super) fn role(c: &Cols<'_>) -> Result<Role> {
    let s: String = c.get("role")?;
    Role::parse(&s).ok_or_else(|| c.bad("role", format!("unknown role {s:?}")))
}

pub(super) fn user_from_row(row: &DbRow) -> Result<AdminUser> {
    let c = Cols::new(row, "admin_users")?;
    Ok(AdminUser {
        id: c.id,
        username: c.get("username")?,
        password_hash: c.get("password_hash")?,
        role: role(&c)?,
        disabled: c.get("disabled")?,
        created_at: c.ts("created_at")?,
    })
}

pub(super) const API_TOKEN_COLUMNS: &str = "id, name, token_hash, role, created_at, last_used_at";

pub(super) fn api_token_from_row(row: &DbRow) -> Result<ApiToken> {
    let c = Cols::new(row, "api_tokens")?;
    Ok(ApiToken {
        id: c.id,
        name: c.get("name")?,
        token_hash: c.get("token_hash")?,
        role: role(&c)?,
        created_at: c.ts("created_at")?,
        last_used_at: c.opt_ts("last_used_at")?,
    })
}
