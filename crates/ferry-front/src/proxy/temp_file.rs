//! The unlinked temp files that hold what does not fit in memory: a request body longer than
//! `client_body_buffer_size` (`buffer.rs`) and a response its client takes more slowly than the
//! app writes it (`buffering/spill.rs`).

use std::fs::File;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// A file in `dir` that has no name once made (`O_TMPFILE`, else a random name removed at once),
/// readable and writable by Ferry alone; it disappears with its last descriptor, even after a
/// crash. `dir` is made (mode 0700) when it does not exist. Blocking: call it on the blocking
/// pool.
pub(super) fn unlinked_in(dir: &Path) -> io::Result<File> {
    tempfile::tempfile_in(dir).or_else(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            tempfile::tempfile_in(dir)
        }
        _ => Err(e),
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, Write};

    use super::*;

    #[test]
    fn a_missing_directory_is_made_private_and_the_file_has_no_name() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        let mut file = unlinked_in(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o700
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no name left");
        file.write_all(b"kept").unwrap();
        file.rewind().unwrap();
        let mut back = String::new();
        file.read_to_string(&mut back).unwrap();
        assert_eq!(back, "kept");
    }
}
