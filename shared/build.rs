//! Compiles the project's `.proto` files (proto/, written from the wire contract) with protox,
//! a pure-Rust protobuf compiler, so no `protoc` needs to be installed; prost generates Rust.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = [
        "proto/google/v1/profile.proto",
        "proto/types/v1/types.proto",
        "proto/push/v1/push.proto",
        "proto/jfr/v1/labels.proto",
    ];
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
