//! Request and response bodies, one module per API resource.

pub mod common;
pub mod container;
pub mod container_net;
pub mod df;
pub mod image;
pub mod network;
pub mod resources;
pub mod system;
pub mod volume;

pub use common::*;
pub use container::*;
pub use container_net::*;
pub use df::*;
pub use image::*;
pub use network::*;
pub use resources::*;
pub use system::*;
pub use volume::*;
