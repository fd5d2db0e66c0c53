//! Request bodies: the size limits, and bounded gzip decompression, so that no upload or query
//! body (a gzip bomb, say) can make a function allocate more than a limit.

use std::borrow::Cow;
use std::io::Read;

use bytes::Bytes;

use super::WireError;

/// Largest request body accepted (raw bytes on the wire).
pub const MAX_BODY_BYTES: usize = 256 << 20;

/// Rejects a body over [`MAX_BODY_BYTES`] (413).
pub fn check_size(body: &[u8]) -> Result<(), WireError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WireError::BodyTooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(())
}

/// Tells whether bytes start with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decompresses gzip (possibly several members), stopping past `limit` bytes of output so
/// that a gzip bomb costs at most `limit` bytes: over it is a 413 naming `what`.
pub fn gunzip(gz: &[u8], limit: usize, what: &'static str) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(inflated_size_hint(gz, limit));
    flate2::read::MultiGzDecoder::new(gz)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| WireError::InvalidGzip {
            reason: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(WireError::Inflated { what, limit });
    }
    Ok(out)
}

/// The size a gzip stream says it inflates to (its last member's trailer, exact for the
/// usual single member), so that the output is allocated once instead of grown by copies.
/// Only a hint: capped by `limit` and by a ratio that real profiles stay well under, so that
/// a forged trailer cannot make a small body reserve much.
fn inflated_size_hint(gz: &[u8], limit: usize) -> usize {
    const MAX_RATIO: usize = 32;
    let trailer: Option<[u8; 4]> = gz
        .len()
        .checked_sub(4)
        .and_then(|at| gz.get(at..)?.try_into().ok());
    trailer.map_or(0, |t| {
        (u32::from_le_bytes(t) as usize)
            .min(limit.saturating_add(1))
            .min(gz.len().saturating_mul(MAX_RATIO))
    })
}

/// Decompresses a request body that is gzipped as a whole (`Content-Encoding: gzip`, or by
/// its magic bytes), bounded by [`MAX_BODY_BYTES`]; anything else is borrowed as is.
pub fn decode_request_body<'a>(
    content_encoding: Option<&str>,
    body: &'a [u8],
) -> Result<Cow<'a, [u8]>, WireError> {
    let gzipped =
        content_encoding.is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip")) || is_gzip(body);
    if gzipped {
        gunzip(body, MAX_BODY_BYTES, "decompressed request body").map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(body))
    }
}

/// Decompresses a gzip profile (sniffed by its magic bytes), bounded by `limit` bytes (the
/// tenant's `max_profile_size_bytes`); anything else is returned as is, if within it.
pub fn decode_body(body: &[u8], limit: usize) -> Result<Bytes, WireError> {
    const WHAT: &str = "decoded profile";
    if is_gzip(body) {
        return gunzip(body, limit, WHAT).map(Bytes::from);
    }
    if body.len() > limit {
        return Err(WireError::Inflated { what: WHAT, limit });
    }
    Ok(Bytes::copy_from_slice(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::gzip;

    const LIMIT: usize = 4 << 20;

    #[test]
    fn the_trailer_sizes_the_output_within_bounds() {
        let plain = crate::testing::corpus("pprof/heap");
        let gz = gzip(&plain);
        assert_eq!(inflated_size_hint(&gz, LIMIT), plain.len());
        assert_eq!(gunzip(&gz, LIMIT, "x").unwrap(), plain);
        // A forged trailer reserves at most 32 times the body, and never past the limit.
        let mut forged = gzip(b"a;b 1\n");
        let n = forged.len();
        forged[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(inflated_size_hint(&forged, LIMIT), 32 * n);
        assert_eq!(inflated_size_hint(&gz, 1000), 1001);
        assert_eq!(inflated_size_hint(b"\x1f\x8b", LIMIT), 0);
        assert!(
            gunzip(&forged, LIMIT, "x").is_err(),
            "flate2 checks the size"
        );
    }

    #[test]
    fn gzip_is_sniffed_and_bounded() {
        assert_eq!(
            &decode_body(&gzip(b"a;b 1\n"), LIMIT).unwrap()[..],
            b"a;b 1\n"
        );
        let bomb = gzip(&vec![b'a'; LIMIT + 10]);
        assert_eq!(
            decode_body(&bomb, LIMIT).unwrap_err(),
            WireError::Inflated {
                what: "decoded profile",
                limit: LIMIT
            }
        );
        assert_eq!(
            crate::Error::from(decode_body(&bomb, LIMIT).unwrap_err()).kind(),
            crate::ErrorKind::TooLarge
        );
        assert!(matches!(
            gunzip(b"\x1f\x8bnot gzip", 10, "x"),
            Err(WireError::InvalidGzip { .. })
        ));
        assert_eq!(
            decode_request_body(Some(" GZIP "), &gzip(b"{}")).unwrap(),
            &b"{}"[..]
        );
        assert!(matches!(
            decode_request_body(None, b"{}").unwrap(),
            Cow::Borrowed(_)
        ));
    }
}
