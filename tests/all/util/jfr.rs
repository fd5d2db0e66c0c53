//! A minimal Java Flight Recorder writer, for recordings no JVM would write: one chunk with
//! compressed integers, its type metadata, one constant-pool event and `jdk.ExecutionSample`
//! events. Only what the hostile tests need; real recordings come from the shared corpus.

/// A type of the recording: `(id, name, fields)`, each field `(name, type id, constant
/// pool, array)`.
pub type Class = (i64, &'static str, Vec<(&'static str, i64, bool, bool)>);

/// A constant pool: its type id, then each constant's index and encoded value.
pub type Pool = (i64, Vec<(u64, Vec<u8>)>);

/// Types every recording here declares, by id.
pub const LONG: i64 = 1;
pub const STRING: i64 = 3;
pub const SYMBOL: i64 = 10;
pub const CLASS: i64 = 11;
pub const METHOD: i64 = 12;
pub const FRAME: i64 = 13;
pub const TRACE: i64 = 14;
pub const THREAD_STATE: i64 = 15;
pub const SAMPLE: i64 = 20;

/// The types of a CPU sample and what it refers to, as a JVM declares them (fewer fields).
pub fn sample_classes() -> Vec<Class> {
    vec![
        (LONG, "long", vec![]),
        (2, "int", vec![]),
        (STRING, "java.lang.String", vec![]),
        (
            SYMBOL,
            "jdk.types.Symbol",
            vec![("string", STRING, false, false)],
        ),
        (
            CLASS,
            "java.lang.Class",
            vec![("name", SYMBOL, true, false)],
        ),
        (
            METHOD,
            "jdk.types.Method",
            vec![("type", CLASS, true, false), ("name", SYMBOL, true, false)],
        ),
        (
            FRAME,
            "jdk.types.StackFrame",
            vec![("method", METHOD, true, false)],
        ),
        (
            TRACE,
            "jdk.types.StackTrace",
            vec![("frames", FRAME, false, true)],
        ),
        (
            THREAD_STATE,
            "jdk.types.ThreadState",
            vec![("name", STRING, false, false)],
        ),
        (
            SAMPLE,
            "jdk.ExecutionSample",
            vec![
                ("startTime", LONG, false, false),
                ("stackTrace", TRACE, true, false),
                ("state", THREAD_STATE, true, false),
            ],
        ),
    ]
}

/// Appends `v` as a LEB128 varint (JFR's compressed integers).
pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a string in place (UTF-8 encoding).
pub fn string(out: &mut Vec<u8>, s: &str) {
    out.push(3);
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// An event: its size (itself included, as a padded four-byte varint), type and payload.
fn event(kind: u64, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    varint(&mut body, kind);
    body.extend_from_slice(payload);
    let size = (body.len() + 4) as u32;
    let mut out = vec![
        (size as u8 & 0x7f) | 0x80,
        ((size >> 7) as u8 & 0x7f) | 0x80,
        ((size >> 14) as u8 & 0x7f) | 0x80,
        (size >> 21) as u8 & 0x7f,
    ];
    out.extend_from_slice(&body);
    out
}

fn metadata(classes: &[Class]) -> Vec<u8> {
    let mut strings: Vec<String> = Vec::new();
    let mut index = |s: &str| -> u64 {
        match strings.iter().position(|x| x == s) {
            Some(i) => i as u64,
            None => {
                strings.push(s.to_string());
                (strings.len() - 1) as u64
            }
        }
    };
    // An element: name, attributes, children (already encoded).
    let element = |index: &mut dyn FnMut(&str) -> u64,
                   name: &str,
                   attributes: &[(&str, String)],
                   children: &[Vec<u8>]| {
        let mut out = Vec::new();
        varint(&mut out, index(name));
        varint(&mut out, attributes.len() as u64);
        for (k, v) in attributes {
            varint(&mut out, index(k));
            varint(&mut out, index(v));
        }
        varint(&mut out, children.len() as u64);
        for c in children {
            out.extend_from_slice(c);
        }
        out
    };
    let mut class_elements = Vec::new();
    for (id, name, fields) in classes {
        let fields: Vec<Vec<u8>> = fields
            .iter()
            .map(|(name, class, pool, array)| {
                let mut attributes = vec![("name", name.to_string()), ("class", class.to_string())];
                if *pool {
                    attributes.push(("constantPool", "true".into()));
                }
                if *array {
                    attributes.push(("dimension", "1".into()));
                }
                element(&mut index, "field", &attributes, &[])
            })
            .collect();
        let attributes = [("id", id.to_string()), ("name", name.to_string())];
        class_elements.push(element(&mut index, "class", &attributes, &fields));
    }
    let meta = element(&mut index, "metadata", &[], &class_elements);
    let root = element(&mut index, "root", &[], &[meta]);
    let mut payload = Vec::new();
    for _ in 0..3 {
        varint(&mut payload, 0); // start, duration, metadata id
    }
    varint(&mut payload, strings.len() as u64);
    for s in &strings {
        string(&mut payload, s);
    }
    payload.extend_from_slice(&root);
    event(0, &payload)
}

/// A recording of one chunk: `classes`, one constant-pool event of `pools` (type id, then
/// each constant's index and encoded value) and `samples` (encoded `jdk.ExecutionSample`
/// payloads).
pub fn recording(classes: &[Class], pools: &[Pool], samples: &[Vec<u8>]) -> Vec<u8> {
    let metadata = metadata(classes);
    let mut pool = Vec::new();
    for _ in 0..3 {
        varint(&mut pool, 0); // start, duration, delta to the previous pool
    }
    pool.push(1); // flush
    varint(&mut pool, pools.len() as u64);
    for (class, constants) in pools {
        varint(&mut pool, *class as u64);
        varint(&mut pool, constants.len() as u64);
        for (index, value) in constants {
            varint(&mut pool, *index);
            pool.extend_from_slice(value);
        }
    }
    let mut body = metadata.clone();
    body.extend(event(1, &pool));
    for s in samples {
        body.extend(event(SAMPLE as u64, s));
    }
    let size = (68 + body.len()) as i64;
    let mut out = Vec::with_capacity(size as usize);
    out.extend_from_slice(b"FLR\0");
    out.extend_from_slice(&2u16.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&0i64.to_be_bytes()); // constant pool offset: found by scanning
    out.extend_from_slice(&68i64.to_be_bytes()); // metadata: first after the header
    out.extend_from_slice(&1_700_000_000_000_000_000i64.to_be_bytes());
    out.extend_from_slice(&1_000_000_000i64.to_be_bytes());
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&1_000_000_000i64.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes()); // compressed integers
    out.extend_from_slice(&body);
    out
}

/// Encodes a constant of fields that are each a pool index.
pub fn refs(indexes: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in indexes {
        varint(&mut out, *i);
    }
    out
}
