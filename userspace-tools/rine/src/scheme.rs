//! Redox names to host things. relibc opens `/a/b` in two steps (redox-rt `sys::open`): the
//! namespace handle resolves the scheme (`/scheme/NAME/...`, anything else is the `file`
//! scheme) and returns that scheme's root; the rest of the path is opened on that root.

use std::path::{Component, Path, PathBuf};

/// The scheme a namespace path belongs to: `/scheme/rand` is `rand`, `/tmp/x` is `file`.
pub fn scheme_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    match rest.strip_prefix("scheme/") {
        Some(tail) => {
            let name = tail.split('/').next().unwrap_or("");
            (!name.is_empty()).then_some(name)
        }
        None => Some("file"),
    }
}

/// The host path of `reference` (relative to the `file` scheme's root) under `root`. `..`
/// cannot climb above `root`: the host directory is the program's whole file system.
pub fn host_path(root: &Path, dir: &str, reference: &str) -> PathBuf {
    let mut parts: Vec<&str> = Vec::new();
    let joined = if reference.starts_with('/') {
        reference.to_string()
    } else {
        format!("{dir}/{reference}")
    };
    for c in Path::new(&joined).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str().unwrap_or("")),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let mut out = root.to_path_buf();
    out.extend(parts);
    out
}

/// A `file`-scheme reference with `.`/`..` resolved, without a leading `/`: what the handle
/// remembers and what `fpath` prints after `/scheme/file/`.
pub fn normalize(dir: &str, reference: &str) -> String {
    let p = host_path(Path::new("/"), dir, reference);
    p.to_str()
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that namespace paths name the scheme relibc's `RedoxPath` names.
    #[test]
    fn scheme_of_paths() {
        assert_eq!(scheme_of("/tmp/demo.txt"), Some("file"));
        assert_eq!(scheme_of("/scheme/rand"), Some("rand"));
        assert_eq!(scheme_of("/scheme/time/4"), Some("time"));
        assert_eq!(scheme_of("/"), Some("file"));
        assert_eq!(scheme_of("relative"), None);
        assert_eq!(scheme_of("/scheme/"), None);
    }

    /// Verifies that file references stay inside the root, whatever `..` they carry.
    #[test]
    fn host_path_stays_in_root() {
        let root = Path::new("/srv/redox");
        assert_eq!(
            host_path(root, "", "tmp/x"),
            PathBuf::from("/srv/redox/tmp/x")
        );
        assert_eq!(
            host_path(root, "home", "../../../etc/passwd"),
            PathBuf::from("/srv/redox/etc/passwd")
        );
        assert_eq!(
            host_path(root, "home/u", "./a"),
            PathBuf::from("/srv/redox/home/u/a")
        );
        assert_eq!(normalize("tmp", "../usr/./bin"), "usr/bin");
    }
}
