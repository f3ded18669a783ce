//! The middleware a worker applies around a job whose listener declares it: an overlap lock
//! ("without overlapping") and a rate limit. Both are rows in the database, so they hold across
//! worker slots, processes and nodes; both take the queue's time (the database's clock on
//! PostgreSQL), like leases.
//!
//! * **Rate limit**: N runs per interval as N rows of `rate_limit_slots`. A run holds its slot
//!   from its start until one interval after its end: taking it stores the latest the run can
//!   end (now plus the listener's timeout), and the run's end stores when it ended. A run takes
//!   the slot that frees first, if it is free, in one short statement (on SQLite inside
//!   `BEGIN IMMEDIATE`; on PostgreSQL the row is locked with `SKIP LOCKED` and re-checked, so two
//!   workers never take one slot). This is a sliding window that holds wherever a run is
//!   measured: no interval holds more than N starts (nor N ends), and a slow run cannot let N
//!   more start while it is still going. Counting from the taking alone would not do: the time
//!   a worker stores comes a little before the run starts, by a delay that varies (scheduling,
//!   lock waits), so the next interval could open before an interval had passed since that
//!   start. A fixed window (a counter per interval) is one row instead of N, but lets 2N runs
//!   through around a window's edge; N rows are cheap for the limits an SMTP provider or an API
//!   sets, and [`MAX_RATE_LIMIT_RUNS`] bounds them.
//! * **Without overlapping**: a row per (listener, key) in `overlap_locks`, taken by an upsert
//!   that succeeds only if no row exists or the existing one expired. It expires with its
//!   holder's lease (renewed by the batch's heartbeat), so a killed worker's lock frees itself.
//!
//! A job stopped by either is released until the limit frees up, counting neither a try nor an
//! exception. The lock is taken before the rate slot, so a job that finds its key held wastes no
//! run of the limit.
//!
//! [`MAX_RATE_LIMIT_RUNS`]: crate::MAX_RATE_LIMIT_RUNS

use std::time::Duration;

use sqlx::AssertSqlSafe;

use super::{ClaimedJob, Queue, QueueError, again_after_lost_connection};
use crate::bus::{QueueOptions, RateLimit};

/// An overlap lock a job holds while it runs.
#[derive(Debug)]
pub(crate) struct OverlapLock {
    listener: String,
    key: String,
}

/// A rate-limit slot a job holds while it runs: (listener, slot, the time stored on taking it).
#[derive(Debug)]
pub(crate) struct RateSlot(String, i64, i64);

/// What a running job holds of its middleware; given back by [`Queue::let_go`].
#[derive(Debug, Default)]
pub(crate) struct Held {
    lock: Option<OverlapLock>,
    slot: Option<RateSlot>,
}

/// What the middleware decided for a job.
#[derive(Debug)]
pub(crate) enum Gate {
    /// Run it, then give back what it holds with [`Queue::let_go`].
    Run(Held),
    /// Release it for this long: a limit is reached.
    Release(Duration),
}

/// The shortest wait a released job gets, so that a limit reached just now is not polled in a
/// tight loop.
const MIN_WAIT: Duration = Duration::from_millis(1);

fn wait_from_micros(micros: i64) -> Duration {
    Duration::from_micros(u64::try_from(micros).unwrap_or(0)).max(MIN_WAIT)
}

impl Queue {
    /// Applies `options`' middleware to `job`, held under `token` for `lease`. Costs nothing for a
    /// listener that declares none.
    pub(crate) async fn gate(
        &self,
        job: &ClaimedJob,
        options: &QueueOptions,
        token: &str,
        lease: Duration,
    ) -> Result<Gate, QueueError> {
        let mut held = Held::default();
        if let (Some(wait), Some(key)) = (options.overlap_wait(), job.overlap_key.as_deref()) {
            if let Some(held_for) = self.lock(&job.listener, key, token, lease).await? {
                return Ok(Gate::Release(held_for.min(wait)));
            }
            held.lock = Some(OverlapLock {
                listener: job.listener.clone(),
                key: key.to_owned(),
            });
        }
        if let Some(limit) = options.rate_limited() {
            match self.take_run(&job.listener, limit, options.try_timeout()).await? {
                Ok(slot) => held.slot = Some(slot),
                Err(wait) => {
                    self.let_go(held, token).await?;
                    return Ok(Gate::Release(wait));
                }
            }
        }
        Ok(Gate::Run(held))
    }

    /// Gives back what a job held once it ran: its overlap lock, and its rate-limit slot, now
    /// stamped with the run's end.
    pub(crate) async fn let_go(&self, held: Held, token: &str) -> Result<(), QueueError> {
        if let Some(lock) = &held.lock {
            self.unlock(lock, token).await?;
        }
        if let Some(RateSlot(listener, slot, stored)) = &held.slot {
            let sql = &format!(
                "UPDATE rate_limit_slots SET used_at = {} WHERE limiter = $2 AND slot = $3 AND used_at = $4",
                self.time_sql(1)
            );
            again_after_lost_connection("end a rate-limited run", move || async move {
                sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(self.time_arg(Duration::ZERO))
                    .bind(listener.clone())
                    .bind(*slot)
                    .bind(*stored)
                    .execute(self.bus.db().bookkeeping())
                    .await
            })
            .await?;
        }
        Ok(())
    }

    /// The upsert that takes an overlap lock: `$1` listener, `$2` key, `$3` holder, `$4` lease
    /// end, `$5` now (queue times); returns a row when taken.
    fn lock_sql(&self) -> String {
        let (lease_end, now) = (self.time_sql(4), self.time_sql(5));
        format!(
            "INSERT INTO overlap_locks (listener, lock_key, holder, expires_at) VALUES ($1, $2, $3, {lease_end}) \
             ON CONFLICT (listener, lock_key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE overlap_locks.expires_at <= {now} OR overlap_locks.holder = excluded.holder RETURNING holder"
        )
    }

    /// Takes `job`'s overlap lock inside a transaction shared by several jobs, in the job's
    /// savepoint (`conn`): the lock lives only in that transaction — [`Queue::unlock_in`]
    /// deletes it before the savepoint is released, or it rolls back with it — so no other
    /// transaction ever sees it held, while its uncommitted row makes another worker taking the
    /// same key wait for this transaction (PostgreSQL; SQLite's writers are serial anyway).
    /// Returns false when another holder's live lock stands.
    pub(crate) async fn lock_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        listener: &str,
        key: &str,
        token: &str,
        lease: Duration,
    ) -> Result<bool, sqlx::Error> {
        let taken: Option<(String,)> = sqlx::query_as(AssertSqlSafe(self.lock_sql()))
            .bind(listener.to_owned())
            .bind(key.to_owned())
            .bind(token.to_owned())
            .bind(self.time_arg(lease))
            .bind(self.time_arg(Duration::ZERO))
            .fetch_optional(conn)
            .await?;
        Ok(taken.is_some())
    }

    /// Deletes a lock [`Queue::lock_in`] took, in the same savepoint.
    pub(crate) async fn unlock_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        listener: &str,
        key: &str,
        token: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM overlap_locks WHERE listener = $1 AND lock_key = $2 AND holder = $3")
            .bind(listener.to_owned())
            .bind(key.to_owned())
            .bind(token.to_owned())
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Takes (`listener`, `key`)'s overlap lock for `token` until a `lease` from now. Returns
    /// `None` when taken, or how long the current holder's lease still runs.
    async fn lock(
        &self,
        listener: &str,
        key: &str,
        token: &str,
        lease: Duration,
    ) -> Result<Option<Duration>, QueueError> {
        let sql = &self.lock_sql();
        let taken: Option<(String,)> = again_after_lost_connection("take an overlap lock", move || async move {
            sqlx::query_as(AssertSqlSafe(sql.clone()))
                .bind(listener.to_owned())
                .bind(key.to_owned())
                .bind(token.to_owned())
                .bind(self.time_arg(lease))
                .bind(self.time_arg(Duration::ZERO))
                .fetch_optional(self.bus.db().bookkeeping())
                .await
        })
        .await?;
        if taken.is_some() {
            return Ok(None);
        }
        let left: Option<(i64,)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT expires_at - {} FROM overlap_locks WHERE listener = $2 AND lock_key = $3",
            self.time_sql(1)
        )))
        .bind(self.time_arg(Duration::ZERO))
        .bind(listener.to_owned())
        .bind(key.to_owned())
        .fetch_optional(self.bus.db().bookkeeping())
        .await?;
        Ok(Some(wait_from_micros(left.map_or(0, |r| r.0))))
    }

    /// Gives an overlap lock back (if `token` still holds it).
    async fn unlock(&self, lock: &OverlapLock, token: &str) -> Result<(), QueueError> {
        again_after_lost_connection("give an overlap lock back", move || async move {
            sqlx::query("DELETE FROM overlap_locks WHERE listener = $1 AND lock_key = $2 AND holder = $3")
                .bind(lock.listener.clone())
                .bind(lock.key.clone())
                .bind(token.to_owned())
                .execute(self.bus.db().bookkeeping())
                .await
        })
        .await?;
        Ok(())
    }

    /// Renews the overlap locks `token` holds until a `lease` from now (with its jobs' leases).
    pub(crate) async fn renew_locks(&self, token: &str, lease: Duration) -> Result<u64, QueueError> {
        Ok(sqlx::query(AssertSqlSafe(format!(
            "UPDATE overlap_locks SET expires_at = {} WHERE holder = $2",
            self.time_sql(1)
        )))
        .bind(self.time_arg(lease))
        .bind(token.to_owned())
        .execute(self.bus.db().bookkeeping())
        .await?
        .rows_affected())
    }

    /// Takes a run of `listener`'s `limit` for a run of at most `timeout`. Returns the slot
    /// taken, or how long until one may be free (at most one interval: a run that ends early
    /// frees its slot sooner than its timeout says). Creates the limit's slots on first use (and
    /// more when the limit was raised; slots past a lowered limit are ignored).
    async fn take_run(
        &self,
        listener: &str,
        limit: RateLimit,
        timeout: Duration,
    ) -> Result<Result<RateSlot, Duration>, QueueError> {
        if let Some(slot) = self.take_slot(listener, limit, timeout).await? {
            return Ok(Ok(slot));
        }
        let interval = i64::try_from(limit.interval().as_micros()).unwrap_or(i64::MAX);
        let (slots, free_in): (i64, Option<i64>) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT COUNT(*), MIN(used_at) + $2 - {} FROM rate_limit_slots WHERE limiter = $3 AND slot < $4",
            self.time_sql(1)
        )))
        .bind(self.time_arg(Duration::ZERO))
        .bind(interval)
        .bind(listener.to_owned())
        .bind(i64::from(limit.runs()))
        .fetch_one(self.bus.db().bookkeeping())
        .await?;
        if slots < i64::from(limit.runs()) {
            self.add_slots(listener, limit.runs()).await?;
            if let Some(slot) = self.take_slot(listener, limit, timeout).await? {
                return Ok(Ok(slot));
            }
        }
        Ok(Err(wait_from_micros(free_in.unwrap_or(0)).min(limit.interval())))
    }

    /// One try at a free slot of `listener`'s `limit`, holding it until `timeout` from now.
    async fn take_slot(
        &self,
        listener: &str,
        limit: RateLimit,
        timeout: Duration,
    ) -> Result<Option<RateSlot>, QueueError> {
        let (now, until) = (self.time_sql(1), self.time_sql(5));
        let skip_locked = self.backend().skip_locked();
        let sql = format!(
            "UPDATE rate_limit_slots SET used_at = {until} WHERE limiter = $2 AND used_at <= {now} - $4 AND slot IN \
             (SELECT slot FROM rate_limit_slots WHERE limiter = $2 AND slot < $3 AND used_at <= {now} - $4 \
             ORDER BY used_at, slot LIMIT 1{skip_locked}) RETURNING slot, used_at"
        );
        let interval = i64::try_from(limit.interval().as_micros()).unwrap_or(i64::MAX);
        let runs = i64::from(limit.runs());
        let query = |sql: String| {
            sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(sql))
                .bind(self.time_arg(Duration::ZERO))
                .bind(listener.to_owned())
                .bind(runs)
                .bind(interval)
                .bind(self.time_arg(timeout))
        };
        let taken = match self.backend() {
            // The time is read once the write lock is held, not before waiting for it.
            crate::Backend::Sqlite => {
                let mut tx = self.bus.db().begin_write().await?;
                let taken = query(sql).fetch_optional(&mut *tx).await?;
                tx.commit().await?;
                taken
            }
            crate::Backend::Postgres => query(sql).fetch_optional(self.bus.db().bookkeeping()).await?,
        };
        Ok(taken.map(|(slot, stored)| RateSlot(listener.to_owned(), slot, stored)))
    }

    /// Creates slots `0..runs` of `listener`'s limit that do not exist yet, free.
    async fn add_slots(&self, listener: &str, runs: u32) -> Result<(), QueueError> {
        let slots: Vec<i64> = (0..i64::from(runs)).collect();
        for chunk in slots.chunks(500) {
            let values: Vec<String> = (0..chunk.len()).map(|i| format!("($1, ${}, 0)", i + 2)).collect();
            let mut query = sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO rate_limit_slots (limiter, slot, used_at) VALUES {} ON CONFLICT DO NOTHING",
                values.join(", ")
            )))
            .bind(listener.to_owned());
            for slot in chunk {
                query = query.bind(*slot);
            }
            query.execute(self.bus.db().bookkeeping()).await?;
        }
        Ok(())
    }

    /// Releases a started job until `wait` from now, taking back the try its start counted: a
    /// limit, not a failure, stopped it.
    pub(crate) async fn release_untried(
        &self,
        job: &ClaimedJob,
        token: &str,
        wait: Duration,
    ) -> Result<(), QueueError> {
        let sql = &format!(
            "UPDATE jobs SET attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, reserved_by = NULL, \
             reserved_until = NULL, available_at = {} WHERE id = $2 AND reserved_by = $3",
            self.time_sql(1)
        );
        again_after_lost_connection("release a limited job", move || async move {
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(self.time_arg(wait))
                .bind(job.id.clone())
                .bind(token.to_owned())
                .execute(self.bus.db().bookkeeping())
                .await
        })
        .await?;
        Ok(())
    }
}
