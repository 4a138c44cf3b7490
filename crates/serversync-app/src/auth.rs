//! Administrators, sessions and API tokens: argon2 password hashes, random tokens of which
//! only the SHA-256 hash is stored.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use serversync_store::{AdminUser, ApiToken, NewAuditEvent, Role, Session, SetupOffer};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::{App, AppError, Result};

/// How long a browser session lives.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// What [`App::offer_setup`] found.
#[derive(Clone, PartialEq, Eq)]
pub enum SetupLink {
    /// A new setup token: the link to print is `/setup?token=<it>`.
    New(String),
    /// Another process offered a setup link first (at `since`); only that link works.
    Offered { since: OffsetDateTime },
    /// An administrator exists.
    NotNeeded,
}

impl std::fmt::Debug for SetupLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupLink::New(_) => f.write_str("New([redacted])"),
            SetupLink::Offered { since } => write!(f, "Offered {{ since: {since} }}"),
            SetupLink::NotNeeded => f.write_str("NotNeeded"),
        }
    }
}

/// A new random token: 32 bytes from the OS, hex (64 characters), with a prefix naming its use.
pub fn new_token(prefix: &str) -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let mut s = String::with_capacity(prefix.len() + 64);
    s.push_str(prefix);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// SHA-256 of a token, hex: what the store keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Argon2id PHC hash of a password.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Invalid(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches a PHC hash (false for a malformed hash).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// [`hash_password`] on the blocking pool: argon2 is deliberately slow CPU work (tens of
/// milliseconds) that must not hold an async worker.
pub async fn hash_password_off_worker(password: &str) -> Result<String> {
    let password = password.to_string();
    crate::blocking("hashing a password", move || hash_password(&password)).await?
}

/// [`verify_password`] on the blocking pool (see [`hash_password_off_worker`]).
pub async fn verify_password_off_worker(password: &str, phc: &str) -> Result<bool> {
    let (password, phc) = (password.to_string(), phc.to_string());
    crate::blocking("checking a password", move || {
        verify_password(&password, &phc)
    })
    .await
}

fn check_username(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(format!(
            "user name {name:?} must be 1–64 characters of letters, digits, '_', '-', '.', '@'"
        )))
    }
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AppError::Invalid(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

/// How long failed sign-ins are remembered after the last one: a run of failures older than
/// this no longer slows sign-ins down.
pub const SIGN_IN_MEMORY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl App {
    /// Creates an administrator. Errors: invalid name, short password, name taken.
    pub async fn add_user(&self, username: &str, password: &str, role: Role) -> Result<AdminUser> {
        check_username(username)?;
        check_password(password)?;
        let hash = hash_password_off_worker(password).await?;
        Ok(self
            .store
            .create_user(username, &hash, role, &|u| self.user_added(u))
            .await?)
    }

    /// The audit event of a new administrator.
    fn user_added(&self, user: &AdminUser) -> NewAuditEvent {
        NewAuditEvent {
            actor: self.actor.clone(),
            action: "user_add".into(),
            note: Some(format!("{} ({})", user.username, user.role.as_str())),
            ..Default::default()
        }
    }

    /// First-run setup: while no administrator exists, stores a new one-time setup token —
    /// unless another process stored one first, which then stays the only one (atomic in the
    /// store: of two `serve` processes on one empty database exactly one offers a link).
    pub async fn offer_setup(&self) -> Result<SetupLink> {
        let token = new_token("");
        Ok(
            match self.store.offer_setup_token(&token_hash(&token)).await? {
                SetupOffer::Created => SetupLink::New(token),
                SetupOffer::Exists { created_at } => SetupLink::Offered { since: created_at },
                SetupOffer::NotNeeded => SetupLink::NotNeeded,
            },
        )
    }

    /// Whether `token` is the setup token and no administrator exists yet.
    pub async fn setup_token_valid(&self, token: &str) -> Result<bool> {
        if token.is_empty() {
            return Ok(false);
        }
        Ok(self.store.setup_token_valid(&token_hash(token)).await?)
    }

    /// Creates the first administrator with the setup token: `Ok(None)` when the token is not
    /// (or no longer) valid; name and password rules as [`App::add_user`] (the token stays
    /// valid after such a refusal). The token is consumed in the transaction that inserts the
    /// user and its audit event, so exactly one first administrator can ever be created.
    pub async fn create_first_admin(
        &self,
        token: &str,
        username: &str,
        password: &str,
    ) -> Result<Option<AdminUser>> {
        check_username(username)?;
        check_password(password)?;
        if !self.setup_token_valid(token).await? {
            // Spares the password hash for a link that cannot work.
            return Ok(None);
        }
        let hash = hash_password_off_worker(password).await?;
        Ok(self
            .store
            .create_first_admin(&token_hash(token), username, &hash, &|u| self.user_added(u))
            .await?)
    }

    /// Whether any administrator exists (else the first-run setup link is offered).
    pub async fn has_users(&self) -> Result<bool> {
        Ok(!self.store.users().await?.is_empty())
    }

    /// Failed sign-ins in a row for a throttle key on every instance sharing the database
    /// (those within [`SIGN_IN_MEMORY`] of the last one).
    pub async fn sign_in_failures(&self, key: &str) -> Result<u32> {
        Ok(self.store.sign_in_failures(key, SIGN_IN_MEMORY).await?)
    }

    /// Counts a failed sign-in for a throttle key (for every instance); the new count.
    pub async fn record_sign_in_failure(&self, key: &str) -> Result<u32> {
        Ok(self
            .store
            .record_sign_in_failure(key, SIGN_IN_MEMORY)
            .await?)
    }

    /// A successful sign-in: the key's failures are forgotten on every instance.
    pub async fn clear_sign_in_failures(&self, key: &str) -> Result<()> {
        Ok(self.store.clear_sign_in_failures(key).await?)
    }

    /// Signs in: on success returns the new session token (for the cookie) and the session.
    /// A wrong name or password gives `None` (the same for both, and the same work is done).
    pub async fn login(&self, username: &str, password: &str) -> Result<Option<(String, Session)>> {
        let user = self.store.user_by_name(username).await?;
        let ok = match &user {
            Some(u) => verify_password_off_worker(password, &u.password_hash).await? && !u.disabled,
            None => {
                // Spend the same time as a real check so that names cannot be probed by timing.
                static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
                let dummy = DUMMY
                    .get_or_init(|| async {
                        hash_password_off_worker("not a password at all")
                            .await
                            .unwrap_or_default()
                    })
                    .await;
                let _ = verify_password_off_worker(password, dummy).await?;
                false
            }
        };
        let Some(user) = user.filter(|_| ok) else {
            return Ok(None);
        };
        let token = new_token("");
        let csrf = new_token("");
        let expires = OffsetDateTime::now_utc() + SESSION_LIFETIME;
        let hash = token_hash(&token);
        self.store
            .create_session(&hash, user.id, &csrf, expires)
            .await?;
        let session =
            self.store.session(&hash).await?.ok_or_else(|| {
                AppError::Invalid("the new session could not be read back".into())
            })?;
        Ok(Some((token, session)))
    }

    /// The live session of a cookie token.
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        Ok(self.store.session(&token_hash(token)).await?)
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str) -> Result<()> {
        Ok(self.store.delete_session(&token_hash(token)).await?)
    }

    /// Creates an API token; the token itself is returned once and never stored.
    pub async fn add_api_token(&self, name: &str, role: Role) -> Result<(String, ApiToken)> {
        if name.trim().is_empty() {
            return Err(AppError::Invalid("the token needs a name".into()));
        }
        let token = new_token("ssk_");
        let audit = |t: &ApiToken| NewAuditEvent {
            actor: self.actor.clone(),
            action: "token_add".into(),
            note: Some(format!("{} ({})", t.name, t.role.as_str())),
            ..Default::default()
        };
        let t = self
            .store
            .create_api_token(name.trim(), &token_hash(&token), role, &audit)
            .await?;
        Ok((token, t))
    }

    /// The API token a Bearer value belongs to.
    pub async fn api_token(&self, token: &str) -> Result<Option<ApiToken>> {
        Ok(self.store.api_token(&token_hash(token)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[tokio::test]
    async fn hashing_off_the_workers_round_trips_and_a_panic_is_internal() {
        let h = hash_password_off_worker("correct horse battery")
            .await
            .unwrap();
        assert!(verify_password_off_worker("correct horse battery", &h)
            .await
            .unwrap());
        assert!(!verify_password_off_worker("wrong", &h).await.unwrap());
        // The blocking pool's work runs on another thread than the async worker.
        let here = std::thread::current().id();
        let there = crate::blocking("t", || std::thread::current().id())
            .await
            .unwrap();
        assert_ne!(here, there);
        match crate::blocking("the test work", || -> u8 { panic!("boom") }).await {
            Err(AppError::Internal(m)) => {
                assert!(m.starts_with("the test work stopped unexpectedly"), "{m}")
            }
            other => panic!("expected an internal error, got {other:?}"),
        }
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token("ssk_");
        let b = new_token("ssk_");
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_username("admin").is_ok());
        assert!(check_username("a b").is_err());
        assert!(check_username("").is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("long enough!").is_ok());
    }
}
