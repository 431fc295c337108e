//! The bounded queue between the callers of `send` and the sender thread, and the sender thread.
//!
//! A message stays at the front of the queue until it is delivered (or found undeliverable), so a
//! failed send loses nothing and the order is kept: the sender only ever delivers the front message.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::transport::{Connection, Destination, SendError};

/// The first wait after a failure; it doubles on each failure.
pub(crate) const BACKOFF_START: Duration = Duration::from_millis(100);
/// The longest wait between two attempts while the daemon is down.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The longest a connect or a write may block the sender thread.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Queue overflow is logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// State shared by the output handle and the sender thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) wake: Condvar,
    pub(crate) capacity: usize,
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) send_errors: AtomicU64,
    pub(crate) connect_errors: AtomicU64,
    pub(crate) undeliverable: AtomicU64,
}

/// What the lock guards.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) queue: VecDeque<Arc<[u8]>>,
    /// Set by shutdown: deliver what can be delivered until then, then stop.
    pub(crate) deadline: Option<Instant>,
    last_warn: Option<Instant>,
    dropped_since_warn: u64,
}

impl Shared {
    /// An empty queue holding at most `capacity` messages.
    pub(crate) fn new(capacity: usize) -> Shared {
        Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            capacity,
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            undeliverable: AtomicU64::new(0),
        }
    }

    /// The lock, even if a thread panicked while holding it (the queue stays consistent: every
    /// change to it is a single push or pop).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `msg`, or drops and counts it when the queue is full. Never waits for the sender.
    pub(crate) fn push(&self, msg: Vec<u8>) {
        let mut state = self.lock();
        if state.queue.len() >= self.capacity {
            let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            state.dropped_since_warn += 1;
            let now = Instant::now();
            if state
                .last_warn
                .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
            {
                tracing::warn!(
                    dropped = state.dropped_since_warn,
                    dropped_total = total,
                    capacity = self.capacity,
                    "syslog queue full: alerts dropped (is the syslog daemon down or too slow?)"
                );
                state.last_warn = Some(now);
                state.dropped_since_warn = 0;
            }
            return;
        }
        state.queue.push_back(msg.into());
        drop(state);
        self.wake.notify_one();
    }
}

/// The sender thread's loop: deliver the front message, reconnecting with exponential backoff while
/// the daemon is unreachable, until shutdown's deadline (or an empty queue after shutdown).
pub(crate) fn run(shared: Arc<Shared>, dest: Destination) {
    let mut conn: Option<Connection> = None;
    let mut backoff = BACKOFF_START;
    let mut retry_at: Option<Instant> = None;
    let mut connected_before = false;
    let mut down = false;
    loop {
        let (msg, deadline) = {
            let mut state = shared.lock();
            loop {
                let now = Instant::now();
                if let Some(d) = state.deadline {
                    if now >= d || state.queue.is_empty() {
                        return;
                    }
                }
                let wait_until = match (retry_at, state.deadline) {
                    (Some(r), Some(d)) => Some(r.min(d)),
                    (r, d) => r.or(d),
                };
                if state.queue.is_empty() {
                    state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                    continue;
                }
                match wait_until {
                    Some(t) if retry_at.is_some_and(|r| now < r) => {
                        state = shared
                            .wake
                            .wait_timeout(state, t.saturating_duration_since(now))
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    _ => break,
                }
            }
            match state.queue.front() {
                Some(m) => (Arc::clone(m), state.deadline),
                None => continue,
            }
        };
        retry_at = None;
        let io_timeout = match deadline {
            Some(d) => IO_TIMEOUT.min(d.saturating_duration_since(Instant::now())),
            None => IO_TIMEOUT,
        };

        if conn.is_none() {
            match Connection::open(&dest, io_timeout) {
                Ok(c) => {
                    if connected_before {
                        shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    if down {
                        tracing::info!(destination = ?dest, "syslog destination reachable again");
                        down = false;
                    }
                    connected_before = true;
                    conn = Some(c);
                }
                Err(e) => {
                    shared.connect_errors.fetch_add(1, Ordering::Relaxed);
                    if !down {
                        tracing::warn!(destination = ?dest, error = %e, "syslog destination unreachable; alerts wait in the queue");
                        down = true;
                    }
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        match c.send(&msg) {
            Ok(()) => {
                shared.sent.fetch_add(1, Ordering::Relaxed);
                shared.lock().queue.pop_front();
                backoff = BACKOFF_START;
            }
            Err(SendError::Message(e)) => {
                shared.send_errors.fetch_add(1, Ordering::Relaxed);
                shared.undeliverable.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, bytes = msg.len(), "syslog message cannot be sent; dropped");
                shared.lock().queue.pop_front();
            }
            Err(SendError::Connection(e)) => {
                shared.send_errors.fetch_add(1, Ordering::Relaxed);
                if !down {
                    tracing::warn!(destination = ?dest, error = %e, "syslog send failed; reconnecting");
                    down = true;
                }
                conn = None;
                retry_at = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}
