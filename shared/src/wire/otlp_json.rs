//! serde helpers for OTLP/JSON (protojson): 64-bit integers may be strings or numbers, ids
//! are hex (OTLP's rule for trace and span ids) and other bytes base64; `AnyValue`'s oneof is
//! flattened (`{"stringValue": "x"}`).

use base64::Engine;
use serde::{Deserialize, Deserializer, de::Error as _};

use crate::wire::proto::opentelemetry::proto::common::v1::{
    AnyValue, ArrayValue, KeyValueList, any_value::Value,
};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct AnyValueJson {
    string_value: Option<String>,
    bool_value: Option<bool>,
    int_value: Option<Num<i64>>,
    double_value: Option<f64>,
    array_value: Option<ArrayValue>,
    kvlist_value: Option<KeyValueList>,
    bytes_value: Option<String>,
}

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = AnyValueJson::deserialize(d)?;
        let value = if let Some(s) = j.string_value {
            Some(Value::StringValue(s))
        } else if let Some(b) = j.bool_value {
            Some(Value::BoolValue(b))
        } else if let Some(n) = j.int_value {
            Some(Value::IntValue(parse::<D, i64>(n)?))
        } else if let Some(f) = j.double_value {
            Some(Value::DoubleValue(f))
        } else if let Some(a) = j.array_value {
            Some(Value::ArrayValue(a))
        } else if let Some(k) = j.kvlist_value {
            Some(Value::KvlistValue(k))
        } else {
            j.bytes_value
                .map(|b| decode_bytes::<D>(&b).map(Value::BytesValue))
                .transpose()?
        };
        Ok(AnyValue { value })
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Num<T> {
    N(T),
    S(String),
}

fn parse<'de, D: Deserializer<'de>, T: std::str::FromStr>(n: Num<T>) -> Result<T, D::Error> {
    match n {
        Num::N(v) => Ok(v),
        Num::S(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("`{s}` is not an integer"))),
    }
}

/// An int64 field.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    parse::<D, i64>(Num::deserialize(d)?)
}

/// A uint64 / fixed64 field.
pub fn uint<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    parse::<D, u64>(Num::deserialize(d)?)
}

/// A repeated int64 field.
pub fn ints<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    Vec::<Num<i64>>::deserialize(d)?
        .into_iter()
        .map(parse::<D, i64>)
        .collect()
}

/// A repeated uint64 / fixed64 field.
pub fn uints<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    Vec::<Num<u64>>::deserialize(d)?
        .into_iter()
        .map(parse::<D, u64>)
        .collect()
}

/// A bytes field: hex if it reads as hex, else base64.
pub fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    decode_bytes::<D>(&String::deserialize(d)?)
}

fn decode_bytes<'de, D: Deserializer<'de>>(s: &str) -> Result<Vec<u8>, D::Error> {
    if s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok((0..s.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect());
    }
    base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| D::Error::custom(format!("invalid base64: {e}")))
}
