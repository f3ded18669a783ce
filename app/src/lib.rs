//! # app
//!
//! The `enteraksi` application: the only crate that knows every context. It reads the
//! [`config`], opens and migrates the database, builds the listener registry in
//! [`provider`] (the EventServiceProvider: explicit registration, nothing else), and runs the
//! [`cli`] — including the [`demo`] of a whole LMS flow.
//!
//! Only `app` knows the CLI, configuration and the adapters that connect contexts through their
//! ports; contexts never see each other except along DESIGN.md's dependency rule.

pub mod adapters;
pub mod cli;
pub mod config;
pub mod demo;
pub mod ops;
pub mod provider;
pub mod server;
pub mod workload;

use std::sync::Arc;

use shared_kernel::broadcast::{ChannelRule, LiveHub, SUBSCRIBER_BUFFER};
use shared_kernel::notifications::{MailTransport, NotificationSender, Notifier};
use shared_kernel::{CommitObserver, Database, EventBus};

use crate::config::Config;

/// Starting the application failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] shared_kernel::DbError),
    /// A listener registration cannot work.
    #[error("invalid listener registration")]
    Registry(#[from] shared_kernel::RegistryError),
    /// The client of the configured learning record store cannot be built.
    #[error(transparent)]
    Lrs(#[from] shared_kernel::integrations::xapi::LrsConfigError),
}

/// A running application: database, bus (with every listener registered) and the hub of this
/// process's live broadcast subscribers.
#[derive(Clone)]
pub struct Application {
    db: Database,
    bus: EventBus,
    live: Arc<LiveHub>,
    broadcast_retention: std::time::Duration,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

/// Options for [`Application::start_with`]: what tests and the demo swap in.
#[derive(Default)]
pub struct StartOptions {
    /// Replaces the configured mail transport.
    pub mail_transport: Option<Arc<dyn MailTransport>>,
    /// Observers of committed events (e.g. the test fake).
    pub observers: Vec<Arc<dyn CommitObserver>>,
    /// Whether concurrent commands share commits ([`EventBusBuilder::group_commit`]); `None`
    /// keeps the backend's default (on for SQLite).
    ///
    /// [`EventBusBuilder::group_commit`]: shared_kernel::EventBusBuilder::group_commit
    pub group_commit: Option<bool>,
}

impl Application {
    /// Connects, migrates and wires everything per `config`.
    pub async fn start(config: &Config) -> Result<Self, StartError> {
        Self::start_with(config, StartOptions::default()).await
    }

    /// Like [`start`](Self::start), with parts swapped in.
    pub async fn start_with(config: &Config, options: StartOptions) -> Result<Self, StartError> {
        let db = Database::connect_with(&config.database_url, config.db_options()).await?;
        db.migrate(&provider::migrators()).await?;
        let transport = match options.mail_transport {
            Some(transport) => transport,
            None => config.mail.transport()?,
        };
        let notifier: Arc<dyn NotificationSender> = Arc::new(Notifier::new(
            transport.clone(),
            config.app_url.clone(),
            &config.mail_from.0,
            &config.mail_from.1,
        ));
        let registry = provider::register(&provider::Dependencies {
            notifier,
            mail: transport,
            app_url: config.app_url.clone(),
            inactivity_reminder: config.inactivity_reminder,
            webhook_timeout: config.webhook_timeout,
            lrs: match &config.xapi_lrs {
                Some(endpoint) => Some((
                    shared_kernel::integrations::xapi::LrsClient::new(endpoint.clone(), config.xapi_timeout)?,
                    config.xapi_timeout,
                )),
                None => None,
            },
            mail_rate_limit: config.mail_rate_limit,
        })?;
        let mut builder = EventBus::builder(db.clone(), Arc::new(registry));
        for observer in options.observers {
            builder = builder.observer(observer);
        }
        if let Some(on) = options.group_commit {
            builder = builder.group_commit(on);
        }
        Ok(Self {
            db,
            bus: builder.build(),
            live: LiveHub::new(SUBSCRIBER_BUFFER),
            broadcast_retention: config.broadcast_retention,
        })
    }

    /// The database.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The event bus every command starts from.
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// This process's live broadcast subscribers (fed by a tailer `serve` starts).
    pub fn live(&self) -> &Arc<LiveHub> {
        &self.live
    }

    /// How long broadcasts are kept for clients that resume (`BROADCAST_RETENTION_HOURS`).
    pub fn broadcast_retention(&self) -> std::time::Duration {
        self.broadcast_retention
    }

    /// Every channel the contexts' events broadcast on, as subscribers may name them.
    pub fn broadcast_channels() -> Vec<ChannelRule> {
        let mut rules: Vec<ChannelRule> = Vec::new();
        for rule in [
            course::BROADCAST_CHANNELS,
            enrollment::BROADCAST_CHANNELS,
            progress::BROADCAST_CHANNELS,
            assessment::BROADCAST_CHANNELS,
            learning_path::BROADCAST_CHANNELS,
        ]
        .concat()
        {
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        rules
    }

    /// The queues workers take by default, in priority order.
    pub fn queues(&self) -> Vec<String> {
        provider::queues_in_priority_order(self.bus.registry())
    }
}
