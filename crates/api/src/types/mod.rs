//! Request and response bodies, one module per API resource.

pub mod common;
pub mod image;
pub mod system;

pub use common::*;
pub use image::*;
pub use system::*;
