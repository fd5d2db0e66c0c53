//! Authentication (issue #19 §2): optional credentials, each of one tenant, that decide the
//! tenant of a request and what it may do.
//!
//! A credential has a name, a secret stored as an argon2 hash (a PHC string,
//! `$argon2id$v=19$…`), and scopes: `write` (ingest), `read` (queries, settings, the UI's
//! data, the tenant's `/exported-metrics` and `/flamelet/status`) — both of one tenant —
//! `metrics` (the host's `/metrics`, any tenant's `/exported-metrics`, and the whole bucket's
//! `/flamelet/status`, for a Prometheus or an operator) and `compact`
//! (`/flamelet/compact`, for an outside scheduler). It is presented as HTTP basic (user = the
//! name: what agents' `basicAuthUser`/`basicAuthPassword` send) or as a bearer token
//! `NAME.SECRET` (agents' `authToken`). The name picks the one hash to check, so a request
//! costs one argon2 verification at most (the native host also remembers credentials it has
//! verified).
//!
//! With authentication on, the credential decides the tenant: an `X-Scope-OrgID` that names
//! another is refused (403), as is a credential without the scope the route needs; a missing
//! or wrong credential is a 401. `/ready` and the UI's pages and assets stay open (the UI asks
//! for a token for its data).

use std::collections::BTreeMap;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::tenant::Tenant;

/// Environment variable (component configuration) holding the `auth` section as JSON; unset
/// means authentication is off.
pub const AUTH_ENV: &str = "FLAMELET_AUTH";

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Query its tenant's data.
    Read,
    /// Ingest into its tenant.
    Write,
    /// Read the host's `/metrics` and any tenant's `/exported-metrics`.
    Metrics,
    /// Run compaction over HTTP.
    Compact,
}

impl Scope {
    /// The scope's name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Metrics => "metrics",
            Scope::Compact => "compact",
        }
    }

    /// Whether the scope acts within one tenant.
    fn of_tenant(self) -> bool {
        matches!(self, Scope::Read | Scope::Write)
    }
}

/// One credential as configured.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    /// Its name: the basic-auth user, the part of a bearer token before the first `.`.
    pub name: String,
    /// The argon2 hash of its secret (a PHC string).
    pub secret_hash: String,
    /// The tenant it reads or writes (required with `read` or `write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// The `auth` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// The credentials.
    #[serde(default)]
    pub credentials: Vec<CredentialSpec>,
}

/// A bad `auth` section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    /// Not the expected shape.
    #[error("auth: {message}")]
    Invalid {
        /// What the parser said.
        message: String,
    },
    /// A name that a bearer token or basic auth cannot carry.
    #[error(
        "auth: credential name `{name}` must be 1 to 64 letters, digits, `-` or `_` (it is the \
         basic-auth user and a bearer token's prefix)"
    )]
    BadName {
        /// The name.
        name: String,
    },
    /// Two credentials of one name.
    #[error("auth: two credentials are named `{name}`")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A hash that is not an argon2 PHC string.
    #[error("auth: credential `{name}`: secret_hash is not an argon2 PHC string ({reason})")]
    BadHash {
        /// The credential.
        name: String,
        /// What was wrong.
        reason: String,
    },
    /// No scopes.
    #[error("auth: credential `{name}` has no scopes (read, write, metrics, compact)")]
    NoScopes {
        /// The credential.
        name: String,
    },
    /// `read` or `write` without a tenant.
    #[error("auth: credential `{name}` has scope `{scope}` but no tenant")]
    NoTenant {
        /// The credential.
        name: String,
        /// The scope.
        scope: &'static str,
    },
    /// A tenant id that is not valid.
    #[error("auth: credential `{name}`: {reason}")]
    BadTenant {
        /// The credential.
        name: String,
        /// Why the id is refused.
        reason: String,
    },
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error(
        "authentication required: send `Authorization: Bearer NAME.SECRET` or HTTP basic \
         credentials"
    )]
    Missing,
    /// An `Authorization` header that cannot be read.
    #[error("unreadable Authorization header: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// An unknown name or a wrong secret (not told apart).
    #[error("invalid credentials for `{name}`")]
    Invalid {
        /// The name presented.
        name: String,
    },
    /// The credential lacks the scope the route needs.
    #[error("credential `{name}` may not {scope} (its scopes: {has})")]
    Scope {
        /// The credential.
        name: String,
        /// What the route needs.
        scope: &'static str,
        /// What it has, comma-separated.
        has: String,
    },
    /// `X-Scope-OrgID` names a tenant other than the credential's.
    #[error("credential `{name}` is for tenant `{tenant}`, not `{header}` (X-Scope-OrgID)")]
    OtherTenant {
        /// The credential.
        name: String,
        /// Its tenant.
        tenant: String,
        /// The header's.
        header: String,
    },
}

impl AuthError {
    /// 401 for a missing or wrong credential, 403 for one that may not do this.
    pub fn http_status(&self) -> u16 {
        match self {
            AuthError::Missing | AuthError::Malformed { .. } | AuthError::Invalid { .. } => 401,
            AuthError::Scope { .. } | AuthError::OtherTenant { .. } => 403,
        }
    }

    /// The reason it is counted under in `/metrics`.
    pub fn reject_reason(&self) -> &'static str {
        if self.http_status() == 401 {
            "unauthenticated"
        } else {
            "forbidden"
        }
    }

    /// The Connect error code of the same meaning.
    pub fn connect_code(&self) -> &'static str {
        if self.http_status() == 401 {
            "unauthenticated"
        } else {
            "permission_denied"
        }
    }
}

/// The challenge of a 401 (`WWW-Authenticate`). Bearer only: a `Basic` challenge would make
/// browsers show their own login dialog over the UI's; clients that use basic auth send it
/// without being asked.
pub const CHALLENGE: &str = "Bearer realm=\"flamelet\"";

/// The answer to a refused request: status, content type and body. A Connect method
/// (`/package.Service/Method`) gets Connect's JSON error, whose code its clients report;
/// anything else one line of text.
pub fn refusal(e: &AuthError, path: &str) -> (u16, &'static str, String) {
    let connect = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .is_some_and(|service| service.ends_with("Service"));
    if connect {
        let body = serde_json::json!({ "code": e.connect_code(), "message": e.to_string() });
        (e.http_status(), "application/json", body.to_string())
    } else {
        (
            e.http_status(),
            "text/plain; charset=utf-8",
            format!("{e}\n"),
        )
    }
}

/// A configured credential.
#[derive(Debug, Clone)]
struct Credential {
    hash: String,
    tenant: Option<Tenant>,
    scopes: Vec<Scope>,
}

/// The configured credentials.
#[derive(Debug, Clone)]
pub struct Auth {
    by_name: BTreeMap<String, Credential>,
}

/// Who a verified credential is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The credential's name.
    pub name: String,
    /// Its tenant, for `read` and `write`.
    pub tenant: Option<Tenant>,
    /// Its scopes.
    pub scopes: Vec<Scope>,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: `/ready`, the UI's pages and assets.
    Open,
    /// The scope, in the caller's tenant.
    Tenant(Scope),
    /// A tenant's `/exported-metrics` or `/flamelet/status`: its `read` credential, or any
    /// `metrics` one.
    Scrape,
    /// A scope that is not a tenant's: `metrics` (`/metrics`), `compact`.
    Operator(Scope),
}

impl Access {
    /// What the route `path`, served by `component` (as `spin.toml` routes it), needs.
    pub fn of(component: &str, path: &str) -> Access {
        match (component, path) {
            (_, "/ready") => Access::Open,
            (_, "/metrics") => Access::Operator(Scope::Metrics),
            (_, "/exported-metrics") => Access::Scrape,
            // The storage census: of the credential's tenant, or of any with `metrics`.
            (_, "/flamelet/status") => Access::Scrape,
            ("ingest", _) => Access::Tenant(Scope::Write),
            ("compact", _) => Access::Operator(Scope::Compact),
            // Every job's targets, whatever tenant they store for; a pass is an operator's.
            ("scrape", "/targets") => Access::Operator(Scope::Metrics),
            ("scrape", _) => Access::Operator(Scope::Compact),
            ("ui", _) => Access::Open,
            // The query component and anything routed later: reading is the least it needs.
            _ => Access::Tenant(Scope::Read),
        }
    }
}

/// The name and secret an `Authorization` header carries.
pub fn presented(authorization: &str) -> Result<(String, String), AuthError> {
    let malformed = |reason: &str| AuthError::Malformed {
        reason: reason.to_string(),
    };
    let (scheme, value) = authorization
        .trim()
        .split_once(' ')
        .ok_or_else(|| malformed("expected `Bearer TOKEN` or `Basic CREDENTIALS`"))?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        let (name, secret) = value
            .split_once('.')
            .ok_or_else(|| malformed("a bearer token is NAME.SECRET"))?;
        Ok((name.to_string(), secret.to_string()))
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| malformed("basic credentials are not base64"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| malformed("basic credentials are not UTF-8"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| malformed("basic credentials are USER:PASSWORD"))?;
        Ok((user.to_string(), password.to_string()))
    } else {
        let shown: String = scheme.chars().take(32).collect();
        Err(AuthError::Malformed {
            reason: format!("unsupported scheme `{shown}`: use Bearer or Basic"),
        })
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Auth {
    /// Checks a configured section.
    pub fn from_spec(spec: &AuthSpec) -> Result<Auth, AuthConfigError> {
        let mut by_name = BTreeMap::new();
        for c in &spec.credentials {
            let name = || c.name.clone();
            if !valid_name(&c.name) {
                return Err(AuthConfigError::BadName { name: name() });
            }
            PasswordHash::new(&c.secret_hash).map_err(|e| AuthConfigError::BadHash {
                name: name(),
                reason: e.to_string(),
            })?;
            if !c.secret_hash.starts_with("$argon2") {
                return Err(AuthConfigError::BadHash {
                    name: name(),
                    reason: "another algorithm".into(),
                });
            }
            if c.scopes.is_empty() {
                return Err(AuthConfigError::NoScopes { name: name() });
            }
            let tenant =
                match &c.tenant {
                    Some(t) => Some(Tenant::from_header(Some(t)).map_err(|e| {
                        AuthConfigError::BadTenant {
                            name: name(),
                            reason: e.to_string(),
                        }
                    })?),
                    None => None,
                };
            if let Some(scope) = c.scopes.iter().find(|s| s.of_tenant())
                && tenant.is_none()
            {
                return Err(AuthConfigError::NoTenant {
                    name: name(),
                    scope: scope.name(),
                });
            }
            let credential = Credential {
                hash: c.secret_hash.clone(),
                tenant,
                scopes: c.scopes.clone(),
            };
            if by_name.insert(c.name.clone(), credential).is_some() {
                return Err(AuthConfigError::DuplicateName { name: name() });
            }
        }
        Ok(Auth { by_name })
    }

    /// The section as JSON (the [`AUTH_ENV`] value), checked.
    pub fn from_json(json: &str) -> Result<Auth, AuthConfigError> {
        let spec: AuthSpec = serde_json::from_str(json).map_err(|e| AuthConfigError::Invalid {
            message: e.to_string(),
        })?;
        Auth::from_spec(&spec)
    }

    /// Authentication as configured by [`AUTH_ENV`]; `None` when it is off.
    pub fn from_config(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Auth>, AuthConfigError> {
        get(AUTH_ENV)
            .filter(|v| !v.trim().is_empty())
            .map(|v| Auth::from_json(&v))
            .transpose()
    }

    /// How many credentials there are.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there are none (every request but the open ones is then refused).
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The credential an `Authorization` header presents, its secret verified.
    pub fn identify(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let (name, secret) = presented(authorization.ok_or(AuthError::Missing)?)?;
        self.verify(&name, &secret)
    }

    /// The credential `name` if `secret` is its secret (one argon2 verification, compared
    /// in constant time by the crate).
    pub fn verify(&self, name: &str, secret: &str) -> Result<Principal, AuthError> {
        let invalid = || AuthError::Invalid {
            name: name.chars().take(64).collect(),
        };
        let credential = self.by_name.get(name).ok_or_else(invalid)?;
        let hash = PasswordHash::new(&credential.hash).map_err(|_| invalid())?;
        Argon2::default()
            .verify_password(secret.as_bytes(), &hash)
            .map_err(|_| invalid())?;
        Ok(Principal {
            name: name.to_string(),
            tenant: credential.tenant.clone(),
            scopes: credential.scopes.clone(),
        })
    }
}

impl Principal {
    fn refuse(&self, scope: Scope) -> AuthError {
        AuthError::Scope {
            name: self.name.clone(),
            scope: scope.name(),
            has: self
                .scopes
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Whether this credential may do what `access` needs; the tenant the request acts as
    /// when the credential decides it (`None`: the request's own tenant parameters stand, as
    /// for a `metrics` scrape of any tenant). `header` is the request's `X-Scope-OrgID`.
    pub fn authorize(
        &self,
        access: Access,
        header: Option<&str>,
    ) -> Result<Option<Tenant>, AuthError> {
        let scope = match access {
            Access::Open => return Ok(None),
            Access::Operator(scope) if self.scopes.contains(&scope) => return Ok(None),
            Access::Operator(scope) => return Err(self.refuse(scope)),
            Access::Scrape if self.scopes.contains(&Scope::Metrics) => return Ok(None),
            Access::Scrape => Scope::Read,
            Access::Tenant(scope) => scope,
        };
        let (true, Some(tenant)) = (self.scopes.contains(&scope), &self.tenant) else {
            return Err(self.refuse(scope));
        };
        match header.map(str::trim).filter(|h| !h.is_empty()) {
            Some(h) if h != tenant.as_str() => Err(AuthError::OtherTenant {
                name: self.name.clone(),
                tenant: tenant.as_str().to_string(),
                header: h.chars().take(64).collect(),
            }),
            _ => Ok(Some(tenant.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;
    use argon2::password_hash::SaltString;

    fn hash(secret: &str) -> String {
        let salt = SaltString::encode_b64(b"a test salt, 16+").unwrap();
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    fn auth() -> Auth {
        Auth::from_json(
            &serde_json::json!({"credentials": [
                {"name": "agents", "secret_hash": hash("s3cret"), "tenant": "team-a", "scopes": ["write"]},
                {"name": "grafana", "secret_hash": hash("look"), "tenant": "team-a", "scopes": ["read"]},
                {"name": "both", "secret_hash": hash("rw"), "tenant": "team-b", "scopes": ["read", "write"]},
                {"name": "prom", "secret_hash": hash("scrape"), "scopes": ["metrics"]},
            ]})
            .to_string(),
        )
        .unwrap()
    }

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn bearer_and_basic_present_the_same_credential() {
        let a = auth();
        let bearer = a.identify(Some("Bearer agents.s3cret")).unwrap();
        assert_eq!(
            bearer,
            a.identify(Some(&basic("agents", "s3cret"))).unwrap()
        );
        assert_eq!(bearer.tenant.unwrap().as_str(), "team-a");
        // The name ends at the first dot; the secret may hold more.
        assert_eq!(
            a.identify(Some("bearer agents.s3cret.x")),
            Err(AuthError::Invalid {
                name: "agents".into()
            })
        );
    }

    #[test]
    fn missing_malformed_and_wrong_credentials_are_401_and_say_why() {
        let a = auth();
        let cases = [
            (
                None,
                "authentication required: send `Authorization: Bearer NAME.SECRET` or HTTP basic credentials",
            ),
            (
                Some("Bearer agents"),
                "unreadable Authorization header: a bearer token is NAME.SECRET",
            ),
            (
                Some("Digest x=1"),
                "unreadable Authorization header: unsupported scheme `Digest`: use Bearer or Basic",
            ),
            (
                Some("Basic !!!"),
                "unreadable Authorization header: basic credentials are not base64",
            ),
            (
                Some("Bearer agents.wrong"),
                "invalid credentials for `agents`",
            ),
            (
                Some("Bearer nobody.s3cret"),
                "invalid credentials for `nobody`",
            ),
        ];
        for (header, message) in cases {
            let e = a.identify(header).unwrap_err();
            assert_eq!(e.to_string(), message);
            assert_eq!(e.http_status(), 401, "{header:?}");
            assert_eq!(e.reject_reason(), "unauthenticated");
        }
        let e = a.identify(Some(&basic("agents", "nope"))).unwrap_err();
        assert_eq!(e.to_string(), "invalid credentials for `agents`");
    }

    #[test]
    fn the_credential_decides_the_tenant_and_its_scopes_what_it_may_do() {
        let a = auth();
        let agents = a.identify(Some("Bearer agents.s3cret")).unwrap();
        let write = Access::of("ingest", "/ingest");
        let read = Access::of("query", "/pyroscope/render");
        assert_eq!(
            agents.authorize(write, None).unwrap().unwrap().as_str(),
            "team-a"
        );
        assert!(agents.authorize(write, Some("team-a")).is_ok());
        let e = agents.authorize(write, Some("team-b")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "credential `agents` is for tenant `team-a`, not `team-b` (X-Scope-OrgID)"
        );
        assert_eq!(e.http_status(), 403);
        let e = agents.authorize(read, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "credential `agents` may not read (its scopes: write)"
        );
        assert_eq!(
            (e.http_status(), e.connect_code()),
            (403, "permission_denied")
        );
        let grafana = a.identify(Some("Bearer grafana.look")).unwrap();
        assert!(grafana.authorize(write, None).is_err());
        assert!(grafana.authorize(read, None).is_ok());
        let both = a.identify(Some("Bearer both.rw")).unwrap();
        assert!(both.authorize(write, None).is_ok() && both.authorize(read, None).is_ok());
        // Operator routes and scrapes.
        let prom = a.identify(Some("Bearer prom.scrape")).unwrap();
        let metrics = Access::of("host", "/metrics");
        let scrape = Access::of("query", "/exported-metrics");
        assert_eq!(prom.authorize(metrics, None), Ok(None));
        assert_eq!(prom.authorize(scrape, Some("team-b")), Ok(None));
        assert!(prom.authorize(read, None).is_err());
        assert!(grafana.authorize(metrics, None).is_err());
        assert_eq!(
            grafana.authorize(scrape, None).unwrap().unwrap().as_str(),
            "team-a"
        );
        assert!(agents.authorize(scrape, None).is_err());
        // The storage census: the whole bucket's for `metrics`, a reader's own tenant's.
        let status = Access::of("query", "/flamelet/status");
        assert_eq!(prom.authorize(status, None), Ok(None));
        assert_eq!(
            grafana.authorize(status, None).unwrap().unwrap().as_str(),
            "team-a"
        );
        assert!(grafana.authorize(status, Some("team-b")).is_err());
        assert!(agents.authorize(status, None).is_err());
        assert!(
            prom.authorize(Access::of("compact", "/flamelet/compact"), None)
                .is_err()
        );
        // Pull mode: the targets' health for `metrics`, a pass for `compact` only.
        let targets = Access::of("scrape", "/targets");
        assert_eq!(prom.authorize(targets, None), Ok(None));
        assert!(grafana.authorize(targets, None).is_err());
        assert!(
            prom.authorize(Access::of("scrape", "/flamelet/scrape"), None)
                .is_err()
        );
        assert_eq!(Access::of("ui", "/assets/app.js"), Access::Open);
        let connect = refusal(
            &AuthError::Missing,
            "/querier.v1.QuerierService/SelectMergeStacktraces",
        );
        assert_eq!((connect.0, connect.1), (401, "application/json"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&connect.2).unwrap()["code"],
            "unauthenticated"
        );
        assert_eq!(refusal(&AuthError::Missing, "/ingest").2.lines().count(), 1);
        assert_eq!(Access::of("host", "/ready"), Access::Open);
    }

    #[test]
    fn a_bad_section_names_the_credential_and_what_is_wrong() {
        let cases = [
            (
                serde_json::json!({"credentials": [{"name": "a b", "secret_hash": hash("x"), "scopes": ["metrics"]}]}),
                "auth: credential name `a b` must be 1 to 64 letters, digits, `-` or `_` (it is the basic-auth user and a bearer token's prefix)",
            ),
            (
                serde_json::json!({"credentials": [{"name": "a", "secret_hash": "plain", "scopes": ["metrics"]}]}),
                "auth: credential `a`: secret_hash is not an argon2 PHC string (password hash string missing field)",
            ),
            (
                serde_json::json!({"credentials": [{"name": "a", "secret_hash": hash("x"), "scopes": ["read"]}]}),
                "auth: credential `a` has scope `read` but no tenant",
            ),
            (
                serde_json::json!({"credentials": [{"name": "a", "secret_hash": hash("x"), "scopes": []}]}),
                "auth: credential `a` has no scopes (read, write, metrics, compact)",
            ),
            (
                serde_json::json!({"credentials": [
                    {"name": "a", "secret_hash": hash("x"), "scopes": ["metrics"]},
                    {"name": "a", "secret_hash": hash("y"), "scopes": ["compact"]}]}),
                "auth: two credentials are named `a`",
            ),
        ];
        for (json, message) in cases {
            assert_eq!(
                Auth::from_json(&json.to_string()).unwrap_err().to_string(),
                message
            );
        }
        assert!(Auth::from_config(|_| None).unwrap().is_none());
    }
}
