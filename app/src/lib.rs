//! The `enteraksi` application: the only crate that knows every context. It wires them together
//! (the EventServiceProvider), reads configuration and runs the CLI.
