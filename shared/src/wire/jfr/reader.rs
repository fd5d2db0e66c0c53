//! The byte reader of JFR recordings: LEB128 integers, strings in their several encodings
//! and counted sequences, every length checked against the bytes left before anything is
//! allocated.

use std::collections::HashMap;

use super::{Class, Field, MAX_NESTING, Primitive, Result, Value, corrupt};

/// A cursor over a bounded slice; every read checks the bound.
pub(super) struct Reader<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    pub(super) compressed: bool,
    /// Values left to decode: empty objects take no bytes, so the bytes alone do not bound
    /// the work a hostile type graph can ask for.
    pub(super) budget: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize, compressed: bool) -> Self {
        Reader {
            data,
            pos,
            compressed,
            budget: data.len().saturating_sub(pos).saturating_mul(4) + 256,
        }
    }

    pub(super) fn left(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.left() {
            return corrupt(format!("truncated at byte {}", self.pos));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(super) fn byte(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    pub(super) fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// JFR's compressed integers: 7 bits per byte, low first; a ninth byte carries 8 bits.
    pub(super) fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for i in 0..8 {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Ok(v | (u64::from(self.byte()?) << 56))
    }

    pub(super) fn long(&mut self) -> Result<i64> {
        if self.compressed {
            Ok(self.varint()? as i64)
        } else {
            Ok(i64::from_be_bytes(self.fixed()?))
        }
    }

    pub(super) fn int(&mut self) -> Result<i32> {
        if self.compressed {
            Ok(self.varint()? as i32)
        } else {
            Ok(i32::from_be_bytes(self.fixed()?))
        }
    }

    pub(super) fn short(&mut self) -> Result<i16> {
        if self.compressed {
            Ok(self.varint()? as i16)
        } else {
            Ok(i16::from_be_bytes(self.fixed()?))
        }
    }

    /// A count of things that each take at least one byte: bounded by the bytes left.
    pub(super) fn count(&mut self) -> Result<usize> {
        let n = self.int()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.left() => Ok(n),
            _ => corrupt(format!(
                "count {n} at byte {} exceeds the data left",
                self.pos
            )),
        }
    }

    /// A string written in place (encodings other than a pool reference).
    pub(super) fn string_inline(&mut self) -> Result<Option<String>> {
        match self.string()? {
            Value::Str(s) => Ok(Some(s)),
            Value::Null => Ok(None),
            _ => corrupt("a metadata string refers to the constant pool"),
        }
    }

    pub(super) fn string(&mut self) -> Result<Value> {
        Ok(match self.byte()? {
            0 => Value::Null,
            1 => Value::Str(String::new()),
            2 => Value::Ref {
                class: -1,
                index: self.long()?,
            },
            3 => {
                let n = self.count()?;
                Value::Str(String::from_utf8_lossy(self.bytes(n)?).into_owned())
            }
            4 => {
                let n = self.count()?;
                let mut s = String::with_capacity(n);
                for _ in 0..n {
                    let c = self.short()? as u16;
                    s.push(char::from_u32(u32::from(c)).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                Value::Str(s)
            }
            5 => {
                let n = self.count()?;
                Value::Str(self.bytes(n)?.iter().map(|&b| char::from(b)).collect())
            }
            other => return corrupt(format!("unknown string encoding {other}")),
        })
    }

    pub(super) fn value(
        &mut self,
        classes: &HashMap<i64, Class>,
        class: i64,
        depth: usize,
    ) -> Result<Value> {
        if depth > MAX_NESTING {
            return corrupt("values nest too deep");
        }
        self.budget = match self.budget.checked_sub(1) {
            Some(b) => b,
            None => return corrupt("more values than the data can hold"),
        };
        let Some(c) = classes.get(&class) else {
            return corrupt(format!("value of undeclared type {class}"));
        };
        if let Some(p) = c.primitive {
            return Ok(match p {
                Primitive::Int => Value::Int(self.int()?.into()),
                Primitive::Long => Value::Int(self.long()?),
                Primitive::Short => Value::Int(self.short()?.into()),
                Primitive::Char => Value::Int((self.short()? as u16).into()),
                Primitive::Byte => Value::Int((self.byte()? as i8).into()),
                Primitive::Boolean => Value::Bool(self.byte()? != 0),
                Primitive::Float => Value::Float(f32::from_be_bytes(self.fixed()?).into()),
                Primitive::Double => Value::Float(f64::from_be_bytes(self.fixed()?)),
                Primitive::String => match self.string()? {
                    Value::Ref { index, .. } => Value::Ref { class, index },
                    v => v,
                },
            });
        }
        let mut fields = Vec::with_capacity(c.fields.len());
        for f in &c.fields {
            let v = if f.array {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.single(classes, f, depth)?);
                }
                Value::Array(items)
            } else {
                self.single(classes, f, depth)?
            };
            fields.push(v);
        }
        Ok(Value::Object { class, fields })
    }

    pub(super) fn single(
        &mut self,
        classes: &HashMap<i64, Class>,
        f: &Field,
        depth: usize,
    ) -> Result<Value> {
        if f.constant_pool {
            Ok(Value::Ref {
                class: f.class,
                index: self.long()?,
            })
        } else {
            self.value(classes, f.class, depth + 1)
        }
    }
}
