//! `secrets rotate-key`: every server secret re-encrypted under a new random key, and the key
//! file replaced, so that at every moment one file on disk opens the stored secrets.
//!
//! Order: the new key is written to `<key file>.new` (0600, synced); the store re-encrypts
//! in one transaction (audited as `secrets_rotate_key`); then `<key file>.new` is renamed over
//! the key file. A failed transaction removes `.new` and changes nothing; a crash after the
//! commit leaves the working key in `.new`, and the open error then names its key id.

use std::path::{Path, PathBuf};

use serversync_store::secrets::SecretKey;
use serversync_store::NewAuditEvent;

use crate::{App, AppError, Result};

/// What a key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedKey {
    /// Servers whose secrets were re-encrypted (those holding a password or access hash).
    pub servers: usize,
    /// Where the new key is kept.
    pub key_file: PathBuf,
    /// Key ids (16 hex digits) before and after.
    pub old_key_id: String,
    pub new_key_id: String,
}

impl App {
    /// Re-encrypts every server secret with a new random key kept in `key_file` (replaced
    /// atomically when it exists, created 0600 otherwise). `old_key_id` is the id of the key
    /// the store was opened with (for the report). Errors: the key file cannot be written
    /// (nothing changed), the store refuses (nothing changed), or the final rename fails
    /// (the message says where the working key is).
    pub async fn rotate_secret_key(&self, key_file: &Path, old_key_id: &str) -> Result<RotatedKey> {
        let staging = PathBuf::from(format!("{}.new", key_file.display()));
        let new_key = SecretKey::generate(key_file.display().to_string());
        new_key.write_file(&staging, true)?;
        let audit = |n: &usize| NewAuditEvent {
            actor: self.actor.clone(),
            action: "secrets_rotate_key".into(),
            note: Some(format!(
                "{n} servers re-encrypted; key {old_key_id} replaced by key {} in {}",
                new_key.id(),
                key_file.display()
            )),
            ..Default::default()
        };
        let servers = match self.store.rotate_secret_key(&new_key, &audit).await {
            Ok(n) => n,
            Err(e) => {
                let _ = std::fs::remove_file(&staging);
                return Err(e.into());
            }
        };
        std::fs::rename(&staging, key_file).map_err(|e| {
            AppError::Invalid(format!(
                "the server secrets are now encrypted with the key in {} (key {}), but it \
                 cannot be moved to {}: {e}; move it there by hand",
                staging.display(),
                new_key.id(),
                key_file.display()
            ))
        })?;
        Ok(RotatedKey {
            servers,
            key_file: key_file.to_path_buf(),
            old_key_id: old_key_id.to_string(),
            new_key_id: new_key.id().to_string(),
        })
    }
}
