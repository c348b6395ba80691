//! Where the CA key's passphrase comes from, and how the CA key file is trusted before it is
//! read.
//!
//! These are process-wide settings made once from the global options (`--passphrase-file`,
//! `--insecure-perms`) before any command runs. They live here rather than in every command's
//! arguments so that each path that loads the CA (`State::load_*`, in one place) obeys them,
//! including commands added later.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use zeroize::Zeroizing;

use crate::error::{CliError, CliResult};
use crate::reader::{self, Limit, Links};

/// What the global options say about secrets.
#[derive(Debug, Default)]
pub struct Settings {
    /// `--passphrase-file` / `DOCKPKI_PASSPHRASE_FILE`.
    pub passphrase_file: Option<PathBuf>,
    /// `--insecure-perms`: a CA key readable by group or others is a warning, not an error.
    pub insecure_perms: Perms,
}

/// How a CA key file readable by group or others is treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Perms {
    /// Refused with an error naming `chmod 400` (the default, like ssh's).
    #[default]
    Strict,
    /// Loaded after a warning on stderr (`--insecure-perms`).
    WarnOnly,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();
// Obtained at most once per process: a rotation loads two encrypted CAs, and a second prompt (or
// a second read of the file) would only be another chance to get it wrong.
static PASSPHRASE: Mutex<Option<Zeroizing<Vec<u8>>>> = Mutex::new(None);

/// Records the global options; called once before the command runs.
pub fn configure(settings: Settings) {
    let _ = SETTINGS.set(settings);
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(Settings::default)
}

/// How passphrases are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// To decrypt an existing key: asked once.
    Unlock,
    /// To encrypt a key: asked twice on a terminal, so that a typo does not lock the CA away.
    NewPassphrase,
}

/// The passphrase: from `--passphrase-file` (or `DOCKPKI_PASSPHRASE_FILE`), else typed on the
/// terminal without echo. Never from the command line, where `ps` and shell history show it.
pub fn passphrase(purpose: Purpose) -> CliResult<Zeroizing<Vec<u8>>> {
    let mut cached = PASSPHRASE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = cached.as_ref() {
        return Ok(p.clone());
    }
    let pass = match &settings().passphrase_file {
        Some(path) => from_file(path)?,
        None => prompt(purpose)?,
    };
    *cached = Some(pass.clone());
    Ok(pass)
}

/// The passphrase is the file's first line, without its line ending, as `openssl -passin
/// file:` reads it, so that a key encrypted by one is readable by the other. The file must be a
/// regular file (a FIFO would block, a device never end); one readable by group or others is
/// used with a warning, since the passphrase in it is as secret as the key it unlocks.
fn from_file(path: &Path) -> CliResult<Zeroizing<Vec<u8>>> {
    let file = reader::open(path, Links::Follow, Limit::Passphrase)
        .map_err(|e| e.into_error("read the passphrase file", path))?;
    let mode = file
        .metadata()
        .map_err(|e| CliError::io("read the passphrase file", path, &e))?
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        crate::output::note(format!(
            "warning: the passphrase file {} is accessible by group or others (mode {mode:04o}); run `chmod 600 {}`",
            path.display(),
            crate::output::shell_quote(&path.display().to_string())
        ));
    }
    let bytes = reader::read_opened(file, path, Limit::Passphrase)?;
    let pass = Zeroizing::new(first_line(&bytes).to_vec());
    if pass.is_empty() {
        return Err(CliError::new(format!(
            "the first line of the passphrase file {} is empty; put the passphrase on its first line",
            path.display()
        )));
    }
    Ok(pass)
}

/// The first line of `bytes`, without its `\n` or `\r\n`.
fn first_line(bytes: &[u8]) -> &[u8] {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or(bytes);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One trailing newline is the end of the line `echo` or an editor wrote, not the passphrase.
fn strip_newline(bytes: &[u8]) -> &[u8] {
    let b = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    b.strip_suffix(b"\r").unwrap_or(b)
}

fn prompt(purpose: Purpose) -> CliResult<Zeroizing<Vec<u8>>> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new(
            "the CA key is encrypted and no passphrase was given; pass --passphrase-file FILE (or set DOCKPKI_PASSPHRASE_FILE), or run on a terminal to be asked",
        ));
    }
    let first = read_hidden("dockpki: CA key passphrase: ")?;
    if first.is_empty() {
        return Err(CliError::new(
            "empty passphrase; type one, or pass --passphrase-file FILE",
        ));
    }
    if purpose == Purpose::NewPassphrase {
        let again = read_hidden("dockpki: repeat the passphrase: ")?;
        if again != first {
            return Err(CliError::new(
                "the two passphrases differ; run the command again",
            ));
        }
    }
    Ok(first)
}

/// Reads one line from the terminal on stdin with echo turned off, restoring the terminal even
/// when reading fails.
fn read_hidden(prompt: &str) -> CliResult<Zeroizing<Vec<u8>>> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin)
        .map_err(|e| CliError::new(format!("cannot read the terminal settings: {e}")))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)
        .map_err(|e| CliError::new(format!("cannot turn off the terminal echo: {e}")))?;
    let mut line = Zeroizing::new(Vec::new());
    let read = stdin.lock().read_until(b'\n', &mut line);
    let restored = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    read.map_err(|e| CliError::new(format!("cannot read the passphrase: {e}")))?;
    restored.map_err(|e| CliError::new(format!("cannot restore the terminal echo: {e}")))?;
    Ok(Zeroizing::new(strip_newline(&line).to_vec()))
}

/// Reads a CA key file the way ssh reads identity files: not through a symlink, only a regular
/// file, owned by the running user or root, and not readable by group or others unless
/// `--insecure-perms` (then with a warning). The checks use the opened file, so the file that
/// was checked is the file that is read.
pub fn read_ca_key(path: &Path) -> CliResult<Zeroizing<Vec<u8>>> {
    let file = reader::open(path, Links::Refuse, Limit::Pem).map_err(|e| match e {
        reader::ReadError::NotFound(e) => CliError::io("read", path, &e),
        reader::ReadError::Refused(e) => e.context("the CA key"),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| CliError::io("read", path, &e))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(CliError::new(format!(
            "refusing to use the CA key {} because it is owned by uid {}, not by you (uid {me}) or root; whoever owns it can replace it: chown it to yourself",
            path.display(),
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        let problem = format!(
            "the CA key {} is accessible by group or others (mode {mode:04o}); run `chmod 400 {}`",
            path.display(),
            crate::output::shell_quote(&path.display().to_string())
        );
        match settings().insecure_perms {
            Perms::Strict => {
                return Err(CliError::new(format!(
                    "{problem} (or pass --insecure-perms to use it anyway)"
                )))
            }
            Perms::WarnOnly => crate::output::note(format_args!("warning: {problem}")),
        }
    }
    reader::read_opened(file, path, Limit::Pem)
}

#[cfg(test)]
mod tests {
    use super::{first_line, strip_newline};

    #[test]
    fn a_passphrase_file_gives_its_first_line_like_openssl_passin_file() {
        assert_eq!(first_line(b"secret\nsecond line\n"), b"secret");
        assert_eq!(first_line(b"secret\r\nsecond"), b"secret");
        assert_eq!(first_line(b"secret"), b"secret");
        assert_eq!(first_line(b"\nsecret"), b"");
        assert_eq!(first_line(b" se cret \n"), b" se cret ");
    }

    #[test]
    fn one_trailing_newline_is_not_part_of_the_passphrase() {
        assert_eq!(strip_newline(b"secret\n"), b"secret");
        assert_eq!(strip_newline(b"secret\r\n"), b"secret");
        assert_eq!(strip_newline(b"secret"), b"secret");
        assert_eq!(strip_newline(b"secret\n\n"), b"secret\n");
        assert_eq!(strip_newline(b" secret "), b" secret ");
    }
}
