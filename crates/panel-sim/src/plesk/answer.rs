//! What the Plesk simulator answers: its owners and plans derived from the subscriptions, and
//! the XML of each operation's results (see the module docs of [`super`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use serde_json::Value;

use super::api::Request;
use super::generate::plesk_guid;

/// A customer or reseller, from the subscriptions that name it.
pub(crate) struct Owner {
    login: String,
    email: String,
    /// Lookups of this owner answer this error.
    error: Option<(u64, String)>,
}

/// A service plan or add-on.
pub(crate) struct Plan {
    id: usize,
    name: String,
    owner: String,
    guid: String,
}

/// Everything the operations look up, built once per served accounts list.
pub(crate) struct Index {
    pub(crate) accounts: Arc<Vec<Value>>,
    pub(crate) customers: HashMap<u64, Owner>,
    pub(crate) resellers: HashMap<u64, Owner>,
    pub(crate) plans: Vec<Plan>,
    pub(crate) addons: Vec<Plan>,
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `[code, text]` of a directive.
fn err_of(v: &Value, k: &str) -> Option<(u64, String)> {
    let e = v.get(k)?;
    Some((e.get(0)?.as_u64()?, e.get(1)?.as_str()?.to_string()))
}

impl Index {
    pub(crate) fn build(accounts: &Arc<Vec<Value>>) -> Index {
        let mut idx = Index {
            accounts: Arc::clone(accounts),
            customers: HashMap::new(),
            resellers: HashMap::new(),
            plans: Vec::new(),
            addons: Vec::new(),
        };
        let mut seen_plans = HashMap::new();
        let mut seen_addons = HashMap::new();
        for a in accounts.iter() {
            let owner = Owner {
                login: s(a, "owner_login").to_string(),
                email: s(a, "owner_email").to_string(),
                error: err_of(a, "_owner_error"),
            };
            if let Some(id) = a.get("owner_id").and_then(Value::as_u64) {
                match s(a, "owner_type") {
                    "customer" => {
                        idx.customers.entry(id).or_insert(owner);
                    }
                    "reseller" => {
                        idx.resellers.entry(id).or_insert(owner);
                    }
                    _ => {}
                }
            }
            if let Some(p) = a.get("plan").and_then(Value::as_str) {
                let owner = match s(a, "plan_owner") {
                    "" => "admin",
                    o => o,
                };
                let key = (owner.to_string(), p.to_string());
                if seen_plans.insert(key, ()).is_none() {
                    idx.plans.push(Plan {
                        id: idx.plans.len() + 1,
                        name: p.to_string(),
                        owner: owner.to_string(),
                        guid: plan_guid(owner, p),
                    });
                }
            }
            for ad in a
                .get("addons")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if seen_addons.insert(ad.to_string(), ()).is_none() {
                    idx.addons.push(Plan {
                        id: idx.addons.len() + 1,
                        name: ad.to_string(),
                        owner: "admin".into(),
                        guid: addon_guid(ad),
                    });
                }
            }
        }
        idx
    }
}

/// The GUID of plan `name` owned by `owner`.
pub fn plan_guid(owner: &str, name: &str) -> String {
    plesk_guid(&format!("plan:{owner}:{name}"))
}

/// The GUID of add-on plan `name`.
pub fn addon_guid(name: &str) -> String {
    plesk_guid(&format!("addon:{name}"))
}
const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<packet version=\"1.6.9.1\">";

/// `<packet><system><status>error</status>…` (a check-up failure).
pub(crate) fn system_error(code: u32, text: &str) -> Bytes {
    Bytes::from(format!(
        "{HEAD}<system><status>error</status><errcode>{code}</errcode><errtext>{}</errtext>\
         </system></packet>",
        esc(text)
    ))
}

pub(crate) fn open(operator: &str) -> String {
    format!("{HEAD}<{operator}><get>")
}

pub(crate) fn close(mut out: String, operator: &str) -> Bytes {
    let _ = write!(out, "</get></{operator}></packet>");
    Bytes::from(out)
}

pub(crate) fn result_error(
    out: &mut String,
    code: impl std::fmt::Display,
    text: &str,
    filter_id: Option<&str>,
) {
    let _ = write!(
        out,
        "<result><status>error</status><errcode>{code}</errcode><errtext>{}</errtext>",
        esc(text)
    );
    if let Some(f) = filter_id {
        let _ = write!(out, "<filter-id>{}</filter-id>", esc(f));
    }
    out.push_str("</result>");
}

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// Text of a JSON value: strings as they are, numbers in decimal, `null` empty.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `webspace get`: every subscription (empty filter) or those named by `id`/`name`.
pub(crate) fn webspaces(idx: &Index, req: &Request) -> Bytes {
    let mut out = open("webspace");
    let wants = |d: &str| req.datasets.iter().any(|x| x == d);
    let write_one = |out: &mut String, a: &Value, filter_id: Option<&str>| {
        if let Some((code, text)) = err_of(a, "_error") {
            result_error(out, code, &text, filter_id);
            return;
        }
        out.push_str("<result><status>ok</status>");
        if let Some(f) = filter_id {
            let _ = write!(out, "<filter-id>{}</filter-id>", esc(f));
        }
        let _ = write!(out, "<id>{}</id><data>", text_of(&a["id"]));
        let name = s(a, "name");
        if wants("gen_info") {
            let ascii = idna::domain_to_ascii(name).unwrap_or_else(|_| name.to_string());
            let _ = write!(
                out,
                "<gen_info><cr_date>{}</cr_date><name>{}</name><ascii-name>{}</ascii-name>\
                 <status>{}</status><real_size>0</real_size><owner-id>{}</owner-id>\
                 <owner-login>{}</owner-login>",
                esc(&text_of(&a["cr_date"])),
                esc(name),
                esc(&ascii),
                esc(&text_of(&a["status"])),
                esc(&text_of(&a["owner_id"])),
                esc(s(a, "owner_login")),
            );
            for ip in a.get("ips").and_then(Value::as_array).into_iter().flatten() {
                let _ = write!(
                    out,
                    "<dns_ip_address>{}</dns_ip_address>",
                    esc(&text_of(ip))
                );
            }
            let _ = write!(
                out,
                "<htype>{}</htype><guid>{}</guid></gen_info>",
                esc(s(a, "htype")),
                plesk_guid(&format!("webspace:{name}"))
            );
        }
        if wants("hosting") {
            match a.get("ftp_login").and_then(Value::as_str) {
                Some(ftp) if s(a, "htype") == "vrt_hst" => {
                    let _ = write!(
                        out,
                        "<hosting><vrt_hst><property><name>ftp_login</name><value>{}</value>\
                         </property><property><name>ftp_password</name><value></value>\
                         </property><property><name>php</name><value>true</value></property>",
                        esc(ftp)
                    );
                    for ip in a.get("ips").and_then(Value::as_array).into_iter().flatten() {
                        let _ = write!(out, "<ip_address>{}</ip_address>", esc(&text_of(ip)));
                    }
                    out.push_str("</vrt_hst></hosting>");
                }
                _ => out.push_str("<hosting><none/></hosting>"),
            }
        }
        if wants("subscriptions") {
            out.push_str(
                "<subscriptions><subscription><locked>false</locked>\
                 <synchronized>true</synchronized>",
            );
            for g in guids_of(a) {
                let _ = write!(out, "<plan><plan-guid>{}</plan-guid></plan>", esc(&g));
            }
            out.push_str("</subscription></subscriptions>");
        }
        out.push_str("</data></result>");
    };
    if req.filter.is_empty() {
        for a in idx.accounts.iter() {
            write_one(&mut out, a, None);
        }
    } else {
        for (kind, value) in &req.filter {
            let found = idx.accounts.iter().find(|a| match kind.as_str() {
                "id" => text_of(&a["id"]) == *value,
                "name" => s(a, "name") == value,
                _ => false,
            });
            match found {
                Some(a) => write_one(&mut out, a, Some(value)),
                None => result_error(&mut out, 1013, "Domain does not exist", Some(value)),
            }
        }
    }
    close(out, "webspace")
}

/// The plan GUIDs a subscription serves: `_plan_guids`, else its plan's and add-ons'.
fn guids_of(a: &Value) -> Vec<String> {
    if let Some(list) = a.get("_plan_guids").and_then(Value::as_array) {
        return list.iter().map(text_of).collect();
    }
    let mut out = Vec::new();
    if let Some(p) = a.get("plan").and_then(Value::as_str) {
        let owner = match s(a, "plan_owner") {
            "" => "admin",
            o => o,
        };
        out.push(plan_guid(owner, p));
    }
    for ad in a
        .get("addons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        out.push(addon_guid(ad));
    }
    out
}

/// `customer get` / `reseller get` by `id` or `login` (empty filter: all).
pub(crate) fn owners(
    map: &HashMap<u64, Owner>,
    req: &Request,
    operator: &str,
    dataset: &str,
    what: &str,
) -> Bytes {
    let mut out = open(operator);
    let write_one = |out: &mut String, id: u64, o: &Owner, filter_id: Option<&str>| {
        if let Some((code, text)) = &o.error {
            result_error(out, code, text, filter_id);
            return;
        }
        out.push_str("<result><status>ok</status>");
        if let Some(f) = filter_id {
            let _ = write!(out, "<filter-id>{}</filter-id>", esc(f));
        }
        let _ = write!(
            out,
            "<id>{id}</id><data><{dataset}><cname></cname><pname>{}</pname><login>{}</login>\
             <status>0</status><email>{}</email></{dataset}></data></result>",
            esc(&o.login),
            esc(&o.login),
            esc(&o.email)
        );
    };
    if req.filter.is_empty() {
        let mut ids: Vec<_> = map.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            write_one(&mut out, id, &map[&id], None);
        }
    } else {
        for (kind, value) in &req.filter {
            let found = match kind.as_str() {
                "id" => value
                    .parse::<u64>()
                    .ok()
                    .and_then(|id| map.get(&id).map(|o| (id, o))),
                "login" => map
                    .iter()
                    .find(|(_, o)| o.login == *value)
                    .map(|(i, o)| (*i, o)),
                _ => None,
            };
            match found {
                Some((id, o)) => write_one(&mut out, id, o, Some(value)),
                None => {
                    let text = if what == "client" {
                        "Client does not exist".to_string()
                    } else {
                        "Reseller does not exist".to_string()
                    };
                    result_error(&mut out, 1013, &text, Some(value));
                }
            }
        }
    }
    close(out, operator)
}

/// `service-plan get` / `service-plan-addon get` by `id`, `name` or `guid`: the requester's
/// (the administrator's) own plans unless `<owner-all/>`.
pub(crate) fn plans(list: &[Plan], req: &Request, operator: &str, what: &str) -> Bytes {
    let mut out = open(operator);
    let visible = |p: &&Plan| req.owner_all || p.owner == "admin";
    let write_one = |out: &mut String, p: &Plan, filter_id: Option<&str>| {
        out.push_str("<result><status>ok</status>");
        if let Some(f) = filter_id {
            let _ = write!(out, "<filter-id>{}</filter-id>", esc(f));
        }
        let _ = write!(
            out,
            "<id>{}</id><name>{}</name><guid>{}</guid><external-id></external-id>\
             <owner-login>{}</owner-login></result>",
            p.id,
            esc(&p.name),
            esc(&p.guid),
            esc(&p.owner)
        );
    };
    if req.filter.is_empty() {
        for p in list.iter().filter(visible) {
            write_one(&mut out, p, None);
        }
    } else {
        for (kind, value) in &req.filter {
            let found = list.iter().filter(visible).find(|p| match kind.as_str() {
                "guid" => p.guid == *value,
                "name" => p.name == *value,
                "id" => p.id.to_string() == *value,
                _ => false,
            });
            match found {
                Some(p) => write_one(&mut out, p, Some(value)),
                None => result_error(
                    &mut out,
                    1013,
                    &format!("{what} does not exist"),
                    Some(value),
                ),
            }
        }
    }
    close(out, operator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plesk::api::Request;

    #[test]
    fn plans_need_owner_all_for_resellers() {
        let list = vec![
            Plan {
                id: 1,
                name: "Basic".into(),
                owner: "admin".into(),
                guid: "g1".into(),
            },
            Plan {
                id: 2,
                name: "Pro".into(),
                owner: "res1".into(),
                guid: "g2".into(),
            },
        ];
        let mut req = Request {
            operator: "service-plan".into(),
            op: "get".into(),
            filter: vec![("guid".into(), "g1".into()), ("guid".into(), "g2".into())],
            ..Request::default()
        };
        let without =
            String::from_utf8(plans(&list, &req, "service-plan", "Service plan").to_vec()).unwrap();
        assert!(without.contains("<name>Basic</name>"));
        assert!(without.contains("<errcode>1013</errcode><errtext>Service plan does not exist</errtext><filter-id>g2</filter-id>"));
        req.owner_all = true;
        let with =
            String::from_utf8(plans(&list, &req, "service-plan", "Service plan").to_vec()).unwrap();
        assert!(with.contains("<name>Pro</name>") && !with.contains("1013"));
    }

    #[test]
    fn system_errors_have_plesk_form() {
        assert_eq!(
            system_error(1001, "Authentication failed - wrong password"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<packet version=\"1.6.9.1\"><system>\
             <status>error</status><errcode>1001</errcode><errtext>Authentication failed - \
             wrong password</errtext></system></packet>"
        );
    }
}
