//! Stopping a running sweep at its next chunk: JupyterLab's Interrupt, or [`request`] from code.
//!
//! A sweep checks for a stop request before each chunk it computes; when it finds one it starts no
//! new chunk and returns [`Error::Interrupted`](crate::error::Error::Interrupted), saying how many
//! tasks finished. The finished chunks are in its checkpoint folder when it has one, and the same
//! call resumes from them. A request made while no sweep runs is dropped when the next sweep
//! starts.
//!
//! In the project's Jupyter kernel (`DIFFTHEORY_KERNEL=1`, set by its kernel spec), Interrupt is a
//! SIGINT to the kernel's process group; `kernel/launch.sh` starts evcxr with SIGINT ignored (left
//! alone, it would end evcxr itself and every variable with it), and the first call of
//! [`size`](crate::notebook::size), sweep or progress reporter in the process that runs the cells
//! installs a handler ([`arm`]): the first SIGINT is a
//! stop request (the cell prints a line saying so); a second one while the first is still pending
//! — a cell that is not in a sweep — ends that process at once, and evcxr starts a fresh one (the
//! cell fails with `signal: 2 (SIGINT)`; the variables of earlier cells are lost, the kernel stays
//! up). Outside the kernel nothing is installed: Ctrl-C ends a command-line run as usual.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the running sweep to stop before its next chunk (callable from any thread).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Takes a pending stop request (true once per request).
pub(crate) fn take() -> bool {
    REQUESTED.swap(false, Ordering::SeqCst)
}

/// Installs the SIGINT handler described in the module docs, once per process; Unix only.
pub fn arm() {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(unix::install);
    }
}

/// [`arm`], inside the project's Jupyter kernel only (`DIFFTHEORY_KERNEL=1`).
pub(crate) fn arm_in_kernel() {
    if std::env::var_os("DIFFTHEORY_KERNEL").is_some_and(|v| v == "1") {
        arm();
    }
}

#[cfg(unix)]
mod unix {
    use super::REQUESTED;
    use std::sync::atomic::Ordering;

    const FIRST: &[u8] =
        b"difftheory: interrupt requested: the running sweep stops before its next chunk \
and keeps what finished; press Interrupt again to end this cell at once (its variables are lost)\n";

    extern "C" fn on_sigint(_: libc::c_int) {
        // only async-signal-safe calls here: an atomic swap, write(2), signal(2), raise(3)
        if REQUESTED.swap(true, Ordering::SeqCst) {
            unsafe {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::raise(libc::SIGINT);
            }
        } else {
            unsafe {
                libc::write(2, FIRST.as_ptr().cast(), FIRST.len());
            }
        }
    }

    pub(super) fn install() {
        let handler: extern "C" fn(libc::c_int) = on_sigint;
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as libc::sighandler_t;
            // SA_RESTART: a read or a sleep the signal lands in goes on instead of failing
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
        }
    }
}
