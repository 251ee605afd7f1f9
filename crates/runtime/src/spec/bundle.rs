//! Writing the bundle's `config.json`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use oci_spec::runtime::Spec;

use super::SpecError;

/// Writes `dir/config.json` so that a reader sees either the old file or the complete new one,
/// even across a crash: temp file, fsync, rename, fsync of the directory. Mode 0600, because the
/// spec holds the container's environment, which often carries secrets.
pub fn write_bundle(dir: &Path, spec: &Spec) -> Result<(), SpecError> {
    let data = serde_json::to_vec(spec)?;
    let target = dir.join("config.json");
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let result = write_synced(&tmp, &data).and_then(|()| {
        fs::rename(&tmp, &target)
            .map_err(|e| SpecError::io(format!("renaming {} into place", tmp.display()), e))
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SpecError::io(format!("syncing bundle directory {}", dir.display()), e))
}

fn write_synced(path: &Path, data: &[u8]) -> Result<(), SpecError> {
    let ctx = |what: &str| format!("{what} {}", path.display());
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| SpecError::io(ctx("creating"), e))?;
    // A leftover temp file from a crash keeps its old mode; make sure it is 0600.
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| SpecError::io(ctx("setting the mode of"), e))?;
    f.write_all(data)
        .map_err(|e| SpecError::io(ctx("writing"), e))?;
    f.sync_all().map_err(|e| SpecError::io(ctx("syncing"), e))
}

#[cfg(test)]
mod tests {
    use super::super::{generate, tests::sample};
    use super::*;

    #[test]
    fn writes_a_private_config_that_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let spec = generate(&sample()).unwrap();
        write_bundle(dir.path(), &spec).unwrap();
        let path = dir.path().join("config.json");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Spec::load(&path).unwrap(), spec);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config.json"], "temp file left behind");
    }

    #[test]
    fn replaces_an_existing_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        // A stale temp file from a crash must not keep a wider mode.
        let stale = dir
            .path()
            .join(format!(".config.json.{}.tmp", std::process::id()));
        fs::write(&stale, "junk").unwrap();
        fs::set_permissions(&stale, fs::Permissions::from_mode(0o666)).unwrap();

        let spec = generate(&sample()).unwrap();
        write_bundle(dir.path(), &spec).unwrap();
        assert_eq!(Spec::load(&path).unwrap(), spec);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!stale.exists());
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let spec = generate(&sample()).unwrap();
        let err = write_bundle(Path::new("/nonexistent/bundle"), &spec).unwrap_err();
        assert!(matches!(err, SpecError::Io { .. }));
        assert!(!err.is_invalid_argument());
    }
}
