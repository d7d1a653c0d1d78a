//! Execution control through the built binary: timeouts that kill whole process groups,
//! concurrency modes and queues, the jobs endpoints, output streaming, graceful shutdown,
//! request limits and reaping, each over real HTTP on 127.0.0.1 with real commands.

mod cgroups;
mod concurrency;
mod jobs_endpoint;
mod limits;
mod reaping;
mod shutdown;
mod streaming;
mod timeout;
