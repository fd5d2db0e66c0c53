//! `multipart/form-data` bodies, as SDKs upload pprof and JFR: the named fields, whole.

use std::collections::HashMap;

use crate::Result;

use super::IngestError;

/// Reads every field of a `multipart/form-data` body into memory (the body is already bounded
/// by the request size limit).
pub fn fields(content_type: &str, body: &[u8]) -> Result<HashMap<String, Vec<u8>>> {
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| IngestError::MultipartContentType {
            reason: e.to_string(),
        })?;
    let chunk: std::result::Result<bytes::Bytes, std::convert::Infallible> =
        Ok(bytes::Bytes::copy_from_slice(body));
    let mut form = multer::Multipart::new(futures_util::stream::iter([chunk]), boundary);
    futures_executor::block_on(async {
        let mut out = HashMap::new();
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| IngestError::MultipartBody {
                reason: e.to_string(),
            })?
        {
            let name = field.name().unwrap_or("").to_string();
            let data = field
                .bytes()
                .await
                .map_err(|e| IngestError::MultipartField {
                    field: name.clone(),
                    reason: e.to_string(),
                })?;
            out.insert(name, data.to_vec());
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields() {
        let body = b"--XYZ\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\nContent-Type: application/octet-stream\r\n\r\n\x01\x02\r\n--XYZ\r\nContent-Disposition: form-data; name=\"sample_type_config\"\r\n\r\n{}\r\n--XYZ--\r\n";
        let f = fields("multipart/form-data; boundary=XYZ", body).unwrap();
        assert_eq!(f["profile"], b"\x01\x02");
        assert_eq!(f["sample_type_config"], b"{}");
        assert!(fields("multipart/form-data", body).is_err());
        assert!(fields("multipart/form-data; boundary=XYZ", b"garbage").is_err());
    }
}
