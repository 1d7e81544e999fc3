//! Compiles `proto/` without `protoc`: protox parses the files, tonic-prost-build
//! generates the code, and the encoded descriptor set is kept for gRPC reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "ringside/activities/v1/activities.proto",
    "ringside/contacts/v1/contacts.proto",
    "ringside/deals/v1/deals.proto",
    "ringside/events/v1/events.proto",
    "ringside/ingest/v1/ingest.proto",
    "ringside/notifications/v1/notifications.proto",
    "ringside/staff/v1/staff.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=ringside");
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("ringside_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
