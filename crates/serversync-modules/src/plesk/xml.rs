//! Reading a Plesk XML API answer (`agent.php`) in one streaming pass.
//!
//! Shape (Plesk XML API reference, "A Sample Packet" 50169, "Errors" 28729, 33765; see
//! `/work/shared/reference/panel-apis-verified.md` "Plesk (B.3)"):
//!
//! ```xml
//! <packet version="1.6.9.1">
//!   <webspace><get>
//!     <result><status>ok</status><filter-id>7</filter-id><id>7</id><data>…</data></result>
//!     <result><status>error</status><errcode>1013</errcode><errtext>…</errtext></result>
//!   </get></webspace>
//! </packet>
//! <packet><system><status>error</status><errcode>1001</errcode><errtext>…</errtext></system></packet>
//! ```
//!
//! Both error levels come with HTTP 200: a `<system>` error (the packet's check-up failed:
//! login 1001, secret key 11003, protocol 1005, parse 1014) fails the whole request; a
//! `<result>` with `<status>error</status>` is the failure of that one operation result.
//!
//! Each `<result>` of `<packet><OPERATOR><get>` is handed over as a flat list of
//! `(path, text)` leaves in document order, the path relative to the result
//! (`data/gen_info/name`), so a caller keeps only what it needs and the document is never
//! held as a tree. Everything is bounded: nesting depth, leaves per result, and characters
//! per leaf; going past a bound is a clean [`PacketError`], never a panic.

use quick_xml::events::Event;
use quick_xml::Reader;

/// Deepest element nesting accepted (a real answer nests about 8 deep).
pub(crate) const MAX_DEPTH: usize = 32;
/// Most leaves one `<result>` may have (a subscription with its hosting properties has
/// about 40).
pub(crate) const MAX_LEAVES: usize = 4_096;
/// Most bytes of one leaf's text (Plesk's longest fields, descriptions, are far shorter).
pub(crate) const MAX_TEXT: usize = 64 * 1024;

/// One `<result>`: its leaves `(path, text)` in document order, text unescaped and trimmed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ResultFields {
    pub(crate) leaves: Vec<(String, String)>,
}

impl ResultFields {
    /// The first leaf at `path`.
    pub(crate) fn get(&self, path: &str) -> Option<&str> {
        self.leaves
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.as_str())
    }

    /// Every leaf at `path`, in document order.
    pub(crate) fn all<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.leaves
            .iter()
            .filter(move |(p, _)| p == path)
            .map(|(_, v)| v.as_str())
    }

    /// `error` results: `(errcode, errtext)`; `None` for `ok`.
    pub(crate) fn error(&self) -> Option<(&str, &str)> {
        match self.get("status") {
            Some(s) if s.eq_ignore_ascii_case("ok") => None,
            _ => Some((
                self.get("errcode").unwrap_or(""),
                self.get("errtext").unwrap_or(""),
            )),
        }
    }

    /// The key the result answers: `filter-id` (the filter value it answers), else `id`.
    pub(crate) fn key(&self) -> Option<&str> {
        self.get("filter-id")
            .or_else(|| self.get("id"))
            .filter(|s| !s.is_empty())
    }
}

/// Why an answer could not be read as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PacketError {
    /// `<packet><system><status>error</status>…`: `(errcode, errtext)`.
    System { code: String, text: String },
    /// Not XML, or not the packet shape, or past a bound: what was wrong.
    Malformed(String),
}

/// Reads `body`, an answer to one `<OPERATOR><get>` request, calling `on_result` for each
/// `<result>` of `<packet><OPERATOR><get>` in document order.
///
/// Errors: [`PacketError::System`] for a system-level error; [`PacketError::Malformed`] for
/// invalid XML (with the byte position), a root other than `<packet>`, a packet without
/// `<OPERATOR><get>`, or a bound passed. `on_result`'s own error stops the pass and is
/// returned as it is.
pub(crate) fn read_results<E: From<PacketError>>(
    body: &[u8],
    operator: &str,
    mut on_result: impl FnMut(ResultFields) -> Result<(), E>,
) -> Result<(), E> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    // Text of the innermost open element, and whether it has child elements.
    let mut text = String::new();
    let mut has_child = false;
    let mut current: Option<ResultFields> = None;
    let mut system: Option<ResultFields> = None;
    let mut saw_get = false;
    let bad = |m: String| E::from(PacketError::Malformed(m));
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| bad(format!("the XML is not well formed at byte {pos}: {e}")))?;
        match event {
            Event::Start(s) => {
                let name = element_name(s.name().as_ref())?;
                open(&mut path, name, &mut current, &mut system, operator).map_err(E::from)?;
                if path.len() == 3 && path[1] == operator && path[2] == "get" {
                    saw_get = true;
                }
                text.clear();
                has_child = false;
            }
            Event::Empty(s) => {
                let name = element_name(s.name().as_ref())?;
                if path.is_empty() {
                    return Err(bad(format!("the answer's root is <{name}/>, not <packet>")));
                }
                if path.len() == 2 && path[1] == operator && name == "get" {
                    saw_get = true;
                }
                if let Some(r) = current.as_mut() {
                    push_leaf(r, &path[4.min(path.len())..], &name, String::new())
                        .map_err(E::from)?;
                } else if let Some(r) = system.as_mut() {
                    push_leaf(r, &path[2.min(path.len())..], &name, String::new())
                        .map_err(E::from)?;
                }
                has_child = true;
            }
            Event::Text(t) => {
                let s = t
                    .unescape()
                    .map_err(|e| bad(format!("the XML text at byte {pos} cannot be read: {e}")))?;
                append_text(&mut text, &s).map_err(E::from)?;
            }
            Event::CData(c) => {
                let raw = c.into_inner();
                let s = std::str::from_utf8(&raw)
                    .map_err(|_| bad(format!("the CDATA at byte {pos} is not UTF-8")))?;
                append_text(&mut text, s).map_err(E::from)?;
            }
            Event::End(_) => {
                let Some(name) = path.pop() else {
                    return Err(bad(format!("a closing tag at byte {pos} closes nothing")));
                };
                let depth = path.len();
                let in_result = current.is_some() && depth >= 4;
                let in_system = system.is_some() && depth >= 2;
                if !has_child {
                    let value = std::mem::take(&mut text).trim().to_string();
                    if in_result {
                        if let Some(r) = current.as_mut() {
                            push_leaf(r, &path[4..], &name, value).map_err(E::from)?;
                        }
                    } else if in_system {
                        if let Some(r) = system.as_mut() {
                            push_leaf(r, &path[2..], &name, value).map_err(E::from)?;
                        }
                    }
                }
                text.clear();
                // The parent has a child now.
                has_child = true;
                if depth == 3 && name == "result" {
                    if let Some(r) = current.take() {
                        on_result(r)?;
                    }
                }
                if depth == 1 && name == "system" {
                    if let Some(s) = system.take() {
                        if let Some((code, text)) = s.error() {
                            return Err(E::from(PacketError::System {
                                code: code.to_string(),
                                text: text.to_string(),
                            }));
                        }
                    }
                }
            }
            Event::Eof => {
                if !path.is_empty() {
                    return Err(bad(format!(
                        "the XML ends inside <{}> (the answer was cut off)",
                        path.join("><")
                    )));
                }
                break;
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !saw_get {
        return Err(bad(format!(
            "the answer has no <{operator}><get> (not an answer to the request)"
        )));
    }
    Ok(())
}

/// Handles an opening tag: checks the root and the depth, starts a result or a system
/// block.
fn open(
    path: &mut Vec<String>,
    name: String,
    current: &mut Option<ResultFields>,
    system: &mut Option<ResultFields>,
    operator: &str,
) -> Result<(), PacketError> {
    if path.is_empty() && name != "packet" {
        return Err(PacketError::Malformed(format!(
            "the answer's root is <{}>, not <packet>",
            crate::http::one_line(&name, 40, "")
        )));
    }
    if path.len() >= MAX_DEPTH {
        return Err(PacketError::Malformed(format!(
            "the XML nests deeper than {MAX_DEPTH} elements"
        )));
    }
    if path.len() == 3 && path[1] == operator && path[2] == "get" && name == "result" {
        *current = Some(ResultFields::default());
    }
    if path.len() == 1 && name == "system" {
        *system = Some(ResultFields::default());
    }
    path.push(name);
    Ok(())
}

fn push_leaf(
    r: &mut ResultFields,
    parents: &[String],
    name: &str,
    value: String,
) -> Result<(), PacketError> {
    if r.leaves.len() >= MAX_LEAVES {
        return Err(PacketError::Malformed(format!(
            "one <result> has more than {MAX_LEAVES} values"
        )));
    }
    let mut p =
        String::with_capacity(parents.iter().map(|s| s.len() + 1).sum::<usize>() + name.len());
    for part in parents {
        p.push_str(part);
        p.push('/');
    }
    p.push_str(name);
    r.leaves.push((p, value));
    Ok(())
}

fn append_text(text: &mut String, s: &str) -> Result<(), PacketError> {
    if text.len() + s.len() > MAX_TEXT {
        return Err(PacketError::Malformed(format!(
            "an XML value is longer than {MAX_TEXT} bytes"
        )));
    }
    text.push_str(s);
    Ok(())
}

fn element_name<E: From<PacketError>>(raw: &[u8]) -> Result<String, E> {
    if raw.len() > 128 {
        return Err(E::from(PacketError::Malformed(
            "an XML element name is longer than 128 bytes".into(),
        )));
    }
    std::str::from_utf8(raw).map(str::to_string).map_err(|_| {
        E::from(PacketError::Malformed(
            "an XML element name is not UTF-8".into(),
        ))
    })
}

/// Escapes text for an XML element's content (`&`, `<`, `>`).
pub(crate) fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}
