//! The `enteraksi` binary as an operator meets it, spawned as a process: secrets never printed,
//! unreachable databases named at once, and `queue work` stopped by SIGTERM or SIGINT mid-batch
//! (on SQLite and PostgreSQL).
//!
//! One test binary; its modules by subcommand or concern.

#[path = "../support/mod.rs"]
mod support;

mod audit;
mod demo;
mod event;
mod helpers;
mod migrate;
mod outages;
mod output;
mod queue;
mod serve;
mod settings;
mod users;
