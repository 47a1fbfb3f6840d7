//! Builds the worker pool from config and keeps it connected until shutdown.

use crate::config::WorkerConfig;
use crate::consumer::{consume, Pipeline, QueueKind};
use crate::locations::{ensure_indexes, LocationStore};
use lapin::options::{BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::Connection;
use shared::backoff::Backoff;
use shared::cache::ViewCache;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid PostgreSQL configuration: {0}")]
    Database(#[from] sqlx::Error),
    #[error("invalid Redis configuration: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid MongoDB configuration: {0}")]
    Mongo(#[from] mongodb::error::Error),
}

/// Runs the package worker pool until `shutdown` is cancelled. Broker and
/// database outages are waited out, not fatal.
pub async fn run(config: WorkerConfig, shutdown: CancellationToken) -> Result<(), StartupError> {
    let pool = shared::db::lazy_pool(
        &config.common.database_url,
        config.common.database_max_connections,
    )?;
    let cache = ViewCache::new(&config.common.redis_url, &config.common.redis_prefix)?;
    if !migrate_with_retry(&pool, &shutdown).await? {
        return Ok(());
    }
    let mongo = mongodb::Client::with_uri_str(&config.common.mongodb_url).await?;
    let store = LocationStore::new(&mongo.database(&config.common.mongodb_database));
    if config.run_locations && !indexes_with_retry(&store, &shutdown).await {
        return Ok(());
    }
    let stores = Stores {
        pool: pool.clone(),
        cache,
        locations: store,
    };

    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    while !shutdown.is_cancelled() {
        match run_connected(&config, &stores, &shutdown).await {
            Ok(()) => break,
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, ?delay, "broker connection failed; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    pool.close().await;
    tracing::info!("workers stopped");
    Ok(())
}

/// The database handles every consumer shares.
struct Stores {
    pool: sqlx::PgPool,
    cache: ViewCache,
    locations: LocationStore,
}

/// Waits for MongoDB to accept the indexes. Returns false on shutdown.
async fn indexes_with_retry(store: &LocationStore, shutdown: &CancellationToken) -> bool {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        match ensure_indexes(store).await {
            Ok(()) => return true,
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, ?delay, "MongoDB unavailable for indexes; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Waits for PostgreSQL to accept the migrations. Returns false on shutdown.
async fn migrate_with_retry(
    pool: &sqlx::PgPool,
    shutdown: &CancellationToken,
) -> Result<bool, StartupError> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        match shared::db::migrate(pool).await {
            Ok(()) => return Ok(true),
            Err(sqlx::migrate::MigrateError::Execute(error))
                if crate::packages::is_transient(&error) =>
            {
                let delay = backoff.next_delay();
                tracing::warn!(%error, ?delay, "PostgreSQL unavailable for migrations; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(false),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
}

async fn run_connected(
    config: &WorkerConfig,
    stores: &Stores,
    shutdown: &CancellationToken,
) -> Result<(), lapin::Error> {
    let connection = shared::amqp::connect(&config.common.amqp_url, "delivertrack-workers").await?;
    let result = consume_all(&connection, config, stores, shutdown).await;
    // Closing returns every unacked delivery to its queue.
    let _ = connection.close(200, "worker stopping".into()).await;
    result
}

async fn consume_all(
    connection: &Connection,
    config: &WorkerConfig,
    stores: &Stores,
    shutdown: &CancellationToken,
) -> Result<(), lapin::Error> {
    let topology = &config.common.topology;
    topology
        .declare(&connection.create_channel().await?)
        .await?;
    let publish = connection.create_channel().await?;
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let pipeline = Arc::new(Pipeline {
        pool: stores.pool.clone(),
        cache: stores.cache.clone(),
        locations: stores.locations.clone(),
        topology: topology.clone(),
        publish,
        reply: connection.create_channel().await?,
        confirm_timeout: config.confirm_timeout,
        stop: shutdown.child_token(),
    });

    let mut queues = Vec::new();
    if config.run_packages {
        queues.extend(
            config
                .shards
                .iter()
                .map(|&shard| (topology.package_queue(shard), QueueKind::Packages)),
        );
    }
    if config.run_locations {
        queues.push((topology.locations_queue(), QueueKind::Locations));
    }
    let mut consumers = JoinSet::new();
    for (queue, kind) in queues {
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(config.prefetch, BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                queue.clone().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let pipeline = Arc::clone(&pipeline);
        consumers.spawn(async move {
            let result = consume(&pipeline, &queue, kind, consumer).await;
            drop(channel);
            result
        });
    }
    tracing::info!(
        packages = config.run_packages,
        locations = config.run_locations,
        shards = ?config.shards,
        "workers consuming"
    );

    let mut outcome = Ok(());
    while let Some(joined) = consumers.join_next().await {
        let result = joined.unwrap_or_else(|panic| {
            tracing::error!(%panic, "consumer task failed");
            Err(lapin::Error::from(lapin::ErrorKind::InvalidChannelState(
                lapin::ChannelState::Error,
                "consumer task failed",
            )))
        });
        if let Err(error) = result {
            // One consumer lost its channel: stop the siblings and reconnect all.
            pipeline.stop.cancel();
            if outcome.is_ok() {
                outcome = Err(error);
            }
        }
    }
    outcome
}
