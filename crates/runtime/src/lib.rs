//! Running containers: the OCI spec generated from a container's settings, the protocol between
//! pouchd and pouch-shim (one per container), and the runtime backends the shim drives.

pub mod shim;
pub mod spec;
