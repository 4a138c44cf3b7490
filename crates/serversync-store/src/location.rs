//! Where an SQLite database file lives: created private (0600) before SQLite opens it, and
//! a failure named by the file and its cause ("cannot open database /x/y.db: directory /x
//! does not exist", "…: read-only file system"), not by the driver's code.

use std::io::ErrorKind;
use std::path::Path;

use crate::{Result, StoreError};

/// Creates the database file at `path` readable by its owner only (0600) when it is missing
/// (SQLite would create it world-readable, and its -wal and -shm files copy the database
/// file's mode), and checks that an existing one can be written. Errors
/// ([`StoreError::Invalid`]) name the file and the cause.
pub fn create_database_file(path: &Path) -> Result<()> {
    let opened = match crate::secrets::private_file(path) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            std::fs::OpenOptions::new().write(true).open(path).map(drop)
        }
        other => other.map(drop),
    };
    opened.map_err(|e| StoreError::Invalid(open_problem(path, &e)))
}

/// The message for a database file that could not be created or opened for writing.
pub fn open_problem(path: &Path, e: &std::io::Error) -> String {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let cause = match e.kind() {
        ErrorKind::NotFound if !dir.is_dir() => {
            format!("directory {} does not exist", dir.display())
        }
        ErrorKind::NotADirectory => format!("{} is not a directory", dir.display()),
        ErrorKind::ReadOnlyFilesystem => "read-only file system".to_string(),
        ErrorKind::PermissionDenied => "permission denied".to_string(),
        ErrorKind::IsADirectory => "it is a directory".to_string(),
        ErrorKind::StorageFull => "no space left on the device".to_string(),
        _ => e.to_string(),
    };
    format!("cannot open database {}: {cause}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("nope/x.db");
        let e = create_database_file(&db).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "cannot open database {}: directory {} does not exist",
                db.display(),
                dir.path().join("nope").display()
            )
        );
    }

    #[test]
    fn a_read_only_file_system_is_named() {
        // EROFS, as the kernel reports it for a file on a read-only mount.
        let e = std::io::Error::from_raw_os_error(30);
        assert_eq!(
            open_problem(Path::new("/ro/x.db"), &e),
            "cannot open database /ro/x.db: read-only file system"
        );
    }

    #[test]
    fn a_new_file_is_private_and_an_existing_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        create_database_file(&db).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&db).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&db, b"kept").unwrap();
        create_database_file(&db).unwrap();
        assert_eq!(std::fs::read(&db).unwrap(), b"kept");
    }
}
