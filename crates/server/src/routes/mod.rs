//! One router module per API resource.

pub mod containers;
pub mod images;
pub mod system;
