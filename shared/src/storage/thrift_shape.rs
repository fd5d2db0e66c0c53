//! A check of the Thrift (compact protocol) structures Parquet stores, the footer and every
//! page header, run before the `parquet` crate parses them.
//!
//! Why: parquet 60.1 skips fields it does not know by walking them, and does not bound the
//! walk by its input: a page header's list that claims 161 million UUIDs is skipped 16 bytes
//! at a time past the end of the header without noticing (a 6 KB segment the fuzzer found
//! took 9 s), and a list of booleans is taken to hold no bytes at all (the compact protocol
//! gives each one a byte), so 7 bytes claiming 2³¹ of them cost 2³¹ steps. And it reads a
//! field it knows by the type the schema gives it, whatever type the bytes say, so a walk by
//! the bytes alone can fall out of step with it (the fuzzer found that too).
//!
//! So the check walks the bytes as the crate reads them: a field the crate knows (any field
//! of parquet-format's footer and page-header structs, [`FILE_METADATA`], [`PAGE_HEADER`]) must
//! have the schema's type, and then both read it the same way; a field it does not know is
//! walked by the type the bytes give. A struct that passes fits in its bytes, claims no more
//! elements than there are bytes left, and holds no maps and no lists or sets of booleans
//! (those structs have none), so the crate's work on it is bounded by its length.

/// How deep structs and collections may nest (the crate's own skip limit).
const MAX_DEPTH: usize = 64;

/// Why bytes are not a Thrift struct of the shape Parquet stores.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The struct runs past the bytes.
    #[error("Thrift struct runs past its {len} bytes")]
    Truncated {
        /// How many bytes there were.
        len: usize,
    },
    /// A field, element or key has a type Parquet's structures never hold there.
    #[error("Thrift type {code} at byte {at} is not one Parquet stores there")]
    Type {
        /// The type's code.
        code: u8,
        /// Its offset.
        at: usize,
    },
    /// A field id out of range.
    #[error("Thrift field id at byte {at} is out of range")]
    FieldId {
        /// Its offset.
        at: usize,
    },
    /// A collection claims more elements than there are bytes left.
    #[error("Thrift list at byte {at} claims {count} elements with {left} bytes left")]
    Count {
        /// The list header's offset.
        at: usize,
        /// The elements it claims.
        count: u64,
        /// Bytes after its header.
        left: usize,
    },
    /// A page claims more bytes than Snappy (the only codec segments are read with) expands
    /// its compressed bytes to; the crate would allocate and zero them all.
    #[error(
        "page claims {uncompressed} bytes uncompressed from {compressed}, more than Snappy expands to"
    )]
    PageSize {
        /// Its `uncompressed_page_size`.
        uncompressed: i64,
        /// Its `compressed_page_size`.
        compressed: i64,
    },
    /// Structs or collections nest deeper than [`MAX_DEPTH`].
    #[error("Thrift structs nest deeper than {MAX_DEPTH} at byte {at}")]
    Depth {
        /// Where.
        at: usize,
    },
}

/// A field's type as far as reading it goes: the integer widths all read a varint.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// A boolean (its value in the field header).
    Bool,
    /// One byte.
    Byte,
    /// An i16, i32 or i64 (or an enum).
    Varint,
    /// Eight bytes.
    Double,
    /// A length and bytes.
    Binary,
    /// A struct or union with these known fields.
    Struct(Schema),
    /// A list of elements of this type.
    List(&'static Ty),
}

/// A struct's known fields: (id, type).
pub type Schema = &'static [(i16, Ty)];

use Ty::{Binary, Bool, Byte, Double, List, Struct, Varint};

const EMPTY: Schema = &[];
const STATISTICS: Schema = &[
    (1, Binary),
    (2, Binary),
    (3, Varint),
    (4, Varint),
    (5, Binary),
    (6, Binary),
    (7, Bool),
    (8, Bool),
];
/// parquet-format's `PageHeader`.
pub const PAGE_HEADER: Schema = &[
    (1, Varint),
    (2, Varint),
    (3, Varint),
    (4, Varint),
    (
        5,
        Struct(&[
            (1, Varint),
            (2, Varint),
            (3, Varint),
            (4, Varint),
            (5, Struct(STATISTICS)),
        ]),
    ),
    (6, Struct(EMPTY)),
    (7, Struct(&[(1, Varint), (2, Varint), (3, Bool)])),
    (
        8,
        Struct(&[
            (1, Varint),
            (2, Varint),
            (3, Varint),
            (4, Varint),
            (5, Varint),
            (6, Varint),
            (7, Bool),
            (8, Struct(STATISTICS)),
        ]),
    ),
];
const TIME_UNIT: Schema = &[(1, Struct(EMPTY)), (2, Struct(EMPTY)), (3, Struct(EMPTY))];
const TIME: Schema = &[(1, Bool), (2, Struct(TIME_UNIT))];
const LOGICAL_TYPE: Schema = &[
    (1, Struct(EMPTY)),
    (2, Struct(EMPTY)),
    (3, Struct(EMPTY)),
    (4, Struct(EMPTY)),
    (5, Struct(&[(1, Varint), (2, Varint)])),
    (6, Struct(EMPTY)),
    (7, Struct(TIME)),
    (8, Struct(TIME)),
    (10, Struct(&[(1, Byte), (2, Bool)])),
    (11, Struct(EMPTY)),
    (12, Struct(EMPTY)),
    (13, Struct(EMPTY)),
    (14, Struct(EMPTY)),
    (15, Struct(EMPTY)),
    (16, Struct(&[(1, Byte)])),
    (17, Struct(&[(1, Binary)])),
    (18, Struct(&[(1, Binary), (2, Varint)])),
];
const SCHEMA_ELEMENT: Schema = &[
    (1, Varint),
    (2, Varint),
    (3, Varint),
    (4, Binary),
    (5, Varint),
    (6, Varint),
    (7, Varint),
    (8, Varint),
    (9, Varint),
    (10, Struct(LOGICAL_TYPE)),
];
const KEY_VALUE: Schema = &[(1, Binary), (2, Binary)];
const COLUMN_METADATA: Schema = &[
    (1, Varint),
    (2, List(&Varint)),
    (3, List(&Binary)),
    (4, Varint),
    (5, Varint),
    (6, Varint),
    (7, Varint),
    (8, List(&Struct(KEY_VALUE))),
    (9, Varint),
    (10, Varint),
    (11, Varint),
    (12, Struct(STATISTICS)),
    (13, List(&Struct(&[(1, Varint), (2, Varint), (3, Varint)]))),
    (14, Varint),
    (15, Varint),
    (
        16,
        Struct(&[(1, Varint), (2, List(&Varint)), (3, List(&Varint))]),
    ),
    (
        17,
        Struct(&[
            (
                1,
                Struct(&[
                    (1, Double),
                    (2, Double),
                    (3, Double),
                    (4, Double),
                    (5, Double),
                    (6, Double),
                    (7, Double),
                    (8, Double),
                ]),
            ),
            (2, List(&Varint)),
        ]),
    ),
];
const COLUMN_CHUNK: Schema = &[
    (1, Binary),
    (2, Varint),
    (3, Struct(COLUMN_METADATA)),
    (4, Varint),
    (5, Varint),
    (6, Varint),
    (7, Varint),
    (
        8,
        Struct(&[
            (1, Struct(EMPTY)),
            (2, Struct(&[(1, List(&Binary)), (2, Binary)])),
        ]),
    ),
    (9, Binary),
];
const ROW_GROUP: Schema = &[
    (1, List(&Struct(COLUMN_CHUNK))),
    (2, Varint),
    (3, Varint),
    (4, List(&Struct(&[(1, Varint), (2, Bool), (3, Bool)]))),
    (5, Varint),
    (6, Varint),
    (7, Varint),
];
const AES: Schema = &[(1, Binary), (2, Binary), (3, Bool)];
/// parquet-format's `FileMetaData`, the footer.
pub const FILE_METADATA: Schema = &[
    (1, Varint),
    (2, List(&Struct(SCHEMA_ELEMENT))),
    (3, Varint),
    (4, List(&Struct(ROW_GROUP))),
    (5, List(&Struct(KEY_VALUE))),
    (6, Binary),
    (7, List(&Struct(&[(1, Struct(EMPTY))]))),
    (8, Struct(&[(1, Struct(AES)), (2, Struct(AES))])),
    (9, Binary),
];

/// Checks that `bytes` start with one Thrift compact-protocol struct of the shape described
/// above, `schema` giving its known fields; gives its length.
pub fn check_struct(bytes: &[u8], schema: Schema) -> Result<usize, ShapeError> {
    let mut walk = Walk::new(bytes, None);
    walk.structure(schema, 0)?;
    Ok(walk.at)
}

/// A footer that passed [`check_footer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// Its length.
    pub len: usize,
    /// Where its schema (`FileMetaData` field 2, the list of schema elements) lies.
    pub schema: Option<std::ops::Range<usize>>,
    /// Whether the schema's bytes are the `known_schema` given.
    pub schema_known: bool,
}

/// [`check_struct`] for a file footer ([`FILE_METADATA`]), which also says where its schema
/// lies. A schema whose bytes are `known_schema` (bytes that passed this check before) is
/// not walked again: a list's bytes say where it ends, so the same bytes are the same list.
/// Segments of one layout share theirs, and a query opens thousands of them.
pub fn check_footer(bytes: &[u8], known_schema: Option<&[u8]>) -> Result<Footer, ShapeError> {
    let mut walk = Walk::new(bytes, Some(known_schema.unwrap_or_default()));
    walk.structure(FILE_METADATA, 0)?;
    // Twice (the crate reads the first, skips the second): as if no schema were known.
    let once = walk.schemas == 1;
    Ok(Footer {
        len: walk.at,
        schema: walk.schema.clone().filter(|_| once),
        schema_known: walk.schema_known && once,
    })
}

/// How far Snappy can expand: its densest element is a 3-byte copy of 64 bytes (21⅓×), so
/// this bound, with room for a page's small uncompressed prefix, never refuses a real page.
const SNAPPY_EXPANSION: i64 = 32;
const SNAPPY_SLACK: i64 = 1024;

/// [`check_struct`] for a page header, which must also not claim more uncompressed bytes than
/// its compressed bytes can be (else a few bytes make the crate zero gigabytes per page).
pub fn check_page_header(bytes: &[u8]) -> Result<usize, ShapeError> {
    let mut walk = Walk::new(bytes, None);
    walk.structure(PAGE_HEADER, 0)?;
    // Both are i32s, which the crate reads by truncating the varint, as here.
    let field = |id| {
        walk.top
            .iter()
            .rev()
            .find(|(f, _)| *f == id)
            .map_or(0, |(_, v)| i64::from(*v as i32))
    };
    let (uncompressed, compressed) = (field(2), field(3));
    if uncompressed > compressed.max(0).saturating_mul(SNAPPY_EXPANSION) + SNAPPY_SLACK {
        return Err(ShapeError::PageSize {
            uncompressed,
            compressed,
        });
    }
    Ok(walk.at)
}

struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The outermost struct's integer fields: (id, value).
    top: Vec<(i16, i64)>,
    /// For a footer (`Some`): schema bytes known to pass (empty: none known).
    known_schema: Option<&'a [u8]>,
    /// For a footer: where field 2 (the schema) lies, whether it was `known_schema`, and
    /// how many times it came.
    schema: Option<std::ops::Range<usize>>,
    schema_known: bool,
    schemas: usize,
}

// Compact-protocol type codes.
const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const STRUCT: u8 = 12;
const UUID: u8 = 13;

impl Ty {
    /// Whether a value the bytes say is of type `code` is read as this type would be.
    fn admits(&self, code: u8) -> bool {
        match self {
            Bool => matches!(code, BOOL_TRUE | BOOL_FALSE),
            Byte => code == BYTE,
            Varint => matches!(code, I16 | I32 | I64),
            Double => code == DOUBLE,
            Binary => code == BINARY,
            Struct(_) => code == STRUCT,
            List(_) => matches!(code, LIST | SET),
        }
    }
}

/// A struct's known field `id`: schemas list their fields by id, mostly 1, 2, 3, … without
/// gaps, so the field is usually at `id - 1` (the walk looks each field up).
fn known_field(schema: Schema, id: i16) -> Option<&'static Ty> {
    let at = usize::try_from(id).ok()?.checked_sub(1)?;
    match schema.get(at) {
        Some((known, ty)) if *known == id => Some(ty),
        _ => schema
            .iter()
            .find(|(known, _)| *known == id)
            .map(|(_, ty)| ty),
    }
}

impl<'a> Walk<'a> {
    fn new(bytes: &'a [u8], known_schema: Option<&'a [u8]>) -> Self {
        Walk {
            bytes,
            at: 0,
            top: Vec::new(),
            known_schema,
            schema: None,
            schema_known: false,
            schemas: 0,
        }
    }

    fn truncated(&self) -> ShapeError {
        ShapeError::Truncated {
            len: self.bytes.len(),
        }
    }

    #[inline]
    fn byte(&mut self) -> Result<u8, ShapeError> {
        let b = *self.bytes.get(self.at).ok_or_else(|| self.truncated())?;
        self.at += 1;
        Ok(b)
    }

    #[inline]
    fn skip(&mut self, n: u64) -> Result<(), ShapeError> {
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(self.truncated());
        }
        self.at += n as usize;
        Ok(())
    }

    /// An unsigned LEB128 varint of at most 10 bytes.
    #[inline]
    fn varint(&mut self) -> Result<u64, ShapeError> {
        // Most are one byte: field values, lengths and counts under 128.
        if let Some(&b) = self.bytes.get(self.at)
            && b < 0x80
        {
            self.at += 1;
            return Ok(u64::from(b));
        }
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).wrapping_shl(shift);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ShapeError::Type {
            code: 0x80,
            at: self.at - 1,
        })
    }

    /// A signed (zigzag) varint.
    fn zigzag(&mut self) -> Result<i64, ShapeError> {
        let zigzag = self.varint()?;
        Ok((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64))
    }

    fn structure(&mut self, schema: Schema, depth: usize) -> Result<(), ShapeError> {
        if depth >= MAX_DEPTH {
            return Err(ShapeError::Depth { at: self.at });
        }
        let mut last_id = 0i16;
        loop {
            let at = self.at;
            let header = self.byte()?;
            let code = header & 0x0f;
            if code == 0 {
                return Ok(()); // the crate takes any type-0 header for the end
            }
            let id = match header >> 4 {
                0 => {
                    let id = self.zigzag()?;
                    i16::try_from(id).map_err(|_| ShapeError::FieldId { at })?
                }
                delta => last_id
                    .checked_add(i16::from(delta))
                    .ok_or(ShapeError::FieldId { at })?,
            };
            last_id = id;
            match known_field(schema, id) {
                Some(ty) if !ty.admits(code) => return Err(ShapeError::Type { code, at }),
                Some(Bool) | None if matches!(code, BOOL_TRUE | BOOL_FALSE) => {}
                Some(Varint) if depth == 0 => {
                    let value = self.zigzag()?;
                    self.top.push((id, value));
                }
                // The common scalars here rather than through `typed` and `value`.
                Some(Varint) => {
                    self.varint()?;
                }
                Some(Binary) => {
                    let len = self.varint()?;
                    self.skip(len)?;
                }
                Some(ty @ List(_)) if depth == 0 && id == 2 && self.known_schema.is_some() => {
                    let start = self.at;
                    let known = self.known_schema.unwrap_or_default();
                    self.schema_known = !known.is_empty() && self.bytes[start..].starts_with(known);
                    if self.schema_known {
                        self.at += known.len();
                    } else {
                        self.typed(ty, at, depth + 1)?;
                    }
                    self.schema = Some(start..self.at);
                    self.schemas += 1;
                }
                Some(ty) => self.typed(ty, at, depth + 1)?,
                None => self.value(code, at, depth + 1)?,
            }
        }
    }

    /// A value of a known type (what the bytes say agrees with it).
    fn typed(&mut self, ty: &Ty, at: usize, depth: usize) -> Result<(), ShapeError> {
        match ty {
            Struct(schema) => self.structure(schema, depth),
            List(element) => self.list(Some(element), depth),
            Bool => Err(ShapeError::Type {
                code: BOOL_TRUE,
                at,
            }), // no lists of booleans
            Byte => self.value(BYTE, at, depth),
            Varint => self.value(I64, at, depth),
            Double => self.value(DOUBLE, at, depth),
            Binary => self.value(BINARY, at, depth),
        }
    }

    /// One value of type `code` as the bytes give it (not a boolean), read at `at`.
    fn value(&mut self, code: u8, at: usize, depth: usize) -> Result<(), ShapeError> {
        match code {
            BYTE => self.skip(1),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.skip(8),
            BINARY => {
                let len = self.varint()?;
                self.skip(len)
            }
            LIST | SET => self.list(None, depth),
            STRUCT => self.structure(EMPTY, depth),
            UUID => self.skip(16),
            code => Err(ShapeError::Type { code, at }),
        }
    }

    /// A list or set, of `element`s if its type is known.
    fn list(&mut self, element: Option<&Ty>, depth: usize) -> Result<(), ShapeError> {
        if depth >= MAX_DEPTH {
            return Err(ShapeError::Depth { at: self.at });
        }
        let at = self.at;
        let header = self.byte()?;
        if header == 0 {
            return Ok(()); // some writers give an empty list no element type
        }
        let count = match header >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        let code = header & 0x0f;
        let admitted = element.is_none_or(|e| e.admits(code));
        if !admitted || matches!(code, BOOL_TRUE | BOOL_FALSE) {
            return Err(ShapeError::Type { code, at });
        }
        let left = self.bytes.len() - self.at;
        if count > left as u64 {
            return Err(ShapeError::Count { at, count, left });
        }
        for _ in 0..count {
            match element {
                Some(ty) => self.typed(ty, at, depth + 1)?,
                None => self.value(code, at, depth + 1)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_footer_gives_its_schema_and_skips_it_only_where_its_bytes_are_the_known_ones() {
        // Version 1, then field 2: a list of one schema element named "x", stop.
        let footer = [0x15, 0x02, 0x19, 0x1c, 0x48, 0x01, b'x', 0x00, 0x00];
        let walked = check_footer(&footer, None).unwrap();
        assert_eq!(
            walked,
            Footer {
                len: 9,
                schema: Some(3..8),
                schema_known: false
            }
        );
        let known = check_footer(&footer, Some(&footer[3..8])).unwrap();
        assert_eq!((known.len, known.schema_known), (9, true));
        let other = [0x1c, 0x48, 0x01, b'y', 0x00];
        assert_eq!(check_footer(&footer, Some(&other)).unwrap(), walked);
        // A known prefix does not excuse what follows it: a second element of another type.
        let longer = [0x15, 0x02, 0x19, 0x2c, 0x48, 0x01, b'x', 0x00, 0x48, 0x00];
        assert!(check_footer(&longer, Some(&footer[3..8])).is_err());
        // The schema twice (the crate would read the first): no schema is reported.
        let twice = [
            0x15, 0x02, 0x19, 0x1c, 0x48, 0x01, b'x', 0x00, 0x09, 0x04, 0x1c, 0x48, 0x01, b'x',
            0x00, 0x00,
        ];
        let footer = check_footer(&twice, Some(&twice[3..8])).unwrap();
        assert_eq!((footer.schema, footer.schema_known), (None, false));
    }

    // What the writer makes passes: every segment test and format fixture reads through
    // this check (ObjectChunks::get_read, SegmentReader::open).

    #[test]
    fn rejects_what_would_make_the_crate_loop_or_allocate() {
        // Field 1, a list of 2³¹−1 booleans: 7 bytes.
        let bools = [0x19, 0xf1, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
        assert_eq!(
            check_struct(&bools, EMPTY),
            Err(ShapeError::Type { code: 1, at: 1 })
        );
        // Field 1, a list of 2³¹−1 i32s.
        let ints = [0x19, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
        assert_eq!(
            check_struct(&ints, EMPTY),
            Err(ShapeError::Count {
                at: 1,
                count: (1 << 31) - 1,
                left: 1
            })
        );
        // Field 1, a map.
        assert_eq!(
            check_struct(&[0x1b, 0x00, 0x00], EMPTY),
            Err(ShapeError::Type { code: 11, at: 0 })
        );
        // Field 1, a binary of 2⁴⁰ bytes.
        assert_eq!(
            check_struct(&[0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x00], EMPTY),
            Err(ShapeError::Truncated { len: 8 })
        );
        // Structs nested 100 deep.
        let mut deep = vec![0x1c; 100];
        deep.extend([0; 101]);
        assert!(matches!(
            check_struct(&deep, EMPTY),
            Err(ShapeError::Depth { .. })
        ));
        // An unterminated struct.
        assert_eq!(
            check_struct(&[0x15, 0x02], EMPTY),
            Err(ShapeError::Truncated { len: 2 })
        );
        // A page header whose field 1 (the page type, an i32) says it is a list: the crate
        // would read a varint where the bytes hold a list header, and fall out of step.
        assert_eq!(
            check_struct(&[0x19, 0x15, 0x02, 0x00], PAGE_HEADER),
            Err(ShapeError::Type { code: 9, at: 0 })
        );
        // Any header with type 0 ends a struct, as the crate reads it.
        assert_eq!(check_struct(&[0x15, 0x02, 0x50], PAGE_HEADER), Ok(3));
        // A page of 10 bytes claiming 2 GB once uncompressed; and one Snappy could give.
        let page = |uncompressed: u8, compressed: u8| {
            // type 0, uncompressed and compressed sizes as zigzag varints, stop.
            vec![0x15, 0x00, 0x15, uncompressed, 0x15, compressed, 0x00]
        };
        let mut huge = vec![
            0x15, 0x00, 0x15, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x15, 0x14, 0x00,
        ];
        assert_eq!(
            check_page_header(&huge),
            Err(ShapeError::PageSize {
                uncompressed: i32::MAX as i64,
                compressed: 10
            })
        );
        huge[9] = 0x7f; // compressed: −64
        assert!(check_page_header(&huge).is_err());
        // 2³³ + 2³⁰ uncompressed, which the crate reads as an i32: 2³⁰.
        let wrapped = [
            0x15, 0x00, 0x15, 0x80, 0x80, 0x80, 0x80, 0x48, 0x15, 0x14, 0x00,
        ];
        assert_eq!(
            check_page_header(&wrapped),
            Err(ShapeError::PageSize {
                uncompressed: 1 << 30,
                compressed: 10
            })
        );
        assert_eq!(check_page_header(&page(0x7e, 0x02)), Ok(7));
        // A struct whose field ids skip one: field 10 of a logical type is found by id.
        assert_eq!(
            check_struct(&[0x1c, 0x00, 0x9c, 0x21, 0x00, 0x00], LOGICAL_TYPE),
            Ok(6)
        );
        assert_eq!(
            check_struct(&[0x1c, 0x00, 0x9c, 0x18, 0x00, 0x00], LOGICAL_TYPE),
            Err(ShapeError::Type { code: 8, at: 3 })
        );
        // A well-formed one: i32 field 1 = 1, binary field 2 = "ab", empty list, stop.
        assert_eq!(
            check_struct(
                &[0x15, 0x02, 0x18, 0x02, b'a', b'b', 0x19, 0x00, 0x00, 0xff],
                EMPTY
            ),
            Ok(9)
        );
    }
}
