//! What the parsed flags give the parts that start: the server's settings, the job limits, the
//! loader's options and sources, the store's settings and the TLS acceptor.

use std::time::Duration;

use super::{ServeArgs, ValidateArgs};
use crate::config::{self, LoadOptions};
use crate::jobs;
use crate::notify;
use crate::server::{self, tls};

impl ServeArgs {
    /// The server's settings; fails when the mail settings cannot be used (`-smtp*`: a bad
    /// URL or sender, an unreadable CA or password file). `env` reads
    /// `HOOKRUN_SMTP_PASSWORD`.
    pub fn server_settings(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<server::Settings, String> {
        let notify = notify::Settings {
            smtp: self.smtp.settings(env)?,
            rate_limit: self.notify_rate_limit,
            callback_allow: self.dockerhub_callback_allow.clone(),
            ..notify::Settings::default()
        };
        Ok(server::Settings {
            // captainhook serves /NAME.
            url_prefix: if self.captainhook.is_empty() {
                self.urlprefix.trim_matches('/').to_string()
            } else {
                String::new()
            },
            response_headers: self
                .header
                .iter()
                .map(|h| (h.0.clone(), h.1.clone()))
                .collect(),
            default_methods: self.http_methods.0.clone(),
            use_x_request_id: self.x_request_id,
            x_request_id_limit: self.x_request_id_limit,
            max_body: self.max_body_size,
            body_memory: self.max_body_memory,
            multipart_memory: self.max_multipart_mem,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            max_connections: self.max_connections.max(1),
            command_timeout: self.command_timeout,
            kill_grace: self.kill_grace,
            shutdown_timeout: self.shutdown_timeout,
            retry_after: Duration::from_secs(10),
            job_output: self.job_output,
            notify,
            health_with_hooks: self.health_address.is_empty(),
            captainhook_dir: (!self.captainhook.is_empty()).then(|| self.captainhook.clone()),
        })
    }

    pub fn job_limits(&self) -> jobs::JobLimits {
        jobs::JobLimits {
            max_jobs: self.max_jobs.max(1),
            max_queue: self.max_queue,
            history: self.job_history,
            max_output: self.max_output,
            history_bytes: self.job_history_size,
        }
    }

    pub fn load_options(&self) -> LoadOptions {
        let mut opts = load_options(self.template, self.lenient, self.smtp.smtp.is_some());
        if !self.captainhook.is_empty() {
            // Jobs run this very binary as `hookrun captainhook-run`.
            let program = std::env::current_exe()
                .map_or_else(|_| "hookrun".to_string(), |p| p.display().to_string());
            opts.captainhook = Some(config::captainhook::Captainhook {
                program,
                echo: self.echo,
            });
        }
        opts
    }

    /// Where the hooks come from: the `-hooks` values, or the `-captainhook` folder.
    pub fn sources(&self) -> Vec<String> {
        if self.captainhook.is_empty() {
            self.hooks.clone()
        } else {
            vec![self.captainhook.clone()]
        }
    }

    pub fn store_settings(&self) -> crate::store::StoreSettings {
        crate::store::StoreSettings {
            location: self.state.clone(),
            max_age: self.state_max_age,
            max_bytes: self.state_max_size,
            delivery_window: self.delivery_window,
            memory_records: self.job_history.max(1),
            lease: self.replica_lease,
        }
    }

    /// The TLS acceptor for `-secure`, from `-cert`, `-key` and the TLS flags.
    pub fn tls_acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, tls::TlsError> {
        tls::acceptor(
            &self.cert,
            &self.key,
            self.tls_min_version,
            &self.cipher_suites,
        )
    }
}

impl ValidateArgs {
    pub fn load_options(&self) -> LoadOptions {
        load_options(self.template, self.lenient, self.smtp.smtp.is_some())
    }
}

fn load_options(template: bool, lenient: bool, mail_server: bool) -> LoadOptions {
    LoadOptions {
        template,
        lenient,
        mail_server,
        captainhook: None,
    }
}
