//! `pressroom downloads export --csv` against a real local store: the press office gets one CSV
//! row per recorded download, filtered by day, and a clear error when there is no log yet.

use std::process::Command;

use chrono::TimeZone;
use functions::domain::Email;
use functions::ports::{DownloadRecord, Store};

fn pressroom(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pressroom"))
        .args(args)
        .output()
        .expect("pressroom runs")
}

#[test]
fn exports_the_local_download_log_as_csv() {
    let state = tempfile::tempdir().unwrap();
    let store = functions::local::open_store(state.path()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (day, part) in [(1, "full"), (3, "opening-statement")] {
        let record = DownloadRecord {
            at: chrono::Utc
                .with_ymd_and_hms(2026, 11, day, 9, 30, 0)
                .unwrap(),
            email: Email::parse("Reporter@Example.org").unwrap(),
            video: "2018-04-26-pre-ministerial".into(),
            part: part.into(),
        };
        runtime.block_on(store.record_download(&record)).unwrap();
    }
    drop(store);
    let dir = state.path().to_str().unwrap();

    let all = pressroom(&["downloads", "export", "--csv", "--state", dir]);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let csv = String::from_utf8(all.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "at,email,video,part", "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].contains("reporter@example.org") && lines[1].ends_with(",full"));
    assert!(lines[2].ends_with(",opening-statement"));
    assert!(String::from_utf8_lossy(&all.stderr).contains("2 downloads exported"));

    let since = pressroom(&[
        "downloads",
        "export",
        "--csv",
        "--state",
        dir,
        "--since",
        "2026-11-02",
    ]);
    let csv = String::from_utf8(since.stdout).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("opening-statement") && !csv.contains(",full"));
}

#[test]
fn says_where_to_look_when_there_is_no_log() {
    let empty = tempfile::tempdir().unwrap();
    let out = pressroom(&[
        "downloads",
        "export",
        "--csv",
        "--state",
        empty.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no download log") && err.contains("pressroom serve"),
        "{err}"
    );
    assert!(
        !empty.path().join(functions::local::DATABASE_FILE).exists(),
        "export must not create an empty database"
    );
}
