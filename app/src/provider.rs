//! The EventServiceProvider: one readable place that registers every listener of the catalog
//! (DESIGN.md §5), in order, with its mode and queue — and does nothing else.

use std::sync::Arc;

use shared_kernel::notifications::{AppUrl, NotificationSender};
use shared_kernel::sqlx::migrate::Migrator;
use shared_kernel::{LogDomainEvent, Registry, RegistryError};

/// What listeners are built from.
pub struct Dependencies {
    /// Delivers notifications (database and mail).
    pub notifier: Arc<dyn NotificationSender>,
    /// The public base URL for links.
    pub app_url: AppUrl,
}

/// Every crate's migrations, the kernel's first.
pub fn migrators() -> Vec<Migrator> {
    vec![shared_kernel::migrator()]
}

/// Every registration of the catalog.
pub fn register(_deps: &Dependencies) -> Result<Registry, RegistryError> {
    Registry::builder()
        // The audit trail: first for every event, in the command's own transaction.
        .listen_all_sync(LogDomainEvent, &[])
        .build()
}

/// The order workers take queues in by default: state-changing work first, then what people
/// wait for, then the rest. Queues a registration names but this list does not come last.
pub fn queues_in_priority_order(registry: &Registry) -> Vec<String> {
    const PRIORITY: [&str; 5] = ["default", "certificates", "notifications", "broadcasts", "audit"];
    let mut queues: Vec<String> = PRIORITY.iter().map(|q| (*q).to_owned()).collect();
    for q in registry.queues() {
        if !queues.contains(&q) {
            queues.push(q);
        }
    }
    queues
}
