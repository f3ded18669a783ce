//! The two things sqlx cannot do for SQLite and several processes on one file need: waiting for
//! another process's write lock without oversleeping, and noticing another process's commit
//! without a round trip to a connection's worker thread. The only `unsafe` code of the kernel;
//! every call is a documented SQLite C API call on a handle this module owns or was given.
//!
//! * **Busy handler.** SQLite's own (`busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25 … 100 ms
//!   between tries. A write transaction here holds the lock for a fraction of a millisecond, so
//!   two processes writing one file (`serve` beside `queue work`, or several workers) waited for
//!   each other milliseconds at a time. [`on_busy`] tries again after 50 µs, lengthening to 1 ms,
//!   until the same total timeout. sqlx hands connections out only as `AnyConnection`, which does
//!   not expose the `sqlite3*` handle, so the kernel registers an automatic extension once per
//!   process ([`register`]) that defines `enteraksi_wait_on_busy(ms)` on every SQLite connection
//!   opened after it; `SELECT enteraksi_wait_on_busy(10000)` (the first of the kernel's SQLite
//!   pragmas) installs the handler on the connection that runs it. The function can only be
//!   called directly, never from a trigger or a view.
//! * **Data version.** [`DataVersion`] is a read-only connection of its own, used from one
//!   thread: `PRAGMA data_version` costs a few microseconds on it, against a round trip through
//!   sqlx's worker thread, so it can be read every millisecond (`commit_watch`).

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr::{NonNull, null, null_mut};
use std::sync::Once;
use std::time::Duration;

use libsqlite3_sys as ffi;

/// Registers the automatic extension that defines `enteraksi_wait_on_busy` on every SQLite
/// connection opened afterwards in this process. Idempotent.
pub(crate) fn register() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        // SAFETY: `define_function` has the entry-point signature SQLite calls for each new
        // connection, and lives for the whole process.
        let rc = unsafe { ffi::sqlite3_auto_extension(Some(define_function)) };
        assert_eq!(rc, ffi::SQLITE_OK, "registering the SQLite busy handler failed");
    });
}

/// Called by SQLite for each new connection: defines `enteraksi_wait_on_busy(ms)` on it.
unsafe extern "C" fn define_function(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: `db` is the connection being opened; the name is a NUL-terminated static string.
    unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            c"enteraksi_wait_on_busy".as_ptr(),
            1,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DIRECTONLY,
            null_mut(),
            Some(install_busy_handler),
            None,
            None,
            None,
        )
    }
}

/// `enteraksi_wait_on_busy(ms)`: installs [`on_busy`] on the calling connection, giving up after
/// `ms` milliseconds of waiting; returns 1.
unsafe extern "C" fn install_busy_handler(
    context: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` (1, as registered) valid values and a valid context.
    unsafe {
        let ms = if argc == 1 { ffi::sqlite3_value_int64(*argv) } else { 0 };
        // The timeout travels as the handler's argument: no allocation to free.
        let timeout = ms.clamp(0, i64::from(i32::MAX)) as usize as *mut c_void;
        let db = ffi::sqlite3_context_db_handle(context);
        let rc = ffi::sqlite3_busy_handler(db, Some(on_busy), timeout);
        ffi::sqlite3_result_int(context, c_int::from(rc == ffi::SQLITE_OK));
    }
}

/// SQLite's busy handler: `tries` is how often it was called for this lock; nonzero means try
/// again. Runs on the connection's own thread (sqlx's worker), so sleeping blocks nothing else.
unsafe extern "C" fn on_busy(timeout_ms: *mut c_void, tries: c_int) -> c_int {
    let timeout = Duration::from_millis(timeout_ms as usize as u64);
    let (pause, waited) = pause_before_try(tries.max(0) as u32 + 1);
    if waited + pause > timeout {
        return 0;
    }
    std::thread::sleep(pause);
    1
}

/// The pause before try `n` (the first try after the lock was refused is 1) and the time paused
/// before the tries up to it: 20 pauses of 50 µs (1 ms), then 45 of 200 µs (up to 10 ms), then
/// 1 ms each.
fn pause_before_try(n: u32) -> (Duration, Duration) {
    const SHORT: (u32, Duration) = (20, Duration::from_micros(50));
    const MEDIUM: (u32, Duration) = (45, Duration::from_micros(200));
    const LONG: Duration = Duration::from_millis(1);
    let before = n - 1;
    if before < SHORT.0 {
        return (SHORT.1, SHORT.1 * before);
    }
    let short_total = SHORT.1 * SHORT.0;
    if before < SHORT.0 + MEDIUM.0 {
        return (MEDIUM.1, short_total + MEDIUM.1 * (before - SHORT.0));
    }
    let medium_total = short_total + MEDIUM.1 * MEDIUM.0;
    (LONG, medium_total + LONG * (before - SHORT.0 - MEDIUM.0))
}

/// A read-only connection that reads `PRAGMA data_version`: it changes whenever another
/// connection (of this process or another) commits to the file. Used from one thread at a time.
pub(crate) struct DataVersion {
    db: NonNull<ffi::sqlite3>,
    statement: NonNull<ffi::sqlite3_stmt>,
}

// SAFETY: the connection is opened without SQLite's mutex but used by one thread at a time
// (`&mut self`); moving it between threads is allowed.
unsafe impl Send for DataVersion {}

impl DataVersion {
    /// Opens `file` read-only.
    pub(crate) fn open(file: &str) -> Result<Self, String> {
        let path = CString::new(file).map_err(|_| format!("{file:?} holds a NUL byte"))?;
        let mut db = null_mut();
        // SAFETY: `path` is NUL-terminated; `db` receives the handle, which must be closed even
        // when opening fails.
        let rc = unsafe {
            ffi::sqlite3_open_v2(
                path.as_ptr(),
                &mut db,
                ffi::SQLITE_OPEN_READONLY | ffi::SQLITE_OPEN_NOMUTEX,
                null(),
            )
        };
        let Some(db) = NonNull::new(db) else {
            return Err("SQLite could not allocate a connection".into());
        };
        if rc != ffi::SQLITE_OK {
            let message = error_message(db);
            // SAFETY: `db` came from `sqlite3_open_v2` and is not used again.
            unsafe { ffi::sqlite3_close(db.as_ptr()) };
            return Err(message);
        }
        let mut statement = null_mut();
        // SAFETY: `db` is open; the SQL is NUL-terminated (length -1).
        let rc = unsafe {
            ffi::sqlite3_busy_timeout(db.as_ptr(), 100);
            ffi::sqlite3_prepare_v2(
                db.as_ptr(),
                c"PRAGMA data_version".as_ptr(),
                -1,
                &mut statement,
                null_mut(),
            )
        };
        match NonNull::new(statement) {
            Some(statement) if rc == ffi::SQLITE_OK => Ok(Self { db, statement }),
            _ => {
                let message = error_message(db);
                // SAFETY: as above.
                unsafe { ffi::sqlite3_close(db.as_ptr()) };
                Err(message)
            }
        }
    }

    /// The file's data version now.
    pub(crate) fn read(&mut self) -> Result<i64, String> {
        // SAFETY: the statement belongs to this open connection; it is reset after each step.
        unsafe {
            let rc = ffi::sqlite3_step(self.statement.as_ptr());
            let result = if rc == ffi::SQLITE_ROW {
                Ok(ffi::sqlite3_column_int64(self.statement.as_ptr(), 0))
            } else {
                Err(error_message(self.db))
            };
            ffi::sqlite3_reset(self.statement.as_ptr());
            result
        }
    }
}

impl Drop for DataVersion {
    fn drop(&mut self) {
        // SAFETY: both were made by `open` and are not used after this.
        unsafe {
            ffi::sqlite3_finalize(self.statement.as_ptr());
            ffi::sqlite3_close(self.db.as_ptr());
        }
    }
}

fn error_message(db: NonNull<ffi::sqlite3>) -> String {
    // SAFETY: `sqlite3_errmsg` returns a NUL-terminated string owned by the connection, copied
    // here before any other call on it.
    unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::any::AnyConnectOptions;
    use sqlx::{AssertSqlSafe, Connection};

    use super::*;

    #[test]
    fn pauses_start_short_and_lengthen_to_a_millisecond() {
        assert_eq!(pause_before_try(1), (Duration::from_micros(50), Duration::ZERO));
        assert_eq!(pause_before_try(20).1, Duration::from_micros(950));
        assert_eq!(
            pause_before_try(21),
            (Duration::from_micros(200), Duration::from_millis(1))
        );
        assert_eq!(
            pause_before_try(66),
            (Duration::from_millis(1), Duration::from_millis(10))
        );
        assert_eq!(pause_before_try(10_056).1, Duration::from_secs(10));
        // Every pause is accounted for: the total grows by the previous pause.
        for n in 1..200 {
            let (pause, waited) = pause_before_try(n);
            assert_eq!(pause_before_try(n + 1).1, waited + pause);
        }
    }

    async fn connection(file: &str, wait_ms: u32) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        register();
        let options = AnyConnectOptions::from_str(&format!("sqlite://{file}?mode=rwc")).unwrap();
        let mut conn = sqlx::AnyConnection::connect_with(&options).await.unwrap();
        let setup = format!("SELECT enteraksi_wait_on_busy({wait_ms}); PRAGMA journal_mode = WAL;");
        sqlx::raw_sql(AssertSqlSafe(setup)).execute(&mut conn).await.unwrap();
        conn
    }

    /// A new file in a temporary folder (kept while the folder lives) holding table `t`, and a
    /// connection to it that waits up to 10 s for a lock.
    async fn file_with_table(name: &str) -> (tempfile::TempDir, String, sqlx::AnyConnection) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name).display().to_string();
        let mut conn = connection(&file, 10_000).await;
        sqlx::raw_sql("CREATE TABLE t (n INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        (dir, file, conn)
    }

    #[tokio::test]
    async fn a_writer_waits_for_another_connections_write_lock_and_gives_up_after_its_timeout() {
        let (_dir, file, mut holder) = file_with_table("busy.db").await;

        // A short timeout gives up with SQLITE_BUSY while the lock is held.
        sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();
        let mut impatient = connection(&file, 20).await;
        let refused = sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut impatient)
            .await
            .unwrap_err();
        assert_eq!(refused.as_database_error().and_then(|e| e.code()).as_deref(), Some("5"));

        // A patient writer gets the lock once the holder commits.
        let mut patient = connection(&file, 10_000).await;
        let waiting = tokio::spawn(async move {
            sqlx::raw_sql("BEGIN IMMEDIATE; INSERT INTO t VALUES (2); COMMIT;")
                .execute(&mut patient)
                .await
                .unwrap();
            patient
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiting.is_finished(), "the writer did not wait for the lock");
        sqlx::raw_sql("INSERT INTO t VALUES (1); COMMIT")
            .execute(&mut holder)
            .await
            .unwrap();
        let mut patient = waiting.await.unwrap();
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(&mut patient)
            .await
            .unwrap();
        assert_eq!(rows, 2);
    }

    #[tokio::test]
    async fn the_data_version_changes_when_another_connection_commits() {
        let (dir, file, mut writer) = file_with_table("version.db").await;
        let mut watch = DataVersion::open(&file).unwrap();
        let before = watch.read().unwrap();
        assert_eq!(watch.read().unwrap(), before, "nothing was committed");
        sqlx::raw_sql("INSERT INTO t VALUES (1)")
            .execute(&mut writer)
            .await
            .unwrap();
        assert_ne!(watch.read().unwrap(), before);

        let missing = dir.path().join("missing").join("x.db").display().to_string();
        assert!(DataVersion::open(&missing).is_err());
    }
}
