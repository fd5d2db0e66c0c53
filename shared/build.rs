//! Compiles the project's `.proto` files (proto/, written from the wire contract) with protox,
//! a pure-Rust protobuf compiler, so no `protoc` needs to be installed; prost generates Rust.
//!
//! OTLP messages also derive serde's `Deserialize` for OTLP/JSON (protojson: lowerCamelCase
//! names, 64-bit integers as strings or numbers, ids as hex, other bytes as base64); the
//! field helpers live in `ingest::otlp::json`. Pyroscope's own packages (types, push,
//! querier, settings, google.v1) get protojson `Serialize`/`Deserialize` from pbjson-build, as Connect
//! JSON clients (Grafana's Profiles Drilldown) expect: lowerCamelCase names, int64 as strings,
//! enums by name.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = [
        "proto/google/v1/profile.proto",
        "proto/types/v1/types.proto",
        "proto/push/v1/push.proto",
        "proto/querier/v1/querier.proto",
        "proto/settings/v1/setting.proto",
        "proto/settings/v1/recording_rules.proto",
        "proto/prometheus/remote.proto",
        "proto/jfr/v1/labels.proto",
        "proto/opentelemetry/proto/collector/profiles/v1development/profiles_service.proto",
    ];
    let descriptors = protox::compile(files, ["proto"])?;
    let mut config = prost_build::Config::new();
    // AnyValue (a oneof flattened in JSON) has a hand-written Deserialize in ingest::otlp::json.
    for path in [
        ".opentelemetry.proto.profiles",
        ".opentelemetry.proto.collector",
        ".opentelemetry.proto.resource",
        ".opentelemetry.proto.common.v1.ArrayValue",
        ".opentelemetry.proto.common.v1.KeyValueList",
        ".opentelemetry.proto.common.v1.KeyValue",
        ".opentelemetry.proto.common.v1.InstrumentationScope",
    ] {
        config.message_attribute(
            path,
            "#[derive(serde::Deserialize)] #[serde(default, rename_all = \"camelCase\")]",
        );
    }
    let with =
        |helper: &str| format!("#[serde(deserialize_with = \"crate::wire::otlp_json::{helper}\")]");
    let profiles = ".opentelemetry.proto.profiles.v1development";
    for (field, helper) in [
        (format!("{profiles}.Profile.time_unix_nano"), "uint"),
        (format!("{profiles}.Profile.duration_nano"), "uint"),
        (format!("{profiles}.Profile.period"), "int"),
        (format!("{profiles}.Profile.profile_id"), "bytes"),
        (format!("{profiles}.Profile.original_payload"), "bytes"),
        (format!("{profiles}.Link.trace_id"), "bytes"),
        (format!("{profiles}.Link.span_id"), "bytes"),
        (format!("{profiles}.Sample.values"), "ints"),
        (format!("{profiles}.Sample.timestamps_unix_nano"), "uints"),
        (format!("{profiles}.Mapping.memory_start"), "uint"),
        (format!("{profiles}.Mapping.memory_limit"), "uint"),
        (format!("{profiles}.Mapping.file_offset"), "uint"),
        (format!("{profiles}.Location.address"), "uint"),
        (format!("{profiles}.Line.line"), "int"),
        (format!("{profiles}.Line.column"), "int"),
        (format!("{profiles}.Function.start_line"), "int"),
        (
            ".opentelemetry.proto.collector.profiles.v1development.ExportProfilesPartialSuccess.rejected_profiles".to_string(),
            "int",
        ),
    ] {
        config.field_attribute(field, with(helper));
    }
    let descriptor_bytes = descriptors.encode_to_vec();
    config.compile_fds(descriptors)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .build(&[
            ".google.v1",
            ".types.v1",
            ".push.v1",
            ".querier.v1",
            ".settings.v1",
        ])?;
    Ok(())
}
