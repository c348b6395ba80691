//! Docker CLI contexts, written exactly as `docker context create` writes them (checked against
//! docker CLI 28 in `tests/cli_context.rs`):
//!
//! - `DOCKER_CONFIG/contexts/meta/<sha256 hex of the name>/meta.json` (directories 0755, file
//!   0644): one line of JSON without a trailing newline;
//! - `DOCKER_CONFIG/contexts/tls/<sha256 hex of the name>/docker/{ca,cert,key}.pem` (directories
//!   0700, files 0600): *copies* of the client files.
//!
//! Because they are copies, a certificate renewed or re-issued in the client layout never
//! reaches the context. [`mirror_client_files`] closes that gap for the contexts dockpki made:
//! every plan that writes a client layout such a context copies also rewrites the copies, an
//! explicit step of every update ([`crate::store::state::State::feed_contexts`]) whose result,
//! the contexts fed ([`ContextFed`]), is part of the operation's outcome.

use std::path::{Path, PathBuf};

use serde_json::json;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fs::owner::Owner;
use crate::fs::owner::OwnerPolicy;
use crate::fs::write::WritePlan;
use crate::store::inventory::ContextRecord;

/// Mode of the `contexts/meta` directories (as docker creates them).
pub const META_DIR_MODE: u32 = 0o755;
/// Mode of `meta.json`.
pub const META_FILE_MODE: u32 = 0o644;
/// Mode of the `contexts/tls` directories.
pub const TLS_DIR_MODE: u32 = 0o700;
/// Mode of the copied PEM files.
pub const TLS_FILE_MODE: u32 = 0o600;
/// The files of a client layout a context copies, under the same names.
pub const TLS_FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

/// Checks a context name the way the docker CLI does: `^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$`, and
/// not `default`, which names the context made from `DOCKER_HOST` and cannot be stored.
///
/// # Errors
/// When the name is not one docker accepts for a context (or is `default`).
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest: Vec<char> = chars.collect();
    let rest_ok = !rest.is_empty()
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(*c));
    if !first_ok || !rest_ok {
        return Err(Error::new(format!(
            "{name:?} is not a valid docker context name; use at least two characters, letters, digits and _.+- only, starting with a letter or digit (as docker requires)"
        )));
    }
    if name == "default" {
        return Err(Error::new(
            "\"default\" is reserved by docker for the context made from DOCKER_HOST; choose another name",
        ));
    }
    Ok(())
}

/// The directory name docker derives from a context name: the SHA-256 of the name, hex.
pub fn context_id(name: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `DOCKER_CONFIG/contexts/meta/<id>`.
pub fn meta_dir(docker_config: &Path, name: &str) -> PathBuf {
    docker_config.join("contexts/meta").join(context_id(name))
}

/// `DOCKER_CONFIG/contexts/tls/<id>`.
pub fn tls_root(docker_config: &Path, name: &str) -> PathBuf {
    docker_config.join("contexts/tls").join(context_id(name))
}

/// `DOCKER_CONFIG/contexts/tls/<id>/docker`: where the endpoint's PEM files go.
pub fn tls_dir(docker_config: &Path, name: &str) -> PathBuf {
    tls_root(docker_config, name).join("docker")
}

/// Whether docker has anything stored under this name in `docker_config`.
pub fn exists(docker_config: &Path, name: &str) -> bool {
    meta_dir(docker_config, name).exists() || tls_root(docker_config, name).exists()
}

/// Whether docker knows the context: its `meta.json` exists. `docker context rm` removes it
/// (with the TLS directory), and docker lists only meta directories holding one.
pub fn is_present(docker_config: &Path, name: &str) -> bool {
    meta_dir(docker_config, name).join("meta.json").is_file()
}

/// Removes the context `name` from `docker_config` the way `docker context rm` does:
/// `meta.json` first (from then on docker no longer knows the context, so a crash at any later
/// point leaves a removed context and some empty directories or copies, which a second run
/// removes), then the TLS copies, then the directories. Returns the paths removed.
///
/// Only what a context made from a client layout holds is removed: `meta.json`,
/// `tls/<id>/docker/{ca,cert,key}.pem` and their directories. Anything else there (another
/// endpoint's files, a link) stops the removal before anything is removed. Every name is
/// opened and removed relative to its open parent directory, never through a link, since
/// this may run as root in a directory a user owns.
///
/// # Errors
/// When a directory or file is not what docker would have written, or a removal fails.
pub fn remove_files(docker_config: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let id = context_id(name);
    let meta = Dirs::open(docker_config, &["contexts", "meta", &id])?;
    let tls = Dirs::open(docker_config, &["contexts", "tls", &id, "docker"])?;
    // Check everything first: nothing is removed when anything is unexpected.
    let meta_files = meta.expect_only(&["meta.json"], &[])?;
    let tls_files = tls.expect_only(&TLS_FILES, &[])?;
    let tls_root = tls.parent_expecting(&["docker"])?;
    let mut removed = Vec::new();
    meta.remove(&meta_files, &mut removed)?;
    meta.remove_self(&mut removed)?;
    tls.remove(&tls_files, &mut removed)?;
    tls.remove_self(&mut removed)?;
    if let Some(root) = tls_root {
        root.remove_self(&mut removed)?;
    }
    Ok(removed)
}

/// A chain of directories opened one below the other without following links; `None` where a
/// directory does not exist.
struct Dirs {
    /// Each opened directory with its path: the base, then one per name down; shorter than
    /// that when one is missing.
    opened: Vec<(PathBuf, std::os::fd::OwnedFd)>,
    /// How many names were asked for.
    wanted: usize,
}

impl Dirs {
    /// Opens `base`, then each of `names` below the one before.
    fn open(base: &Path, names: &[&str]) -> Result<Dirs> {
        use nix::fcntl::{open, openat, OFlag};
        use nix::sys::stat::Mode;
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut opened: Vec<(PathBuf, std::os::fd::OwnedFd)> = Vec::new();
        let wanted = names.len();
        // The configuration directory itself may be a link (a dotfiles repository): it is the
        // user's choice of directory. Everything below it is docker's and never a link.
        match open(base, flags, Mode::empty()) {
            Ok(fd) => opened.push((base.to_path_buf(), fd)),
            Err(nix::errno::Errno::ENOENT) => return Ok(Dirs { opened, wanted }),
            Err(e) => return Err(Error::io("open", base, &std::io::Error::from(e))),
        }
        for name in names {
            let (path, result) = {
                let (parent_path, parent) = &opened[opened.len() - 1];
                (
                    parent_path.join(name),
                    openat(parent, *name, flags | OFlag::O_NOFOLLOW, Mode::empty()),
                )
            };
            match result {
                Ok(fd) => opened.push((path, fd)),
                Err(nix::errno::Errno::ENOENT) => break,
                Err(nix::errno::Errno::ELOOP | nix::errno::Errno::ENOTDIR) => {
                    return Err(Error::new(format!(
                        "{} is not a directory (a link or a file); docker would not have made it, so dockpki removes nothing there",
                        path.display()
                    )))
                }
                Err(e) => return Err(Error::io("open", &path, &std::io::Error::from(e))),
            }
        }
        Ok(Dirs { opened, wanted })
    }

    /// The last directory, when every one of the chain exists.
    fn leaf(&self) -> Option<&(PathBuf, std::os::fd::OwnedFd)> {
        (self.opened.len() == self.wanted + 1)
            .then(|| self.opened.last())
            .flatten()
    }

    /// The names in the last directory, all of which must be regular files among `files` or
    /// directories among `dirs`.
    fn expect_only(&self, files: &[&str], dirs: &[&str]) -> Result<Vec<String>> {
        let Some((path, fd)) = self.leaf() else {
            return Ok(Vec::new());
        };
        entries_expecting(path, fd, files, dirs)
    }

    /// The directory above the last one (its parent in the chain), checked to hold nothing
    /// but `dirs`; `None` when it does not exist.
    fn parent_expecting(&self, dirs: &[&str]) -> Result<Option<Dirs>> {
        // The parent is at index `wanted - 1` (the base is at 0).
        let n = self.wanted;
        if self.opened.len() < n {
            return Ok(None);
        }
        let (path, fd) = &self.opened[n - 1];
        entries_expecting(path, fd, &[], dirs)?;
        let opened = self.opened[..n]
            .iter()
            .map(|(p, fd)| fd.try_clone().map(|fd| (p.clone(), fd)))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::io("open", path, &e))?;
        Ok(Some(Dirs {
            opened,
            wanted: n - 1,
        }))
    }

    /// Removes `files` from the last directory.
    fn remove(&self, files: &[String], removed: &mut Vec<PathBuf>) -> Result<()> {
        let Some((path, fd)) = self.leaf() else {
            return Ok(());
        };
        for name in files {
            nix::unistd::unlinkat(fd, name.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir)
                .map_err(|e| Error::io("remove", &path.join(name), &std::io::Error::from(e)))?;
            removed.push(path.join(name));
        }
        let _ = nix::unistd::fsync(fd);
        Ok(())
    }

    /// Removes the last directory (empty by now) from its parent.
    fn remove_self(&self, removed: &mut Vec<PathBuf>) -> Result<()> {
        let Some((path, _)) = self.leaf() else {
            return Ok(());
        };
        let Some((_, parent)) = self.opened.len().checked_sub(2).map(|i| &self.opened[i]) else {
            return Ok(());
        };
        let name = path.file_name().unwrap_or_default();
        nix::unistd::unlinkat(parent, name, nix::unistd::UnlinkatFlags::RemoveDir)
            .map_err(|e| Error::io("remove", path, &std::io::Error::from(e)))?;
        let _ = nix::unistd::fsync(parent);
        removed.push(path.clone());
        Ok(())
    }
}

/// The names in the open directory `fd` (at `path`), each a regular file among `files` or a
/// directory among `dirs`, else an error naming it.
fn entries_expecting(
    path: &Path,
    fd: &std::os::fd::OwnedFd,
    files: &[&str],
    dirs: &[&str],
) -> Result<Vec<String>> {
    use nix::fcntl::AtFlags;
    use nix::sys::stat::{fstatat, SFlag};
    // A new open of the same directory, so that its reading position is its own.
    let own = nix::fcntl::openat(
        fd,
        ".",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::io("read", path, &std::io::Error::from(e)))?;
    let mut dir = nix::dir::Dir::from_fd(own)
        .map_err(|e| Error::io("read", path, &std::io::Error::from(e)))?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(|e| Error::io("read", path, &std::io::Error::from(e)))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "." || name == ".." {
            continue;
        }
        let st = fstatat(fd, entry.file_name(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| Error::io("inspect", &path.join(&name), &std::io::Error::from(e)))?;
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let expected = (kind == SFlag::S_IFREG && files.contains(&name.as_str()))
            || (kind == SFlag::S_IFDIR && dirs.contains(&name.as_str()));
        if !expected {
            return Err(Error::new(format!(
                "{} is not a file a docker context made from a client layout holds; remove it first (or remove the context with docker context rm), dockpki removes only what it knows",
                path.join(&name).display()
            )));
        }
        if kind == SFlag::S_IFREG {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// `meta.json` as docker writes it: Go's `encoding/json` with no indentation and no newline,
/// which escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings (they occur nowhere else).
pub fn meta_json(record: &ContextRecord) -> Vec<u8> {
    let metadata = match &record.description {
        Some(d) => json!({ "Description": d }),
        None => json!({}),
    };
    let doc = json!({
        "Name": record.name,
        "Metadata": metadata,
        "Endpoints": { "docker": { "Host": record.host, "SkipTLSVerify": false } },
    });
    let mut out = String::new();
    for c in doc.to_string().chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
}

/// Adds the whole context to `plan`: `meta.json` and the copies `files` (contents of `ca.pem`,
/// `cert.pem`, `key.pem`, in [`TLS_FILES`] order), with docker's modes for whatever directory
/// has to be created.
///
/// The copies of client files the plan also writes go with them, and `meta.json` with the
/// copies ([`WritePlan::mirror_of`]): when the update leaves the client layout out, it leaves
/// the context out too, rather than make a context whose copies run ahead of the layout, or
/// one with no TLS files at all.
pub fn plan_context(
    plan: &mut WritePlan,
    record: &ContextRecord,
    files: &[Zeroizing<Vec<u8>>; 3],
    owner: Option<Owner>,
) {
    let config = &record.docker_config;
    for (dir, mode) in [
        (config.clone(), META_DIR_MODE),
        (config.join("contexts"), META_DIR_MODE),
        (config.join("contexts/meta"), META_DIR_MODE),
        (meta_dir(config, &record.name), META_DIR_MODE),
        (config.join("contexts/tls"), TLS_DIR_MODE),
        (tls_root(config, &record.name), TLS_DIR_MODE),
        (tls_dir(config, &record.name), TLS_DIR_MODE),
    ] {
        plan.dir_mode(dir, mode);
    }
    let tls = tls_dir(config, &record.name);
    for (name, contents) in TLS_FILES.iter().zip(files) {
        let source = record.client_dir.join(name);
        let copy = tls.join(name);
        if plan.planned(&source).is_some() {
            plan.mirror_of(copy, contents, TLS_FILE_MODE, owner, &source);
        } else {
            plan.mirror(copy, contents, TLS_FILE_MODE, owner);
        }
    }
    plan.mirror_of(
        meta_dir(config, &record.name).join("meta.json"),
        &meta_json(record),
        META_FILE_MODE,
        owner,
        &tls.join(TLS_FILES[0]),
    );
}

/// A docker context dockpki made whose copies of its client layout's files an update rewrites:
/// part of the outcome of every operation that writes client layouts, so that the caller can
/// say which contexts changed with them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ContextFed {
    /// The context's name.
    pub name: String,
    /// The docker configuration directory it is in.
    pub docker_config: PathBuf,
    /// The client layout it copies.
    pub client_dir: PathBuf,
}

impl ContextFed {
    /// `DOCKER_CONFIG/contexts/tls/<id>/docker`: where its copies are.
    pub fn tls_dir(&self) -> PathBuf {
        tls_dir(&self.docker_config, &self.name)
    }
}

/// The step that keeps contexts in step with their client layouts: for every context in
/// `contexts` whose client layout file `plan` rewrites, adds the same contents for the
/// context's copy, so that both change in one journaled update, and returns those contexts.
/// [`crate::store::state::State::feed_contexts`] runs it, and [`crate::store::state::State::commit`]
/// writes only a plan that went through it, so `issue`, `bootstrap`, `renew` and every phase
/// of `ca rotate` reach contexts, and say so in their outcomes. A context removed with
/// `docker context rm` (no `meta.json` left) is not recreated, and a copy the plan already
/// writes (`context create`) is left as planned.
pub fn mirror_client_files(
    plan: &mut WritePlan,
    contexts: &[ContextRecord],
    owners: &OwnerPolicy,
) -> Vec<ContextFed> {
    // Each copy: where it goes, its contents, its owner, and the layout file it copies.
    type Copy = (PathBuf, Zeroizing<Vec<u8>>, Option<Owner>, PathBuf);
    let mut copies: Vec<Copy> = Vec::new();
    let mut fed = Vec::new();
    for record in contexts {
        let config = &record.docker_config;
        if !meta_dir(config, &record.name).join("meta.json").is_file() {
            continue;
        }
        // A context copies its layout's key into its owner's tree: only ever a layout of
        // that same owner (a context recorded over someone else's layout is not fed).
        let owner = owners.owner_for(config);
        if owner.map(|o| o.uid) != owners.owner_for(&record.client_dir).map(|o| o.uid) {
            continue;
        }
        let before = copies.len();
        for name in TLS_FILES {
            let copy = tls_dir(config, &record.name).join(name);
            if plan.planned(&copy).is_some() {
                continue;
            }
            let source = record.client_dir.join(name);
            if let Some((contents, _)) = plan.planned(&source) {
                copies.push((copy, Zeroizing::new(contents.to_vec()), owner, source));
            }
        }
        if copies.len() > before {
            fed.push(ContextFed {
                name: record.name.clone(),
                docker_config: config.clone(),
                client_dir: record.client_dir.clone(),
            });
        }
    }
    for (path, contents, owner, source) in copies {
        plan.mirror_of(path, &contents, TLS_FILE_MODE, owner, &source);
    }
    fed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A context copies its client layout into its owner's docker configuration: one recorded
    /// over a layout of another owner (root's, outside the user's home) is not fed, and not
    /// named among the contexts fed, while one over the user's own layout is.
    #[test]
    fn a_context_over_a_layout_of_another_owner_is_not_fed() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let config = home.join(".docker");
        let owners = OwnerPolicy::InvokingUser {
            owner: Owner {
                uid: 65534,
                gid: 65534,
            },
            home: home.clone(),
        };
        let record = |name: &str, client_dir: PathBuf| ContextRecord {
            name: name.into(),
            docker_config: config.clone(),
            client_dir,
            host: "tcp://h:2376".into(),
            description: None,
        };
        let contexts = [
            record("theirs", home.join("layout")),
            record("roots", root.path().join("root-layout")),
        ];
        let mut plan = WritePlan::new(crate::fs::Existing::Refuse);
        for c in &contexts {
            // Contexts docker knows (a removed one is never fed).
            std::fs::create_dir_all(meta_dir(&config, &c.name)).unwrap();
            std::fs::write(meta_dir(&config, &c.name).join("meta.json"), "{}").unwrap();
            for name in TLS_FILES {
                plan.cert(c.client_dir.join(name), name, None);
            }
        }
        let fed = mirror_client_files(&mut plan, &contexts, &owners);
        assert_eq!(
            fed,
            [ContextFed {
                name: "theirs".into(),
                docker_config: config.clone(),
                client_dir: home.join("layout"),
            }]
        );
        for name in TLS_FILES {
            let (copy, owner) = plan
                .planned(&tls_dir(&config, "theirs").join(name))
                .expect("their own layout is copied");
            assert_eq!((copy, owner.map(|o| o.uid)), (name.as_bytes(), Some(65534)));
            assert!(plan
                .planned(&tls_dir(&config, "roots").join(name))
                .is_none());
        }
    }

    #[test]
    fn context_id_is_the_sha256_of_the_name_in_hex() {
        // `printf remote-a | sha256sum`; also the directory docker 28 created for it.
        assert_eq!(
            context_id("remote-a"),
            "6bade1949e2327f85564ee8b66e8bf55d23cf996e83ae59c06c179f70fc153e3"
        );
    }

    #[test]
    fn names_follow_dockers_pattern_and_default_is_reserved() {
        for ok in ["remote-a", "a1", "prod.eu+1_x", "9z"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "-a", ".a", "a b", "a/b", "ä1", "default"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn meta_json_is_one_line_with_docker_key_order_and_go_escapes() {
        let mut record = ContextRecord {
            name: "remote-a".into(),
            docker_config: "/c".into(),
            client_dir: "/d".into(),
            host: "tcp://h:2376".into(),
            description: Some("a <b> & c".into()),
        };
        assert_eq!(
            String::from_utf8(meta_json(&record)).expect("utf-8"),
            r#"{"Name":"remote-a","Metadata":{"Description":"a \u003cb\u003e \u0026 c"},"Endpoints":{"docker":{"Host":"tcp://h:2376","SkipTLSVerify":false}}}"#
        );
        record.description = None;
        assert_eq!(
            String::from_utf8(meta_json(&record)).expect("utf-8"),
            r#"{"Name":"remote-a","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://h:2376","SkipTLSVerify":false}}}"#
        );
    }
}
