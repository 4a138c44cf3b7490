//! The compressed columns of stored runs (issue 11, "Runs that fleets can keep"): a run's
//! remote list (`accounts_zstd`) and its stored analysis (`analysis_zstd`) are zstd frames of
//! their compact JSON text. JSON keeps one encoding for the types (the serde derives the
//! rest of serversync reads and writes) and compresses well: the keys repeat in every
//! account. Both backends store the bytes as they are (SQLite `BLOB`, PostgreSQL `bytea`).

use std::io::Read;

use serversync_core::module::RemoteAccount;

use crate::{Result, StoreError};

/// zstd's level for run columns: 1. On a 100,000-account `listaccts` answer (31 MB of JSON)
/// level 1 compressed 8.45-fold at ~470 MB/s and level 3 (zstd's default) 8.54-fold at
/// ~340 MB/s (`zstd -b1 -e3`): the ratio is nearly the same, the time a run is stored is not.
const LEVEL: i32 = 1;

/// The largest decompressed text read back (1 GiB): a damaged or hostile frame cannot make
/// the reader allocate without bound. A 100,000-account list is ~20 MB.
const MAX_TEXT: u64 = 1 << 30;

/// `text` as one zstd frame; `what` names the column in the error.
pub(crate) fn compress(what: &str, text: &str) -> Result<Vec<u8>> {
    zstd::bulk::compress(text.as_bytes(), LEVEL)
        .map_err(|e| StoreError::Invalid(format!("{what} could not be compressed: {e}")))
}

/// The text of a frame written by [`compress`]; `Err` says why it does not read back (the
/// caller names table, row and column).
pub(crate) fn decompress(bytes: &[u8]) -> std::result::Result<String, String> {
    let decoder = zstd::stream::read::Decoder::new(bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    decoder
        .take(MAX_TEXT + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("not a zstd frame: {e}"))?;
    if out.len() as u64 > MAX_TEXT {
        return Err(format!("decompresses past {MAX_TEXT} bytes"));
    }
    String::from_utf8(out).map_err(|e| format!("not UTF-8 text: {e}"))
}

/// Whether JSON text holds the escape `\u0000` (an escaped backslash followed by `u0000`
/// is text, not the escape).
pub(crate) fn has_nul_escape(text: &str) -> bool {
    // The common case first: no such text at all (a vectorised search of the whole text).
    if !text.contains("\\u0000") {
        return false;
    }
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find("\\u0000").map(|i| i + from) {
        let backslashes = bytes[..at]
            .iter()
            .rev()
            .take_while(|b| **b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return true;
        }
        from = at + 1;
    }
    false
}

/// A run's remote list as a run stores it (`accounts_zstd`: one zstd frame of its compact
/// JSON), made ahead of [`crate::Runs::insert_run_prepared`]: serialising and compressing
/// 100,000 accounts is ~0.1 s of CPU work that the caller can do beside the analysis instead
/// of inside the insert. Made by [`PreparedAccounts::of`] only, so it always holds what a
/// run's own list would have been stored as.
#[derive(Clone, Debug)]
pub struct PreparedAccounts {
    pub(crate) count: usize,
    pub(crate) zstd: Vec<u8>,
    /// Whether the JSON holds a NUL character: the backend that cannot store one refuses
    /// the run at its insert, as it refuses a run's own list ([`crate::NewRun::accounts`]).
    pub(crate) has_nul: bool,
}

impl PreparedAccounts {
    /// `accounts` as a run stores them (CPU work: call it off the async workers).
    pub fn of(accounts: &[RemoteAccount]) -> Result<Self> {
        // The text `serde_json::to_string(accounts)` gives, written by hand (~3 × faster).
        // Compressed whole: zstd's streaming form, fed a chunk at a time, compressed through
        // its slower out-of-window path (`extDict`) and saved nothing measurable.
        let text = serversync_core::json_text::accounts(accounts);
        Ok(PreparedAccounts {
            count: accounts.len(),
            has_nul: has_nul_escape(&text),
            zstd: compress("run accounts", &text)?,
        })
    }

    /// Accounts in the list.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Refuses `text` unless it is JSON (`Invalid("{what} is not JSON: …")`): a document the
/// caller serialised is checked as PostgreSQL's `jsonb` would check it, on both backends.
pub(crate) fn check_json(what: &str, text: &str) -> Result<()> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| StoreError::Invalid(format!("{what} is not JSON: {e}")))
}

/// A run's stored analysis document ([`crate::NewRun::analysis_json`]) as a run stores it
/// (`analysis_zstd`: one zstd frame of the text, byte for byte what
/// [`crate::Runs::insert_run`] stores), made ahead of [`crate::Runs::insert_run_prepared`]:
/// checking and compressing a 100,000-account server's document (~15 MB) is tens of
/// milliseconds of CPU work that the caller can do where the document is written, instead
/// of inside the insert, and without the insert's copy of the text. Made by
/// [`PreparedAnalysis::of`] only, so it always holds a document that was checked.
#[derive(Clone, Debug)]
pub struct PreparedAnalysis {
    pub(crate) zstd: Vec<u8>,
    /// Whether the JSON holds a NUL character: the backend that cannot store one refuses
    /// the run at its insert, as it refuses a run's own document.
    pub(crate) has_nul: bool,
}

impl PreparedAnalysis {
    /// The analysis document `text` (JSON text) checked and compressed as a run stores it;
    /// the text is taken (and freed once compressed). Refused with
    /// [`StoreError::Invalid`]`("run analysis_json is not JSON: …")` when it is not JSON, as
    /// `insert_run` refuses such a document; a NUL character (`\u0000`) is refused at the
    /// insert by the backend that cannot store it (PostgreSQL), as for
    /// [`crate::NewRun::analysis_json`]. CPU work (the check and the compression run side
    /// by side on two threads): call it off the async workers.
    pub fn of(text: String) -> Result<Self> {
        const WHAT: &str = "run analysis_json";
        std::thread::scope(|s| {
            let zstd = s.spawn(|| compress(WHAT, &text));
            let checked = check_json(WHAT, &text).map(|()| has_nul_escape(&text));
            let zstd = zstd
                .join()
                .map_err(|_| StoreError::Invalid(format!("compressing the {WHAT} stopped")))?;
            Ok(PreparedAnalysis {
                has_nul: checked?,
                zstd: zstd?,
            })
        })
    }

    /// Bytes of the compressed document.
    pub fn compressed_len(&self) -> usize {
        self.zstd.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(i: usize, domain: &str) -> RemoteAccount {
        serde_json::from_value(serde_json::json!({"email": format!("u{i}@mail.test"),
            "username": format!("u{i}"), "domain": domain,
            "uniqueIdentifier": domain, "product": "basic \"gold\"",
            "primaryip": "192.0.2.1", "created": "2024-01-31 10:00:00", "status": "Active"}))
        .unwrap()
    }

    #[test]
    fn prepared_accounts_are_the_json_text_of_the_list() {
        for n in [0, 1, 2, 5_000] {
            let accounts: Vec<RemoteAccount> =
                (0..n).map(|i| account(i, &format!("u{i}.test"))).collect();
            let p = PreparedAccounts::of(&accounts).unwrap();
            let want = serversync_core::json_text::accounts(&accounts);
            assert_eq!(want, serde_json::to_string(&accounts).unwrap());
            assert_eq!(decompress(&p.zstd).unwrap(), want, "{n} accounts");
            assert_eq!((p.len(), p.has_nul), (n, false));
        }
        // A NUL character in the first account, in the middle, in the last account; an
        // escaped backslash before `u0000` is text, not the escape.
        for at in [0, 1_500, 4_999] {
            let mut accounts: Vec<RemoteAccount> = (0..5_000)
                .map(|i| account(i, &format!("u{i}.test")))
                .collect();
            accounts[at] = account(at, "nul\u{0}.test");
            let p = PreparedAccounts::of(&accounts).unwrap();
            assert!(p.has_nul, "NUL in account {at}");
            accounts[at] = account(at, "not\\u0000.test");
            let p = PreparedAccounts::of(&accounts).unwrap();
            assert!(!p.has_nul, "an escaped backslash in account {at}");
            assert_eq!(
                decompress(&p.zstd).unwrap(),
                serde_json::to_string(&accounts).unwrap()
            );
        }
    }

    #[test]
    fn round_trip_and_damage() {
        let text = r#"[{"username":"ann","domain":"ann.test"}]"#.repeat(100);
        let z = compress("run accounts", &text).unwrap();
        assert!(z.len() < text.len() / 10, "{} of {}", z.len(), text.len());
        assert_eq!(decompress(&z).unwrap(), text);
        assert!(decompress(b"not zstd").unwrap_err().contains("zstd"));
        assert!(decompress(&z[..z.len() / 2]).is_err());
    }

    #[test]
    fn prepared_analysis_is_the_stored_frame_or_refused() {
        let text = r#"{"items":[{"note":"a\\u0000b"}]}"#.to_string();
        let p = PreparedAnalysis::of(text.clone()).unwrap();
        assert_eq!(p.zstd, compress("run analysis_json", &text).unwrap());
        assert_eq!(p.compressed_len(), p.zstd.len());
        assert!(!p.has_nul);
        assert!(
            PreparedAnalysis::of(r#"{"n":"\u0000"}"#.into())
                .unwrap()
                .has_nul
        );
        match PreparedAnalysis::of("{\"items\":".into()) {
            Err(StoreError::Invalid(m)) => {
                assert!(m.starts_with("run analysis_json is not JSON: "), "{m}")
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}
