//! The connection table: a bound on open connections, a deadline for each request head, and
//! eviction of connections that are still waiting for a head when the table is full.
//!
//! Every connection is in one of two states:
//!
//! - **waiting**: from accept (TLS handshake included) until a complete request head has been
//!   read, and again from the end of each response until the next head. A waiting connection
//!   is closed when it has waited [`Table::head_timeout`] (the whole head, however slowly its
//!   bytes arrive), and it may be evicted, oldest first, when the table is full.
//! - **busy**: at least one request is being served (HTTP/2: at least one stream). A busy
//!   connection is never closed by the table.
//!
//! One sweeper task enforces the deadlines: connections start waiting in the order of their
//! sequence numbers, so the first waiting entry always has the earliest deadline.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// A waiting connection younger than this is not evicted: a client that connects and sends
/// its request at once gets this long for its head to be read, even when connections arrive
/// faster than the table can hold them.
pub(crate) const EVICT_MIN_AGE: Duration = Duration::from_millis(100);

/// File descriptors left to the rest of the process when the connection limit is derived from
/// the open-file limit.
const FD_RESERVE: usize = 64;

/// The open connections, their states, and the order in which waiting ones are closed.
#[derive(Debug)]
pub(crate) struct Table {
    inner: Mutex<Inner>,
    /// Most connections held at once.
    limit: usize,
    /// How long a connection may wait for a complete request head.
    head_timeout: Duration,
    /// Faults of the injection harness; the default in a correct server.
    faults: TableFaults,
    /// Wakes the sweeper when the first connection starts waiting.
    sweep: Notify,
    /// Wakes the accept loop when room may have appeared.
    room: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    /// Source of connection ids and of waiting sequence numbers.
    next: u64,
    /// Open connections by id.
    conns: HashMap<u64, Slot>,
    /// Waiting connections by the sequence number of the moment they started waiting: the
    /// first entry has waited longest.
    waiting: BTreeMap<u64, Waiting>,
    /// `idle-close-stalls`: no connection is accepted before this instant.
    stalled_until: Option<Instant>,
}

#[derive(Debug)]
struct Slot {
    /// Requests (HTTP/2: streams) being served.
    busy: usize,
    /// The key in [`Inner::waiting`] while the connection waits.
    waiting: Option<u64>,
    /// Told when the table closes the connection.
    close: Arc<Notify>,
}

#[derive(Debug, Clone, Copy)]
struct Waiting {
    id: u64,
    since: Instant,
}

/// The faults a [`Table`] can carry; `TableFaults::default()` is a correct server's.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TableFaults {
    /// `idle-close-stalls`: how long the server accepts nothing after a deadline closed a
    /// connection.
    pub(crate) stall: Option<Duration>,
    /// `h2-stream-closed-at-idle`: a connection starts waiting whenever one of its requests
    /// ends, even with other HTTP/2 streams still in flight.
    pub(crate) wait_on_any_end: bool,
}

/// What [`Table::admit`] decided.
#[derive(Debug)]
pub(crate) enum Admission {
    /// The connection has a slot.
    Admitted(Ticket),
    /// The table is full of busy connections and of waiting ones too young to evict. Try again
    /// when [`Table::room`] is notified or, if given, at that instant.
    Full(Option<Instant>),
}

impl Table {
    /// A table for at most `limit` connections whose heads must arrive within `head_timeout`.
    /// `faults` are the default in a correct server (see [`TableFaults`]).
    pub(crate) fn new(limit: usize, head_timeout: Duration, faults: TableFaults) -> Arc<Table> {
        Arc::new(Table {
            inner: Mutex::new(Inner::default()),
            limit: limit.max(1),
            head_timeout,
            faults,
            sweep: Notify::new(),
            room: Notify::new(),
        })
    }

    /// Until when the server must not accept connections (`idle-close-stalls` only).
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    pub(crate) fn stalled_until(&self) -> Option<Instant> {
        self.lock().stalled_until.filter(|&t| t > Instant::now())
    }

    /// Notified when a connection closes or stops being busy, so that a full table may have
    /// room.
    pub(crate) fn room(&self) -> &Notify {
        &self.room
    }

    /// Open connections (evicted ones no longer count).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().conns.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the maps consistent (no method panics between
        // two updates), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives a new connection a slot, evicting the connection that has waited longest for a
    /// head if the table is full.
    pub(crate) fn admit(self: &Arc<Self>) -> Admission {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.conns.len() >= self.limit {
            let Some((&key, &oldest)) = inner.waiting.first_key_value() else {
                return Admission::Full(None);
            };
            let evictable_at = oldest.since + EVICT_MIN_AGE;
            if evictable_at > now {
                return Admission::Full(Some(evictable_at));
            }
            inner.close(key);
        }
        inner.next += 1;
        let id = inner.next;
        let close = Arc::new(Notify::new());
        inner.conns.insert(
            id,
            Slot {
                busy: 0,
                waiting: None,
                close: close.clone(),
            },
        );
        if inner.start_waiting(id, now) {
            self.sweep.notify_one();
        }
        Admission::Admitted(Ticket {
            table: self.clone(),
            id,
            close,
            served: AtomicBool::new(false),
        })
    }

    /// Closes waiting connections whose head deadline has passed; runs until aborted.
    pub(crate) async fn sweep(self: Arc<Self>) {
        loop {
            let next = {
                let mut inner = self.lock();
                let now = Instant::now();
                let mut next = None;
                while let Some((&key, &oldest)) = inner.waiting.first_key_value() {
                    let deadline = oldest.since + self.head_timeout;
                    if deadline > now {
                        next = Some(deadline);
                        break;
                    }
                    inner.close(key);
                    self.room.notify_one();
                    if let Some(stall) = self.faults.stall {
                        inner.stalled_until = Some(now + stall);
                    }
                }
                next
            };
            match next {
                Some(deadline) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = self.sweep.notified() => {}
                    }
                }
                None => self.sweep.notified().await,
            }
        }
    }
}

impl Inner {
    /// Marks `id` as waiting from `now`; true if it is the only waiting connection (the
    /// sweeper may be asleep with nothing to wait for).
    fn start_waiting(&mut self, id: u64, now: Instant) -> bool {
        self.next += 1;
        let key = self.next;
        if let Some(slot) = self.conns.get_mut(&id) {
            slot.waiting = Some(key);
            self.waiting.insert(key, Waiting { id, since: now });
        }
        self.waiting.len() == 1
    }

    /// Closes the waiting connection at `key`: it leaves the table now, and its task is told
    /// to drop it.
    fn close(&mut self, key: u64) {
        if let Some(w) = self.waiting.remove(&key) {
            if let Some(slot) = self.conns.remove(&w.id) {
                slot.close.notify_one();
            }
        }
    }
}

/// A connection's slot in the table; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Ticket {
    table: Arc<Table>,
    id: u64,
    close: Arc<Notify>,
    /// Whether a request head has been read on this connection.
    served: AtomicBool,
}

impl Ticket {
    /// Whether a complete request head has been read on this connection.
    pub(crate) fn served(&self) -> bool {
        self.served.load(Ordering::Relaxed)
    }

    /// Resolves when the table closes the connection (head deadline or eviction).
    pub(crate) async fn closed(&self) {
        self.close.notified().await;
    }

    /// Marks a request as being served (its head is complete) until the returned guard is
    /// dropped, which is when its response has been written or abandoned.
    pub(crate) fn busy(&self) -> Busy {
        self.served.store(true, Ordering::Relaxed);
        let mut inner = self.table.lock();
        if let Some(slot) = inner.conns.get_mut(&self.id) {
            slot.busy += 1;
            if let Some(key) = slot.waiting.take() {
                inner.waiting.remove(&key);
            }
        }
        Busy {
            table: self.table.clone(),
            id: self.id,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.table.lock();
        if let Some(slot) = inner.conns.remove(&self.id) {
            if let Some(key) = slot.waiting {
                inner.waiting.remove(&key);
            }
        }
        drop(inner);
        self.table.room.notify_one();
    }
}

/// A request being served; see [`Ticket::busy`].
#[derive(Debug)]
pub(crate) struct Busy {
    table: Arc<Table>,
    id: u64,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut inner = self.table.lock();
        let Some(slot) = inner.conns.get_mut(&self.id) else {
            return;
        };
        slot.busy = slot.busy.saturating_sub(1);
        if slot.busy > 0 && !self.table.faults.wait_on_any_end {
            return;
        }
        let first = inner.start_waiting(self.id, Instant::now());
        drop(inner);
        if first {
            self.table.sweep.notify_one();
        }
        // The connection can now be evicted, which may make room in a full table.
        self.table.room.notify_one();
    }
}

/// The connection limit to use: `configured`, lowered to fit the soft limit of open files
/// (less [`FD_RESERVE`]) where that limit is known, so that a full table evicts before
/// `accept` runs out of file descriptors.
pub(crate) fn effective_limit(configured: usize) -> usize {
    match open_file_limit() {
        Some(files) => configured.min(files.saturating_sub(FD_RESERVE).max(1)),
        None => configured,
    }
}

/// The soft limit of open files, from `/proc/self/limits` (Linux); `None` elsewhere or if
/// unlimited.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&limits)
}

fn parse_open_file_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(table: &Arc<Table>) -> Ticket {
        match table.admit() {
            Admission::Admitted(t) => t,
            Admission::Full(_) => panic!("table full"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn full_table_evicts_the_oldest_waiting_connection() {
        let table = Table::new(2, Duration::from_secs(10), TableFaults::default());
        let a = admitted(&table);
        tokio::time::advance(Duration::from_millis(10)).await;
        let b = admitted(&table);
        // Both too young to evict.
        assert!(matches!(table.admit(), Admission::Full(Some(_))));
        tokio::time::advance(EVICT_MIN_AGE).await;
        let c = admitted(&table);
        assert_eq!(table.len(), 2);
        // `a` was told to close; `b` was not.
        tokio::time::timeout(Duration::from_millis(1), a.closed())
            .await
            .expect("a evicted");
        assert!(tokio::time::timeout(Duration::from_millis(1), b.closed())
            .await
            .is_err());
        drop((a, b, c));
        assert_eq!(table.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn busy_connections_are_never_evicted() {
        let table = Table::new(1, Duration::from_secs(10), TableFaults::default());
        let a = admitted(&table);
        let busy = a.busy();
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(matches!(table.admit(), Admission::Full(None)));
        // The response ends: `a` waits again, from now.
        drop(busy);
        assert!(matches!(table.admit(), Admission::Full(Some(_))));
        tokio::time::advance(EVICT_MIN_AGE).await;
        let _b = admitted(&table);
        tokio::time::timeout(Duration::from_millis(1), a.closed())
            .await
            .expect("a evicted once idle");
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweeper_closes_connections_at_their_head_deadline() {
        let table = Table::new(10, Duration::from_secs(10), TableFaults::default());
        tokio::spawn(table.clone().sweep());
        let a = admitted(&table);
        tokio::time::advance(Duration::from_secs(4)).await;
        let b = admitted(&table);
        let busy = b.busy();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(table.len(), 2);
        tokio::time::advance(Duration::from_secs(2)).await;
        a.closed().await;
        assert_eq!(table.len(), 1);
        // `b` was busy for 5 s and then waits: its deadline is 10 s from the end of the
        // response.
        drop(busy);
        tokio::time::advance(Duration::from_secs(9)).await;
        tokio::task::yield_now().await;
        assert_eq!(table.len(), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        b.closed().await;
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn open_file_limit_from_proc() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             63704                63704                processes \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_file_limit(text), Some(1024));
        assert_eq!(
            parse_open_file_limit("Max open files  unlimited  unlimited  files"),
            None
        );
        assert_eq!(parse_open_file_limit(""), None);
    }
}
