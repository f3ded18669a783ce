//! Group commit: concurrent commands share one transaction, each in a savepoint, and one commit.
//!
//! On SQLite writers are serial: a command waits for the one write connection, and each commit
//! writes its pages to the WAL. With group commit (the default on SQLite, see
//! [`EventBusBuilder::group_commit`](super::EventBusBuilder::group_commit)) a command that finds
//! others waiting for the write connection does not commit at once: it stages its outbox,
//! releases its savepoint and hands the open transaction to the next command, which works in a
//! savepoint of its own. The last command of the group — the one that finds nobody waiting, or
//! the [`MAX_MEMBERS`]th — commits for everyone; only then is each command answered, with the
//! group's outcome, and its broadcasts, wake-ups and observers told.
//!
//! * A command that fails rolls back to its savepoint alone (the first of a group, which has no
//!   savepoint, is alone in the transaction then, and rolls it back); the others are unaffected.
//!   Its failure may rest on what the commands staged before it wrote (a second enrollment
//!   refused because the first is in the group), so [`EventBus::retrying`] answers it only once
//!   that group has committed — and runs it again should the group fail, so a refusal never
//!   rests on work that did not commit (see [`settled`]).
//! * A commit that fails fails every command of its group: none of them committed, and each
//!   caller gets [`UowError::GroupCommit`]. An event still exists iff its command committed.
//! * A command alone commits at once, as without group commit: it pays only a lock.
//! * A command is part of its group once it is staged: its caller going away after that (a
//!   dropped future) does not take it out, as a commit already sent cannot be taken back.
//!
//! Commands read inside the group's transaction, so they see what the commands before them in
//! the group wrote, exactly as if they had run one after the other.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{Any, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use super::uow::{Committed, EventBus, Staged, UowError};

/// The most commands one group commit holds.
pub const MAX_MEMBERS: usize = 64;

const SAVEPOINT: &str = "SAVEPOINT enteraksi_command";
const RELEASE: &str = "RELEASE SAVEPOINT enteraksi_command";
const ROLLBACK: &str = "ROLLBACK TO SAVEPOINT enteraksi_command; RELEASE SAVEPOINT enteraksi_command";

/// The group commit of one bus.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    group: Arc<Mutex<Group>>,
    /// Commands waiting for their turn in the group.
    waiting: Arc<AtomicUsize>,
}

/// The open group: its transaction (while a group is open) and the staged commands waiting for
/// its commit.
#[derive(Default)]
pub(crate) struct Group {
    tx: Option<Transaction<'static, Any>>,
    members: Vec<Member>,
    /// A savepoint a failed command left to roll back (it could not, being dropped).
    undo: bool,
    /// Failed commands that saw the staged members' writes, told whether the group committed.
    watchers: Vec<oneshot::Sender<bool>>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("open", &self.tx.is_some())
            .field("members", &self.members.len())
            .finish()
    }
}

struct Member {
    staged: Staged,
    answer: oneshot::Sender<Result<Committed, UowError>>,
}

/// A command's turn in the group: held from its transaction's first use to its staging.
pub(crate) struct Seat {
    group: OwnedMutexGuard<Group>,
    waiting: Arc<AtomicUsize>,
    /// Whether the command works in a savepoint (it is not the group's first).
    savepoint: bool,
    /// Whether that savepoint was released already (with the command's outbox).
    released: bool,
}

impl std::fmt::Debug for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seat").field("savepoint", &self.savepoint).finish()
    }
}

/// Counts a command as waiting for its turn while it lives (also when its future is dropped).
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

tokio::task_local! {
    /// The outcomes of the groups whose staged writes the running command's failed units of work
    /// saw.
    static SEEN: RefCell<Vec<oneshot::Receiver<bool>>>;
}

/// Runs one attempt of a command and, when it fails after seeing a group's staged writes, waits
/// for that group's commit. Returns the attempt's outcome and whether it stands: `false` when a
/// group it saw failed — the refusal may rest on writes that never committed, so the command
/// should run again.
pub(crate) async fn settled<T, E, F>(attempt: F) -> (Result<T, E>, bool)
where
    F: std::future::Future<Output = Result<T, E>>,
{
    // On the heap: a command's future can be large, and this wraps every one.
    let attempt = Box::pin(attempt);
    let (outcome, seen) = SEEN
        .scope(RefCell::new(Vec::new()), async move {
            let outcome = attempt.await;
            (outcome, SEEN.with(|seen| std::mem::take(&mut *seen.borrow_mut())))
        })
        .await;
    let mut stands = true;
    if outcome.is_err() {
        for group in seen {
            // A group dropped without an answer (its task gone with the runtime) committed
            // nothing either.
            stands &= group.await.unwrap_or(false);
        }
    }
    (outcome, stands)
}

impl GroupCommit {
    /// Takes a turn in the group: the group's open transaction, in a new savepoint, or a new
    /// transaction when no group is open.
    pub(crate) async fn join(&self, bus: &EventBus) -> Result<(Seat, Transaction<'static, Any>), UowError> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let waiting = Waiting(self.waiting.clone());
        let mut group = self.group.clone().lock_owned().await;
        drop(waiting);
        group.clean().await?;
        // The savepoint is opened on the transaction where it lies, so a caller going away
        // meanwhile leaves it with its group.
        let (tx, savepoint) = match group.tx.as_mut() {
            Some(tx) => {
                sqlx::raw_sql(SAVEPOINT).execute(&mut **tx).await?;
                (group.tx.take().expect("the group's transaction"), true)
            }
            None => (bus.db().begin_write().await?, false),
        };
        let seat = Seat {
            group,
            waiting: self.waiting.clone(),
            savepoint,
            released: false,
        };
        Ok((seat, tx))
    }
}

impl Group {
    /// Rolls back the savepoint a dropped command left, if any.
    async fn clean(&mut self) -> Result<(), UowError> {
        if std::mem::take(&mut self.undo)
            && let Some(tx) = self.tx.as_mut()
            && let Err(e) = sqlx::raw_sql(ROLLBACK).execute(&mut **tx).await
        {
            // The group cannot go on: fail its staged commands, roll back.
            self.fail_all(&e.to_string());
            return Err(e.into());
        }
        Ok(())
    }

    fn fail_all(&mut self, why: &str) {
        self.tx = None;
        for member in self.members.drain(..) {
            let _ = member.answer.send(Err(UowError::GroupCommit(why.to_owned())));
        }
        self.tell_watchers(false);
    }

    fn tell_watchers(&mut self, committed: bool) {
        for watcher in self.watchers.drain(..) {
            let _ = watcher.send(committed);
        }
    }

    /// Commits the group and answers its commands.
    async fn commit(&mut self, bus: &EventBus) {
        let members = std::mem::take(&mut self.members);
        let Some(tx) = self.tx.take() else {
            self.members = members;
            self.fail_all("the group's transaction was lost");
            return;
        };
        if let Err(e) = tx.commit().await {
            tracing::error!(error = %e, commands = members.len(), "a group commit failed; none of its commands committed");
            self.members = members;
            self.fail_all(&e.to_string());
            return;
        }
        self.tell_watchers(true);
        let (staged, answers): (Vec<Staged>, Vec<_>) = members.into_iter().map(|m| (m.staged, m.answer)).unzip();
        for (answer, committed) in answers.into_iter().zip(Staged::publish_all(staged, bus).await) {
            let _ = answer.send(Ok(committed));
        }
    }
}

impl Seat {
    /// A command that succeeded: releases its savepoint, joins the group's staged commands and
    /// waits for the group's commit — committing it itself when nobody waits to join (or the
    /// group is full). The group's part runs on a task of its own, so a caller going away (a
    /// dropped future) cannot leave the group half-updated, nor stop a commit that other
    /// commands wait for.
    pub(crate) async fn stage(
        self,
        mut tx: Transaction<'static, Any>,
        staged: Staged,
        bus: &EventBus,
    ) -> Result<Committed, UowError> {
        if self.nobody_waits() && self.group.members.is_empty() {
            // Alone in its group: it commits at once, as without group commit (going away
            // meanwhile rolls back its own work only, as then).
            if self.release_sql().is_some() {
                sqlx::raw_sql(RELEASE).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            drop(self);
            return Ok(staged.publish(bus).await);
        }
        let (answer, answered) = oneshot::channel();
        let bus = bus.clone();
        tokio::spawn(async move { self.enter(tx, staged, answer, &bus).await });
        answered.await.unwrap_or_else(|_| {
            Err(UowError::GroupCommit(
                "the group was dropped before its commit".to_owned(),
            ))
        })
    }

    async fn enter(
        mut self,
        mut tx: Transaction<'static, Any>,
        staged: Staged,
        answer: oneshot::Sender<Result<Committed, UowError>>,
        bus: &EventBus,
    ) {
        if self.release_sql().is_some()
            && let Err(e) = sqlx::raw_sql(RELEASE).execute(&mut *tx).await
        {
            self.group.tx = Some(tx);
            self.group.undo = true;
            let _ = answer.send(Err(e.into()));
            self.hand_on_async(bus).await;
            return;
        }
        self.group.tx = Some(tx);
        self.group.members.push(Member { staged, answer });
        self.hand_on_async(bus).await;
    }

    /// A command that failed (or was dropped): its work is undone — to its savepoint, or the
    /// whole transaction for the group's first — and the group goes on without it.
    /// Its failure may rest on what the group's staged members wrote: the running command (see
    /// [`settled`]) learns whether they commit before it answers.
    pub(crate) fn abandon(mut self, tx: Option<Transaction<'static, Any>>, bus: &EventBus) {
        if !self.group.members.is_empty() {
            let (told, outcome) = oneshot::channel();
            if SEEN.try_with(|seen| seen.borrow_mut().push(outcome)).is_ok() {
                self.group.watchers.push(told);
            }
        }
        match tx {
            Some(tx) if self.savepoint => {
                self.group.tx = Some(tx);
                self.group.undo = true;
            }
            // The first command of a group has it to itself: dropping it rolls it back.
            Some(tx) => drop(tx),
            None => {}
        }
        self.hand_on(bus);
    }

    /// The statement that releases its savepoint, while one is open.
    pub(crate) fn release_sql(&self) -> Option<&'static str> {
        (self.savepoint && !self.released).then_some(RELEASE)
    }

    /// Its savepoint was released (with its outbox).
    pub(crate) fn released(&mut self) {
        self.released = true;
    }

    fn nobody_waits(&self) -> bool {
        self.waiting.load(Ordering::Acquire) == 0 || self.group.members.len() >= MAX_MEMBERS
    }

    async fn hand_on_async(mut self, bus: &EventBus) {
        if self.nobody_waits() && !self.group.members.is_empty() {
            if let Err(e) = self.group.clean().await {
                tracing::error!(error = %e, "rolling back a failed command's savepoint failed; its group failed");
                return;
            }
            self.group.commit(bus).await;
        }
    }

    /// As [`hand_on_async`](Self::hand_on_async), from where it cannot wait (a drop): the commit,
    /// if it falls to this command, runs on a task of its own.
    fn hand_on(self, bus: &EventBus) {
        if self.nobody_waits() && !self.group.members.is_empty() {
            let bus = bus.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move { self.hand_on_async(&bus).await });
                }
                Err(_) => {
                    tracing::error!("a command left its group outside a runtime; the group's commands fail");
                    let mut seat = self;
                    seat.group
                        .fail_all("the group's last command was dropped outside a runtime");
                }
            }
        }
    }
}
