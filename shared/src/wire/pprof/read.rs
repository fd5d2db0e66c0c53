//! A streaming reader of pprof's protobuf straight into a [`Flat`] profile. Keys and varints
//! are read by prost's rules (tested against its own functions below).
//!
//! It takes what encoders write (packed or not), and gives up (`None`) on anything else:
//! groups, a known field of another wire type, a bad varint or length, a string that is not
//! UTF-8. The caller then decodes with prost, which says what is wrong or reads what this
//! reader does not; either way the answer is prost's. Where this reader answers, it answers
//! what prost's decode would (a property the `pprof` fuzz target checks).

use prost::encoding::WireType;

use super::flat::{Flat, Location};
use crate::wire::proto::google::v1::{Function, Label, Line, Mapping, ValueType};

/// Reads a profile. Without `tables`, its symbol-table fields (mapping, location, function,
/// string_table) are skipped, for a caller that has them already.
pub(super) fn read(bytes: &[u8], tables: bool) -> Option<Flat> {
    let mut flat = Flat::default();
    let mut r = Reader(bytes);
    while !r.0.is_empty() {
        let (tag, wire) = r.key()?;
        match tag {
            1 => {
                let mut t = ValueType::default();
                value_type(r.message(wire)?, &mut t)?;
                flat.sample_type.push(t);
            }
            2 => sample(r.message(wire)?, &mut flat)?,
            3..=6 if !tables => r.skip(wire)?,
            3 => flat.tables.mapping.push(mapping(r.message(wire)?)?),
            4 => location(r.message(wire)?, &mut flat)?,
            5 => flat.tables.function.push(function(r.message(wire)?)?),
            6 => {
                let s = std::str::from_utf8(r.message(wire)?).ok()?;
                flat.tables.push_string(s);
            }
            9 => flat.time_nanos = r.int(wire)? as i64,
            11 => value_type(r.message(wire)?, flat.period_type.get_or_insert_default())?,
            12 => flat.period = r.int(wire)? as i64,
            // drop_frames, keep_frames, duration_nanos, default_sample_type: read, not kept.
            7 | 8 | 10 | 14 => {
                r.int(wire)?;
            }
            // comment: repeated int64.
            13 => r.ints(wire, |_| {})?,
            _ => r.skip(wire)?,
        }
    }
    Some(flat)
}

/// The bytes not read yet.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A field's key, as prost's `decode_key` reads it.
    #[inline]
    fn key(&mut self) -> Option<(u32, WireType)> {
        let key = u32::try_from(self.varint()?).ok()?;
        let wire = WireType::try_from(u64::from(key & 7)).ok()?;
        let tag = key >> 3;
        (tag >= 1).then_some((tag, wire))
    }

    /// A varint as prost reads one (at most ten bytes, the tenth 0 or 1), without going
    /// through its `Buf`: most are one or two bytes, and this is the reader's inner loop.
    #[inline]
    fn varint(&mut self) -> Option<u64> {
        let bytes = self.0;
        let first = *bytes.first()?;
        if first < 0x80 {
            self.0 = &bytes[1..];
            return Some(u64::from(first));
        }
        let mut value = u64::from(first & 0x7f);
        for (i, byte) in bytes.iter().enumerate().take(10).skip(1) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if *byte < 0x80 {
                if i == 9 && *byte > 1 {
                    return None;
                }
                self.0 = &bytes[i + 1..];
                return Some(value);
            }
        }
        None
    }

    /// A length-delimited field's bytes.
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let (bytes, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(bytes)
    }

    /// The bytes of a field that must be length-delimited (a message or a string).
    fn message(&mut self, wire: WireType) -> Option<&'a [u8]> {
        (wire == WireType::LengthDelimited).then_some(())?;
        self.bytes()
    }

    /// A scalar field's value: a varint.
    fn int(&mut self, wire: WireType) -> Option<u64> {
        (wire == WireType::Varint).then_some(())?;
        self.varint()
    }

    /// A repeated scalar field's values, packed or one.
    fn ints(&mut self, wire: WireType, mut each: impl FnMut(u64)) -> Option<()> {
        match wire {
            WireType::Varint => each(self.varint()?),
            WireType::LengthDelimited => {
                let mut packed = Reader(self.bytes()?);
                while !packed.0.is_empty() {
                    each(packed.varint()?);
                }
            }
            _ => return None,
        }
        Some(())
    }

    /// Skips an unknown field (not a group).
    fn skip(&mut self, wire: WireType) -> Option<()> {
        let width = match wire {
            WireType::Varint => return self.varint().map(drop),
            WireType::LengthDelimited => return self.bytes().map(drop),
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::StartGroup | WireType::EndGroup => return None,
        };
        self.0 = self.0.get(width..)?;
        Some(())
    }

    /// Calls `field` with each field's tag, wire type and the reader positioned at its value.
    fn fields(
        bytes: &'a [u8],
        mut field: impl FnMut(u32, WireType, &mut Self) -> Option<()>,
    ) -> Option<()> {
        let mut r = Reader(bytes);
        while !r.0.is_empty() {
            let (tag, wire) = r.key()?;
            field(tag, wire, &mut r)?;
        }
        Some(())
    }
}

/// Reads a ValueType's fields into `t` (prost merges a repeated singular message so).
fn value_type(bytes: &[u8], t: &mut ValueType) -> Option<()> {
    Reader::fields(bytes, |tag, wire, r| {
        match tag {
            1 => t.r#type = r.int(wire)? as i64,
            2 => t.unit = r.int(wire)? as i64,
            _ => r.skip(wire)?,
        }
        Some(())
    })
}

fn sample(bytes: &[u8], flat: &mut Flat) -> Option<()> {
    let (l, v, b) = (
        flat.location_ids.len(),
        flat.values.len(),
        flat.labels.len(),
    );
    Reader::fields(bytes, |tag, wire, r| {
        match tag {
            1 => r.ints(wire, |id| flat.location_ids.push(id))?,
            2 => r.ints(wire, |v| flat.values.push(v as i64))?,
            3 => flat.labels.push(label(r.message(wire)?)?),
            _ => r.skip(wire)?,
        }
        Some(())
    })?;
    flat.push_span(l, v, b);
    Some(())
}

fn label(bytes: &[u8]) -> Option<Label> {
    let mut l = Label::default();
    Reader::fields(bytes, |tag, wire, r| {
        match tag {
            1 => l.key = r.int(wire)? as i64,
            2 => l.str = r.int(wire)? as i64,
            3 => l.num = r.int(wire)? as i64,
            4 => l.num_unit = r.int(wire)? as i64,
            _ => r.skip(wire)?,
        }
        Some(())
    })?;
    Some(l)
}

fn mapping(bytes: &[u8]) -> Option<Mapping> {
    let mut m = Mapping::default();
    Reader::fields(bytes, |tag, wire, r| {
        match tag {
            1 => m.id = r.int(wire)?,
            2 => m.memory_start = r.int(wire)?,
            3 => m.memory_limit = r.int(wire)?,
            4 => m.file_offset = r.int(wire)?,
            5 => m.filename = r.int(wire)? as i64,
            6 => m.build_id = r.int(wire)? as i64,
            7 => m.has_functions = r.int(wire)? != 0,
            8 => m.has_filenames = r.int(wire)? != 0,
            9 => m.has_line_numbers = r.int(wire)? != 0,
            10 => m.has_inline_frames = r.int(wire)? != 0,
            _ => r.skip(wire)?,
        }
        Some(())
    })?;
    Some(m)
}

fn location(bytes: &[u8], flat: &mut Flat) -> Option<()> {
    let mut l = Location::default();
    let lines = &mut flat.tables.lines;
    let start = lines.len();
    Reader::fields(bytes, |tag, wire, r| {
        match tag {
            1 => l.id = r.int(wire)?,
            2 => l.mapping_id = r.int(wire)?,
            3 => l.address = r.int(wire)?,
            4 => lines.push(line(r.message(wire)?)?),
            5 => l.is_folded = r.int(wire)? != 0,
            _ => r.skip(wire)?,
        }
        Some(())
    })?;
    l.lines = start..lines.len();
    flat.tables.location.push(l);
    Some(())
}

fn line(bytes: &[u8]) -> Option<Line> {
    let mut l = Line::default();
    Reader::fields(bytes, |tag, wire, r| {
        match tag {
            1 => l.function_id = r.int(wire)?,
            2 => l.line = r.int(wire)? as i64,
            _ => r.skip(wire)?,
        }
        Some(())
    })?;
    Some(l)
}

fn function(bytes: &[u8]) -> Option<Function> {
    let mut f = Function::default();
    Reader::fields(bytes, |tag, wire, r| {
        match tag {
            1 => f.id = r.int(wire)?,
            2 => f.name = r.int(wire)? as i64,
            3 => f.system_name = r.int(wire)? as i64,
            4 => f.filename = r.int(wire)? as i64,
            5 => f.start_line = r.int(wire)? as i64,
            _ => r.skip(wire)?,
        }
        Some(())
    })?;
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::encoding::{decode_key, decode_varint, encode_varint};

    #[test]
    fn varints_and_keys_read_as_prost_reads_them() {
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![0x80], vec![0xff; 11]];
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            encode_varint(v, &mut b);
            cases.push(b.clone());
            // Truncated, and followed by more bytes.
            cases.push(b[..b.len() - 1].to_vec());
            b.push(0x2a);
            cases.push(b);
        }
        // Ten bytes whose last is 1 (fits), 2 (does not), and a non-canonical zero.
        for last in [1, 2, 0x7f] {
            let mut b = vec![0xff; 9];
            b.push(last);
            cases.push(b);
        }
        cases.push(vec![0x80, 0x80, 0x00]);
        for case in cases {
            let (mut ours, mut theirs) = (Reader(&case), &case[..]);
            let expected = decode_varint(&mut theirs).ok();
            assert_eq!(ours.varint(), expected, "{case:x?}");
            if expected.is_some() {
                assert_eq!(ours.0, theirs, "{case:x?}");
            }
            let (mut ours, mut theirs) = (Reader(&case), &case[..]);
            assert_eq!(ours.key(), decode_key(&mut theirs).ok(), "{case:x?}");
        }
    }
}
