//! Where the CA key's passphrase comes from on the command line: `--passphrase-file` (or
//! `DOCKPKI_PASSPHRASE_FILE`), else the terminal. The engine asks through its
//! [`Passphrases`] trait; [`CliPassphrases`] answers, once per process: a rotation unlocks two
//! CAs and encrypts a third, and a second prompt (or a second read of the file) would only be
//! another chance to get it wrong.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dockpki_provision::fs::reader::{self, Limit, Links};
use dockpki_provision::store::{Passphrases, Purpose};
use zeroize::Zeroizing;

use crate::error::{CliError, CliResult};

/// Which passphrase a [`CliPassphrases`] stands for: named in its prompt and in its errors, so
/// that an operator asked for two (`ca passphrase`) knows which one to type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Secret {
    /// The CA key's passphrase (`--passphrase-file`).
    #[default]
    CaKey,
    /// The CA key's new passphrase (`ca passphrase --new-passphrase-file`).
    NewCaKey,
    /// The passphrase of an exported file (`export pkcs12 --export-passphrase-file`).
    Export,
}

impl Secret {
    /// What the terminal prompt asks for.
    fn prompt(self) -> &'static str {
        match self {
            Secret::CaKey => "dockpki: CA key passphrase: ",
            Secret::NewCaKey => "dockpki: new CA key passphrase: ",
            Secret::Export => "dockpki: export passphrase: ",
        }
    }

    /// The option that gives it from a file, as the errors name it.
    fn option(self) -> &'static str {
        match self {
            Secret::CaKey => "--passphrase-file FILE (or set DOCKPKI_PASSPHRASE_FILE)",
            Secret::NewCaKey => "--new-passphrase-file FILE",
            Secret::Export => "--export-passphrase-file FILE",
        }
    }

    /// What is missing when it cannot be asked for.
    fn missing(self) -> &'static str {
        match self {
            Secret::CaKey => "the CA key is encrypted and no passphrase was given",
            Secret::NewCaKey => "no new passphrase was given",
            Secret::Export => "no export passphrase was given",
        }
    }
}

/// The command line's passphrase source.
#[derive(Debug, Default)]
pub struct CliPassphrases {
    /// `--passphrase-file` / `DOCKPKI_PASSPHRASE_FILE`; without one, the terminal.
    file: Option<PathBuf>,
    /// Which passphrase this is.
    secret: Secret,
    /// The passphrase once obtained.
    cached: Mutex<Option<Zeroizing<Vec<u8>>>>,
}

impl CliPassphrases {
    /// Reads `file` when a passphrase is first needed, or prompts when there is none.
    pub fn new(file: Option<PathBuf>) -> CliPassphrases {
        CliPassphrases::of(Secret::CaKey, file)
    }

    /// Like [`CliPassphrases::new`], for the passphrase `secret` names.
    pub fn of(secret: Secret, file: Option<PathBuf>) -> CliPassphrases {
        CliPassphrases {
            file,
            secret,
            cached: Mutex::new(None),
        }
    }

    /// The passphrase: from the file, else typed on the terminal without echo. Never from the
    /// command line, where `ps` and shell history show it.
    fn obtain(&self, purpose: Purpose) -> CliResult<Zeroizing<Vec<u8>>> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cached.as_ref() {
            return Ok(p.clone());
        }
        let pass = match &self.file {
            Some(path) => from_file(path)?,
            None => prompt(self.secret, purpose)?,
        };
        *cached = Some(pass.clone());
        Ok(pass)
    }
}

impl Passphrases for CliPassphrases {
    fn passphrase(&self, purpose: Purpose) -> dockpki_provision::Result<Zeroizing<Vec<u8>>> {
        self.obtain(purpose)
            .map_err(|e| dockpki_provision::Error::new(e.to_string()))
    }
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

fn prompt(secret: Secret, purpose: Purpose) -> CliResult<Zeroizing<Vec<u8>>> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new(format!(
            "{}; pass {}, or run on a terminal to be asked",
            secret.missing(),
            secret.option()
        )));
    }
    let first = read_hidden(secret.prompt())?;
    if first.is_empty() {
        return Err(CliError::new(format!(
            "empty passphrase; type one, or pass {}",
            secret.option()
        )));
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
