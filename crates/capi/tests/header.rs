//! `include/tdibt.h` is what cbindgen makes of the crate now: a stale header fails here.
//! Regenerate with `TDIBT_WRITE_HEADER=1 cargo test -p tdibt-capi --test header`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn the_checked_in_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bindings = cbindgen::generate(dir).expect("cbindgen reads the crate");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = dir.join("include/tdibt.h");
    if std::env::var_os("TDIBT_WRITE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is stale: regenerate it with TDIBT_WRITE_HEADER=1 cargo test -p tdibt-capi --test header",
        path.display()
    );
}
