//! Volume drivers (local, tmpfs, plugins, CSI) and disk quota. Arrives with storage support.
