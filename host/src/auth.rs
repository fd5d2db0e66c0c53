//! The host's side of authentication: it checks each request's credential before a component
//! is instantiated (a refused request costs no instance), and hands the component the tenant
//! the credential decides in `X-Scope-OrgID`. The rules are the core's
//! ([`flamelet::auth`]); what is here is the cost of applying them at a server's rate.
//!
//! An argon2 verification costs tens of milliseconds of one core by design, so verified
//! credentials are remembered (by the SHA-256 of the `Authorization` value, for the server's
//! life: its credentials do not change while it runs), and verifications of credentials not
//! yet remembered run one at a time per core on the blocking pool: a flood of wrong ones
//! queues behind itself, while requests with known credentials pass at the cost of a hash.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use flamelet::auth::{Access, Auth, AuthError, Principal};
use flamelet::tenant::Tenant;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Most remembered credentials; past it the memory starts over (a deployment has a handful).
const REMEMBERED: usize = 4096;

/// Checks requests' credentials.
pub struct Gate {
    auth: Arc<Auth>,
    verified: Mutex<HashMap<[u8; 32], Principal>>,
    verifying: Semaphore,
}

impl Gate {
    /// A gate for the configured credentials.
    pub fn new(auth: Auth) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Gate {
            auth: Arc::new(auth),
            verified: Mutex::new(HashMap::new()),
            verifying: Semaphore::new(cores),
        }
    }

    /// Whether a request with these headers may have `access`: the tenant it acts as when
    /// the credential decides it.
    pub async fn check(
        &self,
        access: Access,
        authorization: Option<&str>,
        tenant_header: Option<&str>,
    ) -> Result<Option<Tenant>, AuthError> {
        if access == Access::Open {
            return Ok(None);
        }
        let principal = self
            .identify(authorization.ok_or(AuthError::Missing)?)
            .await?;
        principal.authorize(access, tenant_header)
    }

    async fn identify(&self, authorization: &str) -> Result<Principal, AuthError> {
        let key: [u8; 32] = Sha256::digest(authorization.as_bytes()).into();
        if let Some(p) = self.remembered().get(&key) {
            return Ok(p.clone());
        }
        let (name, secret) = flamelet::auth::presented(authorization)?;
        // The semaphore is never closed; without a permit the check still runs.
        let _permit = self.verifying.acquire().await.ok();
        let auth = self.auth.clone();
        let principal = tokio::task::spawn_blocking(move || auth.verify(&name, &secret))
            .await
            .map_err(|e| AuthError::Malformed {
                reason: format!("verification failed: {e}"),
            })??;
        let mut remembered = self.remembered();
        if remembered.len() >= REMEMBERED {
            remembered.clear();
        }
        remembered.insert(key, principal.clone());
        Ok(principal)
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Principal>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A new secret: 32 random bytes, base64url (no `.`, so a bearer token's name stays
/// unambiguous).
pub fn new_secret() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    use base64::Engine;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The argon2id hash of a secret (PHC string), with a random salt and the crate's default
/// parameters (OWASP's: 19 MiB, 2 passes).
pub fn hash_secret(secret: &str) -> anyhow::Result<String> {
    use argon2::PasswordHasher;
    use argon2::password_hash::{SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the secret: {e}"))
}
