//! One router module per API resource.

pub mod images;
pub mod system;
