//! The decode floor of issue #18, frozen: gunzip with miniz_oxide (the inflate flate2 used
//! when the issue was written; the project's own gunzip has moved on to zlib-rs) and a prost
//! decode into the generated structs (the project reads pprof with its own reader). It must
//! not speed up when the project's decoder does.

use prost::Message;

/// Decodes a pprof profile, gzipped or not, as the floor does.
pub fn decode(body: &[u8]) -> flamelet::wire::proto::google::v1::Profile {
    let plain = if flamelet::wire::body::is_gzip(body) {
        std::borrow::Cow::Owned(gunzip(body))
    } else {
        std::borrow::Cow::Borrowed(body)
    };
    flamelet::wire::proto::google::v1::Profile::decode(&plain[..]).expect("pprof")
}

/// A single-member gzip stream's content (RFC 1952: a header with optional fields, raw
/// deflate, an 8-byte trailer).
fn gunzip(gz: &[u8]) -> Vec<u8> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let flags = gz[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        at += 2 + usize::from(u16::from_le_bytes([gz[at], gz[at + 1]]));
    }
    for field in [FNAME, FCOMMENT] {
        if flags & field != 0 {
            at += gz[at..].iter().position(|b| *b == 0).expect("terminated") + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    miniz_oxide::inflate::decompress_to_vec(&gz[at..gz.len() - 8]).expect("deflate")
}
