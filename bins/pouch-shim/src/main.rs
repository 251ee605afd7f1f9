//! pouch-shim: the per-container supervisor. Container lifecycle support arrives with the runtime;
//! until then the binary exists so that the install layout is stable.

fn main() {
    eprintln!(
        "pouch-shim: container lifecycle support is not built yet; pouchd does not start shims"
    );
    std::process::exit(2);
}
