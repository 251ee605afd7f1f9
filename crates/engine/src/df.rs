//! `GET /system/df`: what images, containers and volumes take on disk, with docker's sharing
//! figures (a layer used by several images counts once in `LayersSize`).

use std::collections::HashMap;

use pouch_api::Filters;
use pouch_api::types::SystemDf;

use crate::System;
use crate::context::Blocking;
use crate::error::{Error, Result};

impl System {
    /// `types` limits the sections computed (`container`, `image`, `volume`, `build-cache`);
    /// empty means all.
    pub async fn system_df(&self, types: Vec<String>) -> Result<SystemDf> {
        for t in &types {
            if !matches!(t.as_str(), "container" | "image" | "volume" | "build-cache") {
                return Err(Error::invalid(format!(
                    "invalid type {t:?}: use container, image, volume or build-cache"
                )));
            }
        }
        let want = move |t: &str| types.is_empty() || types.iter().any(|x| x == t);
        self.blocking(move |e| {
            let mut df = SystemDf::default();
            let containers =
                e.containers
                    .list_blocking(true, None, want("container"), &Filters::default())?;
            if want("image") {
                let store = &e.ctx.store;
                let mut users: HashMap<String, i64> = HashMap::new();
                for c in &containers {
                    *users.entry(c.image_id.clone()).or_insert(0) += 1;
                }
                let mut layers = HashMap::new();
                let mut per_image = Vec::new();
                for img in e.images.list_images_blocking(&Filters::default(), false)? {
                    let ls = store.layers(&img.id)?;
                    for l in &ls {
                        let entry = layers.entry(l.chain_id.clone()).or_insert((l.size, 0));
                        entry.1 += 1;
                    }
                    per_image.push((img, ls));
                }
                df.layers_size = layers.values().map(|(s, _)| *s).sum();
                for (mut img, ls) in per_image {
                    img.shared_size = ls
                        .iter()
                        .filter(|l| layers.get(&l.chain_id).is_some_and(|(_, n)| *n > 1))
                        .map(|l| l.size)
                        .sum();
                    img.containers = users.get(&img.id).copied().unwrap_or(0);
                    df.images.push(img);
                }
            }
            if want("container") {
                df.containers = containers;
            }
            if want("volume") {
                df.volumes = e.volumes.volumes_usage()?;
            }
            Ok(df)
        })
        .await
    }
}
