//! The system under test: our three binaries on fixed ports.

use testkit::metrics::free_port;
use testkit::services::Process;
use testkit::TestEnv;

pub(super) struct System {
    pub(super) env: Vec<(String, String)>,
    pub(super) ingest_port: u16,
    pub(super) workers: Option<Process>,
    pub(super) ingest: Option<Process>,
    pub(super) broadcaster: Process,
    pub(super) ws_url: String,
    /// What a fault's own checks found, taken into its row.
    pub(super) problems: Vec<String>,
}

impl System {
    pub(super) fn start(env: &TestEnv) -> Self {
        let mut vars = env.service_env();
        vars.extend(
            [
                ("OUTCOME_TIMEOUT_MS", "3000".to_owned()),
                ("AMQP_CONFIRM_TIMEOUT_MS", "3000".to_owned()),
                // FAULT_RUST_LOG=warn shows why a service stalled.
                (
                    "RUST_LOG",
                    std::env::var("FAULT_RUST_LOG").unwrap_or_else(|_| "error".to_owned()),
                ),
                ("BROADCASTER_LISTEN", "127.0.0.1:0".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        let ingest_port = free_port();
        vars.push(("INGEST_LISTEN".into(), format!("127.0.0.1:{ingest_port}")));
        let workers = Process::start("workers", &vars, false);
        let ingest = Process::start("ingest", &vars, true);
        let broadcaster = Process::start("broadcaster", &vars, true);
        let ws_url = broadcaster
            .first_line
            .as_deref()
            .and_then(|line| line.rsplit(' ').next())
            .map(|url| url.to_owned())
            .expect("the broadcaster's URL");
        Self {
            env: vars,
            ingest_port,
            workers: Some(workers),
            ingest: Some(ingest),
            broadcaster,
            ws_url,
            problems: Vec::new(),
        }
    }

    pub(super) fn api(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1", self.ingest_port)
    }

    pub(super) fn restart_workers(&mut self) {
        self.workers = Some(Process::start("workers", &self.env, false));
    }

    pub(super) fn restart_ingest(&mut self) {
        self.ingest = Some(Process::start("ingest", &self.env, true));
    }
}
