//! Tenants: who owns a series. Every storage key starts with the tenant's encoded ID, and no
//! query reads another tenant's prefix.
//!
//! The ID comes from the `X-Scope-OrgID` header (absent or empty: `anonymous`). It is validated
//! here before it can reach a key, as the reference server does (letters, digits and
//! `! - _ . * ' ( )`; not `.` or `..`; at most 150 bytes), and then encoded so that it is one
//! safe path segment on every object store.

use std::fmt;

/// The tenant used when a request names none.
pub const DEFAULT_TENANT: &str = "anonymous";

/// The longest tenant ID accepted, in bytes (the reference server's limit).
pub const MAX_TENANT_BYTES: usize = 150;

/// The characters a tenant ID may hold besides ASCII letters and digits (the reference's set).
pub const TENANT_PUNCTUATION: &str = "!-_.*'()";

/// Why a tenant ID was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// The ID is longer than [`MAX_TENANT_BYTES`].
    #[error("tenant id is {len} bytes long, more than {MAX_TENANT_BYTES}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The ID holds a character other than letters, digits and [`TENANT_PUNCTUATION`].
    #[error(
        "tenant id `{id}` contains `{character}`: only letters, digits and ! - _ . * ' ( ) are allowed"
    )]
    Character {
        /// The ID as given (control characters escaped).
        id: String,
        /// The first character not allowed (escaped).
        character: String,
    },
    /// The ID is `.` or `..`, which are not path segments of their own.
    #[error("tenant id `{id}` is not allowed")]
    Dots {
        /// The ID.
        id: String,
    },
    /// A scrape named two different tenants.
    #[error("X-Scope-OrgID `{header}` and tenant=`{param}` name different tenants")]
    Disagree {
        /// The header's tenant.
        header: String,
        /// The parameter's.
        param: String,
    },
}

/// A validated tenant ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

impl Tenant {
    /// Validates a tenant ID as sent in `X-Scope-OrgID`; `None` or empty means the default tenant.
    pub fn from_header(value: Option<&str>) -> Result<Self, TenantError> {
        let id = match value.map(str::trim) {
            None | Some("") => return Ok(Tenant(DEFAULT_TENANT.to_string())),
            Some(id) => id,
        };
        if id.len() > MAX_TENANT_BYTES {
            return Err(TenantError::TooLong { len: id.len() });
        }
        if let Some(c) = id
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && !TENANT_PUNCTUATION.contains(*c))
        {
            return Err(TenantError::Character {
                id: id.escape_default().to_string(),
                character: c.escape_default().to_string(),
            });
        }
        if id == "." || id == ".." {
            return Err(TenantError::Dots { id: id.to_string() });
        }
        Ok(Tenant(id.to_string()))
    }

    /// The tenant of a scrape (`/exported-metrics`): the header, or the `tenant` query
    /// parameter of scrapers that cannot send headers; when both name one they must agree.
    pub fn for_scrape(header: Option<&str>, param: Option<&str>) -> Result<Self, TenantError> {
        fn named(v: Option<&str>) -> Option<&str> {
            v.filter(|v| !v.trim().is_empty())
        }
        match (named(header), named(param)) {
            (Some(h), Some(p)) if h.trim() != p.trim() => Err(TenantError::Disagree {
                header: h.escape_default().to_string(),
                param: p.escape_default().to_string(),
            }),
            (Some(h), _) => Self::from_header(Some(h)),
            (None, p) => Self::from_header(p),
        }
    }

    /// Returns the ID as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the ID as one storage path segment: `[A-Za-z0-9_.-]` kept, anything else as
    /// `~XX` per UTF-8 byte. The mapping is one-to-one, so two tenants never share a prefix.
    pub fn key_segment(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for byte in self.0.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-') {
                out.push(byte as char);
            } else {
                out.push_str(&format!("~{byte:02X}"));
            }
        }
        out
    }

    /// Decodes a key segment written by [`Tenant::key_segment`].
    pub fn from_key_segment(segment: &str) -> Option<Self> {
        let bytes = segment.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'~' {
                let hex = segment.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).ok().map(Tenant)
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_valid() {
        assert_eq!(Tenant::from_header(None).unwrap().as_str(), "anonymous");
        assert_eq!(Tenant::from_header(Some("")).unwrap().as_str(), "anonymous");
        assert_eq!(
            Tenant::from_header(Some("team-a")).unwrap().as_str(),
            "team-a"
        );
    }

    #[test]
    fn a_scrape_names_its_tenant_by_header_or_parameter() {
        let t = |h, p| Tenant::for_scrape(h, p).map(|t| t.as_str().to_string());
        assert_eq!(t(None, None).unwrap(), "anonymous");
        assert_eq!(t(None, Some("team-b")).unwrap(), "team-b");
        assert_eq!(t(Some("team-b"), None).unwrap(), "team-b");
        assert_eq!(t(Some("team-b"), Some("team-b")).unwrap(), "team-b");
        let e = t(Some("team-a"), Some("team-b")).unwrap_err().to_string();
        assert_eq!(
            e,
            "X-Scope-OrgID `team-a` and tenant=`team-b` name different tenants"
        );
        assert!(t(None, Some("../x")).is_err());
    }

    #[test]
    fn rejects_escapes() {
        for bad in [
            "a/b",
            "..",
            ".",
            "a\nb",
            "x\u{7f}",
            "a\\b",
            "../x",
            "%2e%2e",
            "a\0b",
            "a b",
            "a|b",
            "a~b",
            "\u{ff0e}\u{ff0e}",
            "a\u{2215}b",
            "\u{202e}ab",
            "tеam", // Cyrillic е
        ] {
            assert!(Tenant::from_header(Some(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(
            Tenant::from_header(Some("a/b")).unwrap_err().to_string(),
            "tenant id `a/b` contains `/`: only letters, digits and ! - _ . * ' ( ) are allowed"
        );
        assert_eq!(
            Tenant::from_header(Some("..")).unwrap_err().to_string(),
            "tenant id `..` is not allowed"
        );
        for good in ["a..b", "Team_1", "x.y-z", "!*'()", "..."] {
            assert!(Tenant::from_header(Some(good)).is_ok(), "{good:?}");
        }
        assert!(Tenant::from_header(Some(&"x".repeat(151))).is_err());
        assert!(Tenant::from_header(Some(&"x".repeat(150))).is_ok());
    }

    #[test]
    fn key_segment_round_trips_and_is_injective() {
        for id in ["team-a", "a*()", "it's!", "A.b_c", "..."] {
            let t = Tenant::from_header(Some(id)).unwrap();
            let seg = t.key_segment();
            assert!(
                seg.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-~".contains(&b))
            );
            assert_eq!(Tenant::from_key_segment(&seg).unwrap(), t);
        }
        let a = Tenant::from_header(Some("a*")).unwrap().key_segment();
        let b = Tenant::from_header(Some("a-")).unwrap().key_segment();
        assert_ne!(a, b);
    }
}
