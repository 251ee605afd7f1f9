//! The container state machine: the one place that knows which states exist, which moves
//! between them are allowed, and how they are spelled on the wire and in the store.
//!
//! ```text
//! from                      to          when
//! created, exited           running     start
//! restarting                running     the restart back-off elapsed (or a restore finishes it)
//! running                   paused      pause
//! paused                    running     unpause (or a restore finds the shim running)
//! running, paused, created  exited      an exit is recorded (stop, kill, crash) and no restart
//!                                       policy asks for another run
//! running, paused, created  restarting  an exit is recorded and the restart policy asks again
//! restarting                exited      stop during the back-off
//! created, exited,          removing    rm (a running container is stopped first)
//!   restarting, dead
//! removing                  dead        rm failed half-way
//! ```
//!
//! `created → exited` exists for a start that a daemon crash interrupted: its shim is found dead
//! at restore and its exit is recorded. Everything that changes a container's state holds the
//! container's operation lock (`Live::op`), so transitions never interleave.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A container's state, stored as docker spells it (`"running"`), so databases written before
/// this type existed open unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

use ContainerStatus::*;

impl ContainerStatus {
    pub const ALL: [ContainerStatus; 7] =
        [Created, Running, Paused, Restarting, Removing, Exited, Dead];

    /// docker's spelling (`State.Status`, `ps` filters, the store).
    pub fn as_str(self) -> &'static str {
        match self {
            Created => "created",
            Running => "running",
            Paused => "paused",
            Restarting => "restarting",
            Removing => "removing",
            Exited => "exited",
            Dead => "dead",
        }
    }

    /// The container has a live process: running or paused (docker's `State.Running` is true
    /// for both). Stop, kill, exec and stats need this.
    pub fn is_running(self) -> bool {
        matches!(self, Running | Paused)
    }

    /// Whether `self → to` is a move the engine may make (see the module diagram). Staying in
    /// the same state is not a move.
    pub fn can_become(self, to: ContainerStatus) -> bool {
        match (self, to) {
            // start (created after a failed start stays created)
            (Created | Exited | Restarting, Running) => true,
            (Running, Paused) | (Paused, Running) => true,
            // an exit recorded; `created → exited` only for a start a crash interrupted
            (Running | Paused | Created, Exited | Restarting) => true,
            // a stop during the restart back-off
            (Restarting, Exited) => true,
            // rm; a running one only after it was stopped
            (Created | Exited | Dead | Restarting, Removing) => true,
            (Removing, Dead) => true,
            _ => false,
        }
    }

    /// `to` when `self → to` is allowed, else a conflict that names both states.
    pub fn transition(self, to: ContainerStatus) -> Result<ContainerStatus> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(Error::conflict(format!(
                "container is {self}: it cannot become {to}"
            )))
        }
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContainerStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<ContainerStatus> {
        ContainerStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "invalid container status {s:?}: use one of created, running, paused, \
                     restarting, removing, exited, dead"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_and_store_spelling_round_trips() {
        for st in ContainerStatus::ALL {
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
            assert_eq!(serde_json::from_str::<ContainerStatus>(&json).unwrap(), st);
            assert_eq!(st.as_str().parse::<ContainerStatus>().unwrap(), st);
        }
        assert!("Running".parse::<ContainerStatus>().is_err());
    }

    /// Rows written when the status was a plain string still decode, and encode the same.
    #[test]
    fn stored_state_is_unchanged_on_disk() {
        let old = r#"{"status":"paused","pid":42,"exit_code":0,"oom_killed":false,"error":"","started_at":1,"finished_at":0,"restart_count":0,"manually_stopped":false,"runtime":"pouch"}"#;
        let s: crate::store::StoredState = serde_json::from_str(old).unwrap();
        assert_eq!(s.status, Paused);
        assert_eq!(serde_json::to_string(&s).unwrap(), old);
    }

    #[test]
    fn transitions() {
        assert!(Created.can_become(Running));
        assert!(Exited.can_become(Running));
        assert!(Running.can_become(Paused) && Paused.can_become(Running));
        assert!(Running.can_become(Exited) && Paused.can_become(Exited));
        assert!(Running.can_become(Restarting) && Restarting.can_become(Running));
        assert!(Restarting.can_become(Exited));
        assert!(!Exited.can_become(Paused));
        assert!(!Created.can_become(Paused));
        assert!(!Running.can_become(Removing));
        assert!(!Exited.can_become(Restarting));
        assert!(!Running.can_become(Running));
        let e = Exited.transition(Paused).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Conflict);
        assert_eq!(e.message, "container is exited: it cannot become paused");
    }
}
