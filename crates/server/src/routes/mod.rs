//! One router module per API resource.

pub mod archive;
pub mod commit;
pub mod containers;
pub mod events;
pub mod exec;
pub mod images;
pub mod networks;
pub mod registry;
pub mod resources;
pub mod system;
pub mod volumes;
