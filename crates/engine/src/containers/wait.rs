//! `POST /containers/{id}/wait`: resolved before the response starts, answered when the
//! condition is met.

use std::future::Future;

use pouch_api::types::{WaitError, WaitResponse};

use crate::Containers;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            o => Err(Error::invalid(format!("invalid condition: {o:?}"))),
        }
    }
}

impl Containers {
    /// Checks the container now; the returned future resolves when `cond` holds.
    pub fn wait_container(
        &self,
        name: &str,
        cond: WaitCondition,
    ) -> Result<impl Future<Output = WaitResponse> + Send + 'static> {
        let c = self.ctx.resolve_container(name)?;
        let live = self.live.get(&c.id);
        let mut exits = live.exits.subscribe();
        let mut removed = live.removed.subscribe();
        let running = c.state.status.is_running();
        let start_seen = exits.borrow_and_update().seq;
        let (now_code, now_err) = (c.state.exit_code, c.state.error.clone());
        let response = |code: i64, err: String| WaitResponse {
            status_code: code,
            error: (!err.is_empty()).then_some(WaitError { message: err }),
        };
        Ok(async move {
            if cond == WaitCondition::NotRunning && !running {
                return response(now_code, now_err);
            }
            if cond == WaitCondition::Removed {
                let (mut code, mut err) = (now_code, now_err);
                loop {
                    if *removed.borrow_and_update() {
                        let m = exits.borrow();
                        if m.seq != start_seen {
                            (code, err) = (m.code, m.error.clone());
                        }
                        return response(code, err);
                    }
                    if removed.changed().await.is_err() {
                        return response(code, err);
                    }
                }
            }
            while exits.borrow_and_update().seq == start_seen {
                if exits.changed().await.is_err() {
                    break;
                }
            }
            let m = exits.borrow().clone();
            response(m.code, m.error)
        })
    }
}
