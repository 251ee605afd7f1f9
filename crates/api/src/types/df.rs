//! `GET /system/df`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ContainerSummary, ImageSummary, Volume};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemDf {
    pub layers_size: i64,
    pub images: Vec<ImageSummary>,
    pub containers: Vec<ContainerSummary>,
    pub volumes: Vec<Volume>,
    /// pouch has no builder: always empty.
    pub build_cache: Vec<Value>,
}
