//! The raw speed of each dependency, measured in the same run as the
//! scenarios and on the same cores, so each scenario is judged against what
//! is possible here and now: publish-with-confirm to a quorum queue (with
//! ingest's client settings), Redis GET, a PostgreSQL batch insert, a MongoDB
//! `insert_many` with the history's indexes, and a hyper server answering 202.
//! Every baseline cleans up what it creates.

use crate::load::{self, Request};
use crate::report::Row;
use crate::system::System;
use anyhow::Context;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use mongodb::bson::doc;
use shared::locations::stored::{self, HistoryDoc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the baselines measured, by name, in their own units per second.
#[derive(Debug, Default, Clone)]
pub struct Baselines {
    pub publish_confirm_msgs: f64,
    pub redis_get_ops: f64,
    pub pg_batch_insert_rows: f64,
    pub mongo_insert_many_docs: f64,
    pub hyper_202_reqs: f64,
    pub hyper_202_p99_ms: f64,
}

pub async fn measure(
    system: &System,
    duration: Duration,
    connections: usize,
) -> anyhow::Result<(Baselines, Vec<Row>)> {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut baselines = Baselines {
        publish_confirm_msgs: publish_confirm(system, &suffix, duration).await?,
        redis_get_ops: redis_get(system, &suffix, duration).await?,
        pg_batch_insert_rows: pg_batch_insert(system, &suffix, duration).await?,
        mongo_insert_many_docs: mongo_insert_many(system, &suffix, duration, u64::MAX).await?,
        ..Baselines::default()
    };
    let (reqs, p99) = hyper_202(duration, connections).await?;
    baselines.hyper_202_reqs = reqs;
    baselines.hyper_202_p99_ms = p99;
    let rows = vec![
        Row::new(
            "baseline",
            "publish-with-confirm, quorum queue, 1024 in flight",
            baselines.publish_confirm_msgs,
            "msg/s",
        ),
        Row::new(
            "baseline",
            "Redis GET, 256 concurrent, one connection",
            baselines.redis_get_ops,
            "op/s",
        ),
        Row::new(
            "baseline",
            "PostgreSQL UNNEST insert, 500-row batches",
            baselines.pg_batch_insert_rows,
            "row/s",
        ),
        Row::new(
            "baseline",
            "MongoDB insert_many 1000 into the history",
            baselines.mongo_insert_many_docs,
            "doc/s",
        ),
        Row::new(
            "baseline",
            &format!("hyper answering 202, {connections} connections"),
            baselines.hyper_202_reqs,
            "req/s",
        )
        .note(format!("p99 {:.1} ms", baselines.hyper_202_p99_ms)),
    ];
    Ok((baselines, rows))
}

/// A location message's size: what one confirmed publish of ingest carries.
fn point_payload() -> Vec<u8> {
    vec![0x5a; 260]
}

async fn publish_confirm(system: &System, suffix: &str, duration: Duration) -> anyhow::Result<f64> {
    let channel = system.amqp.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queue = format!("{}.bench.{suffix}", system.config.topology.prefix());
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    channel
        .queue_declare(
            queue.clone().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await?;
    let payload = point_payload();
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/msgpack".into());
    let began = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut confirmed = 0u64;
    while began.elapsed() < duration {
        while in_flight.len() < 1024 {
            let confirm = channel
                .basic_publish(
                    "".into(),
                    queue.clone().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &payload,
                    properties.clone(),
                )
                .await?;
            in_flight.push(confirm);
        }
        if let Some(done) = in_flight.next().await {
            if done.is_ok_and(|c| c.is_ack()) {
                confirmed += 1;
            }
        }
    }
    let elapsed = began.elapsed();
    while let Some(done) = in_flight.next().await {
        let _ = done;
    }
    channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await?;
    let _ = channel.close(200, "baseline done".into()).await;
    Ok(confirmed as f64 / elapsed.as_secs_f64())
}

async fn redis_get(system: &System, suffix: &str, duration: Duration) -> anyhow::Result<f64> {
    let client = redis::Client::open(system.config.redis_url.as_str())?;
    let connection = redis::aio::ConnectionManager::new(client).await?;
    let key = format!("{}bench:{suffix}", system.config.redis_prefix);
    let view = "x".repeat(420); // about a package view
    redis::cmd("SET")
        .arg(&key)
        .arg(&view)
        .query_async::<()>(&mut connection.clone())
        .await?;
    let count = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..256 {
        let (mut connection, key, count) = (connection.clone(), key.clone(), Arc::clone(&count));
        tasks.spawn(async move {
            while began.elapsed() < duration {
                if redis::cmd("GET")
                    .arg(&key)
                    .query_async::<Option<String>>(&mut connection)
                    .await
                    .is_ok()
                {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = began.elapsed();
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<()>(&mut connection.clone())
        .await?;
    Ok(count.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64())
}

async fn pg_batch_insert(system: &System, suffix: &str, duration: Duration) -> anyhow::Result<f64> {
    let table = format!("bench_events_{suffix}");
    sqlx::query(&format!(
        "CREATE TABLE {table} (package_id uuid NOT NULL, seq bigint NOT NULL, event_id uuid NOT NULL UNIQUE, \
         kind text NOT NULL, PRIMARY KEY (package_id, seq))"
    ))
    .execute(&system.pool)
    .await?;
    let package = uuid::Uuid::new_v4();
    let began = Instant::now();
    let mut rows = 0i64;
    while began.elapsed() < duration {
        let seqs: Vec<i64> = (rows..rows + 500).collect();
        let ids: Vec<uuid::Uuid> = seqs.iter().map(|_| uuid::Uuid::new_v4()).collect();
        let packages = vec![package; 500];
        let kinds = vec!["location"; 500];
        sqlx::query(&format!(
            "INSERT INTO {table} SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::uuid[], $4::text[])"
        ))
        .bind(&packages)
        .bind(&seqs)
        .bind(&ids)
        .bind(&kinds)
        .execute(&system.pool)
        .await?;
        rows += 500;
    }
    let elapsed = began.elapsed();
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&system.pool)
        .await?;
    Ok(rows as f64 / elapsed.as_secs_f64())
}

/// `insert_many` of 1000 history documents into the history collection
/// itself: the MongoDB stand-in's cost grows with a collection's size, so the
/// baseline must meet the collection the workers write to as it is now. The
/// documents name packages no one has and are deleted afterwards.
/// `insert_many` of 1,000 documents shaped like the history's, for
/// `duration` or until `max_docs` are in (the stand-in slows as a collection
/// grows, so a scenario compares against the same volume it writes).
pub async fn mongo_insert_many(
    system: &System,
    suffix: &str,
    duration: Duration,
    max_docs: u64,
) -> anyhow::Result<f64> {
    let collection = system.mongo.collection::<HistoryDoc>(stored::HISTORY);
    let prefix = format!("ZZBASELINE{suffix}");
    let began = Instant::now();
    let mut docs = 0u64;
    while began.elapsed() < duration && docs < max_docs {
        let now = mongodb::bson::DateTime::now();
        let batch: Vec<HistoryDoc> = (0..1000)
            .map(|i| HistoryDoc {
                point_id: uuid::Uuid::new_v4().to_string(),
                package_id: Some(uuid::Uuid::nil().to_string()),
                tracking_number: format!("{prefix}{}", i % 50),
                location: stored::GeoPoint::new(40.0 + f64::from(i) / 1e4, -74.0),
                recorded_at: mongodb::bson::DateTime::from_millis(
                    now.timestamp_millis() - i64::from(i),
                ),
                received_at: now,
                seq: i64::from(i),
                address: None,
                measurements: Default::default(),
            })
            .collect();
        collection.insert_many(batch).ordered(false).await?;
        docs += 1000;
    }
    let elapsed = began.elapsed();
    collection
        .delete_many(doc! { "tracking_number": { "$gte": &prefix, "$lt": format!("{prefix}~") } })
        .await?;
    Ok(docs as f64 / elapsed.as_secs_f64())
}

/// A hyper server that answers 202 to everything, loaded like the scenarios.
/// It runs as a process of its own (`dt-bench serve-202`), as ingest does: in
/// the load generator's process it would share its runtime and threads, and
/// measured anywhere from 73k to 148k req/s from run to run.
async fn hyper_202(duration: Duration, connections: usize) -> anyhow::Result<(f64, f64)> {
    use tokio::io::AsyncBufReadExt;
    let mut server = tokio::process::Command::new(std::env::current_exe()?)
        .arg(SERVE_202)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = server.stdout.take().context("the 202 server's stdout")?;
    let mut first_line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut first_line)
        .await?;
    let addr: std::net::SocketAddr = first_line
        .trim()
        .parse()
        .with_context(|| format!("the 202 server's address, not {first_line:?}"))?;
    let result = load::Load::new("baseline: hyper 202", addr, addr.to_string())
        .connections(connections)
        .lasting(duration)
        .expecting(hyper::StatusCode::ACCEPTED)
        .run(|_, _| Request::get("/".into()))
        .await;
    let _ = server.kill().await;
    let p99 = result.latency.value_at_quantile(0.99) as f64 / 1000.0;
    Ok((result.per_second(1.0), p99))
}

/// The argument that makes dt-bench the 202 server of the hyper baseline.
pub const SERVE_202: &str = "serve-202";

/// Serves 202 to everything on a loopback port it prints first; runs until killed.
pub async fn serve_202() -> anyhow::Result<()> {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_request| async {
                let mut response =
                    hyper::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
                *response.status_mut() = hyper::StatusCode::ACCEPTED;
                Ok::<_, std::convert::Infallible>(response)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
