//! Stopping and starting the machine's real services (PostgreSQL, RabbitMQ,
//! Redis, the MongoDB-protocol server) for the fault suite, and running the
//! workspace's binaries as processes.
//!
//! Each stop returns an [`Outage`] that starts the service again when asked,
//! or when dropped (a failing test still restores what it stopped). Services
//! are restarted the way this machine kind starts them (see
//! `scripts/services.sh`), whoever started them first.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A service the fault suite can take away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Postgres,
    RabbitMq,
    Redis,
    /// The MongoDB-protocol server listening on this port.
    Mongo(u16),
    /// The node of the test scripts' RabbitMQ cluster on this AMQP port,
    /// killed with SIGKILL.
    RabbitNode(u16),
    /// The node of the test scripts' Redis Cluster on this port, killed
    /// with SIGKILL.
    RedisNode(u16),
}

/// A stopped service; [`Outage::restore`] (or dropping it) starts it again.
pub struct Outage {
    service: Service,
    start: Option<Box<dyn FnOnce() + Send>>,
}

impl Outage {
    /// Starts the service again and waits until it answers.
    pub fn restore(mut self) {
        self.start_now();
    }

    fn start_now(&mut self) {
        if let Some(start) = self.start.take() {
            start();
            wait_port(port_of(self.service), Duration::from_secs(120));
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Best effort while a test fails: a second panic would abort
            // before the service is back.
            if let Some(start) = self.start.take() {
                start();
            }
        } else {
            self.start_now();
        }
    }
}

fn port_of(service: Service) -> u16 {
    match service {
        Service::Postgres => 5432,
        Service::RabbitMq => 5672,
        Service::Redis => 6379,
        Service::Mongo(port) | Service::RabbitNode(port) | Service::RedisNode(port) => port,
    }
}

/// Whether something listens on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// Waits until 127.0.0.1:`port` accepts connections; panics after `timeout`.
pub fn wait_port(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !port_open(port) {
        assert!(
            Instant::now() < deadline,
            "nothing listens on port {port} after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a command that must succeed: a fault that was not injected (or a
/// service that did not come back) fails the test instead of passing it.
fn run(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            let message = format!(
                "`{program} {}` failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
            if std::thread::panicking() {
                eprintln!("{message}");
            } else {
                panic!("{message}");
            }
        }
        Err(error) => {
            let message = format!("`{program}` could not run: {error}");
            if std::thread::panicking() {
                eprintln!("{message}");
            } else {
                panic!("{message}");
            }
        }
    }
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Stops `service` (and waits until it no longer answers).
pub fn stop(service: Service) -> Outage {
    let start: Box<dyn FnOnce() + Send> = match service {
        Service::Postgres => {
            let version = postgres_version();
            run(
                "pg_ctlcluster",
                &[
                    "--skip-systemctl-redirect",
                    &version,
                    "main",
                    "stop",
                    "-m",
                    "fast",
                ],
            );
            Box::new(move || {
                run(
                    "pg_ctlcluster",
                    &["--skip-systemctl-redirect", &version, "main", "start"],
                )
            })
        }
        Service::RabbitMq => {
            run("rabbitmqctl", &["shutdown"]);
            Box::new(|| {
                run("rabbitmq-server", &["-detached"]);
                wait_port(5672, Duration::from_secs(120));
                run("rabbitmqctl", &["await_startup", "--timeout", "120"]);
            })
        }
        Service::Redis => {
            let setting = |name: &str| {
                output("redis-cli", &["config", "get", name])
                    .lines()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned()
            };
            let (bind, dir, logfile) = (setting("bind"), setting("dir"), setting("logfile"));
            run("redis-cli", &["shutdown", "nosave"]);
            Box::new(move || {
                let mut args = vec![
                    "--daemonize",
                    "yes",
                    "--port",
                    "6379",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ];
                let binds: Vec<&str> = bind.split_whitespace().collect();
                if !binds.is_empty() {
                    args.push("--bind");
                    args.extend(binds);
                }
                for (flag, value) in [("--dir", dir.as_str()), ("--logfile", logfile.as_str())] {
                    if !value.is_empty() {
                        args.extend([flag, value]);
                    }
                }
                run("redis-server", &args);
            })
        }
        Service::RabbitNode(port) => {
            kill_listener(port);
            Box::new(move || {
                script(&format!("rabbit_cluster_node_on {port}"));
            })
        }
        Service::RedisNode(port) => {
            kill_listener(port);
            Box::new(move || {
                script(&format!("redis_cluster_node {port}"));
            })
        }
        Service::Mongo(port) => {
            let process =
                listener(port).unwrap_or_else(|| panic!("no process listens on port {port}"));
            run("kill", &["-TERM", &process.pid.to_string()]);
            wait_gone(process.pid);
            Box::new(move || process.start_again())
        }
    };
    let outage = Outage {
        service,
        start: Some(start),
    };
    let port = port_of(service);
    let deadline = Instant::now() + Duration::from_secs(60);
    while port_open(port) {
        // Dropping the outage on the way out starts the service again.
        assert!(
            Instant::now() < deadline,
            "{service:?} still answers on port {port} 60 s after it was stopped: the fault was not injected"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    outage
}

/// Kills whatever listens on `port` with SIGKILL: no goodbye to its peers
/// or clients, as when a machine dies.
fn kill_listener(port: u16) {
    let process = listener(port).unwrap_or_else(|| panic!("no process listens on port {port}"));
    run("kill", &["-KILL", &process.pid.to_string()]);
    wait_gone(process.pid);
}

/// Runs `body` in bash after sourcing `scripts/services.sh` (how the test
/// scripts start and find the clusters); its standard output, trimmed.
/// Panics when it fails: a cluster that is not there fails the test.
pub fn script(body: &str) -> String {
    let services = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/services.sh");
    let output = Command::new("bash")
        .args(["-c", &format!("source '{services}' && {body}")])
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("bash could not run: {e}"));
    assert!(
        output.status.success(),
        "`{body}` (scripts/services.sh) failed: {}",
        output.status
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The test scripts' three-node RabbitMQ cluster (started if it is not
/// running): its nodes' AMQP URLs.
pub fn rabbit_cluster() -> Vec<String> {
    split_urls(&script(
        "ensure_rabbitmq_cluster >&2 && rabbit_cluster_urls",
    ))
}

/// The test scripts' six-node Redis Cluster (started if it is not running):
/// its nodes' URLs.
pub fn redis_cluster() -> Vec<String> {
    split_urls(&script("ensure_redis_cluster >&2 && redis_cluster_urls"))
}

fn split_urls(listed: &str) -> Vec<String> {
    listed.split(',').map(str::to_owned).collect()
}

fn postgres_version() -> String {
    let mut versions: Vec<u32> = std::fs::read_dir("/etc/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_unstable();
    versions
        .last()
        .map_or_else(|| "15".to_owned(), u32::to_string)
}

/// A running process, as it was started.
struct StartedProcess {
    pid: u32,
    argv: Vec<String>,
    cwd: PathBuf,
}

impl StartedProcess {
    /// Starts the same command again, detached, in the same directory. If
    /// `scripts/services.sh` recorded the old process in a pid file, the new
    /// one replaces it there, so the script still stops what it started.
    fn start_again(self) {
        let Some((program, args)) = self.argv.split_first() else {
            return;
        };
        let log =
            std::fs::File::create(std::env::temp_dir().join(format!("restarted-{}.log", self.pid)));
        let child = Command::new("setsid")
            .arg(program)
            .args(args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(log.as_ref().map_or_else(
                |_| Stdio::null(),
                |f| f.try_clone().map_or_else(|_| Stdio::null(), Stdio::from),
            ))
            .stderr(log.map_or_else(|_| Stdio::null(), Stdio::from))
            .spawn();
        let Ok(child) = child else {
            eprintln!("warning: could not restart {}", self.argv.join(" "));
            return;
        };
        let pid_file = repo_local_dir().join("secantus.pid");
        if std::fs::read_to_string(&pid_file).is_ok_and(|pid| pid.trim() == self.pid.to_string()) {
            let _ = std::fs::write(&pid_file, child.id().to_string());
        }
    }
}

fn repo_local_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.local"))
}

/// The process listening on TCP `port`, found through /proc.
fn listener(port: u16) -> Option<StartedProcess> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let local_port = fields.get(1)?.rsplit(':').next()?;
                    let listening = *fields.get(3)? == "0A";
                    (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                        .then(|| fields.get(9).map(|inode| (*inode).to_owned()))
                        .flatten()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let owns = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| {
                let target = target.to_string_lossy();
                inodes
                    .iter()
                    .any(|inode| target == format!("socket:[{inode}]"))
            })
        });
        if owns {
            let argv = std::fs::read(entry.path().join("cmdline"))
                .unwrap_or_default()
                .split(|b| *b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            let cwd =
                std::fs::read_link(entry.path().join("cwd")).unwrap_or_else(|_| PathBuf::from("/"));
            return Some(StartedProcess { pid, argv, cwd });
        }
    }
    None
}

fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One of the workspace's binaries, running; killed if dropped while running.
pub struct Process {
    child: Child,
    /// The first line the process printed (ingest and broadcaster print
    /// where they listen).
    pub first_line: Option<String>,
    /// Its standard error, line by line, when started with
    /// [`Process::start_logged`].
    pub logs: Logs,
}

/// Lines a process wrote, collected as they come.
#[derive(Clone, Default)]
pub struct Logs(
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Set once the stream ended: every line is in.
    std::sync::Arc<std::sync::atomic::AtomicBool>,
);

impl Logs {
    /// Waits (up to 5 s) until the process's stream has ended, so lines it
    /// wrote just before exiting are not missed.
    fn wait_complete(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.1.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The lines that contain `needle`.
    pub fn containing(&self, needle: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.contains(needle))
            .collect()
    }
}

impl Process {
    /// Starts `name` with `env`; with `wait_for_line`, waits for its first
    /// line of output.
    pub fn start(name: &str, env: &[(String, String)], wait_for_line: bool) -> Self {
        Self::spawn(name, env, wait_for_line, false)
    }

    /// Like [`Process::start`], collecting standard error into
    /// [`Process::logs`] instead of passing it through.
    pub fn start_logged(name: &str, env: &[(String, String)], wait_for_line: bool) -> Self {
        Self::spawn(name, env, wait_for_line, true)
    }

    fn spawn(name: &str, env: &[(String, String)], wait_for_line: bool, logged: bool) -> Self {
        use std::io::{BufRead, BufReader};
        let mut command = Command::new(crate::bins::path(name));
        command.envs(env.iter().map(|(k, v)| (k, v)));
        command.stdout(Stdio::piped()).stderr(if logged {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let logs = Logs::default();
        if let Some(stderr) = child.stderr.take() {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut lines) = logs.0.lock() {
                        lines.push(line);
                    }
                }
                logs.1.store(true, std::sync::atomic::Ordering::SeqCst);
            });
        } else {
            // Passed through: nothing to collect.
            logs.1.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let stdout = child.stdout.take();
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            // Reads to the end, so the child never writes into a closed pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = line_tx.send(line);
            }
        });
        let first_line = wait_for_line.then(|| {
            line_rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("{name} did not start"))
        });
        Self {
            child,
            first_line,
            logs,
        }
    }

    /// Waits up to `timeout` for the process to exit by itself; its exit
    /// code, or `None` if it still runs (or died by a signal).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.logs.wait_complete();
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit; returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        run("kill", &["-TERM", &self.pid().to_string()]);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.logs.wait_complete();
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The broker's active consumers, by queue (their consumer tags), from
/// `rabbitmqctl list_consumers` on the default node.
pub fn active_consumers() -> Result<std::collections::BTreeMap<String, Vec<String>>, String> {
    let listed = output(
        "rabbitmqctl",
        &[
            "list_consumers",
            "-q",
            "--formatter",
            "json",
            "queue_name",
            "consumer_tag",
            "active",
        ],
    );
    let consumers: Vec<serde_json::Value> = serde_json::from_str(&listed)
        .map_err(|e| format!("rabbitmqctl list_consumers: {e}: {listed}"))?;
    let mut active: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for consumer in consumers.iter().filter(|c| c["active"] == true) {
        let (Some(queue), Some(tag)) = (
            consumer["queue_name"].as_str(),
            consumer["consumer_tag"].as_str(),
        ) else {
            continue;
        };
        active
            .entry(queue.to_owned())
            .or_default()
            .push(tag.to_owned());
    }
    Ok(active)
}

/// The AMQP port of the cluster node holding the connection named `name`
/// (a service's connection name, e.g. `delivertrack-workers`), asking each
/// node of `ports` in turn until one answers.
pub fn rabbit_node_of(name: &str, ports: &[u16]) -> Option<u16> {
    let needle = format!("\"{name}\"");
    for (index, _) in ports.iter().enumerate() {
        let node = format!("dt-rmq{}@localhost", index + 1);
        let listed = output(
            "rabbitmqctl",
            &[
                "-n",
                &node,
                "list_connections",
                "-q",
                "--formatter",
                "json",
                "port",
                "client_properties",
            ],
        );
        let Ok(connections) = serde_json::from_str::<Vec<serde_json::Value>>(&listed) else {
            continue;
        };
        return connections
            .iter()
            .find(|c| c["client_properties"].to_string().contains(&needle))
            .and_then(|c| c["port"].as_u64())
            .and_then(|port| u16::try_from(port).ok());
    }
    None
}

/// The number of members of each quorum queue whose name starts with
/// `prefix`, as the cluster's first live node reports them.
pub fn quorum_members(prefix: &str) -> std::collections::BTreeMap<String, usize> {
    for index in 1..=3 {
        let node = format!("dt-rmq{index}@localhost");
        let listed = output(
            "rabbitmqctl",
            &[
                "-n",
                &node,
                "list_queues",
                "-q",
                "--formatter",
                "json",
                "name",
                "type",
                "members",
            ],
        );
        let Ok(queues) = serde_json::from_str::<Vec<serde_json::Value>>(&listed) else {
            continue;
        };
        return queues
            .iter()
            .filter(|q| q["type"] == "quorum")
            .filter_map(|q| {
                let name = q["name"].as_str()?;
                name.starts_with(prefix)
                    .then(|| (name.to_owned(), q["members"].as_array().map_or(0, Vec::len)))
            })
            .collect();
    }
    Default::default()
}

/// The test scripts' streaming replica of the local PostgreSQL (started if
/// it is not running): its port.
pub fn pg_replica() -> u16 {
    script("ensure_pg_replica >&2 && echo $PG_REPLICA_PORT")
        .parse()
        .expect("the replica's port")
}
