//! One router module per API resource.

pub mod archive;
pub mod commit;
pub mod containers;
pub mod events;
pub mod exec;
pub mod images;
pub mod resources;
pub mod registry;
pub mod system;
