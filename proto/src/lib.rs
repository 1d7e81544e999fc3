//! Ringside's contracts, compiled from `proto/`: one versioned package per service
//! (`ringside.contacts.v1`, `ringside.staff.v1`, ...) and the bus events (`ringside.events.v1`). This crate
//! owns the wire format only; domain rules live in the services.

#![allow(clippy::all, missing_docs)]

pub mod activities {
    pub mod v1 {
        tonic::include_proto!("ringside.activities.v1");
    }
}

pub mod contacts {
    pub mod v1 {
        tonic::include_proto!("ringside.contacts.v1");
    }
}

pub mod deals {
    pub mod v1 {
        tonic::include_proto!("ringside.deals.v1");
    }

    /// What the message of a move's FAILED_PRECONDITION holds when the stage is full
    /// and refuses (as against a closed deal that must be reopened first).
    pub const WIP_REFUSED: &str = "is at its WIP limit";
}

pub mod ingest {
    pub mod v1 {
        tonic::include_proto!("ringside.ingest.v1");
    }
}

pub mod notifications {
    pub mod v1 {
        tonic::include_proto!("ringside.notifications.v1");
    }
}

pub mod staff {
    pub mod v1 {
        tonic::include_proto!("ringside.staff.v1");
    }

    /// The message of `SignInWithCode`'s UNAUTHENTICATED for a wrong code (the step
    /// may be tried again), as against a step that has ended (start over).
    pub const WRONG_CODE: &str = "wrong code";

    /// The message of a second step that has ended (used, expired, out of tries, or
    /// ended with the person's sessions): the password is asked again.
    pub const STEP_ENDED: &str = "this sign-in has ended; enter your password again";
}

pub mod events {
    pub mod v1 {
        tonic::include_proto!("ringside.events.v1");
    }
}

/// A protobuf timestamp from Unix milliseconds (the time unit of every table).
pub fn timestamp_from_millis(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// Unix milliseconds from a protobuf timestamp.
pub fn millis_from_timestamp(ts: &prost_types::Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos.clamp(0, 999_999_999) / 1_000_000))
}

/// Encoded `FileDescriptorSet` of every package, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ringside_descriptor.bin"));
