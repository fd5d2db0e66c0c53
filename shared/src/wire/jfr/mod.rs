//! Java Flight Recorder recordings: a bounded, panic-free reader of chunks, their type
//! metadata, constant pools and events.
//!
//! Every count and length read from the file is checked against the bytes left before
//! anything is allocated, nesting is capped, and each event is read within its own declared
//! size, so a corrupt recording is an error ([`JfrError`]), never a panic or a huge allocation.
//! This module only reads JFR; which profiles its events become is `ingest::jfr`'s business.

use std::collections::HashMap;

mod reader;

use reader::Reader;

/// Why a recording could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JFR: {0}")]
pub struct JfrError(String);

type Result<T, E = JfrError> = std::result::Result<T, E>;

fn corrupt<T>(what: impl Into<String>) -> Result<T> {
    Err(JfrError(what.into()))
}

const MAGIC: &[u8; 4] = b"FLR\0";
const HEADER_BYTES: usize = 68;
const EVENT_METADATA: i64 = 0;
const EVENT_CONSTANT_POOL: i64 = 1;
/// Inline (non constant-pool) values nest at most this deep; deeper means a cyclic or
/// hostile type graph.
const MAX_NESTING: usize = 32;
/// Constant-pool references are followed at most this many hops.
const MAX_REF_HOPS: usize = 8;

/// A field of a JFR type, as the chunk's metadata declares it.
#[derive(Debug, Clone)]
pub struct Field {
    /// The field name (`stackTrace`, `contextId`, …).
    pub name: String,
    /// The type id of the field's values.
    pub class: i64,
    /// The value is an index into that type's constant pool.
    pub constant_pool: bool,
    /// The field holds an array.
    pub array: bool,
}

/// A JFR type (event, constant-pool type, or primitive).
#[derive(Debug, Clone)]
pub struct Class {
    /// The qualified name (`jdk.ExecutionSample`, `long`, …).
    pub name: String,
    /// Its fields in wire order (empty for primitives).
    pub fields: Vec<Field>,
    primitive: Option<Primitive>,
}

impl Class {
    /// Returns the position of a field by name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Primitive {
    Int,
    Long,
    Short,
    Char,
    Byte,
    Boolean,
    Float,
    Double,
    String,
}

impl Primitive {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "int" => Primitive::Int,
            "long" => Primitive::Long,
            "short" => Primitive::Short,
            "char" => Primitive::Char,
            "byte" => Primitive::Byte,
            "boolean" => Primitive::Boolean,
            "float" => Primitive::Float,
            "double" => Primitive::Double,
            "java.lang.String" => Primitive::String,
            _ => return None,
        })
    }
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A null string.
    Null,
    /// Any integral value (int, long, short, char, byte).
    Int(i64),
    /// float or double.
    Float(f64),
    /// boolean.
    Bool(bool),
    /// A string.
    Str(String),
    /// An index into the constant pool of a type.
    Ref {
        /// The type id.
        class: i64,
        /// The constant index.
        index: i64,
    },
    /// An object: its type and field values in wire order.
    Object {
        /// The type id.
        class: i64,
        /// Field values, as the type's fields.
        fields: Vec<Value>,
    },
    /// An array field.
    Array(Vec<Value>),
}

impl Value {
    /// The value as an integer, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }
}

/// One chunk's types and constant pools: what events of the chunk are resolved against.
#[derive(Debug, Default)]
pub struct Chunk {
    classes: HashMap<i64, Class>,
    pools: HashMap<i64, HashMap<i64, Value>>,
}

impl Chunk {
    /// Returns a type by id.
    pub fn class(&self, id: i64) -> Option<&Class> {
        self.classes.get(&id)
    }

    /// Follows constant-pool references; `None` for a reference to a missing constant.
    pub fn resolve<'a>(&'a self, mut value: &'a Value) -> Option<&'a Value> {
        for _ in 0..MAX_REF_HOPS {
            match value {
                Value::Ref { class, index } => value = self.pools.get(class)?.get(index)?,
                other => return Some(other),
            }
        }
        None
    }

    /// Returns a field of an object (or of the constant an object reference points to),
    /// resolved.
    pub fn field<'a>(&'a self, value: &'a Value, name: &str) -> Option<&'a Value> {
        self.resolve(self.raw_field(value, name)?)
    }

    /// Returns a string field (a null string is `None`).
    pub fn str_field<'a>(&'a self, value: &'a Value, name: &str) -> Option<&'a str> {
        match self.field(value, name)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Returns an integral field.
    pub fn int_field(&self, value: &Value, name: &str) -> Option<i64> {
        self.field(value, name)?.as_int()
    }

    /// Returns the raw (unresolved) value of a field: for a constant-pool field, the
    /// reference, which identifies the constant.
    pub fn raw_field<'a>(&'a self, value: &'a Value, name: &str) -> Option<&'a Value> {
        let Value::Object { class, fields } = self.resolve(value)? else {
            return None;
        };
        fields.get(self.classes.get(class)?.field_index(name)?)
    }
}

/// An event: its type id and value (an [`Value::Object`]).
#[derive(Debug)]
pub struct Event {
    /// The ordinal of the event's chunk: constant indices (stack traces…) are per chunk.
    pub chunk: usize,
    /// The event type id.
    pub class: i64,
    /// The event's fields.
    pub value: Value,
}

/// Reads every chunk of a recording in order, calling `on_event` for each event whose type
/// name `wanted` accepts, in file order. Other events are skipped unread.
pub fn read(
    data: &[u8],
    wanted: impl Fn(&str) -> bool,
    mut on_event: impl FnMut(&Chunk, Event),
) -> Result<()> {
    if data.is_empty() {
        return corrupt("empty recording");
    }
    let mut start = 0;
    let mut ordinal = 0;
    while start < data.len() {
        start += read_chunk(&data[start..], ordinal, &wanted, &mut on_event)?;
        ordinal += 1;
    }
    Ok(())
}

struct Header {
    size: usize,
    metadata_offset: usize,
    compressed: bool,
}

fn read_header(data: &[u8]) -> Result<Header> {
    if data.len() < HEADER_BYTES {
        return corrupt("truncated chunk header");
    }
    if &data[..4] != MAGIC {
        return corrupt("not a JFR chunk (bad magic)");
    }
    let be16 = |at: usize| u16::from_be_bytes([data[at], data[at + 1]]);
    let be64 = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[at..at + 8]);
        i64::from_be_bytes(b)
    };
    let major = be16(4);
    if !(1..=2).contains(&major) {
        return corrupt(format!("unsupported JFR version {major}"));
    }
    let size = be64(8);
    let metadata_offset = be64(24);
    let features = u32::from_be_bytes([data[64], data[65], data[66], data[67]]);
    if size < HEADER_BYTES as i64 || size as u64 > data.len() as u64 {
        return corrupt(format!(
            "chunk size {size} does not fit the {} bytes left",
            data.len()
        ));
    }
    if metadata_offset < HEADER_BYTES as i64 || metadata_offset >= size {
        return corrupt(format!(
            "metadata offset {metadata_offset} is outside its chunk"
        ));
    }
    Ok(Header {
        size: size as usize,
        metadata_offset: metadata_offset as usize,
        compressed: features & 1 != 0,
    })
}

/// Reads one chunk; returns its size.
fn read_chunk(
    data: &[u8],
    ordinal: usize,
    wanted: &impl Fn(&str) -> bool,
    on_event: &mut impl FnMut(&Chunk, Event),
) -> Result<usize> {
    let header = read_header(data)?;
    let body = &data[..header.size];
    let mut chunk = Chunk {
        classes: read_metadata(body, header.metadata_offset, header.compressed)?,
        pools: HashMap::new(),
    };
    // Constant pools first (wherever they are in the chunk), then the events in order.
    let mut events = Vec::new();
    let mut at = HEADER_BYTES;
    while at < body.len() {
        let mut r = Reader::new(body, at, header.compressed);
        let size = r.int()?;
        if size <= 0 || size as u64 > (body.len() - at) as u64 {
            return corrupt(format!("event at byte {at} has size {size}"));
        }
        let end = at + size as usize;
        let mut r = Reader::new(&body[..end], r.pos, header.compressed);
        let kind = r.long()?;
        match kind {
            EVENT_METADATA => {}
            EVENT_CONSTANT_POOL => read_constant_pool(&mut r, &mut chunk)?,
            _ => {
                let name = chunk.classes.get(&kind).map(|c| c.name.as_str());
                if name.is_some_and(wanted) {
                    events.push((kind, r.pos, end));
                }
            }
        }
        at = end;
    }
    for (kind, pos, end) in events {
        let mut r = Reader::new(&body[..end], pos, header.compressed);
        let value = r.value(&chunk.classes, kind, 0)?;
        on_event(
            &chunk,
            Event {
                chunk: ordinal,
                class: kind,
                value,
            },
        );
    }
    Ok(header.size)
}

/// A metadata element: name, attributes, children.
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
}

impl Element {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn read_metadata(body: &[u8], offset: usize, compressed: bool) -> Result<HashMap<i64, Class>> {
    let mut r = Reader::new(body, offset, compressed);
    let size = r.int()?;
    if size <= 0 || size as u64 > (body.len() - offset) as u64 {
        return corrupt("metadata event size is outside its chunk");
    }
    let mut r = Reader::new(&body[..offset + size as usize], r.pos, compressed);
    if r.long()? != EVENT_METADATA {
        return corrupt("metadata offset does not point at the metadata event");
    }
    r.long()?; // start time
    r.long()?; // duration
    r.long()?; // metadata id
    let count = r.count()?;
    let mut strings = Vec::with_capacity(count);
    for _ in 0..count {
        strings.push(r.string_inline()?.unwrap_or_default());
    }
    let root = read_element(&mut r, &strings, 0)?;
    let mut classes = HashMap::new();
    for class in root
        .children
        .iter()
        .filter(|e| e.name == "metadata")
        .flat_map(|m| &m.children)
        .filter(|e| e.name == "class")
    {
        let id = parse_id(class.attribute("id"), "class id")?;
        let name = class.attribute("name").unwrap_or_default().to_string();
        let mut fields = Vec::new();
        for f in class.children.iter().filter(|e| e.name == "field") {
            fields.push(Field {
                name: f.attribute("name").unwrap_or_default().to_string(),
                class: parse_id(f.attribute("class"), "field class")?,
                constant_pool: f.attribute("constantPool") == Some("true"),
                array: f.attribute("dimension").is_some_and(|d| d != "0"),
            });
        }
        let primitive = Primitive::of(&name);
        classes.insert(
            id,
            Class {
                name,
                fields,
                primitive,
            },
        );
    }
    if classes.is_empty() {
        return corrupt("metadata declares no types");
    }
    Ok(classes)
}

fn parse_id(v: Option<&str>, what: &str) -> Result<i64> {
    v.and_then(|v| v.parse().ok())
        .map_or_else(|| corrupt(format!("metadata has a bad {what}")), Ok)
}

fn read_element(r: &mut Reader<'_>, strings: &[String], depth: usize) -> Result<Element> {
    if depth > MAX_NESTING {
        return corrupt("metadata nests too deep");
    }
    let string = |r: &mut Reader<'_>| -> Result<String> {
        let i = r.int()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| strings.get(i))
            .cloned()
            .map_or_else(
                || corrupt(format!("metadata string {i} does not exist")),
                Ok,
            )
    };
    let name = string(r)?;
    let count = r.count()?;
    let mut attributes = Vec::with_capacity(count);
    for _ in 0..count {
        attributes.push((string(r)?, string(r)?));
    }
    let count = r.count()?;
    let mut children = Vec::with_capacity(count);
    for _ in 0..count {
        children.push(read_element(r, strings, depth + 1)?);
    }
    Ok(Element {
        name,
        attributes,
        children,
    })
}

fn read_constant_pool(r: &mut Reader<'_>, chunk: &mut Chunk) -> Result<()> {
    r.long()?; // start time
    r.long()?; // duration
    r.long()?; // delta to the previous pool: every pool event is read anyway
    r.byte()?; // flush flag
    let pools = r.count()?;
    for _ in 0..pools {
        let class = r.long()?;
        if !chunk.classes.contains_key(&class) {
            return corrupt(format!("constant pool of undeclared type {class}"));
        }
        let count = r.count()?;
        for _ in 0..count {
            let index = r.long()?;
            let value = r.value(&chunk.classes, class, 0)?;
            chunk.pools.entry(class).or_default().insert(index, value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(name: &str) -> Vec<u8> {
        let gz = crate::testing::corpus(&format!("jfr/{name}"));
        crate::wire::body::gunzip(&gz, 64 << 20, "test").unwrap()
    }

    fn count_events(data: &[u8]) -> Result<HashMap<String, usize>> {
        let mut counts = HashMap::new();
        read(
            data,
            |_| true,
            |chunk, e| {
                let name = chunk.class(e.class).map(|c| c.name.clone()).unwrap();
                *counts.entry(name).or_insert(0) += 1;
            },
        )?;
        Ok(counts)
    }

    #[test]
    fn reads_real_recordings() {
        let counts = count_events(&recording("dump1.jfr.gz")).unwrap();
        assert!(counts["jdk.ExecutionSample"] > 1000, "{counts:?}");
        let counts = count_events(&recording("dump2.jfr.gz")).unwrap();
        assert!(counts["jdk.ObjectAllocationInNewTLAB"] > 0, "{counts:?}");
    }

    #[test]
    fn corrupt_recordings_are_errors_not_panics() {
        let data = recording("dump1.jfr.gz");
        assert!(read(&[], |_| true, |_, _| {}).is_err());
        assert!(read(b"not a recording at all", |_| true, |_, _| {}).is_err());
        // Every truncation, and a sweep of flipped bytes, must fail cleanly or succeed.
        for cut in (0..data.len()).step_by(4999) {
            let _ = count_events(&data[..cut]);
        }
        for at in (0..data.len()).step_by(1999) {
            let mut bad = data.clone();
            bad[at] ^= 0xff;
            let _ = count_events(&bad);
        }
    }
}
