//! Every request shape of Traccar's own OsmAnd decoder tests
//! (docs/OSMAND-PROTOCOL.md, section 4), decoded as Traccar decodes it.

use super::*;

const JSON: Option<&str> = Some("application/json");

fn query(q: &str) -> Result<Report, OsmAndError> {
    decode(Some(q), None, b"")
}

fn at(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
}

fn position(report: &Report) -> (f64, f64) {
    let c = report.coordinates.expect("a position");
    (c.latitude(), c.longitude())
}

#[test]
fn j1_traccar_client_9_json_body() {
    let body = br#"{"location":{"event":"motionchange","is_moving":false,"uuid":"x",
        "timestamp":"2025-06-15T13:45:12.862Z","odometer":0,
        "coords":{"latitude":37.421998333333335,"longitude":-122.084,"accuracy":5,"speed":0,
                  "heading":-1,"altitude":5},
        "activity":{"type":"still"},"battery":{"is_charging":false,"level":1},"extras":{}},
        "device_id":"48241179","_":"&id=48241179&lat=37.42&lon=-122.08"}"#;
    let report = decode(
        Some("ignored=1"),
        Some("application/json; charset=utf-8"),
        body,
    )
    .expect("accepted");
    assert_eq!(report.unique_id, "48241179");
    assert_eq!(report.format, Format::Json);
    assert_eq!(position(&report), (37.421998333333335, -122.084));
    assert_eq!(
        report.recorded_at,
        DateTime::from_timestamp_millis(1_749_995_112_862)
    );
    assert_eq!(report.measurements.speed_mps, Some(0.0));
    assert_eq!(report.measurements.heading_deg, None, "-1 is unknown");
    assert_eq!(report.measurements.altitude_m, Some(5.0));
    assert_eq!(
        report.battery,
        Some(Battery {
            level_pct: 100.0,
            charging: Some(false)
        })
    );
    assert_eq!(
        report.attributes["event"],
        Attribute::Text("motionchange".into())
    );
    assert_eq!(report.attributes["motion"], Attribute::Bool(false));
    assert_eq!(
        report.attributes["activity"],
        Attribute::Text("still".into())
    );
    assert!(
        !report.attributes.contains_key("_"),
        "unknown keys are ignored"
    );
}

#[test]
fn j2_extras_become_attributes() {
    let body = br#"{"device_id":"1","location":{"timestamp":"2025-06-15T13:45:12Z",
        "coords":{"latitude":1,"longitude":2,"accuracy":5,"speed":0,"heading":0,"altitude":0},
        "extras":{"device_string_test":"long_device_id","t":true,"f":false,"i":1,"d":1.345,
                  "big":1763636.3442,"nested":{"no":1}}}}"#;
    let report = decode(None, JSON, body).expect("accepted");
    let a = &report.attributes;
    assert_eq!(
        a["device_string_test"],
        Attribute::Text("long_device_id".into())
    );
    assert_eq!(a["t"], Attribute::Bool(true));
    assert_eq!(a["f"], Attribute::Bool(false));
    assert_eq!(a["i"], Attribute::Number(1.0));
    assert_eq!(a["d"], Attribute::Number(1.345));
    assert_eq!(a["big"], Attribute::Number(1_763_636.344_2));
    assert!(!a.contains_key("nested"), "objects are not attributes");
}

#[test]
fn j3_ios_body_with_unknown_speed_heading_and_battery() {
    let body =
        br#"{"device_id":"658765","location":{"mock":true,"timestamp":"2025-05-09T04:11:30.579Z",
        "coords":{"speed_accuracy":-1,"speed":-1,"heading":-1,"accuracy":5,"altitude":0,
                  "latitude":37.785834000000001,"longitude":-122.406417,"floor":null},
        "battery":{"level":-1,"is_charging":false},"activity":{"type":"unknown"}}}"#;
    let report = decode(None, JSON, body).expect("accepted");
    assert_eq!(report.unique_id, "658765");
    assert_eq!(report.measurements.speed_mps, None);
    assert_eq!(report.measurements.heading_deg, None);
    assert_eq!(report.battery, None, "level -1 is unknown");
    assert_eq!(report.attributes["mock"], Attribute::Bool(true));
}

#[test]
fn j4_speed_in_metres_per_second_and_a_battery_fraction() {
    let body = br#"{"device_id":"8737767034","location":{"timestamp":"2021-07-21T08:06:34.444Z",
        "coords":{"latitude":-6.11,"longitude":106.68,"accuracy":3.8,"speed":18.67,"heading":63,
                  "altitude":35.7},"battery":{"level":0.79,"is_charging":false}}}"#;
    let report = decode(None, JSON, body).expect("accepted");
    assert_eq!(report.measurements.speed_mps, Some(18.67));
    assert_eq!(report.measurements.heading_deg, Some(63.0));
    assert_eq!(report.measurements.accuracy_m, Some(3.8));
    assert_eq!(report.battery.map(|b| b.level_pct), Some(79.0));
}

#[test]
fn q1_cells_and_wifi_without_a_position_are_a_heartbeat() {
    let report = query("id=123456&timestamp=1377177267&cell=257,02,16,2224&cell=257,02,16,2223,-90&wifi=00-14-22-01-23-45,-80&wifi=00-1C-B3-09-85-15,-70")
        .expect("accepted");
    assert_eq!(report.coordinates, None);
    assert_eq!(report.recorded_at, at(1_377_177_267));
    assert_eq!(
        report.attributes["cell"],
        Attribute::Text("257,02,16,2223,-90".into())
    );
}

#[test]
fn q2_no_device_id_is_refused() {
    assert_eq!(
        query("timestamp=1377177267&lat=60.0&lon=30.0"),
        Err(OsmAndError::NoDeviceId)
    );
    assert_eq!(query("id=&lat=60.0&lon=30.0"), Err(OsmAndError::NoDeviceId));
    let json = decode(
        None,
        JSON,
        br#"{"location":{"timestamp":"2025-01-01T00:00:00Z"}}"#,
    );
    assert_eq!(json, Err(OsmAndError::NoDeviceId));
}

#[test]
fn q3_iso_8601_with_a_zone() {
    let report = query("id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0&altitude=224.0&speed=0.0")
        .expect("accepted");
    assert_eq!(report.recorded_at, at(1_453_920_947));
    assert_eq!(report.attributes["hdop"], Attribute::Number(6.0));
    assert_eq!(report.measurements.altitude_m, Some(224.0));
}

#[test]
fn q4_unix_milliseconds() {
    let report = query("id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0&altitude=224.0&speed=0.0")
        .expect("accepted");
    assert_eq!(
        report.recorded_at,
        DateTime::from_timestamp_millis(1_442_068_686_579)
    );
}

#[test]
fn q5_date_and_time_with_the_id_last() {
    let report = query("lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7&speed=0.0&id=353861053849681")
        .expect("accepted");
    assert_eq!(report.unique_id, "353861053849681");
    assert_eq!(report.recorded_at, at(1_401_873_011));
}

#[test]
fn q6_q7_the_classic_and_minimal_shapes() {
    let report = query(
        "id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&hdop=0.0",
    )
    .expect("accepted");
    assert_eq!(position(&report), (60.0, 30.0));
    assert_eq!(report.measurements.heading_deg, Some(0.0));
    let minimal = query("id=123456&timestamp=1377177267&lat=60.0&lon=30.0").expect("accepted");
    assert_eq!(position(&minimal), (60.0, 30.0));
    assert_eq!(minimal.measurements, Measurements::default());
}

#[test]
fn q8_deviceid_heading_and_no_timestamp() {
    let report =
        query("lat=60.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid=123456")
            .expect("accepted");
    assert_eq!(report.unique_id, "123456");
    assert_eq!(report.recorded_at, None, "the receive time is used");
    assert_eq!(report.attributes["vacc"], Attribute::Number(0.0));
}

#[test]
fn q9_battery_percentage() {
    let report = query(
        "id=861001000719969&lat=41.666667&lon=-0.883333&altitude=350.059479&speed=0.000000&batt=87",
    )
    .expect("accepted");
    assert_eq!(report.battery.map(|b| b.level_pct), Some(87.0));
}

#[test]
fn q10_the_location_field() {
    let report = query("id=123456&timestamp=1377177267&location=60.0,30.0").expect("accepted");
    assert_eq!(position(&report), (60.0, 30.0));
}

#[test]
fn q11_speed_in_knots_and_other_fields_as_attributes() {
    let report = query("id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24")
        .expect("accepted");
    let speed = report.measurements.speed_mps.expect("a speed");
    assert!((speed - 20.577_76).abs() < 1e-4, "40 kn is {speed} m/s");
    assert_eq!(report.attributes["ignition"], Attribute::Bool(true));
    assert_eq!(report.attributes["rpm"], Attribute::Number(933.0));
    assert_eq!(report.attributes["fuel"], Attribute::Number(24.0));
}

#[test]
fn the_form_body_is_read_when_the_query_is_empty_and_never_merged() {
    let body = b"id=42&lat=1.5&lon=2.5&charge=TRUE&batt=50";
    let report = decode(None, Some("application/x-www-form-urlencoded"), body).expect("form");
    assert_eq!(position(&report), (1.5, 2.5));
    assert_eq!(report.battery.and_then(|b| b.charging), Some(true));
    let from_query = decode(Some("id=7&lat=3&lon=4"), None, body).expect("query");
    assert_eq!(
        (from_query.unique_id.as_str(), position(&from_query)),
        ("7", (3.0, 4.0))
    );
}

#[test]
fn malformed_values_are_refused_by_field() {
    let field = |q: &str| match query(q) {
        Err(OsmAndError::Invalid { field, .. }) => field,
        other => panic!("{q}: {other:?}"),
    };
    assert_eq!(field("id=1&lat=abc&lon=2"), "lat");
    assert_eq!(field("id=1&lat=&lon=2"), "lat");
    assert_eq!(field("id=1&lat=91&lon=2"), "lat");
    assert_eq!(field("id=1&lat=1&lon=2&timestamp=yesterday"), "timestamp");
    assert_eq!(
        field("id=1&lat=1&lon=2&timestamp=1377177267.5"),
        "timestamp"
    );
    assert_eq!(field("id=1&location=60.0"), "location");
    let long = format!("id=1&note={}", "x".repeat(300));
    assert_eq!(field(&long), "note");
    // Names MongoDB cannot store, or would read as operators or paths.
    assert_eq!(field("id=1&%00=1"), "attributes");
    assert_eq!(field("id=1&%24where=1"), "attributes");
    assert_eq!(field("id=1&a.b=1"), "attributes");
    let many: String = (0..40).map(|i| format!("&a{i}=1")).collect();
    assert_eq!(field(&format!("id=1{many}")), "attributes");
    let json = |body: &str| match decode(None, JSON, body.as_bytes()) {
        Err(OsmAndError::Invalid { field, .. }) => field,
        other => panic!("{body}: {other:?}"),
    };
    assert_eq!(json("{"), "body");
    assert_eq!(
        json(
            r#"{"device_id":"1","location":{"timestamp":"2025-01-01T00:00:00Z","extras":{"x\u0000":1}}}"#
        ),
        "attributes"
    );
    assert_eq!(json(r#"{"device_id":48241179,"location":{}}"#), "device_id");
    assert_eq!(
        json(r#"{"device_id":"1","location":{"timestamp":1}}"#),
        "location.timestamp"
    );
    assert_eq!(
        json(
            r#"{"device_id":"1","location":{"timestamp":"2025-01-01T00:00:00Z","coords":{"latitude":1}}}"#
        ),
        "location.coords"
    );
}

#[test]
fn the_json_test_is_the_content_type_prefix() {
    assert!(is_json(Some("application/json")));
    assert!(is_json(Some("Application/JSON; charset=utf-8")));
    assert!(!is_json(Some("application/x-www-form-urlencoded")));
    assert!(!is_json(Some("text/plain")));
    assert!(!is_json(None));
}
