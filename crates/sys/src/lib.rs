//! Every `unsafe` block and raw syscall of pouch lives here, each with a `// SAFETY:` comment.
#![allow(unsafe_code)]

pub mod at;
pub mod fs;
pub mod host;
pub mod inotify;
pub mod lock;
pub mod mount;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod nsmount;
pub mod proc;
pub mod quota;
pub mod seccomp;
pub mod userns;
