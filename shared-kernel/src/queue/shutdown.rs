//! Stopping a worker gracefully: a [`ShutdownTrigger`] and the worker's [`Shutdown`].

use std::sync::Arc;

use tokio::sync::watch;

/// Asks a running worker to stop: it claims nothing more, finishes the job in hand and gives
/// the rest of its batch back.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger(Arc<watch::Sender<bool>>);

impl ShutdownTrigger {
    /// Starts the graceful shutdown.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

/// The worker's side of a [`ShutdownTrigger`].
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub(super) fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until the shutdown is triggered (e.g. to stop an HTTP server with the workers).
    pub async fn wait(&mut self) {
        self.triggered().await;
    }

    pub(super) async fn triggered(&mut self) {
        // An error means the trigger was dropped: nobody can stop us any more, so wait forever.
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A linked trigger and signal.
pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(Arc::new(tx)), Shutdown(rx))
}
