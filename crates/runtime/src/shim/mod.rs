//! Protocol between pouchd and pouch-shim.
