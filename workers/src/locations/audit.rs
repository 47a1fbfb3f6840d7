//! The audit trail of stored points: one row per message, poster and
//! package, with how many points and over what time.

use shared::wire::{Envelope, LocationBatch, LocationPoint};

/// The audit rows of a window's stored points: one per message, poster and
/// package, with how many points and over what time.
pub fn entries(
    batches: &[&Envelope<LocationBatch>],
    unknown: &std::collections::HashSet<uuid::Uuid>,
) -> Vec<shared::audit::AuditEntry> {
    use std::collections::BTreeMap;
    let mut entries = Vec::new();
    for batch in batches {
        let mut groups: BTreeMap<(Option<u16>, &str), Vec<&LocationPoint>> = BTreeMap::new();
        for point in batch
            .body
            .points
            .iter()
            .filter(|p| !unknown.contains(&p.point_id))
        {
            groups
                .entry((point.source, point.tracking_number.as_str()))
                .or_default()
                .push(point);
        }
        for ((source, tracking_number), points) in groups {
            let principal = source
                .and_then(|i| batch.body.sources.get(usize::from(i)))
                .cloned()
                .unwrap_or_else(|| batch.principal.clone());
            let first = points.iter().map(|p| p.recorded_at).min();
            let last = points.iter().map(|p| p.recorded_at).max();
            entries.push(shared::audit::AuditEntry {
                event_id: batch.event_id,
                part: format!("{}:{tracking_number}", source.map_or(-1, i32::from)),
                occurred_at: batch.occurred_at,
                principal,
                action: "locations".into(),
                target: Some(tracking_number.to_owned()),
                change: serde_json::json!({
                    "points": points.len(),
                    "first_recorded_at": first,
                    "last_recorded_at": last,
                }),
            });
        }
        entries.extend(courier_entries(batch));
    }
    entries
}

/// One row per message, poster and courier for the couriers' own reports.
fn courier_entries(batch: &Envelope<LocationBatch>) -> Vec<shared::audit::AuditEntry> {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<(Option<u16>, uuid::Uuid), Vec<&shared::couriers::CourierPoint>> =
        BTreeMap::new();
    for point in &batch.body.courier_points {
        groups
            .entry((point.source, point.courier_id))
            .or_default()
            .push(point);
    }
    groups
        .into_iter()
        .map(|((source, courier), points)| shared::audit::AuditEntry {
            event_id: batch.event_id,
            part: format!("{}:courier:{courier}", source.map_or(-1, i32::from)),
            occurred_at: batch.occurred_at,
            principal: batch
                .body
                .source_of_report(points[0])
                .cloned()
                .unwrap_or_else(|| batch.principal.clone()),
            action: "courier_locations".into(),
            target: Some(courier.to_string()),
            change: serde_json::json!({
                "reports": points.len(),
                "fixes": points.iter().filter(|p| p.coordinates.is_some()).count(),
                "first_recorded_at": points.iter().map(|p| p.recorded_at).min(),
                "last_recorded_at": points.iter().map(|p| p.recorded_at).max(),
            }),
        })
        .collect()
}
