//! Ringside's contracts, compiled from `proto/`: one versioned package per service
//! (`ringside.contacts.v1`, ...) and the bus events (`ringside.events.v1`). This crate
//! owns the wire format only; domain rules live in the services.

#![allow(clippy::all, missing_docs)]

pub mod contacts {
    pub mod v1 {
        tonic::include_proto!("ringside.contacts.v1");
    }
}

pub mod events {
    pub mod v1 {
        tonic::include_proto!("ringside.events.v1");
    }
}

/// Encoded `FileDescriptorSet` of every package, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ringside_descriptor.bin"));
