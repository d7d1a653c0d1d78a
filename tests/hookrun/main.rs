//! hookrun's integration tests: one test crate (compiled once) with a module per area. They use
//! real HTTP on 127.0.0.1, real child processes and real time: `harness` runs the server inside
//! the test process, `fixture` and `common` run the built binary.

mod body_memory;
mod captainhook;
mod clean_pages;
mod cli;
mod common;
mod deep_payloads;
mod differential;
mod examples;
mod exec_control;
mod fault_around;
mod fixture;
mod harness;
mod health;
mod history;
mod in_process;
mod load;
mod logs;
mod notify;
mod protocol;
mod registry_events;
mod reload;
mod reload_memory;
mod reload_rewrites;
mod replicas;
mod rotation;
mod secrets;
mod systemd;
mod verdict;
