//! hookrun's integration tests: one test crate (compiled once) with a module per area. They use
//! the built binary, real HTTP on 127.0.0.1, real child processes and real time.

mod cli;
mod common;
mod differential;
mod examples;
mod exec_control;
mod fixture;
mod notify;
mod registry_events;
mod reload;
mod secrets;
