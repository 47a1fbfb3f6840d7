//! `rabbitmq/definitions.json` (loaded by the docker-compose broker) must
//! describe exactly the topology the services declare, or a service would
//! fail with PRECONDITION_FAILED against a broker booted from it.

use lapin::types::AMQPValue;
use serde_json::{json, Value};
use shared::topology::Topology;

fn to_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::LongString(s) => json!(s.to_string()),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Boolean(b) => json!(b),
        other => panic!("unexpected argument type {other:?}"),
    }
}

fn args(table: lapin::types::FieldTable) -> Value {
    Value::Object(
        table
            .inner()
            .iter()
            .map(|(k, v)| (k.to_string(), to_json(v)))
            .collect(),
    )
}

#[test]
fn definitions_mirror_the_declared_topology() {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rabbitmq/definitions.json"
    ))
    .unwrap();
    let definitions: Value = serde_json::from_str(&raw).unwrap();
    // The defaults: AMQP_PREFIX=delivertrack, PACKAGE_SHARDS=16.
    let topology = Topology::new("delivertrack", 16);

    let exchanges: Vec<(String, String)> = definitions["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        exchanges,
        vec![
            (topology.commands_exchange(), "topic".to_owned()),
            (topology.events_exchange(), "topic".to_owned()),
            (topology.dead_exchange(), "fanout".to_owned()),
        ]
    );

    let queues = definitions["queues"].as_array().unwrap();
    let find = |name: &str| {
        queues
            .iter()
            .find(|q| q["name"] == name)
            .unwrap_or_else(|| panic!("queue {name} missing"))
    };
    assert_eq!(
        find(&topology.dead_queue())["arguments"],
        args(topology.dead_queue_arguments())
    );
    for shard in 0..topology.package_shards() {
        let queue = find(&topology.package_queue(shard));
        assert_eq!(queue["durable"], true);
        assert_eq!(
            queue["arguments"],
            args(topology.work_queue_arguments()),
            "shard {shard}"
        );
        let bound = definitions["bindings"].as_array().unwrap().iter().any(|b| {
            b["source"] == topology.commands_exchange().as_str()
                && b["destination"] == topology.package_queue(shard).as_str()
                && b["routing_key"] == Topology::package_binding_key(shard).as_str()
        });
        assert!(bound, "shard {shard} binding");
    }
    assert_eq!(
        find(&topology.locations_queue())["arguments"],
        args(topology.locations_queue_arguments())
    );
    let locations_bound = definitions["bindings"].as_array().unwrap().iter().any(|b| {
        b["source"] == topology.commands_exchange().as_str()
            && b["destination"] == topology.locations_queue().as_str()
            && b["routing_key"] == Topology::LOCATION_BINDING_KEY
    });
    assert!(locations_bound, "locations binding");
    assert_eq!(
        find(&topology.location_retry_queue())["arguments"],
        args(topology.location_retry_queue_arguments())
    );
    assert_eq!(
        find(&topology.mail_queue())["arguments"],
        args(topology.locations_queue_arguments())
    );
    let mail_bound = definitions["bindings"].as_array().unwrap().iter().any(|b| {
        b["source"] == topology.commands_exchange().as_str()
            && b["destination"] == topology.mail_queue().as_str()
            && b["routing_key"] == Topology::MAIL_BINDING_KEY
    });
    assert!(mail_bound, "mail binding");
    assert_eq!(
        find(&topology.mail_retry_queue())["arguments"],
        args(topology.mail_retry_queue_arguments())
    );
    // No accounts: they are generated per deployment with passwords of its
    // own (scripts/compose-env.sh), never published here.
    assert!(
        definitions.get("users").is_none(),
        "definitions.json names no user"
    );
    // The marker that records the shard count (4 here, as in the compose file).
    let marker = find(&topology.marker_queue());
    assert_eq!(marker["durable"], true);
    assert_eq!(marker["arguments"], args(topology.marker_queue_arguments()));
    assert_eq!(queues.len(), 6 + usize::from(topology.package_shards()));
}
