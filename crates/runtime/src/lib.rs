//! OCI runtime backends (embedded libcontainer via pouch-shim, external OCI runtimes, vm). Arrives with container lifecycle support.
