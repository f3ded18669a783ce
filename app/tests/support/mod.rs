//! What the binary's integration tests share.
#![allow(dead_code)] // each test file uses a part

pub mod api;
pub mod cdp;
pub mod process;
pub mod ralph;
