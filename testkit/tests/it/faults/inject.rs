//! The faults: injected while the load goes on, then repaired.

use super::System;
use std::time::Duration;
use testkit::services::{self, Outage, Process, Service};
use testkit::TestEnv;

/// A fault, injected and later repaired.
pub(super) enum Fault {
    KillWorker,
    /// Package-worker replicas 1 → 2 → 4 → 2, repaired back to 1.
    ScaleWorkers,
    /// SIGKILL of the broker cluster node a service's connection is on.
    KillBrokerNode(Holder),
    Stop(Service),
    TerminateIngest,
}

impl Fault {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::KillWorker => "worker SIGKILL + restart",
            Self::ScaleWorkers => "package workers 1→2→4→2→1",
            Self::KillBrokerNode(Holder::Workers) => "SIGKILL of the workers' broker node",
            Self::KillBrokerNode(Holder::Ingest) => "SIGKILL of ingest's broker node",
            Self::Stop(Service::RabbitNode(_)) => "RabbitMQ cluster node SIGKILL",
            Self::Stop(Service::RedisNode(_)) => "Redis Cluster node SIGKILL",
            Self::Stop(Service::RabbitMq) => "RabbitMQ stop/start",
            Self::Stop(Service::Postgres) => "PostgreSQL restart",
            Self::Stop(Service::Mongo(_)) => "MongoDB server stop/start",
            Self::Stop(Service::Redis) => "Redis stop/start",
            Self::TerminateIngest => "ingest SIGTERM + restart",
        }
    }

    /// How soon writes must be answered 2xx again after the fault began,
    /// while it lasts.
    pub(super) fn resume_within(&self) -> Option<Duration> {
        match self {
            Self::KillBrokerNode(_) => Some(Duration::from_secs(10)),
            _ => None,
        }
    }

    /// How long the fault lasts.
    pub(super) fn duration(&self) -> Duration {
        match self {
            // The changes themselves take their time.
            Self::ScaleWorkers => Duration::ZERO,
            // Long enough that the services must move to another node.
            Self::KillBrokerNode(_) => Duration::from_secs(15),
            Self::Stop(Service::Mongo(_)) => Duration::from_secs(6),
            _ => Duration::from_secs(3),
        }
    }
}

/// Whose broker node is killed.
#[derive(Debug, Clone, Copy)]
pub(super) enum Holder {
    Workers,
    Ingest,
}

impl Holder {
    /// The connection name the service gives the broker.
    fn connection(self) -> &'static str {
        match self {
            Self::Workers => "delivertrack-workers",
            Self::Ingest => "delivertrack-ingest",
        }
    }
}

/// What is broken right now, to repair.
pub(super) enum Broken {
    Service(Outage),
    Workers,
    Ingest,
    /// Extra package-worker replicas.
    Scaled(Vec<Process>),
}

pub(super) async fn inject(env: &TestEnv, system: &mut System, fault: &Fault) -> Broken {
    match fault {
        Fault::KillBrokerNode(holder) => {
            let ports: Vec<u16> = env
                .config
                .brokers
                .urls()
                .iter()
                .filter_map(|url| testkit::host_port(url).rsplit(':').next()?.parse().ok())
                .collect();
            let connection = holder.connection();
            let port =
                tokio::task::spawn_blocking(move || services::rabbit_node_of(connection, &ports))
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("no broker node holds {connection}"));
            eprintln!("{connection} is on the node of port {port}: killing it");
            Broken::Service(
                tokio::task::spawn_blocking(move || services::stop(Service::RabbitNode(port)))
                    .await
                    .unwrap(),
            )
        }
        Fault::ScaleWorkers => {
            let (extra, problems) = super::scale::scale(env, system).await;
            system.problems.extend(problems);
            Broken::Scaled(extra)
        }
        Fault::KillWorker => {
            if let Some(workers) = system.workers.take() {
                workers.kill();
            }
            Broken::Workers
        }
        Fault::Stop(service) => {
            let service = *service;
            Broken::Service(
                tokio::task::spawn_blocking(move || services::stop(service))
                    .await
                    .unwrap(),
            )
        }
        Fault::TerminateIngest => {
            if let Some(ingest) = system.ingest.take() {
                let code = tokio::task::spawn_blocking(move || ingest.terminate())
                    .await
                    .unwrap();
                assert_eq!(code, Some(0), "ingest exits cleanly on SIGTERM");
            }
            Broken::Ingest
        }
    }
}

pub(super) async fn repair(env: &TestEnv, system: &mut System, broken: Broken) {
    match broken {
        Broken::Scaled(extra) => {
            let problems = super::scale::scale_back(env, system, extra).await;
            system.problems.extend(problems);
        }
        Broken::Service(outage) => tokio::task::spawn_blocking(move || outage.restore())
            .await
            .unwrap(),
        Broken::Workers => system.restart_workers(),
        Broken::Ingest => system.restart_ingest(),
    }
}
