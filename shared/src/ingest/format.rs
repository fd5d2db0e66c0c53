//! Which format an `/ingest` upload is in, decided once from its `format` parameter and its
//! content type (the reference server's rules): `format=trie`, `tree`, `lines`, `jfr`,
//! `pprof`, `speedscope`; else any `multipart/form-data` is pprof; else folded.

use super::IngestError;

/// The format of an `/ingest` upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `stack;frames value` lines (the default).
    Folded,
    /// One stack per line, each counting 1.
    Lines,
    /// The legacy trie encoding.
    Trie,
    /// The legacy tree encoding.
    Tree,
    /// A speedscope JSON file.
    Speedscope,
    /// pprof, as the raw body or a multipart form's `profile` field.
    Pprof {
        /// Sent as a multipart form.
        multipart: bool,
    },
    /// A JFR recording, as the raw body or a multipart form's `jfr` field.
    Jfr {
        /// Sent as a multipart form.
        multipart: bool,
    },
}

impl Format {
    /// Decides the format of an upload; a text format sent as a multipart form is a 415.
    pub fn of(format: Option<&str>, content_type: Option<&str>) -> Result<Self, IngestError> {
        let multipart = content_type.is_some_and(|c| {
            c.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
        let format = format.unwrap_or("");
        let text = match format {
            "" | "folded" => Format::Folded,
            "lines" => Format::Lines,
            "trie" => Format::Trie,
            "tree" => Format::Tree,
            "speedscope" => Format::Speedscope,
            "pprof" => return Ok(Format::Pprof { multipart }),
            "jfr" => return Ok(Format::Jfr { multipart }),
            other => {
                return Err(IngestError::UnknownFormat {
                    format: other.to_string(),
                });
            }
        };
        match multipart {
            false => Ok(text),
            true if format.is_empty() => Ok(Format::Pprof { multipart }),
            true => Err(IngestError::MultipartFormat {
                format: format.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_parameter_and_content_type() {
        let form = Some("multipart/form-data; boundary=x");
        assert_eq!(Format::of(None, None), Ok(Format::Folded));
        assert_eq!(Format::of(Some("lines"), None), Ok(Format::Lines));
        assert_eq!(
            Format::of(None, form),
            Ok(Format::Pprof { multipart: true })
        );
        assert_eq!(
            Format::of(Some("jfr"), form),
            Ok(Format::Jfr { multipart: true })
        );
        assert_eq!(
            Format::of(Some("pprof"), Some("application/octet-stream")),
            Ok(Format::Pprof { multipart: false })
        );
        assert_eq!(
            Format::of(Some("tree"), form),
            Err(IngestError::MultipartFormat {
                format: "tree".into()
            })
        );
        assert_eq!(
            Format::of(Some("csv"), None),
            Err(IngestError::UnknownFormat {
                format: "csv".into()
            })
        );
    }
}
