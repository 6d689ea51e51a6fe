//! The embedded store: one redb file, for a single gateway. Values carry
//! their expiry time; expired entries read as absent and are swept by
//! [`Embedded::purge_expired`]. Reads run inline (they are quick); writes
//! commit durably, so they run on the blocking thread pool.
//!
//! After an I/O error (a full disk, say) redb refuses every later write
//! until the file is closed and opened again. So a write that fails that way
//! reopens the file: writes fail closed while the disk is full and work again
//! by themselves once there is room, with no restart.

// redb's error type is large (160 bytes). Boxing it would buy nothing: the
// closures that return it run once per write, on the blocking pool.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use redb::{Database, MultimapTableDefinition, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::broadcast;

use super::StoreError;
use crate::clock::Clock;

/// key → 8 bytes of expiry (milliseconds since the epoch, 0 = never) + value.
const VALUES: TableDefinition<&str, &[u8]> = TableDefinition::new("values");
/// set name → members.
const SETS: MultimapTableDefinition<&str, &str> = MultimapTableDefinition::new("sets");

pub struct Embedded {
    file: Arc<File>,
    /// One process, so publishing is a local broadcast.
    events: broadcast::Sender<String>,
    /// Expiry is judged by the gateway's time, so that tests can move it.
    clock: Clock,
}

/// The redb file and its open handle.
struct File {
    path: PathBuf,
    /// Empty only while the file is being reopened, or when reopening it
    /// failed (the disk still full); the next use tries again.
    db: RwLock<Option<Arc<Database>>>,
    /// When the file was last reopened; one reopen at a time, at most one a
    /// second, so a disk that stays full does not turn into a busy loop.
    reopened: Mutex<Option<Instant>>,
}

const REOPEN_AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// How long a reopen waits for reads and writes in flight to let go of the
/// old handle (redb allows one handle per file). They take milliseconds.
const REOPEN_WAIT: Duration = Duration::from_secs(5);

impl File {
    /// The open handle, reopening the file first if an earlier reopen left
    /// it closed.
    fn handle(&self) -> Result<Arc<Database>, StoreError> {
        if let Some(db) = self.current() {
            return Ok(db);
        }
        self.reopen();
        self.current().ok_or_else(|| {
            StoreError::File(format!(
                "{} could not be reopened after an I/O error; is the disk full?",
                self.path.display()
            ))
        })
    }

    fn current(&self) -> Option<Arc<Database>> {
        self.db.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn replace(&self, db: Option<Arc<Database>>) -> Option<Arc<Database>> {
        let mut slot = self.db.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::replace(&mut slot, db)
    }

    /// Close the file and open it again, which is the only way out of
    /// redb's failed state; `true` if a fresh handle is in place. Blocks;
    /// call on the blocking pool, or where the file is already closed.
    fn reopen(&self) -> bool {
        let Ok(mut reopened) = self.reopened.try_lock() else {
            return false; // another thread is at it
        };
        if reopened.is_some_and(|at| at.elapsed() < REOPEN_AT_MOST_EVERY) {
            return false;
        }
        *reopened = Some(Instant::now());
        let old = self.replace(None);
        if let Some(old) = old {
            let deadline = Instant::now() + REOPEN_WAIT;
            while Arc::strong_count(&old) > 1 {
                if Instant::now() > deadline {
                    tracing::warn!(file = %self.path.display(), "the store file is still in use; reopening it later");
                    self.replace(Some(old));
                    return false;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(old);
        }
        match open_database(&self.path) {
            Ok(db) => {
                tracing::info!(file = %self.path.display(), "reopened the store file after an I/O error");
                self.replace(Some(Arc::new(db)));
                true
            }
            Err(err) => {
                tracing::warn!(file = %self.path.display(), "could not reopen the store file ({err}); trying again on the next use");
                false
            }
        }
    }
}

fn commit<T>(
    db: &Database,
    work: impl Fn(&redb::WriteTransaction) -> Result<T, redb::Error>,
) -> Result<T, redb::Error> {
    let txn = db.begin_write()?;
    let result = work(&txn)?;
    txn.commit()?;
    Ok(result)
}

fn open_database(path: &Path) -> Result<Database, StoreError> {
    let db = Database::create(path).map_err(|err| StoreError::File(format!("{}: {err}", path.display())))?;
    // Create the tables once so that readers never find them missing.
    let txn = db.begin_write().map_err(fail)?;
    txn.open_table(VALUES).map_err(fail)?;
    txn.open_multimap_table(SETS).map_err(fail)?;
    txn.commit().map_err(fail)?;
    Ok(db)
}

fn fail(err: impl Into<redb::Error>) -> StoreError {
    StoreError::File(err.into().to_string())
}

fn millis(at: std::time::SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn expiry(now: u64, ttl: Option<Duration>) -> u64 {
    ttl.map_or(0, |ttl| now.saturating_add(ttl.as_millis() as u64).max(1))
}

/// The value, if it has not expired.
fn live(stored: &[u8], now: u64) -> Option<Vec<u8>> {
    let (expires, value) = stored.split_at_checked(8)?;
    let expires = u64::from_be_bytes(expires.try_into().ok()?);
    (expires == 0 || expires > now).then(|| value.to_vec())
}

fn encode(expires: u64, value: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(8 + value.len());
    stored.extend_from_slice(&expires.to_be_bytes());
    stored.extend_from_slice(value);
    stored
}

impl Embedded {
    pub fn open(path: &Path, clock: Clock) -> Result<Embedded, StoreError> {
        let db = open_database(path)?;
        let file = File {
            path: path.to_owned(),
            db: RwLock::new(Some(Arc::new(db))),
            reopened: Mutex::new(None),
        };
        Ok(Embedded {
            file: Arc::new(file),
            events: broadcast::channel(1024).0,
            clock,
        })
    }

    /// The gateway's time, in milliseconds: what expiry is judged by.
    fn now_ms(&self) -> u64 {
        millis(self.clock.now())
    }

    /// Run a write transaction on the blocking pool. A write that finds
    /// the file failed by an earlier I/O error reopens it and tries once
    /// more; one that meets a fresh I/O error fails, and reopens the file
    /// for the writes after it.
    async fn write<T: Send + 'static>(
        &self,
        work: impl Fn(&redb::WriteTransaction) -> Result<T, redb::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || {
            let mut outcome = commit(file.handle()?.as_ref(), &work);
            if matches!(outcome, Err(redb::Error::PreviousIo)) && file.reopen() {
                outcome = commit(file.handle()?.as_ref(), &work);
            }
            if let Err(err @ redb::Error::Io(_)) = &outcome {
                tracing::warn!(file = %file.path.display(), "a write to the store file failed ({err}); reopening it");
                file.reopen();
            }
            outcome.map_err(fail)
        })
        .await
        .map_err(|err| StoreError::File(err.to_string()))?
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.file.handle()?; // held until the read is over, so a reopen waits for it
        let txn = db.begin_read().map_err(fail)?;
        let table = txn.open_table(VALUES).map_err(fail)?;
        let stored = table.get(key).map_err(fail)?;
        Ok(stored.and_then(|v| live(v.value(), self.now_ms())))
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        let (key, stored) = (key.to_owned(), encode(expiry(self.now_ms(), ttl), value));
        self.write(move |txn| {
            txn.open_table(VALUES)?.insert(key.as_str(), stored.as_slice())?;
            Ok(())
        })
        .await
    }

    pub async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let (key, stored) = (key.to_owned(), encode(expiry(now, Some(ttl)), value));
        self.write(move |txn| {
            let mut table = txn.open_table(VALUES)?;
            let present = table.get(key.as_str())?.and_then(|v| live(v.value(), now)).is_some();
            if !present {
                table.insert(key.as_str(), stored.as_slice())?;
            }
            Ok(!present)
        })
        .await
    }

    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (key, now) = (key.to_owned(), self.now_ms());
        self.write(move |txn| {
            let mut table = txn.open_table(VALUES)?;
            let removed = table.remove(key.as_str())?;
            Ok(removed.and_then(|v| live(v.value(), now)))
        })
        .await
    }

    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let (key, now) = (key.to_owned(), self.now_ms());
        self.write(move |txn| {
            let mut table = txn.open_table(VALUES)?;
            let removed = table.remove(key.as_str())?;
            Ok(removed.is_some_and(|v| live(v.value(), now).is_some()))
        })
        .await
    }

    pub async fn count(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        let (key, now) = (key.to_owned(), self.now_ms());
        self.write(move |txn| {
            let mut table = txn.open_table(VALUES)?;
            // The window's end stays where the first hit put it.
            let (expires, hits) = match table.get(key.as_str())? {
                Some(v) if live(v.value(), now).is_some() => {
                    let stored = v.value();
                    let expires = u64::from_be_bytes(stored[..8].try_into().unwrap_or([0; 8]));
                    let hits = stored[8..].try_into().map(u64::from_be_bytes).unwrap_or(0);
                    (expires, hits + 1)
                }
                _ => (expiry(now, Some(window)), 1),
            };
            table.insert(key.as_str(), encode(expires, &hits.to_be_bytes()).as_slice())?;
            Ok(hits)
        })
        .await
    }

    pub async fn set_add(&self, set: &str, member: &str) -> Result<(), StoreError> {
        let (set, member) = (set.to_owned(), member.to_owned());
        self.write(move |txn| {
            txn.open_multimap_table(SETS)?.insert(set.as_str(), member.as_str())?;
            Ok(())
        })
        .await
    }

    pub async fn set_remove(&self, set: &str, member: &str) -> Result<(), StoreError> {
        let (set, member) = (set.to_owned(), member.to_owned());
        self.write(move |txn| {
            txn.open_multimap_table(SETS)?.remove(set.as_str(), member.as_str())?;
            Ok(())
        })
        .await
    }

    pub fn set_members(&self, set: &str) -> Result<Vec<String>, StoreError> {
        let db = self.file.handle()?;
        let txn = db.begin_read().map_err(fail)?;
        let table = txn.open_multimap_table(SETS).map_err(fail)?;
        let members = table.get(set).map_err(fail)?;
        members.map(|m| m.map(|m| m.value().to_owned()).map_err(fail)).collect()
    }

    pub fn publish(&self, message: &str) -> Result<(), StoreError> {
        // No subscribers is fine: nobody needed telling.
        let _ = self.events.send(message.to_owned());
        Ok(())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.events.subscribe()
    }

    /// Remove expired values; returns how many. Run now and then.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = self.now_ms();
        self.write(move |txn| {
            let mut table = txn.open_table(VALUES)?;
            let before = table.len()?;
            table.retain(|_, stored| live(stored, now).is_some())?;
            Ok((before - table.len()?) as usize)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_carry_their_expiry() {
        assert_eq!(live(&encode(0, b"forever"), 5), Some(b"forever".to_vec()));
        assert_eq!(live(&encode(10, b"x"), 9), Some(b"x".to_vec()));
        assert_eq!(live(&encode(10, b"x"), 10), None);
        assert_eq!(live(b"short", 0), None, "damaged entries read as absent");
    }
}
