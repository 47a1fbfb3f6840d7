//! `dt-sim` against the real pipeline: its couriers post through the OsmAnd
//! port as Traccar Client does (or the JSON API), show up on `GET /couriers` online and in the
//! city, and deliver every parcel of their runs.

use serde_json::Value;
use testkit::app::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_fleet_drives_its_runs_and_delivers_every_parcel() {
    let app = TestApp::spawn().await;
    let token = app.env.token(&app.admin);
    let osmand = app.osmand.clone().expect("the OsmAnd port");
    let (api, binary) = (app.base.clone(), testkit::bins::path("dt-sim"));
    // Two couriers over OsmAnd, one over the JSON API with its API key.
    for (protocol, couriers, delivered) in [("osmand", "2", 6), ("json", "1", 3)] {
        let (api, binary, token, osmand) =
            (api.clone(), binary.clone(), token.clone(), osmand.clone());
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(binary)
                .args([
                    "--couriers",
                    couriers,
                    "--stops",
                    "3",
                    "--speedup",
                    "400",
                    "--interval",
                    "0.2",
                ])
                .args([
                    "--runs",
                    "1",
                    "--protocol",
                    protocol,
                    "--api",
                    &api,
                    "--osmand",
                    &osmand,
                ])
                .args(["--token", &token])
                .output()
        })
        .await
        .expect("the simulator's thread")
        .expect("dt-sim runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "dt-sim failed:\n{stderr}");
        let runs = couriers.parse::<usize>().unwrap_or(0);
        assert!(
            stderr.contains(&format!(
                "parcels delivered {delivered}, runs completed {runs}"
            )),
            "{stderr}"
        );
        assert!(stderr.contains("(refused 0)"), "{stderr}");
    }

    // Every courier was heard near Berlin (the default depot), online.
    let couriers: Vec<Value> = app.get("/couriers").await.json().await.expect("couriers");
    let simulated: Vec<&Value> = couriers
        .iter()
        .filter(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("Courier "))
        })
        .collect();
    assert_eq!(simulated.len(), 3, "{couriers:?}");
    for courier in simulated {
        assert_eq!(courier["presence"], "online", "{courier}");
        let (lat, lon) = (
            courier["latitude"].as_f64().unwrap_or(0.0),
            courier["longitude"].as_f64().unwrap_or(0.0),
        );
        assert!(
            (lat - 52.52).abs() < 0.05 && (lon - 13.405).abs() < 0.05,
            "{courier}"
        );
        assert!(
            courier["battery_pct"]
                .as_f64()
                .is_some_and(|b| b > 0.0 && b <= 100.0),
            "{courier}"
        );
    }
    // Every parcel was delivered, and the runs completed.
    let delivered: Vec<Value> = app
        .get("/packages?status=delivered&limit=100")
        .await
        .json()
        .await
        .expect("packages");
    let parcels = delivered
        .iter()
        .filter(|p| {
            p["tracking_number"]
                .as_str()
                .is_some_and(|tn| tn.starts_with("SIM"))
        })
        .count();
    assert_eq!(parcels, 9);
    app.shutdown().await;
}
