//! The CSV export of a run's items: one row per item with a header row, cells guarded
//! against spreadsheet formula injection.

use serversync_app::items::{ItemQuery, RunView};
use serversync_core::module::format_created;

/// A CSV cell: quoted when needed, and prefixed with `'` when it starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return (spreadsheet formula injection).
pub fn csv_cell(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The items of a run matching `q` (category and search; paging ignored) as CSV, one row
/// per item, with a header row.
pub fn items_csv(view: &RunView, q: &ItemQuery) -> String {
    let header = [
        "category",
        "unique_identifier",
        "remote_username",
        "remote_domain",
        "remote_product",
        "remote_primary_ip",
        "remote_status",
        "remote_created",
        "remote_email",
        "remote_owner",
        "service_id",
        "billing_domain",
        "billing_username",
        "billing_dedicated_ip",
        "billing_status",
        "billing_regdate",
        "billing_client_email",
        "differing_fields",
        "actions",
        "notes",
    ];
    let mut out = header.join(",");
    out.push_str("\r\n");
    // `query` clamps per_page; walk the pages.
    let mut page = 1;
    loop {
        let p = view.query(&ItemQuery {
            page,
            per_page: 1000,
            ..q.clone()
        });
        for (_, it) in &p.items {
            let r = it.remote.as_ref();
            let b = it.billing.as_ref();
            let cells = [
                it.category.as_str().to_string(),
                it.unique_identifier.clone().unwrap_or_default(),
                r.map(|r| r.username.clone()).unwrap_or_default(),
                r.map(|r| r.domain.clone()).unwrap_or_default(),
                r.map(|r| r.product.clone()).unwrap_or_default(),
                r.map(|r| r.primary_ip.clone()).unwrap_or_default(),
                r.map(|r| r.status.as_str().to_string()).unwrap_or_default(),
                r.and_then(|r| r.created)
                    .map(format_created)
                    .unwrap_or_default(),
                r.and_then(|r| r.email.clone()).unwrap_or_default(),
                r.and_then(|r| r.owner.clone()).unwrap_or_default(),
                it.service_id.map(|i| i.to_string()).unwrap_or_default(),
                b.map(|b| b.domain.clone()).unwrap_or_default(),
                b.map(|b| b.username.clone()).unwrap_or_default(),
                b.map(|b| b.dedicated_ip.clone()).unwrap_or_default(),
                b.map(|b| b.status.as_str().to_string()).unwrap_or_default(),
                b.and_then(|b| b.regdate.clone()).unwrap_or_default(),
                b.and_then(|b| b.client_email.clone()).unwrap_or_default(),
                it.diffs
                    .iter()
                    .map(|d| d.field.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                it.actions
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                it.notes.join("; "),
            ];
            let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&row.join(","));
            out.push_str("\r\n");
        }
        if page >= p.pages() {
            break;
        }
        page += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_guarded_and_quoted() {
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("ann.test"), "ann.test");
    }
}
