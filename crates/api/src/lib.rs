//! Docker Engine API types as pouchd serves them, plus pouch's extension fields.
//!
//! Field names follow moby's `api/swagger.yaml` exactly (PascalCase), so the stock docker CLI and
//! SDKs decode what pouchd sends. The engine fills these; the server only serialises them.

pub mod filters;
pub mod signal;
pub mod types;

pub use filters::Filters;

/// The newest Docker Engine API version pouchd speaks.
pub const API_VERSION: &str = "1.47";
/// The oldest API version pouchd accepts (requests under `/v1.23/` and below are refused).
pub const MIN_API_VERSION: &str = "1.24";
/// pouch's own release version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Parses `"1.47"` into `(1, 47)`; `None` for anything else.
pub fn parse_api_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(parse_api_version("1.47"), Some((1, 47)));
        assert_eq!(parse_api_version("1.x"), None);
        assert_eq!(parse_api_version("147"), None);
        assert!(parse_api_version(MIN_API_VERSION) < parse_api_version(API_VERSION));
    }
}
