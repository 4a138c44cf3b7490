//! Server secrets at rest: XChaCha20-Poly1305 (the `chacha20poly1305` crate) under a 32-byte
//! key read from a key file.
//!
//! * Key file: the key as 64 hexadecimal digits on one line (`openssl rand -hex 32` makes
//!   one), mode 0600. When none is given, [`default_key_path`] puts one beside the SQLite
//!   database: `serversync.db` → `serversync.db.key`.
//! * Stored form of a secret: `v1:<key id>:<base64 of nonce (24 bytes) ‖ ciphertext ‖ tag>`,
//!   standard base64 with padding. The key id (16 hex digits of SHA-256 over a label and the
//!   key) names the key without revealing it, so a wrong key file is told apart from a
//!   damaged value, and `secrets rotate-key` can tell old rows from new ones.
//! * Associated data: `serversync:servers.<id>.<field>`, so a ciphertext copied into another
//!   server's row or field does not decrypt.
//! * An empty secret ("not set") is stored empty: whether a server has a password is not a
//!   secret, and the write-only "empty keeps the stored one" rule keeps working.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use sha2::Digest as _;

use crate::{Result, StoreError};

/// Prefix of the stored form (version 1).
const V1: &str = "v1:";
/// Nonce length of XChaCha20-Poly1305.
const NONCE_LEN: usize = 24;
/// Longest key file read (a key is 64 characters; comments or a BOM are not expected).
const MAX_KEY_FILE: u64 = 4096;

/// A 32-byte secret key and where it came from (for messages). `Debug` shows only the key id
/// and the source.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; 32],
    id: String,
    source: String,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("bytes", &"[redacted]")
            .finish()
    }
}

impl SecretKey {
    fn from_bytes(bytes: [u8; 32], source: String) -> SecretKey {
        let mut h = sha2::Sha256::new();
        h.update(b"serversync secret key id\0");
        h.update(bytes);
        let digest = h.finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        SecretKey { bytes, id, source }
    }

    /// A new random key from the operating system's generator. `source` names where it will
    /// be kept (a path), or says it is kept nowhere (`a temporary key`).
    pub fn generate(source: impl Into<String>) -> SecretKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        SecretKey::from_bytes(bytes, source.into())
    }

    /// A key that lives only in memory (in-memory databases, tests).
    pub fn ephemeral() -> SecretKey {
        SecretKey::generate("a temporary key")
    }

    /// Reads a key file (64 hex digits, surrounding white space ignored). Errors:
    /// [`StoreError::Secret`] naming the file when it is missing, too long or not a key.
    pub fn read_file(path: &Path) -> Result<SecretKey> {
        let shown = path.display().to_string();
        let bad = |why: String| StoreError::Secret(format!("secret key file {shown}: {why}"));
        let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
        if meta.len() > MAX_KEY_FILE {
            return Err(bad(format!(
                "is {} bytes long; a key file holds 64 hexadecimal digits",
                meta.len()
            )));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                // Warned, not refused: the key still opens the secrets; say how to fix it.
                tracing::warn!(
                    "secret key file {shown} can be read by other users (mode {mode:o}): \
                     `chmod 600` it"
                );
            }
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
        let hex = text.trim();
        let bytes = decode_hex32(hex).ok_or_else(|| {
            bad("does not hold a key (64 hexadecimal digits expected, as `openssl rand -hex 32` prints)".into())
        })?;
        Ok(SecretKey::from_bytes(bytes, shown))
    }

    /// Writes this key to `path` (0600) without ever showing a half-written file: the key
    /// goes to a temporary file beside it, is synced, then is renamed over `path` when
    /// `replace`, or hard-linked to `path` when not (which fails if `path` exists, so two
    /// processes creating the first key at once end up with one key, the first one's).
    /// `Ok(false)`: not `replace` and `path` already existed (nothing written).
    pub fn write_file(&self, path: &Path, replace: bool) -> Result<bool> {
        let shown = path.display();
        let err = |what: &str, e: std::io::Error| {
            StoreError::Secret(format!("cannot {what} secret key file {shown}: {e}"))
        };
        let tmp = temp_beside(path);
        let mut f = private_file(&tmp).map_err(|e| err("create", e))?;
        let written = writeln!(f, "{}", encode_hex(&self.bytes)).and_then(|()| f.sync_all());
        drop(f);
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(err("write", e));
        }
        let placed = if replace {
            std::fs::rename(&tmp, path)
        } else {
            let linked = std::fs::hard_link(&tmp, path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
                other => other,
            }
        };
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&tmp);
            return Err(err("place", e));
        }
        Ok(true)
    }

    /// The key id (16 hex digits), shown in messages and stored with each secret.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the key is kept (a path), for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The stored form of `plain` for `field` (`password`, `access_hash`) of server
    /// `server_id`; empty stays empty.
    pub fn seal(&self, server_id: i64, field: &str, plain: &str) -> Result<String> {
        if plain.is_empty() {
            return Ok(String::new());
        }
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = aad(server_id, field);
        let ct = XChaCha20Poly1305::new((&self.bytes).into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Secret("encryption failed".into()))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        Ok(format!(
            "{V1}{}:{}",
            self.id,
            base64::engine::general_purpose::STANDARD.encode(blob)
        ))
    }

    /// The secret a stored value holds. `server` names the server in messages (`web1`).
    /// Errors ([`StoreError::Secret`]): another key's id, a value that fails authentication
    /// (wrong key or altered), or a value not in the stored form.
    pub fn open(&self, server_id: i64, server: &str, field: &str, stored: &str) -> Result<String> {
        if stored.is_empty() {
            return Ok(String::new());
        }
        let cannot = |why: &str| {
            StoreError::Secret(format!(
                "secret of server {server} ({field}) cannot be decrypted with the key in {}: {why}",
                self.source
            ))
        };
        let rest = stored
            .strip_prefix(V1)
            .ok_or_else(|| cannot("the stored value is not in the v1 form"))?;
        let (kid, b64) = rest
            .split_once(':')
            .ok_or_else(|| cannot("the stored value is not in the v1 form"))?;
        if kid != self.id {
            return Err(cannot(&format!(
                "it was encrypted with key {kid}, this key is {}",
                self.id
            )));
        }
        let blob = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| cannot("the stored value is not valid base64"))?;
        if blob.len() < NONCE_LEN {
            return Err(cannot("the stored value is too short"));
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let aad = aad(server_id, field);
        let plain = XChaCha20Poly1305::new((&self.bytes).into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| cannot("authentication failed (wrong key, or the value was altered)"))?;
        String::from_utf8(plain).map_err(|_| cannot("the secret is not UTF-8"))
    }
}

/// Whether a stored value is in the encrypted form under key `key_id`.
pub fn sealed_with(stored: &str, key_id: &str) -> bool {
    stored
        .strip_prefix(V1)
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(kid, _)| kid == key_id)
}

fn aad(server_id: i64, field: &str) -> String {
    format!("serversync:servers.{server_id}.{field}")
}

/// The key file used for an SQLite database URL when none is given: the database file's
/// path with `.key` appended (`sqlite://data/serversync.db` → `data/serversync.db.key`).
/// `None` for in-memory databases and for URLs that are not SQLite files (nowhere to put a
/// key: the caller must be given one).
pub fn default_key_path(url: &str) -> Option<PathBuf> {
    let url = url.trim();
    let rest = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("sqlite:"))
        .map(|_| &url[7..])?;
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    if file.is_empty() || file == ":memory:" || query.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(format!("{file}.key")))
}

/// Where a key came from, for [`load_key`].
#[derive(Debug)]
pub enum KeyOrigin {
    /// Read from a file that was given or found.
    Read,
    /// Created now at this path (tell the user once).
    Created(PathBuf),
    /// In memory only (an in-memory database).
    Ephemeral,
}

/// The key for database `url`: the file `given` (`--secret-key-file`), else the default file
/// beside the SQLite database (created with a random key, 0600, when missing), else an
/// ephemeral key for an in-memory database. Errors: a given or found file that cannot be
/// read or is not a key; a database that is not an SQLite file with no file given.
pub fn load_key(url: &str, given: Option<&Path>) -> Result<(SecretKey, KeyOrigin)> {
    if let Some(path) = given {
        return Ok((SecretKey::read_file(path)?, KeyOrigin::Read));
    }
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("sqlite::memory:")
        || (lower.starts_with("sqlite:") && lower.contains("mode=memory"))
    {
        return Ok((SecretKey::ephemeral(), KeyOrigin::Ephemeral));
    }
    let Some(path) = default_key_path(url) else {
        return Err(StoreError::Secret(format!(
            "no secret key file for database {}: give one with --secret-key-file or \
             SERVERSYNC_SECRET_KEY_FILE (a key beside the database is only created for SQLite files)",
            crate::redact_url(url)
        )));
    };
    // The database file first: a missing directory or a read-only file system is then
    // reported for the database, not for its key.
    if let Some(db) = path.to_str().and_then(|p| p.strip_suffix(".key")) {
        crate::location::create_database_file(Path::new(db))?;
    }
    if path.exists() {
        return Ok((SecretKey::read_file(&path)?, KeyOrigin::Read));
    }
    let key = SecretKey::generate(path.display().to_string());
    if key.write_file(&path, false)? {
        Ok((key, KeyOrigin::Created(path)))
    } else {
        // Another process created it first: use that one.
        Ok((SecretKey::read_file(&path)?, KeyOrigin::Read))
    }
}

/// A new file only its owner can read and write (0600 on Unix), failing if it exists.
pub fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path)
}

fn temp_beside(path: &Path) -> PathBuf {
    let mut suffix = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut suffix);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".into());
    path.with_file_name(format!(".{name}.{}.tmp", encode_hex(&suffix)))
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_gives_the_secret_back_and_hides_it() {
        let k = SecretKey::ephemeral();
        let stored = k.seal(7, "password", "Pa55/w?rd@x").unwrap();
        assert!(stored.starts_with(&format!("v1:{}:", k.id())), "{stored}");
        assert!(!stored.contains("Pa55"));
        assert!(sealed_with(&stored, k.id()));
        assert_eq!(
            k.open(7, "web1", "password", &stored).unwrap(),
            "Pa55/w?rd@x"
        );
        // A fresh nonce each time.
        assert_ne!(stored, k.seal(7, "password", "Pa55/w?rd@x").unwrap());
        assert_eq!(k.seal(7, "password", "").unwrap(), "");
        assert_eq!(k.open(7, "web1", "password", "").unwrap(), "");
    }

    #[test]
    fn wrong_key_other_row_or_altered_value_is_refused_by_name() {
        let k = SecretKey::generate("/k/one.key");
        let stored = k.seal(7, "access_hash", "TOKEN").unwrap();
        let other = SecretKey::generate("/k/two.key");
        let e = other
            .open(7, "web1", "access_hash", &stored)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("secret of server web1 (access_hash) cannot be decrypted with the key in /k/two.key"),
            "{e}"
        );
        assert!(e.contains(k.id()) && e.contains(other.id()), "{e}");
        // Moved to another server or field: authentication fails.
        for (id, field) in [(8, "access_hash"), (7, "password")] {
            let e = k.open(id, "web1", field, &stored).unwrap_err().to_string();
            assert!(e.contains("authentication failed"), "{e}");
        }
        let mut altered = stored.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(k.open(7, "web1", "access_hash", &altered).is_err());
        let e = k
            .open(7, "web1", "access_hash", "TOKEN")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not in the v1 form"), "{e}");
    }

    #[test]
    fn debug_redacts_the_key() {
        let k = SecretKey::ephemeral();
        let d = format!("{k:?}");
        assert!(d.contains("[redacted]") && d.contains(k.id()), "{d}");
        assert!(!d.contains(&encode_hex(&k.bytes)), "{d}");
    }

    #[test]
    fn key_files_round_trip_are_private_and_not_clobbered() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db.key");
        let k = SecretKey::generate(p.display().to_string());
        assert!(k.write_file(&p, false).unwrap());
        let back = SecretKey::read_file(&p).unwrap();
        assert_eq!(back.id(), k.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // Not replacing: the first key stays.
        let k2 = SecretKey::ephemeral();
        assert!(!k2.write_file(&p, false).unwrap());
        assert_eq!(SecretKey::read_file(&p).unwrap().id(), k.id());
        // Replacing: the new one is there, no temporary file left.
        assert!(k2.write_file(&p, true).unwrap());
        assert_eq!(SecretKey::read_file(&p).unwrap().id(), k2.id());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        std::fs::write(&p, "not a key\n").unwrap();
        let e = SecretKey::read_file(&p).unwrap_err().to_string();
        assert!(
            e.contains("db.key") && e.contains("does not hold a key"),
            "{e}"
        );
    }

    #[test]
    fn default_key_path_is_beside_sqlite_files_only() {
        assert_eq!(
            default_key_path("sqlite://data/serversync.db"),
            Some(PathBuf::from("data/serversync.db.key"))
        );
        assert_eq!(
            default_key_path("sqlite:/tmp/x.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x.db.key"))
        );
        assert_eq!(default_key_path("sqlite::memory:"), None);
        assert_eq!(default_key_path("postgres://u:p@db/x"), None);
        let e = load_key("postgres://u:p@db/x", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--secret-key-file") && !e.contains("u:p"), "{e}");
    }
}
