//! Opening files without trusting their owner.
//!
//! Ferry usually runs as root, so that it can start each app as the app's owner. Root may open
//! any file on the machine, so every path Ferry opens on behalf of a request or an app must not
//! let the owner of some directory on that path choose, by a symbolic link, a FIFO or a file
//! swapped in at the right moment, what root ends up opening. This module is the one place that
//! opens such paths. It holds two mechanisms: [`Root`] for files Ferry serves (static files,
//! `X-Accel-Redirect`), with nginx's `disable_symlinks` rules, and [`UntrustedDir`] for files an
//! app writes for Ferry to read (the spawn work directory), where no link is followed at all.
//!
//! This text is the statement of the rules; `docs/security.md` quotes it.
//!
//! # Who is trusted
//!
//! * **Root's configuration** is trusted: a document root path, a `from=` prefix, the location of
//!   a spawn work directory. The kernel resolves a `from=` prefix as usual, links and all; a
//!   work directory likewise, except that its own last component must not be a link.
//! * **The owner of a file or directory** is trusted with what that owner could read anyway.
//!   Under `disable_symlinks if_not_owner`, a link is followed only when it and the object it
//!   resolves to belong to the same user: such a link shows nothing its owner could not copy
//!   into the document root themselves.
//! * **An app's owner is otherwise hostile**: anything they can write (their `public/`, their
//!   app directory, the work directory chowned to them) may hold links to `/etc/shadow`, FIFOs
//!   that never open, files of a gigabyte, and may change between any two system calls.
//!
//! # Serving files: [`Root`] and nginx's `disable_symlinks`
//!
//! A lookup takes a trusted absolute document root and a request path that the caller has
//! already percent-decoded and split into plain names (no `..`, `.`, empty name, `/` or NUL; a
//! name that breaks this is an [`OpenError::InvalidPath`]). The full path is the root followed
//! by those names. Every mode of [`DisableSymlinks`] is nginx's:
//!
//! * **`off`**: the kernel opens the full path and follows every link. Use it only when Ferry
//!   does not run as root, or when every owner of every directory on the path is trusted.
//! * **`on`**: a symbolic link in any component of the full path, from `/` down to the file, is
//!   refused ([`Refusal::Symlink`]). This includes the document root's own components: a
//!   Capistrano `current -> releases/20240101` needs `from=`.
//! * **`if_not_owner`**: a link is followed only when the link and the object it resolves to
//!   have the same owner uid; otherwise it is refused ([`Refusal::Owner`]).
//! * **`from=PREFIX`** (with `on` or `if_not_owner`): when the full path starts with `PREFIX`
//!   (compared by whole components), the part up to and including `PREFIX` is opened by the
//!   kernel as usual, links and all, and only the rest is checked; when the full path *is*
//!   `PREFIX`, nothing is checked. A full path that does not start with `PREFIX` is checked
//!   whole. Without `from=`, every component from `/` is checked, as nginx does.
//!
//! ## The walk
//!
//! The checked part is first opened whole by one `openat2(.., RESOLVE_NO_SYMLINKS)` (with the
//! flags below for what is wanted): when no component is a link there is nothing for the mode to
//! decide, and the kernel, which fails on any link it meets, opens what the walk would in one
//! system call. Its result is kept only when it opened something, or said `ENOENT` (the
//! components before the missing one were no links). Anything else (a link, `ELOOP`; a last
//! component that must be a directory and is a link, `ENOTDIR`; any other failure; a kernel
//! without `openat2`) leaves the lookup to the walk, which decides by the rules below. A single
//! name below a [`Dir`] is one `openat` either way and goes to the walk directly.
//!
//! The checked part is walked one component at a time from a directory file descriptor, never
//! by name from the top, so no component can be swapped between a check and an open:
//!
//! * a directory component is opened with `openat(dir, name, O_PATH|O_DIRECTORY|O_NOFOLLOW|
//!   O_CLOEXEC)`. `O_NOFOLLOW` makes a link fail instead of being followed (with `O_DIRECTORY`,
//!   as `ENOTDIR`); `O_PATH` needs only search permission and runs no driver or file system
//!   `open` code; `O_CLOEXEC` keeps the descriptor out of the apps Ferry forks meanwhile. On
//!   `ENOTDIR` the name is looked at without following it: under `on` a link is refused and
//!   anything else is "not found"; under `if_not_owner` a link is followed as below;
//! * the last component is opened with `O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC` (a link fails
//!   with `ELOOP`; `O_NONBLOCK` because opening a FIFO without it blocks until a writer
//!   appears) and its type is taken from `fstat` of that descriptor: a regular file is
//!   [`Found::File`], a directory is [`Found::Dir`] (for index files and redirects), anything
//!   else is refused as [`OpenError::NotServable`];
//! * under `if_not_owner`, a link is never followed by name (the name could be swapped after a
//!   check). The link itself is opened with `O_PATH|O_NOFOLLOW`, its owner taken from `fstat`
//!   of that descriptor and its content read from it (`readlinkat(fd, "")`), so owner and
//!   content belong to the same link. The content is then walked by the same rules: an
//!   absolute link from `/`, a relative one from the link's directory. The walk keeps the last
//!   16 directories it went through open, and a `..` goes back to the one held a level up
//!   (never a name lookup; at `/` it stays at `/`). Above those, or above a `from=` prefix, a
//!   `..` is `openat(dir, "..")`: the physical parent, as the kernel's own `..` finds it, and
//!   never above `/` either. (The bound keeps a request naming a path thousands of directories
//!   deep from holding thousands of descriptors.) At the end, the link's owner is compared
//!   with the owner of what it resolved to (`fstat` of the opened descriptor). In a chain,
//!   *every* link is compared with what it resolves to;
//! * the last object reached through a link is first looked at with `fstatat(..,
//!   AT_SYMLINK_NOFOLLOW)`: a FIFO, socket or device there is refused without being opened
//!   (opening a device runs its driver's code as root), and the object then opened must be the
//!   same one (device and inode), or the lookup fails;
//! * at most 40 links are followed in one lookup, the kernel's own bound; beyond that the
//!   lookup fails ([`Refusal::TooManyLinks`], `ELOOP`).
//!
//! Differences from nginx, all stricter: nginx lets the kernel follow an `if_not_owner` link by
//! name and compares only the first link of a chain with the final object; here each link in a
//! chain, and each link met inside a link's content, must match what it resolves to, and the
//! content of a link is always checked even when it spells a path under `PREFIX` (the `from=`
//! exemption is for the request's path only).
//!
//! A [`Dir`] found by a lookup keeps the descriptors of the walk, so a caller can try `name`,
//! `name.html` and `name/index.html` below it ([`Dir::open_at`]) by the same rules without
//! walking from `/` again; `from=` is compared with the full path as requested (the document
//! root and the names), whichever directory the lookup starts from.
//!
//! What a result means to a caller: [`Found::File`] is served; [`Found::Dir`] gets its index
//! file or a redirect; [`OpenError::NotFound`] is a 404 (or the next candidate);
//! [`OpenError::Refused`] and [`OpenError::PermissionDenied`] are a 403, as nginx answers
//! `ELOOP` and `EACCES`; [`OpenError::NotServable`] is a 404 in nginx (Ferry's own file serving
//! has answered 403); [`OpenError::Io`] is a 500. Where Ferry serves an app's `public/` as
//! Passenger does, anything but a file (or a directory with an index) goes to the app.
//!
//! ## Cost
//!
//! System calls for `public/assets/app.css` under `/srv/app/current/public`, with `current` a
//! relative link to `releases/1`, counted with `strace` (the caller's own `close` of the file
//! is not counted; a debug build adds a `fcntl(F_GETFD)` before each `close`):
//!
//! | mode                                  | calls | which                                         |
//! |---------------------------------------|-------|-----------------------------------------------|
//! | `off`                                 | 2     | `openat` of the full path, `statx`            |
//! | `on` or `if_not_owner`, no link on the path (`/srv/app/releases/1/public/...`) | 2 | `openat2` of the full path, `statx` |
//! | `on` or `if_not_owner`, `from=` root  | 4     | `openat` of the prefix, `openat2` of `assets/app.css`, `statx`, `close` |
//! | `on`, no `from=` (refused)            | 9     | `openat2` (`ELOOP`); `openat` of `/`, `srv`, `app`, `current` (`ENOTDIR`), `newfstatat` (a link), 3 `close` |
//! | `if_not_owner`, no `from=`            | 23    | `openat2` (`ELOOP`); `openat` of `/`, `srv`, `app`, `current` (`ENOTDIR`); the link: `openat`, `fstat`, `readlinkat`, `close`; `openat` of `releases`, `1`, `fstat`; `openat` of `public`, `assets`, the file, `statx`; 7 `close` |
//!
//! A miss costs the same up to the missing name (one `openat2` when no link comes before it).
//! With a link on the document root's path, `from=$document_root` is the cheap way to run with
//! links checked.
//!
//! # Reading what an app wrote: [`UntrustedDir`]
//!
//! A spawn's work directory is created by Ferry, then chowned to the app's user, who writes
//! `response/properties.json`, `response/error/*`, `response/steps/*`, `envdump/**` into it.
//! Ferry opens the directory once (by path, or from a descriptor it holds) and then:
//!
//! * walks each relative path with `O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC` on every component: **a
//!   symbolic link anywhere is an error**, never followed, because nothing in a work directory
//!   needs one;
//! * requires every directory and the final object to be on the work directory's file system
//!   (`st_dev`), so an app cannot put a FUSE mount or a bind mount in place of a file;
//! * requires the final object to be a regular file (from `fstat` of the opened descriptor: a
//!   FIFO, socket, device or directory is an error; a FIFO opened with `O_NONBLOCK` does not
//!   block), owned by the expected uid when the caller gives one (a hard link to a file of
//!   another user, which `fs.protected_hardlinks=0` allows, is refused);
//! * reads at most the caller's cap and fails beyond it (the size from `fstat` first, then at
//!   most one byte more than the cap), so neither a 1 GiB file nor a growing one is read into
//!   memory;
//! * lists directories the same way, with a cap on the number of entries, and tells whether an
//!   entry exists and what it is without following it.
//!
//! Errors name the file by its relative path and the reason, in words fit for a spawn error page
//! ("response/error/summary is a symbolic link; Ferry does not follow links an app writes").
//! These calls are synchronous; callers run them on the blocking pool with a timeout.
//!
//! # Not covered
//!
//! A directory Ferry walks may be bind-mounted or replaced by root; root is trusted. Reading a
//! regular file on a slow or hung file system blocks the calling thread; [`Root`] lookups run
//! where a local-disk `stat` may block, as in nginx. Linux only (`O_PATH`).

mod error;
mod kind;
mod policy;
mod root;
mod untrusted;
mod walk;

#[cfg(test)]
mod testing;

pub use error::{OpenError, Refusal};
pub use kind::FileKind;
pub use policy::{DisableSymlinks, SymlinkPolicy};
pub use root::{Dir, Found, Root};
pub use untrusted::{Entry, Reason, UntrustedDir, UntrustedError};
pub use walk::OpenFile;
