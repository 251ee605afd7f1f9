//! Request and response bodies, one module per API resource.

pub mod common;
pub mod container;
pub mod image;
pub mod system;

pub use common::*;
pub use container::*;
pub use image::*;
pub use system::*;
