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
    let mut out = Vec::new();
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
    use std::io::Write;

    const LIMIT: usize = 4 << 20;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
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
