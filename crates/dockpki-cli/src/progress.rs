//! A spinner on stderr while the engine does work that takes seconds (RSA keys, `renew --all`),
//! drawn from its [`Notice::Progress`](dockpki_provision::report::Notice::Progress) notices.
//!
//! Drawn only when stderr is a terminal and neither `--json` nor `-q` is given (decided in
//! `commands::run`): a log, a pipe or a script reading the output never gets its carriage
//! returns and line wipes.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use dockpki_provision::report::Task;

/// Whether progress is drawn: decided once from the terminal and the output options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// Progress notices are dropped.
    Off,
    /// A spinner on stderr.
    Spinner,
}

/// A spinner being drawn.
struct Running {
    stop: Arc<AtomicBool>,
    label: Arc<Mutex<String>>,
    thread: JoinHandle<()>,
}

/// The spinner, if one is drawn (one per process: the engine does one slow thing at a time).
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// Held while writing to stderr, so that a note never lands in the middle of a frame.
static STDERR: Mutex<()> = Mutex::new(());

/// ASCII frames: every terminal and locale shows them.
const FRAMES: [char; 4] = ['|', '/', '-', '\\'];

/// How often the spinner turns.
const TICK: Duration = Duration::from_millis(100);

/// Wipes the line the spinner is drawn on: back to its start, then erase to its end.
const WIPE: &str = "\r\x1b[K";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while drawing leaves nothing half-done that matters: draw on.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shows `done` of `total` steps of `task`: starts the spinner at the first step, stops it
/// (wiping its line) at the last.
pub fn show(task: Task, done: usize, total: usize) {
    if done >= total {
        stop();
        return;
    }
    // The label is the engine's fixed wording and two numbers: nothing from outside.
    let label = if total > 1 {
        format!("{task}: {done} of {total}")
    } else {
        task.to_string()
    };
    let mut running = lock(&RUNNING);
    if let Some(r) = running.as_ref() {
        *lock(&r.label) = label;
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let label = Arc::new(Mutex::new(label));
    let thread = std::thread::spawn({
        let (stop, label) = (Arc::clone(&stop), Arc::clone(&label));
        move || {
            let mut frame = 0;
            while !stop.load(Ordering::Relaxed) {
                {
                    let _stderr = lock(&STDERR);
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "{WIPE}{} {}...", FRAMES[frame], lock(&label));
                    let _ = err.flush();
                }
                frame = (frame + 1) % FRAMES.len();
                std::thread::park_timeout(TICK);
            }
        }
    });
    *running = Some(Running {
        stop,
        label,
        thread,
    });
}

/// Stops the spinner, if one is drawn, and wipes its line: before an error is printed, and
/// when the work ends.
pub fn stop() {
    let Some(r) = lock(&RUNNING).take() else {
        return;
    };
    r.stop.store(true, Ordering::Relaxed);
    r.thread.thread().unpark();
    let _ = r.thread.join();
    let _stderr = lock(&STDERR);
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{WIPE}");
    let _ = err.flush();
}

/// Runs `print` (which writes a whole line on stderr) with the spinner's line wiped first; the
/// spinner draws itself again on the next line at its next turn.
pub fn interrupt(print: impl FnOnce()) {
    let spinning = lock(&RUNNING).is_some();
    let _stderr = lock(&STDERR);
    if spinning {
        let _ = write!(std::io::stderr().lock(), "{WIPE}");
    }
    print();
}
