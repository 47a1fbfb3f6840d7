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
    Stop(Service),
    TerminateIngest,
}

impl Fault {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::KillWorker => "worker SIGKILL + restart",
            Self::ScaleWorkers => "package workers 1→2→4→2→1",
            Self::Stop(Service::RabbitMq) => "RabbitMQ stop/start",
            Self::Stop(Service::Postgres) => "PostgreSQL restart",
            Self::Stop(Service::Mongo(_)) => "MongoDB server stop/start",
            Self::Stop(Service::Redis) => "Redis stop/start",
            Self::TerminateIngest => "ingest SIGTERM + restart",
        }
    }

    /// How long the fault lasts.
    pub(super) fn duration(&self) -> Duration {
        match self {
            // The changes themselves take their time.
            Self::ScaleWorkers => Duration::ZERO,
            Self::Stop(Service::Mongo(_)) => Duration::from_secs(6),
            _ => Duration::from_secs(3),
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
