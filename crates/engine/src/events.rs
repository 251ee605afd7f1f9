//! The event stream (`/events`): container, image and daemon events, kept in a bounded in-memory
//! history for `since` and fanned out to live subscribers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use pouch_api::Filters;
use pouch_api::types::{EventActor, EventMessage};
use tokio::sync::broadcast;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::{System, now_nanos};

/// How many past events `since` can reach.
const HISTORY: usize = 1024;

pub(crate) struct Events {
    tx: broadcast::Sender<EventMessage>,
    history: Mutex<VecDeque<EventMessage>>,
}

impl Default for Events {
    fn default() -> Events {
        Events {
            tx: broadcast::channel(256).0,
            history: Mutex::new(VecDeque::new()),
        }
    }
}

const FILTERS: &[&str] = &["type", "event", "container", "image", "label", "daemon"];

impl Context {
    /// Records an event and hands it to live subscribers.
    pub(crate) fn emit(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let nanos = now_nanos();
        let legacy = kind == "container" || kind == "image";
        let msg = EventMessage {
            kind: kind.into(),
            action: action.into(),
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: attributes
                .get("image")
                .cloned()
                .filter(|_| kind == "container"),
            actor: EventActor {
                id: id.into(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        };
        let ev = &self.events;
        {
            let mut h = ev.history.lock().unwrap_or_else(|p| p.into_inner());
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(msg.clone());
        }
        let _ = ev.tx.send(msg);
    }
}

impl System {
    /// Past events since `since` (unix nanos, 0 = none) and a receiver of new ones.
    pub fn subscribe_events(
        &self,
        since: i64,
        filters: &Filters,
    ) -> Result<(Vec<EventMessage>, broadcast::Receiver<EventMessage>)> {
        filters.validate(FILTERS).map_err(Error::invalid)?;
        let ev = &self.ctx.events;
        let h = ev.history.lock().unwrap_or_else(|p| p.into_inner());
        let rx = ev.tx.subscribe();
        let past = if since > 0 {
            h.iter()
                .filter(|m| m.time_nano >= since && event_matches(m, filters))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        Ok((past, rx))
    }
}

/// docker's event filters: each given key must match (values within a key are alternatives).
pub fn event_matches(m: &EventMessage, f: &Filters) -> bool {
    let any = |key: &str, ok: &dyn Fn(&str) -> bool| {
        f.get(key).is_empty() || f.get(key).iter().any(|v| ok(v))
    };
    let attr = |k: &str| m.actor.attributes.get(k).map(String::as_str).unwrap_or("");
    any("type", &|v| v == m.kind)
        && any("event", &|v| {
            v == m.action || m.action.starts_with(&format!("{v}:"))
        })
        && any("container", &|v| {
            m.kind == "container" && (m.actor.id.starts_with(v) || attr("name") == v)
        })
        && any("image", &|v| {
            attr("image") == v || (m.kind == "image" && (m.actor.id == v || attr("name") == v))
        })
        && f.match_labels("label", &m.actor.attributes)
}

impl Context {
    /// A container event with docker's attributes: name, image and the container's labels.
    pub(crate) fn emit_container(
        &self,
        c: &crate::store::ContainerRecord,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let mut attrs = c.config.labels.clone();
        attrs.insert("name".into(), c.name.clone());
        attrs.insert("image".into(), c.config.image.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.emit("container", action, &c.id, attrs);
    }

    pub(crate) fn emit_image(&self, id: &str, action: &str, name: &str) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), name.to_string());
        self.emit("image", action, id, attrs);
    }
}
