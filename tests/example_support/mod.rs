//! What the example tests share: the path of a built example, refused when it is older than its
//! source (it would test old code), and a running example that is killed when dropped. Each test
//! binary uses what it needs of it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Child;

/// A running example process, killed and reaped on drop.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The built example `name`. `cargo test` builds the examples next to the test binaries'
/// `deps` folder; `cargo test --test X` alone does not, so a missing or stale binary is refused
/// with the command that builds it.
pub(crate) fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|p| p.parent()).unwrap();
    let path = dir.join("examples").join(name);
    let built = std::fs::metadata(&path).and_then(|m| m.modified());
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{name}.rs"));
    let edited = std::fs::metadata(&source)
        .and_then(|m| m.modified())
        .unwrap();
    assert!(
        built.is_ok_and(|built| built >= edited),
        "{} is not built or older than {}; run `cargo build -p entra-rs-examples --examples` \
         (or `cargo test --workspace`)",
        path.display(),
        source.display()
    );
    path
}
